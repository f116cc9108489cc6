"""Hybrid retrieval (dense + BM25) over the index, with per-article diversity.

Fusion: both score lists are min-max normalized over the union of candidates, and the lexical
side is weighted by its confidence — the share of the query's IDF mass that the best lexical
passage actually contains: a question whose rare words all appear in one passage gets the full
lexical weight, one whose words are scattered little. An English question over Vietnamese articles
is searched lexically by its names, numbers and Vietnamese words only (`lexical_query`), at half weight."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from assistant.qtype import anchor_runs
from assistant.records import Hit
from index.embedder import Embedder
from index.lexical import analyze_query, is_unaccented
from index.reader import OpenIndex
from index.search import Where
from index.textnorm import detect_language

FUSION_LEXICAL_WEIGHT = 1.0
# The embedding model barely understands Vietnamese written without diacritics (ViMedAQA with
# unaccented questions: dense nDCG@10 25 vs 87 accented), while the folded BM25 copes (82 vs 83).
# So an unaccented question that is not English is embedded with its diacritics restored from the
# corpus (index/accents.py: dense 25 -> 81), and, restoration being imperfect, its dense side
# weighs a little less. An English question is embedded as typed, the model reading English well:
# its dense side keeps its full weight (its lexical side reads only its names, numbers and Vietnamese
# words, which may all be found in an unrelated article).
RESTORED_DENSE_DISCOUNT = 0.3
# An English question shares only names and numbers with Vietnamese text, and in a large index those
# match unrelated articles: its lexical side counts half. XQuAD English tune questions searched by their
# anchors (lexical_query), hybrid P@1 / gold in the top 5 at 34,955 articles: 60.1 / 80.4 at full
# weight, 61.9 / 81.0 at half, 62.5 / 81.0 at 0.3; at 5,085: 67.3 / 86.3 at half, 67.9 / 85.7 at 0.3
# (anchors then paired across gaps too; paired with neighbours only, at half: 61.3 / 81.0 and 67.3 / 86.3).
ENGLISH_LEXICAL_DISCOUNT = 0.5


# Recency preference: a bonus that halves every RECENCY_HALF_LIFE_DAYS, counted back from the
# newest article of the index (the corpus's own "now", so an archive is not all equally stale).
RECENCY_WEIGHT = 0.3
RECENCY_HALF_LIFE_DAYS = 30.0


def lexical_query(query: str, bigrams: bool = True) -> list[str]:
    """What BM25 reads of a query. An English question's own words are not in Vietnamese text, and
    where they are (an English title, a brand) they point at the wrong article: it searches by its
    anchors (names, numbers, words with Vietnamese diacritics), paired only with their neighbours.
    XQuAD English tune questions, hybrid P@1 / gold in the top 5 passages: 58.9 / 79.2 -> 61.3 / 81.0
    at 34,955 articles, 67.3 / 85.1 -> 67.3 / 86.3 at 5,085 (bench/answers.py's indexes; docs/answers.md
    has the held split too). A question with no anchor is ranked by the dense side alone, unless it was
    typed all in lowercase ("what position does luong thanh binh hold"), where names cannot be told
    from words: then all its words are searched, as before."""
    if detect_language(query) != "en":
        return analyze_query(query, bigrams)
    runs = anchor_runs(query)
    if not runs and query == query.lower():
        return analyze_query(query, bigrams)
    return list(dict.fromkeys(tok for run in runs for tok in analyze_query(" ".join(run), bigrams)))


def restores(query: str) -> bool:
    """Whether `query` is embedded with restored diacritics: unaccented and not English."""
    return is_unaccented(query) and detect_language(query) != "en"


@dataclass(frozen=True)
class SearchFilters:
    sources: tuple[str, ...] = ()
    date_from: str | None = None  # ISO dates, inclusive; a date filter excludes undated articles
    date_to: str | None = None
    prefer_recent: bool = False

    @property
    def restricts(self) -> bool:
        return self.where.restricts

    @property
    def where(self) -> Where:
        return Where(self.sources, self.date_from, self.date_to)

    @classmethod
    def parse(cls, sources=(), date_from: str | None = None, date_to: str | None = None,
              prefer_recent: bool = False) -> SearchFilters:
        """From user input (CLI flags, UI fields): dates in any accepted format; raises CorpusError
        naming the accepted formats for a date it cannot read."""
        from index.corpus import parse_date

        return cls(tuple(sources or ()), parse_date(date_from), parse_date(date_to), bool(prefer_recent))


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 5
    max_per_article: int = 2
    mode: str = "hybrid"  # "hybrid", "dense" or "lexical"
    filters: SearchFilters = SearchFilters()


@dataclass
class Retrieval:
    hits: list[Hit]
    # How far the best passage stands out from the crowd (dense score minus the median of the
    # candidates): a question the corpus cannot answer matches everything about equally.
    dense_gap: float = 0.0
    top_dense: float = 0.0  # the best passage's cosine
    # 1 when the dense and the lexical sides put the same passage first: two independent readings agree.
    agreement: float = 0.0
    confidence: float = 0.0  # share of the question's IDF mass in the best lexical passage (0..1)


@dataclass(frozen=True)
class Scored:
    chunk_id: int
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Candidates:
    """Passages to fuse, with both sides' scores for each (dense: cosine; lexical: BM25, 0 where
    it matched nothing). `confidence` is None when the lexical side found nothing at all;
    `lexical_discount` scales the lexical side for questions it reads poorly (English)."""

    ids: list[int]
    dense: np.ndarray
    lexical: np.ndarray
    confidence: float | None
    dense_weight: float
    lexical_discount: float = 1.0


def fuse(pool: Candidates) -> np.ndarray:
    """Min-max normalized dense plus max-normalized BM25 weighted by the lexical confidence."""
    d, lx = pool.dense, pool.lexical
    dn = (d - d.min()) / (d.max() - d.min() + 1e-9)
    ln = lx / (lx.max() + 1e-9)
    return pool.dense_weight * dn + FUSION_LEXICAL_WEIGHT * pool.lexical_discount * (pool.confidence or 0.0) * ln


class Retriever:
    def __init__(self, index: OpenIndex, embedder: Embedder) -> None:
        self.index = index
        self.embedder = embedder

    def search(self, request: SearchRequest, query_vector: np.ndarray | None = None) -> list[Hit]:
        return self.retrieve(request, query_vector).hits

    def dense_form(self, query: str) -> str:
        """What the embedding model is given for `query`: unaccented non-English text gets its
        diacritics back from the corpus first."""
        return self.index.lexical.restorer.restore(query) if restores(query) else query

    def encode(self, queries: list[str]) -> np.ndarray:
        return self.embedder.encode_queries([self.dense_form(q) for q in queries])

    def encode_pair(self, question: str, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the question (to pick sentences) and of the retrieval query (may be the same)."""
        if query == question:
            qv = self.encode([question])[0]
            return qv, qv
        qv, query_vector = self.encode([question, query])
        return qv, query_vector

    def retrieve(self, request: SearchRequest, query_vector: np.ndarray | None = None) -> Retrieval:
        if query_vector is None:
            query_vector = self.encode([request.query])[0]
        fetch = max(50, request.k * max(4, request.max_per_article * 2))
        ranked, confidence = self._ranked(request.query, query_vector, fetch, request.mode, request.filters)
        dense = np.array([s.dense for s in ranked if s.dense], dtype=np.float32)
        gap = float(dense.max() - np.median(dense)) if len(dense) else 0.0
        hits = self._diversify(ranked, request)
        if not ranked:
            return Retrieval(hits, gap)
        best_dense = max(ranked, key=lambda s: s.dense)
        best_lexical = max(ranked, key=lambda s: s.lexical)
        return Retrieval(hits, gap, best_dense.dense, float(best_dense.chunk_id == best_lexical.chunk_id),
                         confidence)

    def rank(self, query: str, qv: np.ndarray, fetch: int, mode: str = "hybrid",
             filters: SearchFilters | None = None) -> list[Scored]:
        return self._ranked(query, qv, fetch, mode, filters)[0]

    def _ranked(self, query: str, qv: np.ndarray, fetch: int, mode: str,
                filters: SearchFilters | None) -> tuple[list[Scored], float]:
        """The ranking, and the lexical confidence fusion weighed it with (0 outside hybrid mode)."""
        filters = filters or SearchFilters()
        ranked, confidence = self._rank(query, qv, fetch, mode, filters)
        return (self._prefer_recent(ranked) if filters.prefer_recent else ranked), confidence

    def _rank(self, query: str, qv: np.ndarray, fetch: int, mode: str,
              filters: SearchFilters) -> tuple[list[Scored], float]:
        where = filters.where if filters.restricts else None
        if mode == "dense":
            return [Scored(i, s, s, 0.0) for i, s in self.index.search.dense(qv, fetch, where).items()], 0.0
        if mode == "lexical":
            lexical = self.index.search.lexical(lexical_query(query), fetch, where).top
            return [Scored(i, s, 0.0, s) for i, s in lexical.items()], 0.0
        pool = self.candidates(query, qv, fetch, where)
        if pool.confidence is None:
            return [Scored(i, float(s), float(s), 0.0) for i, s in zip(pool.ids, pool.dense)], 0.0
        fused = fuse(pool)
        order = np.argsort(-fused)
        ranked = [Scored(pool.ids[i], float(fused[i]), float(pool.dense[i]), float(pool.lexical[i])) for i in order]
        return ranked, pool.confidence

    def candidates(self, query: str, qv: np.ndarray, fetch: int, where: Where | None = None) -> Candidates:
        """The union of the dense and the lexical top `fetch`, each passage scored by both sides
        (what fusion works on; bench/fusion_study.py tries other fusions on the same pools)."""
        search = self.index.search
        dense = search.dense(qv, fetch, where)
        hits = search.lexical(lexical_query(query), fetch, where)
        lexical = hits.top
        if not lexical:
            return Candidates(list(dense), np.array(list(dense.values()), dtype=np.float32),
                              np.zeros(len(dense), np.float32), None, 1.0)
        confidence = self.lexical_confidence(lexical_query(query, bigrams=False), next(iter(lexical)))
        discount = ENGLISH_LEXICAL_DISCOUNT if detect_language(query) == "en" else 1.0
        ids = list(dict.fromkeys([*dense, *lexical]))
        d = np.array([dense.get(c, np.nan) for c in ids], dtype=np.float32)
        missing = np.isnan(d)
        if missing.any():
            d[missing] = search.dense_scores(qv, [c for c, m in zip(ids, missing) if m])
        lx = np.array([lexical.get(c, np.nan) for c in ids], dtype=np.float32)
        unscored = np.isnan(lx)
        if unscored.any():
            lx[unscored] = hits.score_of([c for c, m in zip(ids, unscored) if m])
        return Candidates(ids, d, lx, confidence, self.dense_weight(query), discount)

    def _prefer_recent(self, ranked: list[Scored]) -> list[Scored]:
        # A date past tomorrow is a wrong date (a feed said 2099): it neither sets "now" for the others,
        # which one such article left with no bonus at all, nor earns a bonus itself.
        latest = dt.date.today() + dt.timedelta(days=1)
        newest = self.index.db.newest_date(latest.isoformat())
        if not ranked or not newest:
            return ranked
        top = dt.date.fromisoformat(newest)
        dates = self.index.db.chunk_dates(s.chunk_id for s in ranked)
        scale = max(abs(ranked[0].score), 1e-6)

        def bonus(chunk_id: int) -> float:
            date = dt.date.fromisoformat(dates[chunk_id]) if dates.get(chunk_id) else None
            if date is None or date > latest:
                return 0.0
            age = (top - date).days
            return RECENCY_WEIGHT * scale * 0.5 ** (max(age, 0) / RECENCY_HALF_LIFE_DAYS)

        boosted = [Scored(s.chunk_id, s.score + bonus(s.chunk_id), s.dense, s.lexical) for s in ranked]
        return sorted(boosted, key=lambda s: -s.score)

    @staticmethod
    def dense_weight(query: str) -> float:
        return 1.0 - RESTORED_DENSE_DISCOUNT if restores(query) else 1.0

    def lexical_confidence(self, tokens: list[str], chunk_id: int) -> float:
        chunk = self.index.db.chunks([chunk_id]).get(chunk_id)
        if chunk is None:
            return 0.0
        title = self.index.db.articles([chunk.article_id])[chunk.article_id].title
        return self.index.lexical.coverage(tokens, title + "\n" + chunk.text)

    def _diversify(self, ranked: list[Scored], request: SearchRequest) -> list[Hit]:
        """At most `max_per_article` passages per article, and one article per duplicate group:
        the copies' sources are listed on the result that stands for them."""
        top = ranked[: request.k * 8]
        chunks = self.index.db.chunks(s.chunk_id for s in top)
        articles = self.index.db.articles(c.article_id for c in chunks.values())
        per_article: dict[str, int] = {}
        group_owner: dict[str, str] = {}
        also: dict[str, list[str]] = {}
        picked: list[tuple[Scored, str]] = []
        for s in top:
            chunk = chunks.get(s.chunk_id)
            if chunk is None:
                continue
            art = articles[chunk.article_id]
            group = art.dup_of or art.id
            owner = group_owner.setdefault(group, art.id)
            if owner != art.id:
                copies = also.setdefault(owner, [])
                label = art.source or art.id
                if label not in copies and label != articles[owner].source:
                    copies.append(label)
                continue
            if per_article.get(art.id, 0) >= request.max_per_article or len(picked) >= request.k:
                continue
            per_article[art.id] = per_article.get(art.id, 0) + 1
            picked.append((s, art.id))
        hits = []
        for s, article_id in picked:
            chunk, art = chunks[s.chunk_id], articles[article_id]
            hits.append(Hit(
                chunk_id=s.chunk_id, article_id=art.id, title=art.title, date=art.date, url=art.url,
                source=art.source, text=chunk.text, score=round(s.score, 4), position=chunk.position,
                start=chunk.start, end=chunk.end, also=tuple(also.get(art.id, ())),
            ))
        return hits
