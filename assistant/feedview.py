"""The Articles tab's feed table, as Markdown. Feed titles, urls and errors come from the web (a
feed's own <title>, a server's error text): every one is escaped with assistant/markup.py, and a
link is written only for an http(s) url."""

from __future__ import annotations

from assistant.chat import label
from assistant.errors import InputError
from assistant.feeds import format_interval
from assistant.feedstore import Feed
from assistant.markup import md_link, md_text

COLUMNS = ("feed_col_id", "feed_col_feed", "feed_col_every", "feed_col_status", "feed_col_last_poll",
           "feed_col_last_success", "feed_col_added", "feed_col_next", "feed_col_error")
MAX_ROWS = 200


def _cell(text: object, limit: int = 300) -> str:
    text = " ".join(str(text or "").split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return md_text(text)


def _when(stamp: str) -> str:
    """An ISO UTC time as "YYYY-MM-DD HH:MM UTC"."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if len(stamp) >= 16 else ""


def feeds_markdown(feeds: list[Feed], lang: str, polling: bool) -> str:
    header = label("feeds_polling_on" if polling else "feeds_polling_off", lang)
    if not feeds:
        return f"{header}\n\n{label('feeds_none', lang)}"
    head = "| " + " | ".join(label(c, lang) for c in COLUMNS) + " |"
    rows = [head, "|" + "---|" * len(COLUMNS)]
    for f in feeds[:MAX_ROWS]:
        name = f.source or f.title or f.url
        feed = _cell(name, 80)
        link = md_link(f.url[:80], f.url)
        if link:
            feed += f"<br>{link}"
        state = label(f"feed_state_{f.last_status}" if f.last_status else "feed_state_never", lang)
        rows.append("| " + " | ".join([
            str(f.id), feed, format_interval(f.every), state, _when(f.last_poll), _when(f.last_success),
            str(f.added_total), _when(f.next_poll), _cell(f.error(lang)),
        ]) + " |")
    return "\n".join([header, "", *rows])


def feed_id(raw: object, empty_ok: bool = False) -> int | None:
    """The subscription number typed in the Feeds tab ("3", "#3"); None for an empty box when allowed."""
    text = str(raw or "").strip().lstrip("#")
    if not text and empty_ok:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # "²" is a digit int() refuses
        raise InputError("feed_unknown", id=repr(text[:40]))
    return int(text)
