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


class PasswordGuard:
    """Wrong-password attempts per client in a sliding window; thread-safe (requests run in threads)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = FAILURE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str) -> float:
        """How long `client` must wait before its next try (0: it may try now)."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            while times and now - times[0] > self.window:
                times.popleft()
            return self.window - (now - times[0]) if times and len(times) >= self.limit else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # bounded memory under a flood of addresses
                self._failures.clear()
            self._failures.setdefault(client, deque()).append(time.monotonic())


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
        """Without a password, admin actions are served only to this machine (a loopback bind)."""
        return not self.protected and not is_loopback(self.qa.settings.host)

    def authorize(self, password: str | None, client: str = "", action: str = "") -> None:
        if self.disabled:
            self._log(action, client, "refused: no password on a public bind")
            raise AccessError(
                f"Adding, deleting and rebuilding are disabled: the server listens on {self.qa.settings.host} "
                "and NEWSQA_ADMIN_PASSWORD is not set.",
                f"Chức năng thêm, xóa và dựng lại chỉ mục đang tắt: máy chủ nghe trên {self.qa.settings.host} "
                "mà chưa đặt NEWSQA_ADMIN_PASSWORD.")
        expected = self.qa.settings.admin_password
        if not expected:
            return
        wait = self.guard.wait_seconds(client)
        if wait:
            self._log(action, client, "refused: too many wrong passwords")
            raise AccessError(f"Too many wrong passwords; try again in {wait:.0f} s.",
                              f"Nhập sai mật khẩu quá nhiều lần; hãy thử lại sau {wait:.0f} giây.")
        if not hmac.compare_digest((password or "").encode(), expected.encode()):
            self.guard.failed(client)
            self._log(action, client, "refused: wrong password")
            raise AccessError("Wrong or missing admin password.", "Sai hoặc thiếu mật khẩu quản trị.")

    @staticmethod
    def _log(action: str, client: str, outcome: str, **details: object) -> None:
        log.info("admin action", extra={"fields": {"event": "admin", "action": action, "client": client or "local",
                                                   "outcome": outcome, **details}})

    def _run(self, action: str, password: str | None, client: str, work) -> AdminReport:
        self.authorize(password, client, action)
        report = work()
        self._log(action, client, "done", results=[r.status for r in report.results],
                  index_update=report.update_en[:200])
        return report

    def add_text(self, password: str | None, title: str, text: str, date: str = "", url: str = "",
                 source: str = "", progress: Progress | None = None, client: str = "") -> AdminReport:
        return self._run("add_text", password, client, lambda: self._then_update(
            [self.library.add_text(title, text, date, url, source)], progress))

    def add_files(self, password: str | None, files, progress: Progress | None = None,
                  client: str = "") -> AdminReport:
        """`files`: (name, bytes) pairs, or a function giving them, called only once the password
        is right (an upload is not read for a caller who may not add it)."""
        def work() -> AdminReport:
            blobs = files() if callable(files) else files
            return self._then_update([r for name, data in blobs for r in self.library.add_upload(name, data)],
                                     progress)
        return self._run("add_files", password, client, work)

    def add_url(self, password: str | None, url: str, feed: bool = False,
                progress: Progress | None = None, client: str = "") -> AdminReport:
        return self._run("add_url", password, client, lambda: self._then_update(
            self.library.add_feed(url) if feed else [self.library.add_url(url)], progress))

    def delete(self, password: str | None, article_id: str, progress: Progress | None = None,
               client: str = "") -> AdminReport:
        return self._run("delete", password, client,
                         lambda: self._then_update([self.library.delete(article_id)], progress))

    def update(self, password: str | None, full: bool = False, progress: Progress | None = None,
               client: str = "") -> AdminReport:
        return self._run("update", password, client, lambda: self._update(AdminReport(), full, progress))

    def _then_update(self, results: list[AddResult], progress: Progress | None) -> AdminReport:
        report = AdminReport(results)
        return self._update(report, False, progress) if report.changed else report

    def _update(self, report: AdminReport, full: bool, progress: Progress | None) -> AdminReport:
        try:
            update = self.qa.update(full=full, progress=progress)
        except NewsQAError as exc:
            report.update_en = TEXTS["update_failed"]["en"].format(error=exc.message("en"))
            report.update_vi = TEXTS["update_failed"]["vi"].format(error=exc.message("vi"))
            return report
        except (OSError, sqlite3.Error) as exc:
            # A full disk or a locked database: the articles stay saved and the next update takes them.
            log.warning("index update failed: %s", exc)
            reason = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
            report.update_en = TEXTS["update_failed"]["en"].format(error=reason)
            report.update_vi = TEXTS["update_failed"]["vi"].format(error=reason)
            return report
        report.update_en = TEXTS["updated"]["en"].format(summary=update.summary("en"))
        report.update_vi = TEXTS["updated"]["vi"].format(summary=update.summary("vi"))
        return report
