"""Chat presentation: turning answers and hits into chat messages and Markdown, in vi or en.

Kept apart from app.py so the UI file only wires components, and so this logic is testable
without a browser."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator

from assistant.errors import NewsQAError
from assistant.records import Answer, Citation, Hit
from assistant.service import IndexStatus, NewsQA

log = logging.getLogger(__name__)

LABELS: dict[str, dict[str, str]] = {
    "title": {"vi": "Trợ lý tin tức", "en": "News assistant"},
    "subtitle": {
        "vi": "Hỏi bằng tiếng Việt (có hoặc không dấu) hoặc tiếng Anh; câu trả lời trích từ các bài báo, kèm nguồn.",
        "en": "Ask in Vietnamese (with or without accents) or English; answers quote the news articles, with sources.",
    },
    "chat_tab": {"vi": "Hỏi đáp", "en": "Chat"},
    "search_tab": {"vi": "Tìm kiếm", "en": "Search"},
    "question": {"vi": "Câu hỏi", "en": "Question"},
    "placeholder": {"vi": "Nhập câu hỏi về tin tức…", "en": "Type a question about the news…"},
    "send": {"vi": "Gửi", "en": "Send"},
    "clear": {"vi": "Xóa hội thoại", "en": "Clear chat"},
    "passages": {"vi": "Số đoạn tham khảo", "en": "Passages to use"},
    "query": {"vi": "Từ khóa hoặc câu hỏi", "en": "Keywords or question"},
    "search": {"vi": "Tìm", "en": "Search"},
    "results": {"vi": "Kết quả", "en": "Results"},
    "no_results": {"vi": "Không có kết quả.", "en": "No results."},
    "sources_filter": {"vi": "Chỉ các nguồn", "en": "Only these sources"},
    "date_from": {"vi": "Từ ngày (YYYY-MM-DD)", "en": "From date (YYYY-MM-DD)"},
    "date_to": {"vi": "Đến ngày (YYYY-MM-DD)", "en": "To date (YYYY-MM-DD)"},
    "recent": {"vi": "Ưu tiên tin mới", "en": "Prefer recent news"},
    "answer_mode": {"vi": "Cách trả lời", "en": "Answer mode"},
    "bad_date": {"vi": "Ngày không hợp lệ: {error}", "en": "Invalid date: {error}"},
    "source": {"vi": "Nguồn", "en": "Source"},
    "open": {"vi": "Mở bài gốc", "en": "Open the article"},
    "no_date": {"vi": "không rõ ngày", "en": "no date"},
    "language": {"vi": "Ngôn ngữ giao diện", "en": "Interface language"},
    "status_ready": {
        "vi": "Chỉ mục: **{articles}** bài, **{chunks}** đoạn · mô hình `{model}` · phiên bản `{version}`",
        "en": "Index: **{articles}** articles, **{chunks}** passages · model `{model}` · version `{version}`",
    },
    "status_missing": {
        "vi": "Chưa có chỉ mục. Chạy `newsqa index build` rồi tải lại trang.",
        "en": "No index yet. Run `newsqa index build`, then reload the page.",
    },
    "error": {"vi": "Đã xảy ra lỗi: {error}", "en": "Something went wrong: {error}"},
}
# A pasted novel is not echoed back whole into the chat history.
ECHO_LIMIT = 1000
EXAMPLES = [
    "What tasks did Colonel Lương Thanh Bình assign?",
    "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện những nhiệm vụ gì?",
    "Ai trao giấy khen cho các tập thể có thành tích xuất sắc?",
    "dai ta luong thanh binh phat bieu gi",
]


def label(key: str, lang: str, **kwargs: object) -> str:
    table = LABELS[key]
    return table.get(lang, table["en"]).format(**kwargs)


def status_markdown(status: IndexStatus, lang: str) -> str:
    if not status.ready:
        return label("status_missing", lang)
    return label("status_ready", lang, **status.as_dict())


def citation_title(c: Citation | Hit, lang: str, n: int | None = None) -> str:
    date = c.date or label("no_date", lang)
    prefix = f"[{n}] " if n is not None else ""
    return f"{prefix}{c.title} — {date}"


def citation_body(c: Citation | Hit, lang: str) -> str:
    parts = [html.escape(c.text).replace("\n", "<br>")]
    meta = []
    if c.source:
        meta.append(f"{label('source', lang)}: {html.escape(c.source)}")
    if c.url:
        meta.append(f'<a href="{html.escape(c.url, quote=True)}" target="_blank" rel="noopener">{label("open", lang)}</a>')
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
                  mode: str | None = None) -> Iterator[list[dict]]:
    """Yield the chat history as the answer appears (as the LLM writes it, or word by word for a
    quoted answer), then with its sources."""
    shown_question = message or ""
    if len(shown_question) > ECHO_LIMIT:
        shown_question = shown_question[:ECHO_LIMIT] + "…"
    previous = [_plain(m.get("content")) for m in history or [] if m.get("role") == "user"]
    history = list(history or []) + [{"role": "user", "content": shown_question}]
    answer: Answer | None = None
    written = ""
    try:
        for item in qa.ask_stream(message or "", k=int(k), ui_lang=lang, mode=mode or None, history=previous):
            if isinstance(item, Answer):
                answer = item
                break
            written += item
            yield history + [{"role": "assistant", "content": written}]
    except NewsQAError as exc:
        yield history + [{"role": "assistant", "content": exc.message(lang)}]
        return
    except Exception as exc:  # noqa: BLE001 - the chat must answer, never show a stack trace
        log.exception("ask failed")
        yield history + [{"role": "assistant", "content": label("error", lang, error=type(exc).__name__)}]
        return
    if answer is None:
        return
    text = answer.answer
    if answer.notice and answer.notice != answer.answer:
        text = f"*{answer.notice}*\n\n{text}"
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
        return hits_markdown(qa.search(query, k=int(k), filters=filters), lang)
    except NewsQAError as exc:
        return label("bad_date", lang, error=exc.message(lang))


def hits_markdown(hits: list[Hit], lang: str) -> str:
    if not hits:
        return label("no_results", lang)
    blocks = []
    for rank, h in enumerate(hits, start=1):
        link = f" · [{label('open', lang)}]({h.url})" if h.url else ""
        src = f" · {h.source}" if h.source else ""
        blocks.append(
            f"**{rank}. {h.title}** — {h.date or label('no_date', lang)}{src}{link} · score {h.score:.3f}\n\n"
            f"> {h.text.replace(chr(10), ' ')}"
        )
    return "\n\n---\n\n".join(blocks)
