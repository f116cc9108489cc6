"""The operator's side, shared by the web UI and the JSON API: corpus changes and index updates,
behind the admin password when one is configured."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from assistant.errors import AccessError, NewsQAError
from assistant.library import AddResult, Library
from assistant.service import NewsQA
from index.builder import Progress

log = logging.getLogger(__name__)

TEXTS = {
    "updated": {"en": "Index updated: {summary}", "vi": "Đã cập nhật chỉ mục: {summary}"},
    "update_failed": {"en": "The index was not updated: {error}", "vi": "Chưa cập nhật được chỉ mục: {error}"},
    "nothing": {"en": "Nothing was added.", "vi": "Không có bài nào được thêm."},
}
# Wrong passwords a client may send per window before it is told to wait (no guessing at speed).
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Caller:
    """Who asks for an admin action: the peer's address, and whether a proxy forwarded the request
    (then the peer is the proxy, and a loopback peer says nothing about the real client)."""

    address: str = ""
    forwarded: bool = False

    @classmethod
    def of(cls, request) -> Caller:
        """From a Starlette or a Gradio request (both carry .client and .headers)."""
        if request is None:
            return cls()
        headers = request.headers
        forwarded = any(h in headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))
        return cls(request.client.host if request.client else "", forwarded)

    @property
    def key(self) -> str:
        """Whom wrong passwords are counted against: an IPv6 client by its /64 (it owns all of it)."""
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return self.address or "local"
        return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class PasswordGuard:
    """Wrong-password attempts per client in a sliding window. Checking and counting an attempt is
    one step under the lock, so concurrent guesses cannot all slip past the check."""

    MAX_CLIENTS = 10_000

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, client: str) -> float:
        """0 when `client` may try now (the try is counted as a failure until `succeeded`), else the
        seconds it must wait."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.setdefault(client, deque())
            while times and now - times[0] > self.window:
                times.popleft()
            if len(times) >= self.limit:
                return self.window - (now - times[0])
            times.append(now)
            while len(self._failures) > self.MAX_CLIENTS:  # bounded memory: forget the oldest clients
                self._failures.pop(next(iter(self._failures)))
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            times = self._failures.get(client)
            if times:
                times.pop()


@dataclass
class AdminReport:
    results: list[AddResult] = field(default_factory=list)
    update_en: str = ""
    update_vi: str = ""

    @property
    def changed(self) -> bool:
        return any(r.needs_update for r in self.results)

    def message(self, lang: str) -> str:
        lines = [f"- {r.message(lang)}" for r in self.results]
        update = self.update_vi if lang == "vi" else self.update_en
        if update:
            lines.append(update)
        return "\n".join(lines) or TEXTS["nothing"][lang if lang in ("en", "vi") else "en"]

    def as_dict(self) -> dict:
        return {"results": [r.as_dict() for r in self.results], "index_update": self.update_en}


