"""Feed polling figures (issue #20), against a local news site on loopback:

1. entry -> answerable: the time from a new item appearing in a feed to NewsQA answering a
   question from it: one poll (conditional GET, the item's page fetched and extracted, the article
   saved) plus the one incremental index update, plus the first ask that finds it. Measured
   --rounds times on a copy of the bundled corpus; the scheduler adds at most one interval
   (plus jitter) of waiting on top, shown once with the real scheduler at a 1 s interval.
2. idle poll: the wall time of a poll that finds nothing new, answered 304 (ETag), and of one whose
   server ignores validators (200, every item already seen).

Usage: python bench/feeds.py [--rounds 5] [--idle 30]"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from assistant.feeds import FeedPoller
from assistant.scheduler import FeedScheduler
from assistant.service import NewsQA
from assistant.settings import PROJECT_ROOT, Settings

PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>{t}</title></head><body><article><h1>{t}</h1>"
        "<p>{a}</p><p>{b}</p></article></body></html>")
PROVINCES = ["Nghệ An", "Thanh Hóa", "Quảng Nam", "Cần Thơ", "Lào Cai", "Bình Định", "Sơn La", "Kiên Giang",
             "Hà Tĩnh", "Phú Yên", "Gia Lai", "Bắc Ninh"]


class Site:
    """Feed + pages; `etag=False` makes the server ignore validators (always 200)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []  # (path, title, summary)
        self.pages: dict[str, str] = {}
        self.etag = True
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/rss.xml":
                    items = "".join(f"<item><title>{escape(t)}</title><link>{site.base}{p}</link>"
                                    f"<guid>{p}</guid><description>{escape(s)}</description></item>"
                                    for p, t, s in site.items)
                    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title>'
                            f"{items}</channel></rss>").encode()
                    tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if site.etag and self.headers.get("If-None-Match") == tag:
                        return self._send(304, b"", tag)
                    return self._send(200, body, tag, "application/rss+xml")
                if self.path in site.pages:
                    return self._send(200, site.pages[self.path].encode(), "", "text/html; charset=utf-8")
                return self._send(404, b"", "")

            def _send(self, status, body, tag, ctype=""):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                if tag and site.etag:
                    self.send_header("ETag", tag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def publish(self, n: int) -> tuple[str, str]:
        """A new item (summary only; its page has the text). Returns (question, expected fact)."""
        province = PROVINCES[n % len(PROVINCES)]
        tons = 1000 + 37 * n
        title = f"{province} thu hoạch {tons} tấn vải thiều vụ mới (bản tin {n})"
        a = (f"Vụ vải thiều năm nay, tỉnh {province} thu hoạch được {tons} tấn, cao nhất từ trước đến nay, "
             f"theo Sở Nông nghiệp tỉnh {province}.")
        b = f"Giá bán tại vườn dao động từ 25.000 đến 35.000 đồng mỗi kg; bản tin số {n} cập nhật lúc sáng nay."
        path = f"/bai/{n}.html"
        self.pages[path] = PAGE.format(t=escape(title), a=escape(a), b=escape(b))
        self.items.insert(0, (path, title, a[:90]))
        return f"Vụ này {province} thu hoạch bao nhiêu tấn vải thiều?", f"{tons} tấn"


def answerable(qa: NewsQA, question: str, fact: str) -> bool:
    ans = qa.ask(question)
    return ans.found and fact in ans.answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--idle", type=int, default=30)
    args = ap.parse_args()
    site = Site()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(PROJECT_ROOT / "corpus", Path(tmp) / "corpus")
        settings = Settings.from_env(index_dir=Path(tmp) / "index", corpus_dir=Path(tmp) / "corpus",
                                     fetch_allow_private="127.0.0.1", feed_min_interval=1.0)
        qa = NewsQA(settings)
        report = qa.update(full=True)
        qa.search("warm-up", k=1)
        print(f"index: {report.build.articles} articles, {report.build.chunks} passages "
              f"(bundled corpus); model {qa.embedder.name}")
        poller = FeedPoller(settings, qa=qa)
        feed = poller.subscribe(f"{site.base}/rss.xml", "1s")
        site.publish(0)
        poller.poll(feed.id)  # first poll: the initial item; not measured

        total, polls, updates, asks = [], [], [], []
        for n in range(1, args.rounds + 1):
            question, fact = site.publish(n)
            t0 = time.perf_counter()
            result = poller.poll(feed.id)
            t1 = time.perf_counter()
            ok = answerable(qa, question, fact)
            t2 = time.perf_counter()
            assert result.added == 1 and ok, (result.message(), question)
            total.append(t2 - t0)
            polls.append(result.ms / 1000)
            updates.append(t1 - t0 - result.ms / 1000)
            asks.append(t2 - t1)
        print(f"entry -> answerable (poll + index update + first ask), {args.rounds} rounds: "
              f"median {statistics.median(total):.2f} s, max {max(total):.2f} s "
              f"[poll {statistics.median(polls) * 1000:.0f} ms, update {statistics.median(updates):.2f} s, "
              f"ask {statistics.median(asks) * 1000:.0f} ms]")

        with FeedScheduler(poller, sync_every=1):
            question, fact = site.publish(args.rounds + 1)
            t0 = time.perf_counter()
            while not answerable(qa, question, fact):
                time.sleep(0.1)
            print(f"entry -> answerable with the scheduler at a 1 s interval (+ up to 10% jitter): "
                  f"{time.perf_counter() - t0:.2f} s")
        poller.poll(feed.id)

        for label, etag in (("304 Not Modified", True), ("200, nothing new", False)):
            site.etag = etag
            poller.poll(feed.id)  # settles validators
            times = []
            for _ in range(args.idle):
                t0 = time.perf_counter()
                result = poller.poll(feed.id)
                times.append((time.perf_counter() - t0) * 1000)
                assert result.added == 0 and result.update is None, result.message()
            times.sort()
            print(f"idle poll ({label}, {len(site.items)} items in the feed), {args.idle} polls: "
                  f"median {statistics.median(times):.1f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms")
    site.server.shutdown()


if __name__ == "__main__":
    main()
