"""The Python API: one object that answers, searches and builds, used by the CLI and the app."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.answering import ExtractiveAnswerer, GateModel, SentenceCache
from assistant.dates import DateRange, extract_date_range
from assistant.errors import IndexMissingError, IndexStateError
from assistant.followup import retrieval_query
from assistant.llm import LLMAnswerer, LLMError, cited, clean_markers
from assistant.llm import configured as llm_configured
from assistant.messages import msg
from assistant.records import Answer, Citation, Hit
from assistant.retrieval import Retrieval, Retriever, SearchFilters, SearchRequest
from assistant.settings import Settings
from index.builder import BuildReport, Progress, build_index
from index.corpus import Article
from index.embedder import Embedder, load_embedder
from index.layout import POINTER
from index.metadata import MetadataDB
from index.reader import OpenIndex, open_index
from index.textnorm import detect_language, normalize_text
from index.updater import UpdateReport, update_index

log = logging.getLogger(__name__)
# Bounds every entry point shares (web UI, gradio_client, JSON API, CLI, Python).
MAX_K = 50
# Earlier questions kept for a follow-up: the heuristic and the LLM rewrite read at most the last three.
MAX_HISTORY = 5
# A period the question implies is dropped when its best passage's cosine trails the best match
# outside it by more than this (or when it leaves no passage): the archive has nothing on it.
DATE_FALLBACK_MARGIN = 0.05


@dataclass
class _Context:
    """Everything an answerer needs, gathered once per question."""

    question: str
    lang: str
    notice: str
    qv: np.ndarray
    hits: list[Hit]
    retrieval: Retrieval
    articles: dict[str, Article]
    answerer: ExtractiveAnswerer
    context: tuple[str, np.ndarray] | None = None  # a follow-up's retrieval query and its vector
    standalone: str = ""  # the LLM's rewrite of a follow-up, asked in its place

    def extractive(self):
        return self.answerer.answer(self.question, self.qv, self.lang, self.hits, self.articles, self.retrieval,
                                    self.context)


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
        self._sentences = SentenceCache()
        self._gate = GateModel.load(self.settings.answer_gate) if self.settings.answer_gate else None

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    def index(self) -> OpenIndex:
        """The live index; re-opened when a rebuild has published a new version.

        The version it replaces is not closed here: requests in other threads may still be reading
        it, and it closes itself (its SQLite connection with it) when the last of them lets go. A
        new version that fails to open (corrupt, half-copied) is logged once and the last good one
        keeps serving until the pointer moves again."""
        pointer = Path(self.settings.index_dir) / POINTER
        stamp = pointer.stat().st_mtime_ns if pointer.exists() else None
        with self._lock:
            if self._index is None or stamp != self._pointer_stamp:
                try:
                    fresh = open_index(self.settings.index_dir, self.settings.model)
                except IndexStateError as exc:
                    if self._index is None:
                        raise
                    log.error("The new index version cannot be opened; still serving version %s: %s",
                              self._index.version, exc.message("en"))
                    self._pointer_stamp = stamp
                    return self._index
                self._index, self._pointer_stamp = fresh, stamp
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

    def update(self, corpus_dir: Path | None = None, full: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> UpdateReport:
        return update_index(self.settings, self.embedder, corpus_dir=corpus_dir, full=full,
                            show_progress=show_progress, progress=progress)

    def _check_question(self, question: str, lang: str) -> str | None:
        if not question:
            return msg("empty_question", lang)
        if len(question) > self.settings.max_question_chars:
            return msg("too_long", lang, n=len(question), limit=self.settings.max_question_chars)
        return None

    def _k(self, k: int | None) -> int:
        return max(1, min(int(k or self.settings.top_k), MAX_K))

    def sources(self) -> list[str]:
        return self.index().db.sources()

    def search(self, query: str, k: int | None = None, mode: str = "hybrid",
               filters: SearchFilters | None = None) -> list[Hit]:
        query = normalize_text(query or "").strip()
        if not query or len(query) > self.settings.max_question_chars:
            return []
        started = time.perf_counter()
        retriever = Retriever(self.index(), self.embedder)
        request = SearchRequest(query, self._k(k), self.settings.max_per_article, mode, filters or SearchFilters())
        hits = retriever.search(request)
        log.info("search done", extra={"fields": {
            "event": "search", "query_chars": len(query), "mode": mode, "hits": len(hits),
            "filtered": request.filters.restricts, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}})
        return hits

    def ask(self, question: str, k: int | None = None, ui_lang: str | None = None,
            filters: SearchFilters | None = None, now: dt.date | None = None, mode: str | None = None,
            history: list[str] | None = None) -> Answer:
        """Answer with citations. A date expression in the question ("tháng 5/2022", "last week")
        becomes a publication-date filter relative to `now` (default: today), unless `filters`
        already sets dates. `mode` is "extractive" or "llm" (default: settings.answer_mode).
        `history` holds the previous questions of the conversation, oldest first: a follow-up
        ("Ai trao giấy khen?", "what did he ask?") is retrieved together with the conversation's
        subject (assistant/followup.py)."""
        for item in self.ask_stream(question, k, ui_lang, filters, now, mode, stream=False, history=history):
            if isinstance(item, Answer):
                return item
        raise AssertionError("ask_stream ended without an answer")

    def ask_stream(self, question: str, k: int | None = None, ui_lang: str | None = None,
                   filters: SearchFilters | None = None, now: dt.date | None = None,
                   mode: str | None = None, stream: bool = True,
                   history: list[str] | None = None) -> Iterator[str | Answer]:
        """Pieces of text while an LLM writes, then always one final Answer. If the LLM fails,
        the final Answer is the extractive one with a notice saying why."""
        started = time.perf_counter()
        use_llm = (mode or self.settings.answer_mode) == "llm"
        ctx = self._prepare(question, k, ui_lang, filters, now, history or [], use_llm)
        if isinstance(ctx, Answer):
            yield ctx
            return
        notices = [ctx.notice] if ctx.notice else []
        if use_llm:
            if not llm_configured(self.settings):
                notices.append(msg("llm_not_configured", ctx.lang))
            else:
                citations = [h.cite(i) for i, h in enumerate(ctx.hits, start=1)]
                parts: list[str] = []
                try:
                    for piece in LLMAnswerer(self.settings).stream(ctx.standalone or ctx.question, ctx.lang,
                                                                   citations, stream):
                        parts.append(piece)
                        yield piece
                except LLMError as exc:
                    log.warning("LLM answer failed: %s", exc)
                    notices.append(msg("llm_failed", ctx.lang, reason=exc.message(ctx.lang)))
                else:
                    text = clean_markers("".join(parts), {c.n for c in citations})
                    used = cited(text)
                    yield self._finish(ctx, text, [c for c in citations if c.n in used], True, notices, "llm",
                                       started)
                    return
        extract = ctx.extractive()
        yield self._finish(ctx, extract.answer, extract.citations, extract.found, notices, "extractive", started,
                           extract.gate)

    def _prepare(self, question, k, ui_lang, filters, now, history: list[str],
                 use_llm: bool = False) -> _Context | Answer:
        question = normalize_text(question or "").strip()
        detected = detect_language(question)
        lang = detected if detected in ("vi", "en") else (ui_lang or self.settings.ui_lang)
        problem = self._check_question(question, lang)
        if problem:
            return Answer(question[:200], problem, lang, found=False, notice=problem)
        filters = filters or SearchFilters()
        notice = ""
        period = None
        if not (filters.date_from or filters.date_to):
            period = extract_date_range(question, now)
            if period:
                start, end = period.iso
                filters = replace(filters, date_from=start, date_to=end)
                notice = msg("date_filter", lang, start=start, end=end, expression=period.expression)
        idx = self.index()
        # Each earlier question is held to the question's own cap, so the retrieval query stays bounded.
        history = [normalize_text(h)[: self.settings.max_question_chars] for h in history[-MAX_HISTORY:] if h]
        query = retrieval_query(question, history)
        standalone = ""
        if use_llm and history and llm_configured(self.settings):
            standalone = self._rewrite(question, history)
            query = standalone or query
        followup = query != question
        k = self._k(k)
        retriever = Retriever(idx, self.embedder)
        qv, query_vector = retriever.encode_pair(question, query)
        request = SearchRequest(query, k, self.settings.max_per_article, filters=filters)
        retrieval = retriever.retrieve(request, query_vector)
        if filters.date_from or filters.date_to:
            filters, retrieval, notice = self._date_outcome(retriever, request, query_vector, retrieval, period,
                                                            lang, notice)
        if followup:
            # A follow-up asks something new about the old subject: passages found by the message
            # alone join those found with the context, and sentence scoring sorts them out.
            own = retriever.search(SearchRequest(question, k, self.settings.max_per_article, filters=filters), qv)
            seen = {h.chunk_id for h in retrieval.hits}
            retrieval.hits += [h for h in own if h.chunk_id not in seen]
        answerer = ExtractiveAnswerer(self.embedder, idx.lexical, self.settings.answer_sentences, self._sentences,
                                      self._gate)
        return _Context(question, lang, notice, qv, retrieval.hits, retrieval,
                        idx.db.articles(h.article_id for h in retrieval.hits), answerer,
                        (query, query_vector) if followup else None, standalone)

    @staticmethod
    def _date_outcome(retriever: Retriever, request: SearchRequest, query_vector: np.ndarray, retrieval: Retrieval,
                      period: DateRange | None, lang: str, notice: str) -> tuple[SearchFilters, Retrieval, str]:
        """What a date filter's results become: the filters, retrieval and notice to answer with.

        A period the question implied (`period`) that leaves no passage, or only passages far
        weaker than the best match outside it (an archive older than "hôm nay", undated
        articles), is dropped: the best matches overall are answered from, and the notice says
        which period was tried, what the index holds and that the results lie outside it. Dates
        the user set are kept; when they leave nothing, the notice says so in the same terms."""
        filters = request.filters
        db = retriever.index.db
        if period is not None:
            wider_filters = replace(filters, date_from=None, date_to=None)
            wider = retriever.retrieve(replace(request, filters=wider_filters), query_vector)
            if wider.hits and (not retrieval.hits or wider.top_dense - retrieval.top_dense > DATE_FALLBACK_MARGIN):
                start, end = period.iso
                return wider_filters, wider, msg("date_fallback", lang, start=start, end=end,
                                                 expression=period.expression, holdings=_holdings(db, lang))
        if retrieval.hits:
            return filters, retrieval, notice
        return filters, retrieval, msg("date_empty", lang, period=_period_text(filters, lang),
                                       holdings=_holdings(db, lang))

    def _rewrite(self, question: str, history: list[str]) -> str:
        """The LLM's standalone form of a follow-up, or "" (then the heuristic query stands)."""
        try:
            rewritten = normalize_text(LLMAnswerer(self.settings).rewrite(question, history))
        except LLMError as exc:
            log.warning("Follow-up rewrite failed, using the conversation heuristic: %s", exc)
            return ""
        log.info("follow-up rewritten by the LLM (%d -> %d chars)", len(question), len(rewritten))
        return rewritten

    @staticmethod
    def _finish(ctx: _Context, text: str, citations: list[Citation], found: bool, notices: list[str], mode: str,
                started: float, gate=None) -> Answer:
        seconds = time.perf_counter() - started
        # What was asked stays private: the log has sizes and outcomes, not the question.
        log.info("question answered", extra={"fields": {
            "event": "ask", "lang": ctx.lang, "question_chars": len(ctx.question), "hits": len(ctx.hits),
            "citations": len(citations), "mode": mode, "found": found, "followup": ctx.context is not None,
            "latency_ms": round(seconds * 1000, 1)}})
        return Answer(ctx.question, text, ctx.lang, citations, ctx.hits, found, notice=" ".join(notices), mode=mode,
                      seconds=seconds, gate=gate)


def _period_text(filters: SearchFilters, lang: str) -> str:
    """A date filter in words: "published from A to B", "… on or after A", "… up to B"."""
    if filters.date_from and filters.date_to:
        return msg("period_range", lang, start=filters.date_from, end=filters.date_to)
    if filters.date_from:
        return msg("period_from", lang, start=filters.date_from)
    return msg("period_to", lang, end=filters.date_to)


def _holdings(db: MetadataDB, lang: str) -> str:
    """What the index holds, datewise: its newest (and oldest) dated article, or that none is dated."""
    total = db.counts()[0]
    dated, oldest, newest = db.date_span()
    if not total:
        return msg("index_empty", lang)
    if not dated:
        return msg("index_undated", lang, total=total)
    return msg("index_dated", lang, newest=newest, oldest=oldest, dated=dated, total=total)
