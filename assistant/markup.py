"""Untrusted text made safe for the web UI's Markdown.

Article titles, sources, passages and urls come from the web (pages, feeds, uploads, the API), and
so do LLM replies: Gradio renders Markdown with embedded HTML, and its sanitizer only checks link
protocols on <a>/<area>, so `<svg><a href="javascript:…">`, forms and external images get through.
Every untrusted field is therefore escaped twice over (HTML, then Markdown syntax) before it joins
our own markup, and a link is written only for an http(s) url."""

from __future__ import annotations

import html
import re
from urllib.parse import quote, urlsplit

# CommonMark lets any ASCII punctuation be backslash-escaped. These start inline syntax anywhere
# (emphasis, code, links, images, tables, strike-through, math); "<" is gone after the HTML pass.
_MD_SYNTAX = re.compile(r"([\\`*_{}\[\]()!|~$])")
_NEWLINES = re.compile(r"\r\n?|\n")
# These start block syntax only at the start of a line (headings, quotes, lists, setext rules); in
# "1." only the dot can carry the escape (a backslash before a digit would show).
_LINE_START = re.compile(r"(?m)^(\s*)(\d+(?=\.)|)([#>+=\-.])")
# Our own citation markers survive escaping ("[1]" stays readable); a marker followed by ":" or
# "(" could start a reference definition or a link, so it stays escaped.
_ESCAPED_MARKER = re.compile(r"\\\[(\d{1,3})\\\](?![\\]?[:(])")
_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()!|~$#>+=\-.:@])")
_URL_SAFE = "/:?#[]@!$&'*+,;=%-._~"
_AUTOLINK = re.compile(r":(?=//)|(?<=\bwww)\.|@", re.IGNORECASE)


def md_text(text: object, keep_markers: bool = False) -> str:
    """`text` as literal Markdown: shows exactly what it says, renders nothing active."""
    # The browser's Markdown reads "\r" as a line break too, so a line-start escape must see it as one.
    escaped = _MD_SYNTAX.sub(r"\\\1", html.escape(_NEWLINES.sub("\n", str(text or "")), quote=False))
    escaped = _LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2)}\\{m.group(3)}", escaped)
    # GFM links a bare "http://…", "www.…" or e-mail address by itself: from untrusted text, none.
    escaped = _AUTOLINK.sub(lambda m: "\\" + m.group(0), escaped)
    return _ESCAPED_MARKER.sub(r"[\1]", escaped) if keep_markers else escaped


def md_lines(text: object, keep_markers: bool = False) -> str:
    """Like md_text, with the text's line breaks kept as Markdown hard breaks."""
    return "  \n".join(md_text(line, keep_markers) for line in _NEWLINES.split(str(text or "")))


def md_answer(text: object) -> str:
    """An answer (quoted sentences or an LLM reply) as literal Markdown: [n] markers kept, every
    other link, image or markup shown as text, line breaks kept."""
    return md_lines(text, keep_markers=True)


def plain(text: str) -> str:
    """Undo md_text: what the user typed, from a chat message the UI rendered (follow-up history)."""
    return html.unescape(_UNESCAPE.sub(r"\1", text))


def safe_url(url: object) -> str:
    """An http(s) url with the characters that could end a Markdown link or an HTML attribute
    percent-encoded; "" for anything else (javascript:, data:, relative, malformed)."""
    url = str(url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(ord(c) < 33 for c in url):
        return ""
    return quote(url, safe=_URL_SAFE).replace("(", "%28").replace(")", "%29")


def md_link(label: str, url: object) -> str:
    """A Markdown link to `url` when it is http(s), else nothing. `label` is our own text."""
    safe = safe_url(url)
    return f"[{md_text(label)}]({safe})" if safe else ""


def html_link(label: str, url: object) -> str:
    safe = safe_url(url)
    if not safe:
        return ""
    return f'<a href="{html.escape(safe, quote=True)}" target="_blank" rel="noopener noreferrer">{md_text(label)}</a>'
