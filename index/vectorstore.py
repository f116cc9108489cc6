"""The vector store behind a small interface: FAISS is the embedded default.

A distributed engine (Milvus, Qdrant ...) can be added by implementing `VectorStore` and
registering it in `STORES`; nothing else in the project touches FAISS directly."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from index.errors import IndexStateError


class VectorStore(Protocol):
    kind: str
    dimension: int

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]: ...
    def reconstruct(self, id_: int) -> np.ndarray: ...
    def __len__(self) -> int: ...
    def save(self, folder: Path) -> list[str]: ...


# HNSW parameters measured by bench/faiss_choice.py on e5 passage vectors: recall@10 0.994 against
# exact search at 160k passages, 1 ms per query.
HNSW_NEIGHBORS = 32
HNSW_EF_SEARCH = 128
# Filtered searches over at most this many passages are exact even in an HNSW store (~50 ms).
EXACT_FILTER_LIMIT = 50_000


class FaissStore:
    """Inner product over L2-normalized vectors (= cosine), ids mapped to chunk ids: exact search,
    or HNSW when built `approximate` (a store too big for exact search in time)."""

    kind = "faiss"
    FILENAME = "vectors.faiss"

    def __init__(self, dimension: int, index=None, approximate: bool = False) -> None:
        import faiss

        self.dimension = dimension
        if index is None:
            # Vectors stored as fp16: half the memory and file, and exact search at 35k articles
            # took 3.7 ms instead of 9.6 (less to read); the model's bf16 outputs fit fp16 without
            # loss, and on fp32 ones the top 10 did not move (bench/faiss_choice.py).
            fp16 = faiss.ScalarQuantizer.QT_fp16
            if approximate:
                inner = faiss.IndexHNSWSQ(dimension, fp16, HNSW_NEIGHBORS, faiss.METRIC_INNER_PRODUCT)
                inner.hnsw.efSearch = HNSW_EF_SEARCH
            else:
                inner = faiss.IndexScalarQuantizer(dimension, fp16, faiss.METRIC_INNER_PRODUCT)
            index = faiss.IndexIDMap2(inner)
        self.index = index
        self.approximate = isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise IndexStateError("index_vectors_shape", shape=vectors.shape, dimension=self.dimension)
        self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top k by inner product; `allowed` restricts the search to those ids (exact, not post-filtered)."""
        import faiss

        k = max(1, min(k, len(self)))
        if len(self) == 0 or (allowed is not None and len(allowed) == 0):
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if allowed is None:
            return self.index.search(queries, k)
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        if self.approximate and len(allowed) <= EXACT_FILTER_LIMIT:
            # A selective filter leaves HNSW's graph walk few reachable neighbours (it can return
            # fewer than k); that few vectors are compared exactly.
            return self._exact_among(queries, k, allowed)
        sel = faiss.IDSelectorBatch(allowed)
        if self.approximate:
            # IndexIDMap2 translates the selector to internal ids; HNSW needs its own parameters type.
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, k))
        else:
            params = faiss.SearchParameters(sel=sel)
        return self.index.search(queries, k, params=params)

    def _exact_among(self, queries: np.ndarray, k: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.vstack([self.index.reconstruct(int(i)) for i in ids])
        scores = queries @ vectors.T
        k = min(k, len(ids))
        order = np.argsort(-scores, axis=1)[:, :k]
        return np.take_along_axis(scores, order, axis=1).astype(np.float32), ids[order]

    def reconstruct(self, id_: int) -> np.ndarray:
        return self.index.reconstruct(int(id_))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def save(self, folder: Path) -> list[str]:
        import faiss

        faiss.write_index(self.index, str(Path(folder) / self.FILENAME))
        return [self.FILENAME]

    @classmethod
    def load(cls, folder: Path, dimension: int) -> FaissStore:
        import faiss

        path = Path(folder) / cls.FILENAME
        try:
            # Memory-mapped where the index type allows it, HNSW's vectors included (IFC: flat codes):
            # exact stores load instantly, and the vectors are page cache shared between processes
            # rather than each server's own memory.
            flags = faiss.IO_FLAG_MMAP | getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | faiss.IO_FLAG_READ_ONLY
            index = faiss.read_index(str(path), flags)
        except Exception as exc:  # noqa: BLE001 - FAISS raises plain RuntimeError for any bad file
            raise IndexStateError("index_vectors_corrupt", path=path,
                                  error=str(exc).splitlines()[0][:200]) from exc
        if index.d != dimension:
            raise IndexStateError("index_vectors_dimension", path=path, found=index.d, dimension=dimension)
        return cls(dimension, index)


STORES = {"faiss": FaissStore}


def new_store(kind: str, dimension: int, expected: int, exact_limit: int) -> VectorStore:
    """A store for about `expected` vectors; above `exact_limit` it may trade exactness for speed."""
    try:
        return STORES[kind](dimension, approximate=expected > exact_limit)
    except KeyError:
        raise IndexStateError("index_unknown_store", kind=kind, available=", ".join(STORES)) from None


def load_store(kind: str, folder: Path, dimension: int) -> VectorStore:
    if kind not in STORES:
        raise IndexStateError("index_unknown_store", kind=kind, available=", ".join(STORES))
    return STORES[kind].load(folder, dimension)
