"""A small local web server for the article-import tests: pages, feeds, redirects, a slow page
and an oversized one. Real HTTP on loopback, the one thing the tests cannot reach otherwise."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

from tests.helpers import LoopbackServer

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:title" content="{title}"><meta name="author" content="Minh Anh">
<meta property="article:published_time" content="2024-03-05T08:00:00+07:00"></head>
<body><nav>Trang chủ | Thời sự | Kinh tế</nav><article><h1>{title}</h1>
<p>{body}</p><p>Theo kế hoạch, công trình sẽ hoàn thành trong quý IV, phục vụ hàng chục nghìn người dân mỗi ngày.</p>
</article><footer>Bản quyền thuộc về Báo Thử</footer></body></html>"""

ARTICLES = {
    "/cau-moi.html": ("Thành phố khởi công cầu Hòa Bình mới bắc qua sông Hồng",
                      "Sáng 5/3, thành phố khởi công xây dựng cầu Hòa Bình mới dài 1,2 km với tổng vốn 2.500 tỷ đồng."),
    "/truong-hoc.html": ("Tỉnh xây thêm mười hai trường học vùng cao",
                         "Tỉnh vừa phê duyệt dự án xây thêm mười hai trường học cho học sinh vùng cao, hoàn thành trước năm học mới."),
}


def feed(base: str, links: list[str]) -> str:
    items = "".join(f"<item><title>t</title><link>{base}{p}</link></item>" for p in links)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Báo Thử</title>{items}</channel></rss>'


class WebServer(LoopbackServer):
    def __init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                base = server.url
                if self.path in ARTICLES:
                    title, body = ARTICLES[self.path]
                    return self._send(200, PAGE.format(title=title, body=body), "text/html; charset=utf-8")
                if self.path == "/feed.xml":
                    return self._send(200, feed(base, list(ARTICLES)), "application/rss+xml")
                if self.path == "/empty-feed.xml":
                    return self._send(200, feed(base, []), "application/rss+xml")
                if self.path == "/slow.html":
                    time.sleep(3)
                    return self._send(200, "<html></html>", "text/html")
                if self.path == "/big.html":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.end_headers()
                    try:
                        for _ in range(60):
                            self.wfile.write(b"<p>" + b"x" * (1 << 20) + b"</p>")
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return None
                if self.path == "/to-metadata":
                    return self._redirect("http://169.254.169.254/latest/meta-data/")
                if self.path == "/to-localhost":
                    return self._redirect(f"http://localhost:{server.port}/cau-moi.html")
                if self.path == "/broken.html":
                    return self._send(200, "<html><body><div><p>", "text/html")
                return self._send(404, "not found", "text/plain")

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, status: int, text: str, ctype: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)
        self.url = self.base
