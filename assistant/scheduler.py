"""Polling feeds on a schedule, inside `newsqa serve` or `newsqa feeds watch`: APScheduler 3's
BackgroundScheduler, one job per subscription.

Each job has max_instances=1 (a feed is never polled twice at once; the poller's file lock extends
that to other processes) and coalesce=True (polls missed while the machine slept or a poll ran long
collapse into one). After every poll the job's next run is set to the time the poller chose: one
interval later (with jitter), or later still after errors (exponential back-off). A sync job picks
up subscriptions added or removed by other processes (`newsqa feeds add` beside a running server)."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from assistant.feeds import FeedPoller
from assistant.feedstore import parse_iso

log = logging.getLogger(__name__)
SYNC_JOB = "feeds-sync"
POLL_THREADS = 2  # feeds fetched at once; their index updates still run one at a time


def polling_enabled(settings) -> bool:
    return str(settings.feed_polling).strip().lower() not in ("off", "0", "false", "no")


class FeedScheduler:
    def __init__(self, poller: FeedPoller, sync_every: float | None = None) -> None:
        # The log has one line per poll (assistant.feeds); APScheduler's own "running job" lines go.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.poller = poller
        self.sync_every = sync_every or max(5.0, min(60.0, poller.min_interval))
        self._executor = ThreadPoolExecutor(POLL_THREADS)
        self.scheduler = BackgroundScheduler(
            timezone=dt.UTC, executors={"default": self._executor},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._intervals: dict[int, float] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def start(self) -> FeedScheduler:
        self.scheduler.start()
        self.sync()
        self.scheduler.add_job(self.sync, IntervalTrigger(seconds=self.sync_every), id=SYNC_JOB,
                               replace_existing=True)
        log.info("feed polling started", extra={"fields": {"event": "feed_scheduler", "feeds": len(self._intervals)}})
        return self

    def shutdown(self) -> None:
        """Stop, waiting for a poll in progress to end: no thread is left behind."""
        if self.scheduler.running:
            # APScheduler 3's shutdown(wait=True) joins the pool while holding the job-store lock, and a
            # poll ending meanwhile takes that lock (get_job, modify) -> deadlock. So stop without
            # waiting (polls ending now see a stopped scheduler) and join the pool with no lock held.
            self.scheduler.shutdown(wait=False)
            self._executor._pool.shutdown(wait=True)
            log.info("feed polling stopped", extra={"fields": {"event": "feed_scheduler", "feeds": 0}})

    def __enter__(self) -> FeedScheduler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def sync(self) -> None:
        """Jobs for the subscriptions in the store: new ones added, removed ones dropped, changed
        intervals applied."""
        if not self.scheduler.running:
            return
        with self._lock:
            feeds = {f.id: f for f in self.poller.feeds()}
            for feed_id in [i for i in self._intervals if i not in feeds]:
                self._intervals.pop(feed_id)
                if self.scheduler.get_job(_job_id(feed_id)):
                    self.scheduler.remove_job(_job_id(feed_id))
            now = dt.datetime.now(dt.UTC)
            for feed in feeds.values():
                every = max(feed.every, self.poller.min_interval)
                if self._intervals.get(feed.id) == every and self.scheduler.get_job(_job_id(feed.id)):
                    continue
                due = parse_iso(feed.next_poll)
                if due is None or due < now:
                    # Never polled, or due while nothing was running: soon, spread over a few seconds.
                    due = now + dt.timedelta(seconds=random.uniform(0, min(every, 5.0)))
                self.scheduler.add_job(
                    self._poll, IntervalTrigger(seconds=every, jitter=min(every * 0.1, 120.0)),
                    args=[feed.id], id=_job_id(feed.id), replace_existing=True, next_run_time=due,
                    name=f"poll feed {feed.id}")
                self._intervals[feed.id] = every

    def _poll(self, feed_id: int) -> None:
        try:
            result = self.poller.poll(feed_id)
        except Exception:  # noqa: BLE001 - a bug in one poll must not stop the schedule
            log.exception("feed %d: poll failed unexpectedly", feed_id)
            return
        if result.status == "missing":
            self.sync()
            return
        due = parse_iso(result.next_poll)
        job = self.scheduler.get_job(_job_id(feed_id))
        if due is not None and job is not None and self.scheduler.running:
            try:
                job.modify(next_run_time=due)
            except LookupError:  # removed meanwhile
                pass


def start_feed_polling(admin) -> FeedScheduler | None:
    """The scheduler of a serving process (started), or None when NEWSQA_FEED_POLLING=off."""
    if not polling_enabled(admin.qa.settings):
        log.info("feed polling is off (NEWSQA_FEED_POLLING=off)")
        return None
    admin.scheduler = FeedScheduler(admin.feeds).start()
    return admin.scheduler


def _job_id(feed_id: int) -> str:
    return f"feed-{feed_id}"
