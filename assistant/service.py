"""The Python API: one object that answers, searches and builds, used by the CLI and the app."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from assistant.answering import ExtractiveAnswerer, SentenceCache, load_gate
from assistant.dates import DateRange, extract_date_range
from assistant.errors import IndexMissingError, IndexStateError
from assistant.followup import points_back, refers_back, retrieval_query
from assistant.llm import LLMAnswerer, LLMError, cited, clean_markers
from assistant.llm import configured as llm_configured
from assistant.messages import t
from assistant.qtype import news_topic
from assistant.records import Answer, Citation, Hit
from assistant.request import AskRequest
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


@dataclass(frozen=True)
class _Question:
    """The question as the service reads it: normalized, its language, the filters to apply (with a
    period the question names, if any) and the notice that period gives the answer."""

    text: str
    lang: str
    filters: SearchFilters
    period: DateRange | None = None
    notice: str = ""
    topic: str | None = None  # a request for news: what it is about (assistant.qtype.news_topic)


@dataclass
class _Prepared:
    """Everything an answerer needs, gathered once per question."""

    question: _Question
    question_vector: np.ndarray
    retrieval: Retrieval
    articles: dict[str, Article]
    answerer: ExtractiveAnswerer
    notice: str = ""  # the date filter's outcome (applied, fallen back, empty)
    followup: tuple[str, np.ndarray] | None = None  # a follow-up's retrieval query and its vector
    standalone: str = ""  # the LLM's rewrite of a follow-up, asked in its place
    unresolved: bool = False  # refers back to someone it does not name, with no conversation to say whom

    @property
    def hits(self) -> list[Hit]:
        return self.retrieval.hits

    def extractive(self):
        q = self.question
        return self.answerer.answer(q.text, self.question_vector, q.lang, self.hits, self.articles, self.retrieval,
                                    self.followup, self.unresolved, self.topic)

    @property
    def topic(self) -> str | None:
        """What a request for news is about (a follow-up is answered as a question)."""
        return None if self.followup else self.question.topic


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


def merge_follow_up_hits(with_context: list[Hit], own: list[Hit]) -> list[Hit]:
    """A follow-up's passages: those found with the conversation's subject, then those the message
    alone found, a passage of an article already found joining that article's. The answerer reads a
    passage's rank as evidence, and the subject article's passage that the message alone finds often
    holds what it asks ("Ông ấy yêu cầu đơn vị làm gì?" at 5,085 articles: 8th, and not read)."""
    seen = {h.chunk_id for h in with_context}
    merged = with_context + [h for h in own if h.chunk_id not in seen]
    first: dict[str, int] = {}
    for i, h in enumerate(merged):
        first.setdefault(h.article_id, i)
    return sorted(merged, key=lambda h: first[h.article_id])


class NewsQA:
    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._embedder = embedder
        self._index: OpenIndex | None = None
        self._pointer_stamp: float | None = None
        self._lock = threading.Lock()
        # Apart from the index's lock: the server opens the index and builds its pages while the model
        # loads in another thread (assistant/startup.py).
        self._model_lock = threading.Lock()
        self._sentences = SentenceCache()
        self._gate = load_gate(self.settings.answer_gate)

    @property
    def embedder(self) -> Embedder:
        with self._model_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings.index_config())
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
                    fresh = open_index(self.settings.index_dir, self.settings.model, self.settings.milvus_config())
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
        return build_index(self.settings.index_config(), self.embedder, corpus_dir=corpus_dir,
                           show_progress=show_progress, progress=progress)

    def update(self, corpus_dir: Path | None = None, full: bool = False, show_progress: bool = False,
               progress: Progress | None = None) -> UpdateReport:
        return update_index(self.settings.index_config(), self.embedder, corpus_dir=corpus_dir, full=full,
                            show_progress=show_progress, progress=progress)

    def _check_question(self, question: str, lang: str) -> str | None:
        if not question:
            return t("empty_question", lang)
        if len(question) > self.settings.max_question_chars:
            return t("too_long", lang, n=len(question), limit=self.settings.max_question_chars)
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

    def ask(self, request: AskRequest | str, **options) -> Answer:
        """Answer with citations. `request` is an AskRequest, or a question with AskRequest's fields
        as keywords (k, ui_lang, mode, filters, history, now). A date expression in the question
        ("tháng 5/2022", "last week") becomes a publication-date filter relative to `now` (default:
        today), unless the filters already set dates. `history` holds the previous questions of the
        conversation, oldest first: a follow-up ("Ai trao giấy khen?", "what did he ask?") is
        retrieved together with the conversation's subject (assistant/followup.py)."""
        for item in self.ask_stream(request, stream=False, **options):
            if isinstance(item, Answer):
                return item
        raise AssertionError("ask_stream ended without an answer")

    def ask_stream(self, request: AskRequest | str, stream: bool = True, **options) -> Iterator[str | Answer]:
        """Pieces of text while an LLM writes, then always one final Answer. If the LLM fails,
        the final Answer is the extractive one with a notice saying why."""
        started = time.perf_counter()
        if not isinstance(request, AskRequest):
            request = AskRequest(request, **options)
        use_llm = (request.mode or self.settings.answer_mode) == "llm"
        prepared = self._prepare(request, use_llm)
        if isinstance(prepared, Answer):
            yield prepared
            return
        lang = prepared.question.lang
        notices = [prepared.notice] if prepared.notice else []
        if use_llm:
            if not llm_configured(self.settings):
                notices.append(t("llm_not_configured", lang))
            else:
                citations = [h.cite(i) for i, h in enumerate(prepared.hits, start=1)]
                parts: list[str] = []
                try:
                    for piece in LLMAnswerer(self.settings).stream(prepared.standalone or prepared.question.text,
                                                                   lang, citations, stream):
                        parts.append(piece)
                        yield piece
                except LLMError as exc:
                    log.warning("LLM answer failed: %s", exc)
                    notices.append(t("llm_failed", lang, reason=exc.message(lang)))
                else:
                    text = clean_markers("".join(parts), {c.n for c in citations})
                    used = cited(text)
                    yield self._finish(prepared, text, [c for c in citations if c.n in used], True, notices, "llm",
                                       started)
                    return
        extract = prepared.extractive()
        yield self._finish(prepared, extract.answer, extract.citations, extract.found, notices, "extractive", started,
                           extract.gate)

    def _prepare(self, request: AskRequest, use_llm: bool = False) -> _Prepared | Answer:
        question = self._resolve_question(request)
        if isinstance(question, Answer):
            return question
        idx = self.index()
        # A request for news ("Tin tức về giá xăng", short and naming no one: what the follow-up heuristic
        # would read as a follow-up) stands on its own, unless its topic points back ("tin về vụ đó").
        news = question.topic is not None and not points_back(question.topic, question.lang == "en")
        query, standalone = (question.text, "") if news else self._retrieval_query(question.text, request.history,
                                                                                    use_llm)
        followup = query != question.text
        # ... and is searched by its topic: "tin tức" put a "Tin kinh tế" roundup first.
        search = question.topic if news else query
        retriever = Retriever(idx, self.embedder)
        question_vector, query_vector = retriever.encode_pair(question.text, search)
        retrieval, notice = self._retrieve(retriever, question, search, query_vector, question_vector,
                                           self._k(request.k), followup)
        answerer = ExtractiveAnswerer(self.embedder, idx.lexical, self.settings.answer_sentences, self._sentences,
                                      self._gate)
        return _Prepared(question, question_vector, retrieval, idx.db.articles(h.article_id for h in retrieval.hits),
                         answerer, notice, (query, query_vector) if followup else None, standalone,
                         query == question.text and refers_back(question.text))

    def _resolve_question(self, request: AskRequest) -> _Question | Answer:
        """Normalize, detect the language, check the length, and turn a period the question names
        into a date filter (unless the request sets dates). A question that cannot be asked comes
        back as the Answer that says why."""
        text = normalize_text(request.question).strip()
        detected = detect_language(text)
        lang = detected if detected in ("vi", "en") else (request.ui_lang or self.settings.ui_lang)
        problem = self._check_question(text, lang)
        if problem:
            return Answer(text[:200], problem, lang, found=False, notice=problem)
        filters = request.filters
        period = extract_date_range(text, request.now)
        # A period the request names is no topic word, even where the request's own dates win.
        topic = news_topic(text, period.expression if period else "")
        if filters.date_from or filters.date_to or period is None:
            return _Question(text, lang, filters, topic=topic)
        start, end = period.iso
        return _Question(text, lang, replace(filters, date_from=start, date_to=end), period,
                         t("date_filter", lang, start=start, end=end, expression=period.expression), topic)

    def _retrieval_query(self, question: str, history: tuple[str, ...], use_llm: bool) -> tuple[str, str]:
        """(what to retrieve with, the LLM's standalone rewrite or ""): the question itself, or for a
        follow-up the question with the conversation's subject (heuristic), or the LLM's rewrite."""
        # Each earlier question is held to the question's own cap, so the retrieval query stays bounded.
        history = [normalize_text(h)[: self.settings.max_question_chars] for h in history[-MAX_HISTORY:] if h]
        query = retrieval_query(question, history)
        if use_llm and history and llm_configured(self.settings):
            standalone = self._rewrite(question, history)
            return standalone or query, standalone
        return query, ""

    def _retrieve(self, retriever: Retriever, question: _Question, query: str, query_vector: np.ndarray,
                  question_vector: np.ndarray, k: int, followup: bool) -> tuple[Retrieval, str]:
        """The passages to answer from and the date notice to show with them (`query`: what to search
        with, the question's own words or a follow-up's with its context, or a news request's topic)."""
        request = SearchRequest(query, k, self.settings.max_per_article, filters=question.filters)
        retrieval = retriever.retrieve(request, query_vector)
        filters, notice = question.filters, question.notice
        if filters.date_from or filters.date_to:
            filters, retrieval, notice = self._date_outcome(retriever, request, query_vector, retrieval,
                                                            question.period, question.lang, notice)
        if followup:
            # A follow-up asks something new about the old subject: passages found by the message
            # alone join those found with the context, and sentence scoring sorts them out.
            own = retriever.search(SearchRequest(question.text, k, self.settings.max_per_article, filters=filters),
                                   question_vector)
            retrieval.hits = merge_follow_up_hits(retrieval.hits, own)
        return retrieval, notice

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
                return wider_filters, wider, t("date_fallback", lang, start=start, end=end,
                                                 expression=period.expression, holdings=_holdings(db, lang))
        if retrieval.hits:
            return filters, retrieval, notice
        return filters, retrieval, t("date_empty", lang, period=_period_text(filters, lang),
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
    def _finish(prepared: _Prepared, text: str, citations: list[Citation], found: bool, notices: list[str],
                mode: str, started: float, gate=None) -> Answer:
        seconds = time.perf_counter() - started
        question = prepared.question
        # What was asked stays private: the log has sizes and outcomes, not the question.
        log.info("question answered", extra={"fields": {
            "event": "ask", "lang": question.lang, "question_chars": len(question.text), "hits": len(prepared.hits),
            "citations": len(citations), "mode": mode, "found": found, "followup": prepared.followup is not None,
            "latency_ms": round(seconds * 1000, 1)}})
        return Answer(question.text, text, question.lang, citations, prepared.hits, found, notice=" ".join(notices),
                      mode=mode, seconds=seconds, gate=gate)


def _period_text(filters: SearchFilters, lang: str) -> str:
    """A date filter in words: "published from A to B", "… on or after A", "… up to B"."""
    if filters.date_from and filters.date_to:
        return t("period_range", lang, start=filters.date_from, end=filters.date_to)
    if filters.date_from:
        return t("period_from", lang, start=filters.date_from)
    return t("period_to", lang, end=filters.date_to)


def _holdings(db: MetadataDB, lang: str) -> str:
    """What the index holds, datewise: its newest (and oldest) dated article, or that none is dated."""
    total = db.counts()[0]
    dated, oldest, newest = db.date_span()
    if not total:
        return t("index_empty", lang)
    if not dated:
        return t("index_undated", lang, total=total)
    return t("index_dated", lang, newest=newest, oldest=oldest, dated=dated, total=total)
