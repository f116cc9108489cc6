"""BM25 scoring from bm25s's saved matrix, reading only the query's postings.

bm25s maps its score matrix (data + document ids: 550 MB at 35k articles) into the process, and
every page a question touched stayed in the server's resident memory: 437 MB after 200 requests
(bench/scale.py serve). Here a question's columns are read with `os.pread` into short-lived
arrays: the operating system still caches the file, shared and reclaimable, but the server does
not hold it. Scores are bm25s's to the bit: the same float32 additions, token by token, in the
same order (tests/fast/test_postings.py compares them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class _NpyColumn:
    """One 1-d .npy file, read by slices."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(f)
            self.offset = f.tell()
        if len(shape) != 1 or fortran or dtype.hasobject:
            raise ValueError(f"{path}: not a flat array")
        self.dtype = dtype
        self.length = int(shape[0])
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        if os.fstat(self._fd).st_size < self.offset + self.length * dtype.itemsize:
            raise ValueError(f"{path}: shorter than its header says")

    def read(self, start: int, end: int) -> np.ndarray:
        size = self.dtype.itemsize
        want = (end - start) * size
        buf = os.pread(self._fd, want, self.offset + start * size)
        if len(buf) != want:
            raise OSError(f"{self.path}: short read")
        return np.frombuffer(buf, dtype=self.dtype)

    def __del__(self) -> None:
        # Closed only when nothing can read any more: a replaced index version may still be
        # answering a question in another thread, and a closed descriptor number gets reused.
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)


class PostingsScorer:
    """`get_scores_from_ids` of a bm25s index without a non-occurrence term (BM25 "lucene",
    "robertson", "atire"), over the files `BM25.save` wrote in `folder`."""

    def __init__(self, folder: Path, indptr: np.ndarray, num_docs: int, dtype: str) -> None:
        self.indptr = indptr
        self.num_docs = int(num_docs)
        self.dtype = np.dtype(dtype)
        self.data = _NpyColumn(Path(folder) / "data.csc.index.npy")
        self.indices = _NpyColumn(Path(folder) / "indices.csc.index.npy")
        if self.data.length != self.indices.length or self.data.length < int(indptr[-1]):
            raise ValueError(f"{folder}: postings and pointers disagree")

    def scores(self, token_ids: list[int]) -> np.ndarray:
        out = np.zeros(self.num_docs, dtype=self.dtype)
        for t in token_ids:
            start, end = int(self.indptr[t]), int(self.indptr[t + 1])
            if end > start:
                # A token's postings name each document once, so this is bm25s's np.add.at.
                out[self.indices.read(start, end)] += self.data.read(start, end)
        return out
