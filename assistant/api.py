"""JSON HTTP API beside the web UI (FastAPI; OpenAPI docs at /api/docs). Errors are JSON with a
message, never a stack trace; request bodies are size-limited."""

from __future__ import annotations

import logging
import sqlite3
from typing import Annotated, Literal

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from assistant.admin import Admin, Caller
from assistant.errors import AccessError, IndexMissingError, NewsQAError
from assistant.library import ArticleRow
from assistant.messages import t
from assistant.records import Citation, Hit
from assistant.request import AskRequest
from assistant.retrieval import SearchFilters
from assistant.service import NewsQA
from assistant.webguard import BodyLimit, redact

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000
# Gradio's own routes carry chat histories with their sources: room for a long conversation.
GRADIO_BODY_BYTES = 4_000_000
MAX_QUERY_CHARS = 2000


class AskIn(BaseModel):
    question: str = Field(max_length=20_000, description="in Vietnamese (with or without accents) or English")
    k: int = Field(5, ge=1, le=20, description="passages to retrieve")
    history: list[Annotated[str, Field(max_length=MAX_QUERY_CHARS)]] = Field(
        default_factory=list, max_length=20, description="earlier questions of the conversation, oldest first")
    lang: Literal["vi", "en"] = Field("vi", description="language of messages when the question's is unclear")
    mode: Literal["extractive", "llm"] | None = None
    sources: list[str] = Field(default_factory=list, max_length=50)
    date_from: str | None = Field(None, max_length=40)
    date_to: str | None = Field(None, max_length=40)
    prefer_recent: bool = False

    def request(self) -> AskRequest:
        return AskRequest.from_fields(self.question, k=self.k, ui_lang=self.lang, mode=self.mode,
                                      history=tuple(self.history), sources=self.sources, date_from=self.date_from,
                                      date_to=self.date_to, prefer_recent=self.prefer_recent)


class AskOut(BaseModel):
    question: str
    answer: str
    language: str
    found: bool
    notice: str
    mode: str
    seconds: float
    citations: list[Citation]


class SearchOut(BaseModel):
    query: str
    hits: list[Hit]


class ArticlesOut(BaseModel):
    total: int
    articles: list[ArticleRow]


class ArticleIn(BaseModel):
    title: str = Field(max_length=1000)
    text: str = Field(max_length=MAX_BODY_BYTES)
    date: str = Field("", max_length=40)
    url: str = Field("", max_length=2000)
    source: str = Field("", max_length=200)


class AdminOut(BaseModel):
    results: list[dict]
    index_update: str


class FeedIn(BaseModel):
    url: str = Field(max_length=2000, description="RSS or Atom feed address (http/https)")
    every: str | None = Field(None, max_length=20, description="poll interval: 30m, 2h, 1d or seconds")
    source: str = Field("", max_length=200, description="source name for its articles (default: the feed's title)")
    full_text: bool = Field(False, description="fetch every item's page, also when the feed carries full text")


class FeedOut(BaseModel):
    id: int
    url: str
    source: str
    every: float
    every_text: str
    full_text: bool
    title: str
    created: str
    last_poll: str
    last_success: str
    last_status: str
    error: str
    error_vi: str
    failures: int
    added_total: int
    updated_total: int
    last_added: int
    next_poll: str


class FeedsOut(BaseModel):
    total: int
    polling: bool
    feeds: list[FeedOut]


class FeedActionOut(BaseModel):
    message: str
    feed: FeedOut | None
    polls: list[dict]


FEED_ID = Path(..., ge=1, le=2**62, description="the feed's id (`GET /api/feeds`)")


class HealthOut(BaseModel):
    status: Literal["ok", "no_index"]
    index_version: str
    articles: int
    passages: int
    model: str
    built_at: str


class ErrorOut(BaseModel):
    error: str


ERRORS = {code: {"model": ErrorOut} for code in (400, 403, 411, 413, 415, 503)}


