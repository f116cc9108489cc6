"""A local news site whose feeds the tests change between polls: RSS with ETag/Last-Modified (304
on a match), article pages, and per-path faults (a status, a raw body, a redirect, a delay).
Real HTTP on loopback, recording every request (path and headers)."""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from xml.sax.saxutils import escape

from tests.helpers import LoopbackServer

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:title" content="{title}"></head>
<body><nav>Trang chủ | Thời sự | Kinh tế</nav><article><h1>{title}</h1>
{paragraphs}</article><footer>Bản quyền thuộc về Báo Thử</footer></body></html>"""


@dataclass
class Item:
    guid: str = ""
    title: str = ""
    link: str = ""  # a path on this server ("/a/x.html") or an absolute url
    description: str = ""
    content: str = ""  # content:encoded (the full text), if any
    date: str = ""  # YYYY-MM-DD, or "" for none


@dataclass
class Fault:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def rss(base: str, items: list[Item], title: str = "Báo Thử") -> bytes:
    out = []
    for it in items:
        parts = [f"<title>{escape(it.title)}</title>" if it.title else ""]
        if it.link:
            parts.append(f"<link>{escape(it.link if '://' in it.link else base + it.link)}</link>")
        if it.guid:
            parts.append(f'<guid isPermaLink="false">{escape(it.guid)}</guid>')
        if it.description:
            parts.append(f"<description>{escape(it.description)}</description>")
        if it.content:
            parts.append(f"<content:encoded>{escape(it.content)}</content:encoded>")
        if it.date:
            stamp = time.mktime(time.strptime(it.date + " 08:00", "%Y-%m-%d %H:%M"))
            parts.append(f"<pubDate>{email.utils.formatdate(stamp, usegmt=True)}</pubDate>")
        out.append("<item>" + "".join(parts) + "</item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{escape(title)}</title><link>{base}/</link>{''.join(out)}</channel></rss>").encode()


class FeedServer(LoopbackServer):
    def __init__(self) -> None:
        self.feeds: dict[str, tuple[list[Item], str]] = {}
        self.pages: dict[str, tuple[str, list[str]]] = {}
        self.faults: dict[str, Fault] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                    fault = server.faults.get(self.path)
                    feed = server.feeds.get(self.path)
                    page = server.pages.get(self.path)
                if fault is not None:
                    time.sleep(fault.delay)
                    return self._send(fault.status, fault.body, fault.content_type, fault.headers)
                if feed is not None:
                    body = rss(server.base, *feed)
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, b"", "", {"ETag": etag})
                    return self._send(200, body, "application/rss+xml; charset=utf-8",
                                      {"ETag": etag, "Last-Modified": "Tue, 05 Mar 2024 08:00:00 GMT"})
                if page is not None:
                    title, paragraphs = page
                    html = PAGE.format(title=escape(title), paragraphs="".join(f"<p>{escape(p)}</p>" for p in paragraphs))
                    return self._send(200, html.encode(), "text/html; charset=utf-8")
                return self._send(404, b"not found", "text/plain")

            def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    if ctype:
                        self.send_header("Content-Type", ctype)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        super().__init__(Handler)
        self.url = self.base

    def set_feed(self, path: str, items: list[Item], title: str = "Báo Thử") -> None:
        with self.lock:
            self.feeds[path] = (list(items), title)

    def set_page(self, path: str, title: str, *paragraphs: str) -> None:
        with self.lock:
            self.pages[path] = (title, list(paragraphs))

    def fault(self, path: str, fault: Fault | None) -> None:
        with self.lock:
            if fault is None:
                self.faults.pop(path, None)
            else:
                self.faults[path] = fault

    def hits(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p == path]
