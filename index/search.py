"""The one interface retrieval talks to: dense and lexical search over the passages of a version.

Two backends implement it: `LocalSearch` (FAISS + bm25s files, the embedded default) and
`index.milvus.MilvusSearch` (a Milvus collection). Filters travel as a `Where` and run inside both
searches of either backend; fusion, the per-article cap and duplicate groups stay above, in
assistant/retrieval.py, so both backends rank the same candidates the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from index.lexical import LexicalIndex
    from index.metadata import MetadataDB
    from index.vectorstore import VectorStore


@dataclass(frozen=True)
class Where:
    """Which passages a search may return: their article's source and publication date (ISO dates,
    inclusive; a date bound excludes undated articles)."""

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    @property
    def restricts(self) -> bool:
        return bool(self.sources or self.date_from or self.date_to)


@dataclass(frozen=True)
class LexicalHits:
    """The best BM25 passages (chunk id -> score, best first, positive scores only), and how to
    score any other passage for the same query (fusion scores the dense side's candidates too)."""

    top: dict[int, float]
    score_of: Callable[[list[int]], np.ndarray]


class PassageSearch(Protocol):
    kind: str

    def dense(self, query_vector: np.ndarray, k: int, where: Where | None = None) -> dict[int, float]:
        """The k passages nearest to `query_vector` (cosine), chunk id -> score, best first."""
        ...

    def dense_scores(self, query_vector: np.ndarray, chunk_ids: list[int]) -> np.ndarray:
        """Cosine of `query_vector` with each of `chunk_ids` (0 for an unknown id)."""
        ...

    def lexical(self, tokens: list[str], k: int, where: Where | None = None) -> LexicalHits:
        """The k best BM25 passages for analysed query `tokens`."""
        ...

    def counts(self) -> tuple[int, int]:
        """(dense vectors, lexical documents) held: an integrity check compares them to the metadata."""
        ...

    def close(self) -> None: ...


class LocalSearch:
    """FAISS for the dense side, the bm25s matrix for the lexical side, SQLite for filters."""

    kind = "local"

    def __init__(self, store: VectorStore, lexical: LexicalIndex, db: MetadataDB) -> None:
        self.store = store
        self.lexical_index = lexical
        self.db = db

    def _allowed(self, where: Where | None) -> np.ndarray | None:
        if where is None or not where.restricts:
            return None
        return np.asarray(self.db.chunk_ids_where(where.sources, where.date_from, where.date_to), dtype=np.int64)

    def dense(self, query_vector: np.ndarray, k: int, where: Where | None = None) -> dict[int, float]:
        scores, ids = self.store.search(query_vector[None, :], k, self._allowed(where))
        return {int(i): float(s) for i, s in zip(ids[0], scores[0]) if i >= 0}

    def dense_scores(self, query_vector: np.ndarray, chunk_ids: list[int]) -> np.ndarray:
        if not chunk_ids:
            return np.zeros(0, np.float32)
        vectors = np.vstack([self.store.reconstruct(i) for i in chunk_ids])
        return (vectors @ query_vector).astype(np.float32)

    def lexical(self, tokens: list[str], k: int, where: Where | None = None) -> LexicalHits:
        # bm25s scores every passage at once, so the other passages' scores come free with the top.
        every = self.lexical_index.scores(tokens, self._allowed(where))
        ids, top = self.lexical_index.top(every, k)
        known = self.lexical_index.ids

        def score_of(chunk_ids: list[int]) -> np.ndarray:
            if not len(known) or not chunk_ids:
                return np.zeros(len(chunk_ids), np.float32)
            pos = np.clip(np.searchsorted(known, chunk_ids), 0, len(known) - 1)
            return np.where(known[pos] == np.asarray(chunk_ids), every[pos], 0.0).astype(np.float32)

        return LexicalHits({int(i): float(s) for i, s in zip(ids, top)}, score_of)

    def counts(self) -> tuple[int, int]:
        return len(self.store), len(self.lexical_index)

    def close(self) -> None:
        pass