def _filters(sources, date_from, date_to, recent) -> SearchFilters:
    return SearchFilters.parse(sources or (), date_from or None, date_to or None, recent)


def create_api(qa: NewsQA, admin: Admin) -> FastAPI:
    api = FastAPI(title="News assistant API", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  redoc_url=None)
    upload_bytes = int(qa.settings.max_upload_mb * 1024 * 1024) + 64 * 1024  # the file plus its form fields
    api.add_middleware(BodyLimit, default=GRADIO_BODY_BYTES,
                       limits={"/api/": MAX_BODY_BYTES, "/gradio_api/upload": upload_bytes},
                       require_length=("/api/",))

    waiting = {"n": 0}  # model-bound API requests in progress or queued

    @api.middleware("http")
    async def json_only_and_queue(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH"):
            # A cross-site form can post text/plain or form data without a preflight; JSON cannot.
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return JSONResponse({"error": t("api_not_json")}, status_code=415)
        if path not in ("/api/ask", "/api/search"):
            return await call_next(request)
        # Beyond the queue size a caller is told to come back rather than left waiting for minutes.
        if waiting["n"] >= qa.settings.queue_size:
            return JSONResponse({"error": t("api_busy")}, status_code=503,
                                headers={"Retry-After": "5"})
        waiting["n"] += 1
        try:
            return await call_next(request)
        finally:
            waiting["n"] -= 1

    @api.exception_handler(AccessError)
    async def access_error(request: Request, exc: AccessError):
        return JSONResponse({"error": exc.message("en")}, status_code=403)

    @api.exception_handler(IndexMissingError)
    async def missing_index(request: Request, exc: IndexMissingError):
        return JSONResponse({"error": redact(exc.message("en"), qa.settings)}, status_code=503)

    @api.exception_handler(NewsQAError)
    async def domain_error(request: Request, exc: NewsQAError):
        return JSONResponse({"error": redact(exc.message("en"), qa.settings)}, status_code=400)

    @api.exception_handler(OSError)
    @api.exception_handler(sqlite3.Error)
    async def storage_error(request: Request, exc: Exception):
        log.error("storage error on %s %s: %s", request.method, request.url.path, exc)
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return JSONResponse({"error": t("api_storage_error", reason=reason)}, status_code=503)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": t("api_invalid_request", where=where, problem=first.get("msg", "invalid"))},
                            status_code=422)

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        """The framework's own refusals (a body that is no UTF-8 JSON; 404 and 405 on /api/ come from
        `no_such_endpoint` below) in the API's error shape."""
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("API request failed: %s %s", request.method, request.url.path)
        return JSONResponse({"error": t("api_internal_error")}, status_code=500)

    @api.post("/api/ask", response_model=AskOut, responses=ERRORS, summary="Answer a question with cited sources")
    def ask(body: AskIn) -> dict:
        answer = qa.ask(body.request())
        out = answer.as_dict()
        out["seconds"] = round(answer.seconds, 4)
        return out

    @api.get("/api/search", response_model=SearchOut, responses=ERRORS, summary="Ranked passages for a query")
    def search(q: str = Query(..., max_length=MAX_QUERY_CHARS), k: int = Query(10, ge=1, le=50),
               mode: Literal["hybrid", "dense", "lexical"] = "hybrid",
               source: list[str] = Query(default_factory=list, max_length=50),
               date_from: str | None = Query(None, max_length=40), date_to: str | None = Query(None, max_length=40),
               prefer_recent: bool = False) -> dict:
        hits = qa.search(q, k=k, mode=mode, filters=_filters(source, date_from, date_to, prefer_recent))
        return {"query": q, "hits": [h.as_dict() for h in hits]}

    @api.get("/api/articles", response_model=ArticlesOut, responses=ERRORS, summary="Indexed articles")
    def articles(query: str = Query("", max_length=200), sort: Literal["date", "title", "source", "chunks"] = "date",
                 limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> dict:
        rows = admin.library.list_articles(query, sort)
        return {"total": len(rows), "articles": [r.__dict__ for r in rows[offset : offset + limit]]}

    @api.post("/api/articles", response_model=AdminOut, responses=ERRORS,
              summary="Add an article and update the index (admin)")
    def add_article(body: ArticleIn, request: Request, x_admin_password: str | None = Header(None)) -> dict:
        out = admin.add_text(x_admin_password, body.title, body.text, body.date, body.url, body.source,
                             caller=Caller.of(request)).as_dict()
        out["index_update"] = redact(out["index_update"], qa.settings)
        for result in out["results"]:
            result["message"] = redact(result["message"], qa.settings)
        return out

    def feed_out(report) -> dict:
        out = report.as_dict()
        out["message"] = redact(out["message"], qa.settings)
        for poll in out["polls"]:
            poll["message"] = redact(poll["message"], qa.settings)
            poll["error"] = redact(poll["error"], qa.settings)
            poll["index_update"] = redact(poll["index_update"], qa.settings)
        return out

    @api.get("/api/feeds", response_model=FeedsOut, responses=ERRORS,
             summary="Feed subscriptions: last poll, last success, last error, articles added, next poll")
    def feeds() -> dict:
        from assistant.feeds import feed_dict
        from assistant.scheduler import polling_enabled

        rows = [feed_dict(f) for f in admin.feeds.feeds()]
        for row in rows:
            row["error"], row["error_vi"] = redact(row["error"], qa.settings), redact(row["error_vi"], qa.settings)
        scheduler = admin.scheduler
        return {"total": len(rows), "polling": bool(scheduler and scheduler.running and polling_enabled(qa.settings)),
                "feeds": rows}

    @api.post("/api/feeds", response_model=FeedActionOut, responses=ERRORS,
              summary="Subscribe to a feed (admin); it is polled on schedule")
    def add_feed(body: FeedIn, request: Request, x_admin_password: str | None = Header(None)) -> dict:
        return feed_out(admin.feed_add(x_admin_password, body.url, body.every, body.source, body.full_text,
                                       caller=Caller.of(request)))

    @api.delete("/api/feeds/{feed_id}", response_model=FeedActionOut, responses=ERRORS,
                summary="Remove a subscription (admin); its articles stay")
    def remove_feed(request: Request, feed_id: int = FEED_ID, x_admin_password: str | None = Header(None)) -> dict:
        return feed_out(admin.feed_remove(x_admin_password, feed_id, caller=Caller.of(request)))

    @api.post("/api/feeds/{feed_id}/poll", response_model=FeedActionOut, responses=ERRORS,
              summary="Poll a feed now and update the index (admin)")
    def poll_feed(request: Request, feed_id: int = FEED_ID, x_admin_password: str | None = Header(None)) -> dict:
        out = feed_out(admin.feed_poll(x_admin_password, feed_id, caller=Caller.of(request)))
        if out["polls"] and out["polls"][0]["status"] == "missing":
            return JSONResponse({"error": out["polls"][0]["message"]}, status_code=404)
        return out

    @api.get("/api/health", response_model=HealthOut, summary="Index version, article count and model")
    def health() -> dict:
        status = qa.status()
        return {"status": "ok" if status.ready else "no_index", "index_version": status.version,
                "articles": status.articles, "passages": status.chunks, "model": status.model or qa.settings.model,
                "built_at": status.built_at}

    # Last: the web UI is mounted at "/" and would answer any other /api/ path with its own 404.
    @api.api_route("/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                   include_in_schema=False)
    def no_such_endpoint(request: Request, rest: str) -> JSONResponse:
        allowed = sorted({m for r in api.routes if isinstance(r, APIRoute) and r.endpoint is not no_such_endpoint
                          and r.path_regex.match(request.url.path) for m in r.methods})
        if allowed:
            return JSONResponse({"error": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(allowed)})
        return JSONResponse({"error": "Not Found"}, status_code=404)

    return api
