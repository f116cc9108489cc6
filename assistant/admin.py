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
from assistant.messages import t
from assistant.service import NewsQA
from index.builder import Progress

log = logging.getLogger(__name__)

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
        return "\n".join(lines) or t("admin_nothing", lang)

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
            raise AccessError("admin_disabled")
        expected = self.qa.settings.admin_password
        if not expected:
            return
        wait = self.guard.attempt(caller.key)
        if wait:
            self._log(action, caller, "refused: too many wrong passwords")
            raise AccessError("admin_too_many_failures", wait=wait)
        if not hmac.compare_digest((password or "").encode(), expected.encode()):
            self._log(action, caller, "refused: wrong password")
            raise AccessError("admin_wrong_password")
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

    # -- feed subscriptions (assistant/feeds.py) ------------------------------------------------
    scheduler = None  # the FeedScheduler of a serving process, told when subscriptions change
    _feeds_lock = threading.Lock()  # one poller per Admin, however many requests ask for it at once

    @property
    def feeds(self):
        """The subscriptions of this index; polls save through this admin's Library and update with its NewsQA.
        Made once, under a lock: two requests (or a request and the scheduler's start) get the same poller."""
        poller = self.__dict__.get("_feeds")
        if poller is None:
            with self._feeds_lock:
                poller = self.__dict__.get("_feeds")
                if poller is None:
                    from assistant.feeds import FeedPoller

                    poller = self._feeds = FeedPoller(self.qa.settings, library=self.library, qa=self.qa)
        return poller

    def _feed_action(self, action: str, password: str | None, caller: Caller | None, work, **details):
        """Authorize, do, and write the audit line: "done", or why it was refused (written by
        `authorize`) or failed."""
        caller = caller or Caller()
        self.authorize(password, caller, action)
        try:
            report = work()
        except Exception as exc:
            error = exc.key if isinstance(exc, NewsQAError) else type(exc).__name__
            self._log(action, caller, "failed", **details, error=error, reason=str(exc)[:300])
            raise
        self._log(action, caller, "done", **details, polls=[p.status for p in report.polls])
        if self.scheduler is not None:
            self.scheduler.sync()
        return report

    def feed_add(self, password: str | None, url: str, every: str | float | None = None, source: str = "",
                 full_text: bool = False, caller: Caller | None = None):
        from assistant.feeds import FeedReport, format_interval

        def work():
            feed = self.feeds.subscribe(url, every, source, full_text)
            return FeedReport(feed=feed).say("feed_subscribed", id=feed.id, url=feed.url,
                                             every=format_interval(feed.every))
        return self._feed_action("feed_add", password, caller, work, url=(url or "")[:300])

    def feed_remove(self, password: str | None, feed_id: int, caller: Caller | None = None):
        from assistant.feeds import FeedReport

        def work():
            feed = self.feeds.unsubscribe(feed_id)
            return FeedReport(feed=feed).say("feed_removed", id=feed.id, url=feed.url)
        return self._feed_action("feed_remove", password, caller, work, feed=feed_id)

    def feed_poll(self, password: str | None, feed_id: int | None = None, caller: Caller | None = None):
        """Poll one feed (or all) now, with its index update."""
        from assistant.feeds import FeedReport

        def work():
            polls = self.feeds.poll_all() if feed_id is None else self.feeds.poll_many([feed_id])
            return FeedReport(polls=polls)
        return self._feed_action("feed_poll", password, caller, work, feed=feed_id)

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
                setattr(report, f"update_{lang}", t("admin_update_failed", lang, error=error))
            return report
        report.update_en = t("admin_updated", "en", summary=update.summary_text())
        report.update_vi = t("admin_updated", "vi", summary=update.summary_text())
        return report
