"""bm25s's eager BM25 matrix built in blocks of documents, for memory.

bm25s builds the matrix with a dict of document frequencies keyed by token, a set per document and
three arrays of every (document, token) pair plus an int64 sort key and its argsort, after the caller
has held every document's token list: at 35k articles (~70M pairs, ~4M tokens) the lexical step took
~3 GB. Here each document is reduced to its distinct tokens and counts as it is analysed (int32 ids,
uint16 counts), then scattered into the CSC arrays one block of documents at a time with bm25s's own
scorer functions: the same arrays as `bm25s.BM25.index` (tests/fast/test_vocabulary.py compares them
element for element), a peak of the output plus ~6 bytes per pair. bm25s still saves, loads and
scores the index."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

BLOCK_DOCS = 4096


@dataclass
class Counted:
    """Every document's distinct token ids (int32) and their counts (uint16), in blocks of documents,
    and each document's length in tokens: all the matrix needs, without the token lists themselves."""

    tokens: list[np.ndarray | None] = field(default_factory=list)
    counts: list[np.ndarray | None] = field(default_factory=list)
    distinct: list[int] = field(default_factory=list)  # per document
    lengths: list[int] = field(default_factory=list)  # per document

    @property
    def n_docs(self) -> int:
        return len(self.lengths)


def count_documents(docs: Iterable) -> Counted:
    """Consumes `docs` (each a sequence of token ids) one at a time."""
    out = Counted()
    block_tokens: list[np.ndarray] = []
    block_counts: list[np.ndarray] = []

    def flush() -> None:
        out.tokens.append(np.concatenate(block_tokens) if block_tokens else np.zeros(0, np.int32))
        out.counts.append(np.concatenate(block_counts) if block_counts else np.zeros(0, np.uint16))
        block_tokens.clear()
        block_counts.clear()

    for doc in docs:
        ids, tf = np.unique(np.asarray(doc, dtype=np.int64), return_counts=True)
        block_tokens.append(ids.astype(np.int32))
        # 2 bytes a count; a block holding a count above that (a passage of 65k equal tokens) gets 4.
        block_counts.append(tf.astype(np.uint16 if tf.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32))
        out.distinct.append(len(ids))
        out.lengths.append(len(doc))
        if len(out.lengths) % BLOCK_DOCS == 0:
            flush()
    if block_tokens or not out.tokens:
        flush()
    return out


@cache
def lean_bm25_class():
    import bm25s
    from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer

    class LeanBM25(bm25s.BM25):
        def index_counts(self, counted: Counted, indptr: np.ndarray) -> None:
            """What `index((token ids, vocab))` would store in `scores`, from counted documents and
            `column_pointers(counted, n_vocab)`."""
            if self.method in self.methods_requiring_nonoccurrence:
                raise ValueError(f"{self.method}: needs bm25s's own index()")
            self.nonoccurrence_array = None  # as bm25s sets it for these methods
            idf_fn = _select_idf_scorer(self.idf_method)
            tfc_fn = _select_tfc_scorer(self.method)
            data, indices = build_csc(
                counted, indptr, idf=lambda df, n: idf_fn(df, N=n),
                tfc=lambda tf, l_d, l_avg: tfc_fn(tf_array=tf, l_d=l_d, l_avg=l_avg, k1=self.k1, b=self.b,
                                                   delta=self.delta),
                dtype=np.dtype(self.dtype), int_dtype=np.dtype(self.int_dtype))
            self.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": counted.n_docs}

        def tf_part(self, counted: Counted, indptr: np.ndarray):
            """BM25's term-frequency part alone (the matrix `index_counts` stores, without its idf
            factor), documents as rows: a query weighting each token by its idf gets BM25 by inner
            product (the Milvus backend's sparse vectors)."""
            import scipy.sparse

            tfc_fn = _select_tfc_scorer(self.method)
            data, indices = build_csc(
                counted, indptr, idf=lambda df, n: 1.0,
                tfc=lambda tf, l_d, l_avg: tfc_fn(tf_array=tf, l_d=l_d, l_avg=l_avg, k1=self.k1, b=self.b,
                                                   delta=self.delta),
                dtype=np.dtype(self.dtype), int_dtype=np.dtype(self.int_dtype))
            shape = (counted.n_docs, len(indptr) - 1)
            return scipy.sparse.csc_matrix((data, indices, indptr), shape=shape).tocsr()

    return LeanBM25


def column_pointers(counted: Counted, n_vocab: int) -> np.ndarray:
    """The CSC column pointers: where each token's postings start (its document frequency is the
    difference to the next), as bm25s stores them (int64, n_vocab + 1)."""
    df = np.zeros(n_vocab, np.int64)
    for block in counted.tokens:
        df += np.bincount(block, minlength=n_vocab)[:n_vocab]
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    return indptr


def build_csc(counted: Counted, indptr: np.ndarray, idf, tfc, dtype: np.dtype, int_dtype: np.dtype):
    n_docs = counted.n_docs
    lengths = np.array(counted.lengths, dtype=np.int64)
    per_doc = np.array(counted.distinct, dtype=np.int64)
    avg_doc_len = lengths.mean() if n_docs else np.float64("nan")
    df = np.diff(indptr)
    n_vocab = len(df)
    # bm25s computes the idf of each token from its df with Python floats, stored as `dtype`.
    distinct = np.unique(df[df > 0])
    values = np.array([idf(int(x), n_docs) for x in distinct], dtype=dtype)
    idf_array = np.zeros(n_vocab, dtype=dtype)
    nonzero = df > 0
    idf_array[nonzero] = values[np.searchsorted(distinct, df[nonzero])]
    del df, nonzero

    data = np.empty(int(indptr[-1]), dtype=dtype)
    indices = np.empty(int(indptr[-1]), dtype=int_dtype)
    next_free = indptr[:-1].copy()
    for b in range(len(counted.tokens)):
        block_tokens, block_counts = counted.tokens[b], counted.counts[b]
        first = b * BLOCK_DOCS
        doc_counts = per_doc[first : first + BLOCK_DOCS]
        doc_ids = np.repeat(np.arange(first, first + len(doc_counts), dtype=np.int64), doc_counts)
        l_d = np.repeat(lengths[first : first + BLOCK_DOCS], doc_counts)
        # The same arithmetic as bm25s per document (float64, then stored as `dtype`), here per element.
        scores = (idf_array[block_tokens] * tfc(block_counts.astype(dtype), l_d, avg_doc_len)).astype(dtype)
        order = np.argsort(block_tokens, kind="stable")  # token-major, documents ascending within a token
        sorted_tokens = block_tokens[order]
        starts = np.flatnonzero(np.r_[True, sorted_tokens[1:] != sorted_tokens[:-1]])
        sizes = np.diff(np.r_[starts, len(sorted_tokens)])
        rank = np.arange(len(sorted_tokens)) - np.repeat(starts, sizes)
        where = next_free[sorted_tokens] + rank
        data[where] = scores[order]
        indices[where] = doc_ids[order]
        next_free[sorted_tokens[starts]] += sizes
        counted.tokens[b] = counted.counts[b] = None  # each block's pairs are let go once placed
    return data, indices
