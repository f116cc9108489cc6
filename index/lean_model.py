"""Internal to index/embedder.py: the serving encoder for a plain sentence-transformers folder
(one transformer, mean pooling, normalize — what the default model is materialized as).

sentence-transformers' import pulls scikit-learn and its training stack: ~1.5 s of the server's
9 s start at 35k articles and ~100 MB (bench/scale.py serve). Here `tokenizers` and the
transformers model run the same steps (prompt, truncation, forward pass, masked mean, L2
normalize) and tests/test_model.py holds the vectors to sentence-transformers' own. Any other
model, and GPUs, go through sentence-transformers.

Inputs are padded to a multiple of PAD_MULTIPLE tokens: the CPU kernels keep state per input
shape, and unbucketed lengths grew the 35k-article server by ~260 MB over 200 requests (RSS
1,690 MB), multiples of 8 by ~30 MB (1,451 MB) at the same ask p50 (147 ms); 32 held 1,428 MB but
cost 170 ms (bench/scale.py serve). Padding is masked: the vector is the same up to float rounding.

In bf16 the weights are read from a bf16 copy of the model file, written once next to it
(`lean-bf16/`) and memory-mapped: cast at load they were 224 MB of the server's own memory,
mapped they are page cache of which a question touches the encoder layers and the rows of the
tokens it uses."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PAD_MULTIPLE = 8
_TRANSFORMER = "sentence_transformers.base.modules.transformer.Transformer"
_POOLING = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
_NORMALIZE = "sentence_transformers.base.modules.normalize.Normalize"


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# Encoder-only architectures whose AutoModel output is what sentence-transformers' Transformer module
# pools (it loads T5-style models as encoders instead, which AutoModel does not).
_ENCODERS = {"bert", "xlm-roberta", "roberta", "camembert", "distilbert", "mpnet", "electra", "deberta", "deberta-v2"}
# sentence_bert_config.json keys that change what sentence-transformers feeds or reads: only their
# defaults are run lean.
_DEFAULTS = {"do_lower_case": False, "module_output_name": "token_embeddings", "transformer_task": "feature-extraction",
             "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
             "query_length": None, "document_length": None, "processing_kwargs": None, "query_expansion": None}
_KNOWN = set(_DEFAULTS) | {"max_seq_length"}


def _prompts(folder: Path) -> tuple[dict, str, str]:
    """(prompts, query prompt, document prompt) chosen as sentence-transformers' encode_query /
    encode_document choose them: the named prompt, else `default_prompt_name`'s."""
    st = _read_json(folder / "config_sentence_transformers.json") or {}
    prompts = st.get("prompts") or {}
    default = prompts.get(st["default_prompt_name"], "") if st.get("default_prompt_name") else ""

    def pick(*names: str) -> str:
        return next((prompts[n] for n in names if n in prompts), default)

    return prompts, pick("query"), pick("document", "passage", "corpus")


def plain_layout(folder: Path) -> dict | None:
    """What the lean encoder needs from `folder` (prompts, max length, pad token), or None when the
    folder is anything but an encoder -> mean pooling (prompt included) -> normalize, with
    sentence-transformers' defaults."""
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list) or [m.get("type") for m in modules] != [_TRANSFORMER, _POOLING, _NORMALIZE]:
        return None
    if modules[0].get("path") not in ("", None):
        return None
    pooling = _read_json(folder / str(modules[1].get("path") or "") / "config.json") or {}
    if pooling.get("pooling_mode") != "mean" or not pooling.get("include_prompt", True):
        return None
    normalize = _read_json(folder / str(modules[2].get("path") or "") / "config.json") or {}
    if any(normalize.get(k, "sentence_embedding") != "sentence_embedding"
           for k in ("module_input_name", "module_output_name")):
        return None
    st_config = _read_json(folder / "sentence_bert_config.json") or {}
    if set(st_config) - _KNOWN or any(st_config.get(k, v) != v for k, v in _DEFAULTS.items()):
        return None
    config = _read_json(folder / "config.json") or {}
    if config.get("model_type") not in _ENCODERS or config.get("is_encoder_decoder"):
        return None
    tok_config = _read_json(folder / "tokenizer_config.json") or {}
    if not (folder / "tokenizer.json").is_file() or not tok_config.get("pad_token"):
        return None
    if tok_config.get("truncation_side", "right") != "right" or tok_config.get("padding_side", "right") != "right":
        return None
    limits = [v for v in (st_config.get("max_seq_length"), tok_config.get("model_max_length"),
                          config.get("max_position_embeddings")) if isinstance(v, int) and v > 0]
    prompts, query, document = _prompts(folder)
    return {"max_length": min(limits) if limits else 512, "prompts": prompts, "query_prompt": query,
            "document_prompt": document, "pad_token": tok_config["pad_token"],
            "dimension": pooling.get("embedding_dimension") or config.get("hidden_size")}


def _weights_in(folder: Path, dtype) -> Path:
    """A folder holding the model's weights already in `dtype` (memory-mapped as they are), made
    from `folder`'s model.safetensors the first time; `folder` itself when that cannot be done
    (fp32, other weight files, a read-only model folder: then the weights are cast at load)."""
    import torch

    name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype)
    source = folder / "model.safetensors"
    if name is None or not source.is_file():
        return folder
    stats = {f.name: f.stat() for f in (source, folder / "config.json") if f.is_file()}
    stamp = {"dtype": name, **{n: [st.st_size, st.st_mtime_ns] for n, st in stats.items()}}
    target = folder / f"lean-{name}"
    if _current(target, stamp):
        return target
    try:
        _write_cast_copy(folder, source, target, dtype, stamp)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type on a full disk
        log.info("Could not keep a %s copy of the model in %s (%s); casting it at every load", name, target, exc)
        return folder
    return target


