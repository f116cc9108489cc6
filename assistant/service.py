"""The Python API: one object that answers, searches and builds, used by the CLI and the app."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from assistant.answering import ExtractiveAnswerer
from assistant.dates import extract_date_range
from assistant.errors import IndexMissingError
from assistant.messages import msg
from assistant.records import Answer, Hit
from assistant.retrieval import Retriever, SearchFilters, SearchRequest
from assistant.settings import Settings
from index.builder import BuildReport, Progress, build_index
from index.embedder import Embedder, load_embedder
from index.layout import POINTER
from index.reader import OpenIndex, open_index
from index.textnorm import detect_language, normalize_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexStatus:
    ready: bool
    index_dir: str
    version: str = ""
    articles: int = 0
    chunks: int = 0
    model: str = ""
    built_at: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class NewsQA:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._embedder = embedder
        self._index: OpenIndex | None = None
        self._pointer_stamp: float | None = None
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    def index(self) -> OpenIndex:
        """The live index; re-opened when a rebuild has published a new version."""
        pointer = Path(self.settings.index_dir) / POINTER
        stamp = pointer.stat().st_mtime_ns if pointer.exists() else None
        with self._lock:
            if self._index is None or stamp != self._pointer_stamp:
                fresh = open_index(self.settings.index_dir, self.settings.model)
                old, self._index, self._pointer_stamp = self._index, fresh, stamp
                if old is not None:
                    old.close()
            return self._index

    def status(self) -> IndexStatus:
        try:
            idx = self.index()
        except IndexMissingError:
            return IndexStatus(False, str(self.settings.index_dir))
        m = idx.manifest
        return IndexStatus(True, str(self.settings.index_dir), idx.version, m.articles, m.chunks, m.model, m.built_at)

    def build(self, corpus_dir: Path | None = None, show_progress: bool = False,
              progress: Progress | None = None) -> BuildReport:
        return build_index(self.settings, self.embedder, corpus_dir=corpus_dir, show_progress=show_progress,
                           progress=progress)

    def _check_question(self, question: str, lang: str) -> str | None:
        if not question:
            return msg("empty_question", lang)
        if len(question) > self.settings.max_question_chars:
            return msg("too_long", lang, n=len(question), limit=self.settings.max_question_chars)
        return None

    def sources(self) -> list[str]:
        return self.index().db.sources()

    def search(self, query: str, k: int | None = None, mode: str = "hybrid",
               filters: SearchFilters | None = None) -> list[Hit]:
        query = normalize_text(query or "").strip()
        if not query or len(query) > self.settings.max_question_chars:
            return []
        retriever = Retriever(self.index(), self.embedder)
        request = SearchRequest(query, k or self.settings.top_k, self.settings.max_per_article, mode,
                                filters or SearchFilters())
        return retriever.search(request)

    def ask(self, question: str, k: int | None = None, ui_lang: str | None = None,
            filters: SearchFilters | None = None, now: dt.date | None = None) -> Answer:
        """Answer with citations. A date expression in the question ("tháng 5/2022", "last week")
        becomes a publication-date filter relative to `now` (default: today), unless `filters`
        already sets dates."""
        started = time.perf_counter()
        question = normalize_text(question or "").strip()
        detected = detect_language(question)
        lang = detected if detected in ("vi", "en") else (ui_lang or self.settings.ui_lang)
        problem = self._check_question(question, lang)
        if problem:
            return Answer(question[:200], problem, lang, found=False, notice=problem)
        filters = filters or SearchFilters()
        notice = ""
        if not (filters.date_from or filters.date_to):
            period = extract_date_range(question, now)
            if period:
                start, end = period.iso
                filters = replace(filters, date_from=start, date_to=end)
                notice = msg("date_filter", lang, start=start, end=end, expression=period.expression)
        idx = self.index()
        qv = self.embedder.encode_queries([question])[0]
        request = SearchRequest(question, k or self.settings.top_k, self.settings.max_per_article, filters=filters)
        retrieval = Retriever(idx, self.embedder).retrieve(request, qv)
        hits = retrieval.hits
        articles = idx.db.articles(h.article_id for h in hits)
        answerer = ExtractiveAnswerer(self.embedder, idx.lexical, self.settings.answer_sentences)
        answerer.cache = self._sentence_cache(answerer)
        extract = answerer.answer(question, qv, lang, hits, articles, retrieval.dense_gap)
        seconds = time.perf_counter() - started
        log.info("ask lang=%s hits=%d found=%s %.0fms", lang, len(hits), extract.found, seconds * 1000)
        return Answer(question, extract.answer, lang, extract.citations, hits, extract.found, notice=notice,
                      seconds=seconds)

    def _sentence_cache(self, answerer: ExtractiveAnswerer):
        cache = getattr(self, "_cache", None)
        if cache is None:
            cache = self._cache = answerer.cache
        return cache