class Admin:
    """Every action checks the password first, then logs who did what (never the password)."""

    def __init__(self, qa: NewsQA) -> None:
        self.qa = qa
        self.library = Library(qa.settings)
        self.guard = PasswordGuard()

    @property
    def protected(self) -> bool:
        return bool(self.qa.settings.admin_password)

    @property
    def disabled(self) -> bool:
        """Without a password, admin actions are served only to this machine: a loopback bind that
        no public name (NEWSQA_TRUSTED_HOSTS) points at."""
        settings = self.qa.settings
        return not self.protected and (not is_loopback(settings.host) or bool(settings.trusted_hosts.strip()))

    def authorize(self, password: str | None, caller: Caller | None = None, action: str = "") -> None:
        caller = caller or Caller()
        if self.disabled or (not self.protected and caller.forwarded):
            self._log(action, caller, "refused: no password on a public server")
            raise AccessError(
                "Adding, deleting and rebuilding are disabled: this server is reachable from other machines "
                "and NEWSQA_ADMIN_PASSWORD is not set.",
                "Chức năng thêm, xóa và dựng lại chỉ mục đang tắt: máy chủ này truy cập được từ máy khác "
                "mà chưa đặt NEWSQA_ADMIN_PASSWORD.")
        expected = self.qa.settings.admin_password
        if not expected:
            return
        wait = self.guard.attempt(caller.key)
        if wait:
            self._log(action, caller, "refused: too many wrong passwords")
            raise AccessError(f"Too many wrong passwords; try again in {wait:.0f} s.",
                              f"Nhập sai mật khẩu quá nhiều lần; hãy thử lại sau {wait:.0f} giây.")
        if not hmac.compare_digest((password or "").encode(), expected.encode()):
            self._log(action, caller, "refused: wrong password")
            raise AccessError("Wrong or missing admin password.", "Sai hoặc thiếu mật khẩu quản trị.")
        self.guard.succeeded(caller.key)

    @staticmethod
    def _log(action: str, caller: Caller, outcome: str, **details: object) -> None:
        log.info("admin action", extra={"fields": {"event": "admin", "action": action,
                                                   "client": caller.address or "local",
                                                   "forwarded": caller.forwarded, "outcome": outcome, **details}})

    def _run(self, action: str, password: str | None, caller: Caller | None, work) -> AdminReport:
        caller = caller or Caller()
        self.authorize(password, caller, action)
        report = work()
        self._log(action, caller, "done", results=[r.status for r in report.results],
                  index_update=report.update_en[:200])
        return report

    def add_text(self, password: str | None, title: str, text: str, date: str = "", url: str = "",
                 source: str = "", progress: Progress | None = None, caller: Caller | None = None) -> AdminReport:
        return self._run("add_text", password, caller, lambda: self._then_update(
            [self.library.add_text(title, text, date, url, source)], progress))

    def add_files(self, password: str | None, files, progress: Progress | None = None,
                  caller: Caller | None = None) -> AdminReport:
        """`files`: (name, bytes) pairs, or a function giving them, called only once the password
        is right (an upload is not read for a caller who may not add it)."""
        def work() -> AdminReport:
            blobs = files() if callable(files) else files
            return self._then_update([r for name, data in blobs for r in self.library.add_upload(name, data)],
                                     progress)
        return self._run("add_files", password, caller, work)

    def add_url(self, password: str | None, url: str, feed: bool = False,
                progress: Progress | None = None, caller: Caller | None = None) -> AdminReport:
        return self._run("add_url", password, caller, lambda: self._then_update(
            self.library.add_feed(url) if feed else [self.library.add_url(url)], progress))

    def delete(self, password: str | None, article_id: str, progress: Progress | None = None,
               caller: Caller | None = None) -> AdminReport:
        return self._run("delete", password, caller,
                         lambda: self._then_update([self.library.delete(article_id)], progress))

    def update(self, password: str | None, full: bool = False, progress: Progress | None = None,
               caller: Caller | None = None) -> AdminReport:
        return self._run("update", password, caller, lambda: self._update(AdminReport(), full, progress))

    def _then_update(self, results: list[AddResult], progress: Progress | None) -> AdminReport:
        report = AdminReport(results)
        return self._update(report, False, progress) if report.changed else report

    def _update(self, report: AdminReport, full: bool, progress: Progress | None) -> AdminReport:
        try:
            update = self.qa.update(full=full, progress=progress)
        except (NewsQAError, OSError, sqlite3.Error) as exc:
            # A full disk or a locked database too: the articles stay saved and the next update takes them.
            log.warning("index update failed: %s", exc)
            for lang in ("en", "vi"):
                error = (exc.message(lang) if isinstance(exc, NewsQAError)
                         else f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")
                setattr(report, f"update_{lang}", TEXTS["update_failed"][lang].format(error=error))
            return report
        report.update_en = TEXTS["updated"]["en"].format(summary=update.summary("en"))
        report.update_vi = TEXTS["updated"]["vi"].format(summary=update.summary("vi"))
        return report