def _current(target: Path, stamp: dict) -> bool:
    return _read_json(target / "lean.json") == stamp and (target / "model.safetensors").is_file()


def _write_cast_copy(folder: Path, source: Path, target: Path, dtype, stamp: dict) -> None:
    """Written under a temporary name and renamed into place; a stale copy is renamed away before it is
    deleted, so a process that finds the copy current never sees it vanish."""
    import time

    from safetensors.torch import load_file, save_file

    from index.atomic import fsync_dir, fsync_tree

    work = Path(tempfile.mkdtemp(prefix=".lean-", dir=folder))
    try:
        os.chmod(work, 0o755)  # readable like the model folder (mkdtemp makes it private)
        tensors = {k: v.to(dtype).contiguous() if v.is_floating_point() else v
                   for k, v in load_file(str(source)).items()}
        save_file(tensors, str(work / "model.safetensors"), metadata={"format": "pt"})
        del tensors
        shutil.copy(folder / "config.json", work / "config.json")
        (work / "lean.json").write_text(json.dumps(stamp), encoding="utf-8")
        fsync_tree(work)
        if target.exists() and not _current(target, stamp):
            trash = Path(tempfile.mkdtemp(prefix=".lean-", dir=folder))
            os.replace(target, trash / "stale")
        try:
            os.replace(work, target)
        except OSError:
            if not _current(target, stamp):  # not another process's identical copy
                raise
        fsync_dir(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        # Stale copies renamed away (by this process or another), and folders left by a process killed
        # while writing (an hour is plenty for a write).
        for old in folder.glob(".lean-*"):
            # Another process may remove its own work folder between the glob and the stat.
            with contextlib.suppress(OSError):
                if (old / "stale").exists() or time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old, ignore_errors=True)


class _TokenCounter:
    """`tokenizer(texts, add_special_tokens=True, truncation=True, max_length=...)["input_ids"]`, as
    Embedder.count_tokens calls it (the truncation is the tokenizer's own setting)."""

    def __init__(self, tokenizer) -> None:
        self._tok = tokenizer

    def __call__(self, texts: list[str], add_special_tokens: bool = True, truncation: bool = True,
                 max_length: int | None = None) -> dict:
        if not truncation or (max_length is not None and max_length != self._tok.truncation["max_length"]):
            raise ValueError("the lean tokenizer counts tokens as the model reads them (truncated at its limit)")
        return {"input_ids": [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=add_special_tokens)]}


class LeanSentenceModel:
    """The subset of SentenceTransformer that index.embedder.Embedder calls."""

    def __init__(self, folder: Path, layout: dict, device: str, dtype) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        self._torch = torch
        self._tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=layout["max_length"])
        pad = self._tok.token_to_id(layout["pad_token"])
        if pad is None:
            raise ValueError(f"pad token {layout['pad_token']!r} is not in the vocabulary")
        self._pad = pad
        weights = _weights_in(folder, dtype) if device == "cpu" else folder
        self._model = AutoModel.from_pretrained(str(weights), dtype=dtype).to(device).eval()
        self._device = device
        self.max_seq_length = layout["max_length"]
        self.prompts = dict(layout["prompts"])
        self._query_prompt, self._document_prompt = layout["query_prompt"], layout["document_prompt"]
        self._dimension = int(layout["dimension"] or self._model.config.hidden_size)
        self.tokenizer = _TokenCounter(self._tok)

    @classmethod
    def load(cls, folder: Path, device: str, dtype) -> LeanSentenceModel | None:
        layout = plain_layout(folder)
        return None if layout is None else cls(folder, layout, device, dtype)

    def get_embedding_dimension(self) -> int:
        return self._dimension

    def encode_query(self, texts: list[str], **options) -> np.ndarray:
        return self._encode(texts, self._query_prompt, **options)

    def encode_document(self, texts: list[str], **options) -> np.ndarray:
        return self._encode(texts, self._document_prompt, **options)

    def _encode(self, texts: list[str], prompt: str, batch_size: int = 32, show_progress_bar: bool = False,
                convert_to_numpy: bool = True, normalize_embeddings: bool = True) -> np.ndarray:
        torch = self._torch
        encodings = self._tok.encode_batch([prompt + t for t in texts])
        # Longest first, as sentence-transformers does: similar lengths share a batch, less padding.
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = np.zeros((len(texts), self._dimension), np.float32)
        with torch.inference_mode():
            step = max(1, batch_size)
            for start in range(0, len(order), step):
                rows = order[start : start + step]
                longest = max(len(encodings[i].ids) for i in rows)
                width = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, self.max_seq_length)
                ids = torch.full((len(rows), width), self._pad, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for r, i in enumerate(rows):
                    n = len(encodings[i].ids)
                    ids[r, :n] = torch.tensor(encodings[i].ids, dtype=torch.long)
                    mask[r, :n] = 1
                ids, mask = ids.to(self._device), mask.to(self._device)
                tokens = self._model(input_ids=ids, attention_mask=mask).last_hidden_state
                # sentence-transformers' steps in its dtypes (its Pooling sums in fp32 and returns the
                # model's dtype; Normalize, then encode's normalize_embeddings, run in that dtype): the
                # gate and thresholds were fit on its scores, and a bf16 unit vector is off by up to 0.5%.
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                total = (tokens * weights).sum(dim=1, dtype=torch.float32)
                pooled = (total / weights.sum(dim=1, dtype=torch.float32).clamp(min=1e-9)).to(tokens.dtype)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
                if normalize_embeddings:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                pooled = pooled.float()
                out[rows] = pooled.cpu().numpy()
        return out
