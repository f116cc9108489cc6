"""Feed subscriptions and polling: RSS/Atom feeds whose new items become articles, then one
incremental index update per poll.

A poll of one feed:
1. takes the feed's own lock (INDEX_DIR/.feed-locks/<id>.lock, never waited for: a feed being
   polled by another thread or process is skipped, so a feed is polled once at a time);
2. GETs the feed through the SSRF-safe fetcher, conditionally (If-None-Match / If-Modified-Since
   from the last answer) and with a User-Agent naming the product; 304 ends the poll;
3. parses it (feedparser) and takes at most NEWSQA_FEED_MAX_ENTRIES items, each GUID once: an item
   seen before with the same content is skipped; a new one becomes an article (the page itself is
   fetched, within the fetcher's limits, when the feed carries only a summary or the subscription
   asks for full text); a known GUID whose text changed rewrites its article file in place.
   Exact duplicates are refused and near-duplicates flagged by the Library, as for any addition;
4. runs ONE incremental index update (`NewsQA.update`, under the build lock; a poll waits for
   another build or update to finish) when it saved anything, or when an earlier poll's articles
   still wait (a poll that was killed, an update that failed);
5. records the outcome in INDEX_DIR/feeds.sqlite and logs one JSON line.

A known item whose new text is less than half its article's (a paywall stub, a summary standing in
for a page that keeps failing) does not replace the article: the poll says so in a note.

Results keep what they say as data (catalog keys and parameters, `Msg`), rendered in the caller's
language when shown; the store keeps the last error the same way.

Crash safety: articles are written atomically before their item is recorded, the index-update
bookkeeping is bumped before the first write, and the validators (ETag, Last-Modified) are saved
only at the end: a poll killed at any point leaves whole files only, and the next poll takes the
remaining items and runs the update the killed one owed. Duplicate detection keeps a re-taken item
from becoming a second article."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import re
import threading
import time
import xml.sax
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from lxml import etree
from lxml import html as lxml_html

from assistant.errors import IndexStateError, InputError, Msg, NewsQAError
from assistant.feedstore import Entry, Feed, FeedStore
from assistant.fetcher import fetch
from assistant.library import ADDED_DIR, AddResult, Library
from assistant.markup import safe_url
from assistant.messages import t
from assistant.settings import Settings
from index.corpus import load_markdown, make_article
from index.dedup import text_hash
from index.textnorm import normalize_text

log = logging.getLogger(__name__)

FEED_USER_AGENT = "NewsQA/0.1 feed reader (Vietnamese news assistant; honours ETag, Last-Modified and 304)"
FULL_TEXT_MIN = 600  # characters: an item with less text is a summary, and its page is fetched
MIN_FALLBACK_TEXT = 80  # an item's own text used as the article once its page keeps failing
MAX_ENTRY_ATTEMPTS = 3  # polls that retry an item whose page could not be fetched
MIN_KEPT_SHARE = 0.5  # a changed item's text shorter than this share of its article's keeps the article
MAX_GUID = 500
MAX_URL = 2000
MAX_SOURCE = 200
MAX_ITEM_HTML = 1_000_000  # characters of an item's summary/content read
LOCKS_DIR = ".feed-locks"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str | float | int) -> float:
    """Seconds from "90", "90s", "30m", "2h" or "1d"."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
        if not match:
            raise InputError("feed_bad_interval", every=str(text)[:40])
        value = float(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < value < 10 ** 9:
        raise InputError("feed_bad_interval", every=str(text)[:40])
    return value


def format_interval(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


_BLOCKS = ("p", "br", "div", "li", "ul", "ol", "tr", "blockquote", "section", "article", "h1", "h2", "h3", "h4", "h5",
           "h6", "figcaption", "pre", "hr", "table")


def html_to_text(markup: str) -> str:
    """The text of an item's summary or content (HTML or plain), paragraphs kept. lxml (libxml2)
    reads it in linear time: html.parser is quadratic on unclosed constructs ("<a <a <a ...",
    "&#&#...", "</</...") that a feed's raw title or text-typed summary can carry by the megabyte."""
    markup = (markup or "")[:MAX_ITEM_HTML]
    if "<" in markup or "&" in markup:
        try:
            root = lxml_html.fragment_fromstring(markup, create_parent="div")
        except (etree.ParserError, ValueError):  # nothing but markup, or not text at all
            markup = ""
        else:
            etree.strip_elements(root, "script", "style", etree.Comment, with_tail=False)
            for element in root.iter(*_BLOCKS):
                element.text = "\n\n" + (element.text or "")
                element.tail = "\n\n" + (element.tail or "")
            markup = root.text_content()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in normalize_text(markup).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _one_line(text: object, limit: int) -> str:
    return re.sub(r"\s+", " ", normalize_text(str(text or ""))).strip()[:limit]


def _sha(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def as_msg(text: Msg | NewsQAError) -> Msg:
    """An error as the text it says (a key and its parameters), to keep and render later."""
    return text if isinstance(text, Msg) else Msg(text.key, **text.params)


class _Said(Msg):
    """A text that an object renders itself in each language (a Library AddResult, which holds the
    reason of a failure already worded). Shown in a poll's notes only: never stored."""

    __slots__ = ("said",)

    def __init__(self, said) -> None:
        super().__init__(f"library_{said.status}")
        self.said = said

    def message(self, lang: str = "en") -> str:
        return self.said.message(lang)


_CLOSING_TAG = re.compile(r"</[a-zA-Z][a-zA-Z0-9]*\s*>|<br\s*/?>", re.IGNORECASE)


def _as_text(value: object, detail: object) -> str:
    """A feed field as text: read as HTML when the feed (or feedparser's guess) says it is, or when it holds
    a closing tag (feedparser calls "Phim <b>Mai</b> <script>…</script>" plain); a plain title such as
    "Lãi suất x<y" or "Phim <Mai> đạt 500 tỷ" keeps its "<"."""
    text = str(value or "")
    kind = str(detail.get("type") or "") if isinstance(detail, dict) else "text/html"
    return html_to_text(text) if "html" in kind or _CLOSING_TAG.search(text) else text


@dataclass
class Item:
    """What a feed says about one article, bounded."""

    guid: str
    link: str
    title: str
    text: str
    date: str | None
    author: str

    @property
    def hash(self) -> str:
        return _sha(self.title, self.link, self.text, self.date or "")

    @classmethod
    def of(cls, entry) -> Item:
        link = str(entry.get("link") or "").strip()
        link = link if len(link) <= MAX_URL and safe_url(link) else ""
        title = _one_line(_as_text(entry.get("title"), entry.get("title_detail")), 1000)
        bodies = [_as_text(c.get("value"), c) for c in entry.get("content") or [] if isinstance(c, dict)]
        bodies.append(_as_text(entry.get("summary"), entry.get("summary_detail")))
        text = max(bodies, key=len, default="")
        date = None
        for key in ("published_parsed", "updated_parsed"):
            stamp = entry.get(key)
            try:
                date = dt.date(*stamp[:3]).isoformat() if stamp else None
            except (TypeError, ValueError):
                date = None
            if date:
                break
        guid = _one_line(entry.get("id") or entry.get("guid") or link, 10_000)
        if not guid and (title or text):
            guid = "sha256:" + _sha(title, text)
        if len(guid) > MAX_GUID:
            guid = "sha256:" + _sha(guid)
        return cls(guid, link, title, text, date, _one_line(entry.get("author"), 200))


@dataclass
class PollResult:
    feed_id: int
    url: str
    status: str = "ok"  # ok | not_modified | error | busy | missing
    http: int = 0
    entries: int = 0
    added: int = 0
    updated: int = 0
    seen: int = 0
    skipped: int = 0
    failed: int = 0
    error: Msg | None = None  # why the poll failed (status "error")
    notes: list[Msg] = field(default_factory=list)  # what else it has to say
    update: Msg | None = None  # the index update it ran, or why that failed
    moved_to: str = ""
    title: str | None = None
    article_ids: list[str] = field(default_factory=list)
    validators: tuple[str, str] | None = None  # (etag, last_modified) to keep; None: leave them
    saved: bool = False  # articles written that the index does not have yet
    marked: bool = False  # the index-update bookkeeping was bumped before a first write
    next_poll: str = ""
    ms: float = 0.0

    def fail(self, reason: Msg | NewsQAError) -> PollResult:
        self.status, self.error = "error", as_msg(reason)
        return self

    def note(self, key: str, **kwargs: object) -> None:
        self.notes.append(Msg(key, **kwargs))

    def error_text(self, lang: str = "en") -> str:
        return self.error.message(lang)[:1000] if self.error is not None else ""

    def update_text(self, lang: str = "en") -> str:
        return self.update.message(lang) if self.update is not None else ""

    def message(self, lang: str = "en") -> str:
        if self.status == "missing":
            return t("feed_unknown", lang, id=self.feed_id)
        if self.status == "busy":
            head = f"#{self.feed_id} {self.url}: {t('feed_busy', lang)}"
        elif self.status == "not_modified":
            head = t("feed_not_modified", lang, id=self.feed_id, url=self.url)
        elif self.status == "error" and not self.saved and not (self.added or self.updated):
            head = t("feed_poll_error", lang, id=self.feed_id, url=self.url, reason=self.error_text(lang))
        else:
            head = t("feed_poll_ok", lang, id=self.feed_id, url=self.url, added=self.added, updated=self.updated,
                     seen=self.seen)
            if self.status == "error":
                head += " " + self.error_text(lang)
        notes = [note.message(lang) for note in self.notes]
        return " ".join([head, *notes, self.update_text(lang)]).strip()

    def as_dict(self) -> dict:
        return {"feed_id": self.feed_id, "url": self.url, "status": self.status, "http": self.http,
                "entries": self.entries, "added": self.added, "updated": self.updated, "seen": self.seen,
                "skipped": self.skipped, "failed": self.failed, "error": self.error_text("en"),
                "error_key": self.error.key if self.error is not None else "", "moved_to": self.moved_to,
                "index_update": self.update_text("en"), "article_ids": self.article_ids, "next_poll": self.next_poll,
                "ms": round(self.ms, 1), "message": self.message("en")}


@dataclass
class FeedReport:
    """What an operator's feed action (subscribe, remove, poll) says, rendered in the language asked for."""

    lines: list[Msg] = field(default_factory=list)
    feed: Feed | None = None
    polls: list[PollResult] = field(default_factory=list)

    def say(self, key: str, **kwargs: object) -> FeedReport:
        self.lines.append(Msg(key, **kwargs))
        return self

    def message(self, lang: str = "en") -> str:
        lines = [line.message(lang) for line in self.lines] + [p.message(lang) for p in self.polls]
        return "\n".join(f"- {line}" for line in lines) or t("feed_none", lang)

    def as_dict(self) -> dict:
        return {"message": self.message("en"), "feed": feed_dict(self.feed) if self.feed else None,
                "polls": [p.as_dict() for p in self.polls]}


def feed_dict(feed: Feed) -> dict:
    out = feed.as_dict()
    out["every_text"] = format_interval(feed.every)
    out["error"], out["error_vi"] = feed.error("en"), feed.error("vi")
    return out


class FeedPoller:
    """Subscriptions and polls of one index directory. Thread-safe: the scheduler's threads and
    operator requests share one poller (and, in the server, the admin's Library)."""

    def __init__(self, settings: Settings, library: Library | None = None, qa=None,
                 store: FeedStore | None = None) -> None:
        self.settings = settings
        self.store = store or FeedStore(settings.index_dir)
        self.library = library or Library(settings)
        self._qa = qa
        self._qa_lock = threading.Lock()
        self._update_lock = threading.Lock()

    @property
    def qa(self):
        """The NewsQA that runs index updates: loaded (with its model) only when one is needed."""
        with self._qa_lock:
            if self._qa is None:
                from assistant.service import NewsQA

                self._qa = NewsQA(self.settings)
            return self._qa

    @property
    def min_interval(self) -> float:
        return max(1.0, float(self.settings.feed_min_interval))

    # -- subscriptions -------------------------------------------------------------------------
    def subscribe(self, url: str, every: str | float | None = None, source: str = "",
                  full_text: bool = False) -> Feed:
        url = (url or "").strip()
        if len(url) > MAX_URL or not safe_url(url):
            raise InputError("feed_bad_url", limit=MAX_URL)
        seconds = parse_interval(every) if every not in (None, "") else float(self.settings.feed_interval)
        if seconds < self.min_interval:
            raise InputError("feed_interval_short", every=format_interval(seconds),
                             minimum=format_interval(self.min_interval))
        feed = self.store.add(url, seconds, _one_line(source, MAX_SOURCE), bool(full_text))
        if feed is None:
            other = self.store.by_url(url)
            raise InputError("feed_exists", url=url, id=other.id if other else "?")
        log.info("feed subscribed", extra={"fields": {"event": "feed_subscribe", "feed": feed.id, "url": url,
                                                      "every_s": seconds}})
        return feed

    def unsubscribe(self, feed_id: int) -> Feed:
        feed = self.store.remove(int(feed_id))
        if feed is None:
            raise InputError("feed_unknown", id=feed_id)
        log.info("feed removed", extra={"fields": {"event": "feed_remove", "feed": feed.id, "url": feed.url}})
        return feed

    def feeds(self) -> list[Feed]:
        return self.store.list()

    # -- polling -------------------------------------------------------------------------------
    def poll(self, feed_id: int) -> PollResult:
        return self.poll_many([feed_id])[0]

    def poll_all(self) -> list[PollResult]:
        return self.poll_many([f.id for f in self.store.list()])

    def poll_many(self, feed_ids: list[int]) -> list[PollResult]:
        """Poll each feed, then one index update for all of them, then record and log each."""
        results = [self._poll_locked(int(i)) for i in feed_ids]
        polled = [r for r in results if r.status not in ("busy", "missing")]
        # A feed removed while it was polled ("missing") may have saved articles: they are indexed too.
        saved = [r for r in results if r.saved and r not in polled]
        if saved or any(r.saved for r in polled) or (polled and self.store.pending()):
            self._update(polled + saved)
        for r in polled:
            self._record(r)
        for r in results:
            log.info("feed poll", extra={"fields": {
                "event": "feed_poll", "feed": r.feed_id, "url": r.url, "status": r.status, "http": r.http,
                "entries": r.entries, "added": r.added, "updated": r.updated, "seen": r.seen, "skipped": r.skipped,
                "failed": r.failed, "error": r.error_text("en")[:300],
                "error_key": r.error.key if r.error is not None else "", "index_update": r.update_text("en")[:300],
                "next_poll": r.next_poll, "ms": round(r.ms, 1)}})
        return results

    def _poll_locked(self, feed_id: int) -> PollResult:
        started = time.perf_counter()
        feed = self.store.get(feed_id)
        if feed is None:
            return PollResult(feed_id, "", status="missing")
        folder = Path(self.settings.index_dir) / LOCKS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / f"{feed.id}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return PollResult(feed.id, feed.url, status="busy")
        try:
            result = PollResult(feed.id, feed.url)
            self._fetch_and_take(feed, result)
        finally:
            lock.release()
        result.ms = (time.perf_counter() - started) * 1000
        return result

    def _fetch_and_take(self, feed: Feed, res: PollResult) -> None:
        import feedparser

        deadline = time.monotonic() + self.settings.feed_poll_budget
        try:
            page = fetch(feed.url, self.settings, etag=feed.etag, last_modified=feed.last_modified,
                         user_agent=FEED_USER_AGENT)
        except NewsQAError as exc:
            res.fail(exc)
            return
        res.http = page.status
        if page.moved_to and page.moved_to != feed.url and len(page.moved_to) <= MAX_URL:
            if self.store.move(feed.id, page.moved_to):
                res.moved_to = res.url = page.moved_to
                res.note("feed_moved", url=page.moved_to)
                log.warning("feed %d moved permanently: %s -> %s", feed.id, feed.url, page.moved_to)
        if page.status == 304:
            res.status = "not_modified"
            return
        parsed = feedparser.parse(page.content)
        problem = _problem(parsed, page.content, page.content_type)
        if problem:
            res.fail(problem)
            res.validators = ("", "")  # the next poll asks again in full
            return
        res.title = _one_line(parsed.feed.get("title"), MAX_SOURCE)
        source = feed.source or res.title or (urlsplit(feed.url).hostname or "")
        items: dict[str, Item] = {}
        for entry in parsed.entries:
            item = Item.of(entry)
            if item.guid and item.guid not in items:  # a GUID repeated within the feed: its first item
                items[item.guid] = item
            if len(items) >= self.settings.feed_max_entries:
                break
        res.entries = len(items)
        first_failure: Msg | None = None
        out_of_time = False
        try:
            for item in items.values():
                if time.monotonic() > deadline:
                    out_of_time = True
                    break
                failure = self._take(feed, item, source, res, current=items.keys())
                first_failure = first_failure or failure
        except _Removed:
            res.status = "missing"  # unsubscribed meanwhile: its remaining items are not taken
            log.info("feed %d was removed while it was polled", feed.id)
            return
        finally:
            if res.saved:
                self.store.mark_pending()  # after the writes: an update already running may have missed them
        self.store.prune(feed.id)
        if first_failure:
            res.note("feed_entries_failed", n=res.failed, reason=first_failure)
        if out_of_time:
            res.note("feed_out_of_time", seconds=self.settings.feed_poll_budget)
        # Validators only once every item is dealt with: else a 304 would hide the rest next time.
        res.validators = ("", "") if (first_failure or out_of_time) else (page.etag, page.last_modified)

    def _take(self, feed: Feed, item: Item, source: str, res: PollResult, current=()) -> Msg | None:
        """One item: skipped, added, updated, kept or failed. Returns the failure's reason, if any.
        `current`: the GUIDs of the feed as fetched now."""
        known = self.store.entry(feed.id, item.guid, item.link)
        if known is not None and known.guid != item.guid and known.guid in current:
            # Found by its link only, but that item is still in the feed: two items share a link (a
            # live blog, a section page), not a GUID that changed. This one is new.
            known = None
        retrying = known is not None and known.status == "failed"
        if known and known.entry_hash == item.hash and (not retrying or known.attempts >= MAX_ENTRY_ATTEMPTS):
            res.seen += 1
            return None
        if not item.link and not item.text:
            res.skipped += 1
            self._save(feed.id, Entry(item.guid, "", item.hash, "", "", "skipped", 0))
            return None
        attempts = known.attempts if retrying and known.entry_hash == item.hash else 0
        page = None
        if item.link and (feed.full_text or len(item.text) < FULL_TEXT_MIN):
            try:
                page = self.library.fetch_article(item.link, user_agent=FEED_USER_AGENT)
            except NewsQAError as exc:
                if attempts + 1 < MAX_ENTRY_ATTEMPTS or len(item.text) < MIN_FALLBACK_TEXT:
                    res.failed += 1
                    self._save(feed.id, Entry(item.guid, item.link, item.hash, known.text_hash if known else "",
                                              known.article_id if known else "", "failed", attempts + 1))
                    return as_msg(exc)
                # The page keeps failing: the item's own text stands in for it.
        body = page.text if page is not None and len(page.text) >= len(item.text) else item.text
        meta = {"title": item.title or (page.title if page else ""), "date": item.date or (page.date if page else None),
                "url": item.link or (page.url if page else ""), "source": source,
                "author": item.author or (page.author if page else "")}
        try:
            article = make_article(meta, body, Path("feed item"), "feed")
        except NewsQAError as exc:
            res.skipped += 1
            self._save(feed.id, Entry(item.guid, item.link, item.hash, "", "", "skipped", 0))
            log.info("feed %d: item %s skipped: %s", feed.id, item.guid[:100], exc.message("en"))
            return None
        new_hash = text_hash(article.text)
        if known and known.text_hash == new_hash:  # the feed changed around the same text
            res.seen += 1
            self._save(feed.id, Entry(item.guid, item.link, item.hash, new_hash, known.article_id,
                                      _settled(known), 0))
            return None
        if known and known.article_id and known.status in ("added", "updated", "failed"):
            kept = self._shorter(known.article_id, article.text)
            if kept is not None:
                # A paywall stub or a summary standing in for the page: the article keeps its text.
                res.skipped += 1
                res.note("feed_item_shorter", title=article.title or item.guid[:100], new=len(article.text),
                         old=kept)
                log.info("feed %d: item %s kept its article %s: %d characters now, %d before", feed.id,
                         item.guid[:100], known.article_id, len(article.text), kept)
                self._save(feed.id, Entry(item.guid, item.link, item.hash, known.text_hash, known.article_id,
                                          _settled(known), 0))
                return None
        if not res.marked:
            res.marked = True
            self.library.reload()  # other processes may have added files since this one last looked
            self.store.mark_pending()  # before the first write: a poll killed after it still gets its update
        if known and known.article_id and known.status in ("added", "updated", "failed"):
            # ("failed": a change whose page could not be fetched at first; its article is still the one to rewrite)
            outcome = self.library.replace_article(known.article_id, article)
            if outcome.status == "error" and not (self.library.corpus_dir / "added" / f"{known.article_id}.md").exists():
                # Deleted by an operator: a changed item does not bring it back.
                outcome = AddResult("duplicate", title=article.title, article_id="")
        else:
            outcome = self.library.add(article)
        if outcome.status == "error":
            res.failed += 1
            self._save(feed.id, Entry(item.guid, item.link, item.hash, known.text_hash if known else "",
                                      known.article_id if known else "", "failed", attempts + 1))
            return _Said(outcome)
        if outcome.status == "added":
            res.added += 1
        elif outcome.status == "updated":
            res.updated += 1
        else:
            res.seen += 1
        if outcome.needs_update:
            res.saved = True
            if outcome.article_id:
                res.article_ids.append(outcome.article_id)
        article_id = outcome.article_id or (known.article_id if known else "")
        status = outcome.status if outcome.status != "duplicate" or not known else _settled(known)
        self._save(feed.id, Entry(item.guid, item.link, item.hash, new_hash, article_id, status, 0))
        return None

    def _shorter(self, article_id: str, text: str) -> int | None:
        """The length of the saved article's text when `text` is less than half of it, else None
        (also when the article cannot be read: replacing it then says what is wrong)."""
        path = self.library.corpus_dir / ADDED_DIR / f"{article_id}.md"
        try:
            old = len(load_markdown(path).text)
        except (NewsQAError, OSError, ValueError):
            return None
        return old if len(text) < old * MIN_KEPT_SHARE else None

    def _save(self, feed_id: int, entry: Entry) -> None:
        if not self.store.save_entry(feed_id, entry):
            raise _Removed(feed_id)

    # -- index update --------------------------------------------------------------------------
    def _update(self, results: list[PollResult]) -> None:
        """One incremental update for what the polls saved (and what earlier ones left waiting)."""
        import sqlite3

        try:
            report = self.update_index()
        except (NewsQAError, OSError, sqlite3.Error) as exc:
            # The articles stay saved and the bookkeeping says so: the next poll updates again.
            log.warning("index update after a feed poll failed: %s", exc)
            reason = (as_msg(exc) if isinstance(exc, NewsQAError)
                      else f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}")
            for r in results:
                if r.saved or r.status != "error":
                    r.fail(Msg("feed_update_failed", reason=reason))
            return
        if report is None:
            return
        told = [r for r in results if r.saved] or results  # a resumed update: every poll says so
        for r in told:
            if r.saved or r.status != "error":
                r.update = Msg("feed_index_updated", summary=report.summary_text())

    def update_index(self):
        """`NewsQA.update` for the saved articles, once at a time in this process and waiting (up to
        NEWSQA_FEED_LOCK_WAIT) for a build or update of another process; None if nothing waits."""
        from index.layout import LOCK

        with self._update_lock:
            mark = self.store.pending()
            if not mark:
                return None
            deadline = time.monotonic() + self.settings.feed_lock_wait
            lock_path = str(Path(self.settings.index_dir) / LOCK)
            while True:
                other = FileLock(lock_path)
                try:  # wait for the other build to finish, then run ours at once
                    other.acquire(timeout=max(0.0, deadline - time.monotonic()), poll_interval=0.1)
                except Timeout:
                    pass
                else:
                    other.release()
                try:
                    report = self.qa.update(full=False)
                except IndexStateError as exc:
                    if exc.key == "index_busy" and time.monotonic() < deadline:
                        time.sleep(random.uniform(0.05, 0.3))
                        continue
                    raise
                self.store.mark_indexed(mark)
                return report

    # -- bookkeeping ---------------------------------------------------------------------------
    def next_due(self, feed: Feed, failures: int) -> dt.datetime:
        """Success: one interval later. Errors: the interval doubled per consecutive failure, up to
        NEWSQA_FEED_MAX_BACKOFF. Plus up to 10% jitter (at most 2 min), so feeds do not all fire together."""
        every = max(feed.every, self.min_interval)
        delay = every if failures <= 0 else min(every * 2 ** min(failures, 20), max(self.settings.feed_max_backoff, every))
        delay += random.uniform(0, min(0.1 * delay, 120.0))
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)

    def _record(self, r: PollResult) -> None:
        feed = self.store.get(r.feed_id)
        if feed is None:  # removed while it was polled
            return
        failures = 0 if r.status != "error" else feed.failures + 1
        r.next_poll = self.next_due(feed, failures).isoformat(timespec="seconds")
        etag, modified = r.validators if r.validators is not None else (None, None)
        self.store.record_poll(r.feed_id, status=r.status, error=r.error if r.status == "error" else None,
                               etag=etag, last_modified=modified, title=r.title, added=r.added, updated=r.updated,
                               next_poll=r.next_poll)


class _Removed(Exception):
    """The feed being polled was unsubscribed meanwhile."""


def _settled(known: Entry) -> str:
    """The status an item keeps once it is dealt with: a failed retry that turns out to change
    nothing is what it was before (an article of its own, or a duplicate of another)."""
    if known.status != "failed":
        return known.status
    return "added" if known.article_id else "duplicate"


def _problem(parsed, content: bytes, content_type: str) -> Msg | None:
    """Why a fetched document is not a feed to take items from, or None."""
    head = content[:2048].lstrip().lower()
    html = "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))
    if not parsed.get("version") and html:
        return Msg("feed_not_a_feed")
    error = parsed.get("bozo_exception")
    if parsed.get("bozo") and isinstance(error, xml.sax.SAXException):
        return Msg("feed_malformed", reason=_one_line(error, 200))  # the XML parser's own words
    if not parsed.get("version"):
        return Msg("feed_malformed", reason=Msg("feed_not_rss_or_atom"))
    return None

