"""Chat presentation: turning answers and hits into chat messages and Markdown, in vi or en.

Kept apart from assistant/web.py so the UI module only wires components, and so this logic is testable
without a browser."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from assistant.errors import NewsQAError
from assistant.markup import html_link, md_answer, md_lines, md_link, md_text, plain
from assistant.messages import t
from assistant.records import Answer, Citation, Hit
from assistant.request import AskRequest
from assistant.service import IndexStatus, NewsQA
from assistant.webguard import redact
from index.textnorm import normalize_text

log = logging.getLogger(__name__)

# A pasted novel is not echoed back whole into the chat history.
ECHO_LIMIT = 1000
# Chat messages kept from the history a client sends (the follow-up heuristic reads the last few).
HISTORY_MESSAGES = 40
EXAMPLES = [
    "What tasks did Colonel Lương Thanh Bình assign?",
    "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện những nhiệm vụ gì?",
    "Ai trao giấy khen cho các tập thể có thành tích xuất sắc?",
    "dai ta luong thanh binh phat bieu gi",
]


ARTICLE_COLUMNS = ("col_date", "col_title", "col_source", "col_chunks", "col_id", "col_dup")


TABLE_ROWS = 500  # a newsroom corpus has tens of thousands: the page shows a filterable window


def articles_table(rows, lang: str) -> dict:
    """The Articles tab's table as a Dataframe value: the first TABLE_ROWS rows, then a line
    saying how many more the filter would reveal."""
    data = [[r.date or "", r.title, r.source, r.chunks, r.id, r.duplicate_of] for r in rows[:TABLE_ROWS]]
    if len(rows) > TABLE_ROWS:
        data.append(["", label("more_rows", lang, n=len(rows) - TABLE_ROWS), "", 0, "", ""])
    return {
        "headers": [label(c, lang) for c in ARTICLE_COLUMNS],
        "data": data or [["", label("no_articles", lang), "", 0, "", ""]],
    }


# UI labels come from the one catalog (assistant/messages.json); `label` is the name this module
# and assistant/feedview.py use for it.
label = t


def shown_error(qa: NewsQA, exc: NewsQAError, lang: str) -> str:
    """A domain error as the page shows it: literal text, server paths named, not spelled out."""
    return md_text(redact(exc.message(lang), qa.settings))


def status_markdown(status: IndexStatus, lang: str) -> str:
    if not status.ready:
        return label("status_missing", lang)
    return label("status_ready", lang, **status.as_dict())


def citation_title(c: Citation | Hit, lang: str, n: int | None = None) -> str:
    date = c.date or label("no_date", lang)
    prefix = f"[{n}] " if n is not None else ""
    return f"{prefix}{md_text(c.title)} — {md_text(date)}"


def citation_body(c: Citation | Hit, lang: str) -> str:
    parts = [md_text(c.text).replace("\n", "<br>")]
    meta = []
    if c.source:
        meta.append(f"{label('source', lang)}: {md_text(c.source)}")
    if c.also:
        meta.append(f"{label('also', lang)}: {md_text(', '.join(c.also))}")
    link = html_link(label("open", lang), c.url)
    if link:
        meta.append(link)
    if meta:
        parts.append("<br><small>" + " · ".join(meta) + "</small>")
    return "".join(parts)


def source_messages(answer: Answer, lang: str) -> list[dict]:
    """One collapsible message per citation: Gradio renders `metadata.title` as an expander."""
    return [
        {
            "role": "assistant",
            "content": citation_body(c, lang),
            "metadata": {"title": citation_title(c, lang, c.n), "status": "done"},
        }
        for c in answer.citations
    ]


def _plain(content: object) -> str:
    """Message text whether Gradio hands it over as a string or as a list of parts."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def stream_answer(qa: NewsQA, message: str, history: list[dict], k: int, lang: str,
                  mode: str | None = None, sources: list[str] | None = None, date_from: str = "",
                  date_to: str = "", recent: bool = False) -> Iterator[list[dict]]:
    """Yield the chat history as the answer appears (as the LLM writes it, or word by word for a
    quoted answer), then with its sources. The settings panel's filters apply to retrieval."""
    from assistant.retrieval import SearchFilters

    shown_question = message or ""
    if len(shown_question) > ECHO_LIMIT:
        shown_question = shown_question[:ECHO_LIMIT] + "…"
    history = [m for m in history or [] if isinstance(m, dict)]
    # Only the last turns matter to a follow-up, and a client may send any history at all.
    previous = [plain(_plain(m.get("content")))[:ECHO_LIMIT] for m in history[-HISTORY_MESSAGES:]
                if m.get("role") == "user"]
    history = history + [{"role": "user", "content": md_lines(shown_question)}]
    answer: Answer | None = None
    written = ""
    try:
        filters = SearchFilters.parse(sources, date_from, date_to, recent)
    except NewsQAError as exc:
        yield history + [{"role": "assistant", "content": label("bad_date", lang, error=md_text(exc.message(lang)))}]
        return
    try:
        request = AskRequest(message or "", k=int(k), ui_lang=lang, mode=mode, filters=filters,
                             history=tuple(previous))
        for item in qa.ask_stream(request):
            if isinstance(item, Answer):
                answer = item
                break
            written += item
            yield history + [{"role": "assistant", "content": md_answer(written)}]
    except NewsQAError as exc:
        yield history + [{"role": "assistant", "content": shown_error(qa, exc, lang)}]
        return
    except Exception as exc:  # noqa: BLE001 - the chat must answer, never show a stack trace
        log.exception("ask failed")
        yield history + [{"role": "assistant", "content": label("error", lang, error=type(exc).__name__)}]
        return
    if answer is None:
        return
    # Quoted sentences and LLM replies are untrusted: shown literally, only [n] markers kept.
    text = md_answer(answer.answer)
    if answer.notice and answer.notice != answer.answer:
        text = f"*{md_text(answer.notice)}*\n\n{text}"
    if answer.mode != "llm":
        shown = ""
        words = _tokens(text)
        step = max(1, len(words) // 24)
        for i in range(0, len(words), step):
            shown += "".join(words[i : i + step])
            yield history + [{"role": "assistant", "content": shown}]
    yield history + [{"role": "assistant", "content": text}] + source_messages(answer, lang)


def search_markdown(qa: NewsQA, query: str, k: int, lang: str, sources: list[str] | None = None,
                    date_from: str = "", date_to: str = "", recent: bool = False) -> str:
    """The Search tab: ranked passages, or a message for a bad date — never an exception."""
    from assistant.retrieval import SearchFilters

    try:
        filters = SearchFilters.parse(sources, date_from, date_to, recent)
    except NewsQAError as exc:
        return label("bad_date", lang, error=md_text(exc.message(lang)))
    # The service finds nothing for an overlong query; the tab says why rather than "no results".
    if len(query_text := normalize_text(query or "").strip()) > qa.settings.max_question_chars:
        return label("too_long", lang, n=len(query_text), limit=qa.settings.max_question_chars)
    try:
        return hits_markdown(qa.search(query, k=int(k), filters=filters), lang)
    except NewsQAError as exc:
        return shown_error(qa, exc, lang)


def hits_markdown(hits: list[Hit], lang: str) -> str:
    if not hits:
        return label("no_results", lang)
    blocks = []
    for rank, h in enumerate(hits, start=1):
        link = md_link(label("open", lang), h.url)
        link = f" · {link}" if link else ""
        src = f" · {md_text(h.source)}" if h.source else ""
        if h.also:
            src += f" · {label('also', lang)}: {md_text(', '.join(h.also))}"
        blocks.append(
            f"**{rank}. {md_text(h.title)}** — {md_text(h.date or label('no_date', lang))}{src}{link}"
            f" · score {h.score:.3f}\n\n> {md_text(h.text.replace(chr(10), ' '))}"
        )
    return "\n\n---\n\n".join(blocks)
