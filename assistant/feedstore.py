"""Feed subscriptions and what each poll left behind, in SQLite beside the index versions
(INDEX_DIR/feeds.sqlite): they survive restarts and travel with a backup of the index directory.

Three tables: `feeds` (one row per subscription, with its HTTP validators and its last outcome),
`entries` (every feed item taken or tried, by GUID, with the hash of what the feed said and the id
of the article it became) and `meta` (two counters that tell whether saved articles still wait for
an index update: `pending` grows when a poll saves something, `indexed` catches up when an update
that started after that succeeded).

A feed's last error is kept as a catalog key and its parameters (JSON), and rendered in the language
asked for when it is read. Files written before that kept two ready-made texts (columns error_en and
error_vi): opening one adds the new columns, and its old texts are shown until the next poll."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.errors import Msg, NewsQAError
from assistant.messages import t

FILENAME = "feeds.sqlite"
ENTRIES_KEPT = 2000  # per feed: older entry records are pruned (the articles stay)

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL DEFAULT '',
    every REAL NOT NULL,
    full_text INTEGER NOT NULL DEFAULT 0,
    title TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    last_poll TEXT NOT NULL DEFAULT '',
    last_success TEXT NOT NULL DEFAULT '',
    last_status TEXT NOT NULL DEFAULT '',
    error_key TEXT NOT NULL DEFAULT '',
    error_params TEXT NOT NULL DEFAULT '{}',
    failures INTEGER NOT NULL DEFAULT 0,
    added_total INTEGER NOT NULL DEFAULT 0,
    updated_total INTEGER NOT NULL DEFAULT 0,
    last_added INTEGER NOT NULL DEFAULT 0,
    next_poll TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS entries (
    feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    guid TEXT NOT NULL,
    link TEXT NOT NULL DEFAULT '',
    entry_hash TEXT NOT NULL,
    text_hash TEXT NOT NULL DEFAULT '',
    article_id TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, guid)
);
CREATE INDEX IF NOT EXISTS entries_by_link ON entries(feed_id, link);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('pending', 0), ('indexed', 0);
"""
# Columns added since the first version of the file: added to an older file when it is opened.
ADDED_COLUMNS = {"error_key": "TEXT NOT NULL DEFAULT ''", "error_params": "TEXT NOT NULL DEFAULT '{}'"}
LEGACY_COLUMNS = ("error_en", "error_vi")  # the last error as two texts, in files written before error keys
MAX_PARAM = 1000  # characters of a text parameter kept


def encode_params(params: dict) -> str:
    """A text's parameters as JSON; a parameter that is itself a text (a Msg, an error) keeps its key."""
    return json.dumps({name: _plain(value) for name, value in params.items()}, ensure_ascii=False)


def _plain(value: object) -> object:
    if type(value) is Msg or isinstance(value, NewsQAError):
        return {"$msg": value.key, "params": {k: _plain(v) for k, v in value.params.items()}}
    if isinstance(value, str):
        return value[:MAX_PARAM]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)[:MAX_PARAM]  # anything else (a text rendered by its own object): its English text


def decode_params(text: str) -> dict:
    try:
        params = json.loads(text or "{}")
    except ValueError:
        return {}
    return {name: _revive(value) for name, value in params.items()} if isinstance(params, dict) else {}


def _revive(value: object) -> object:
    if isinstance(value, dict) and "$msg" in value:
        return Msg(str(value["$msg"]), **{k: _revive(v) for k, v in (value.get("params") or {}).items()})
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Feed:
    id: int
    url: str
    source: str
    every: float
    full_text: bool
    title: str
    created: str
    etag: str
    last_modified: str
    last_poll: str
    last_success: str
    last_status: str  # ok | not_modified | error | "" (never polled)
    error_key: str  # catalog key of the last poll's error; "" when it succeeded (or never ran)
    error_params: str  # the parameters of that text, JSON (encode_params)
    failures: int
    added_total: int
    updated_total: int
    last_added: int
    next_poll: str
    legacy_error: tuple[str, str] = ("", "")  # (en, vi) texts of the last error, in a file from before error keys

    def error(self, lang: str = "en") -> str:
        """The last poll's error in `lang` ("" if it succeeded)."""
        if self.error_key:
            try:
                return t(self.error_key, lang, **decode_params(self.error_params))[:1000]
            except (KeyError, IndexError, ValueError):  # a key or a parameter this version does not know
                return f"{self.error_key} {self.error_params}"[:1000]
        en, vi = self.legacy_error
        return {"vi": vi or en}.get(lang, en)

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("etag", "last_modified", "error_params", "legacy_error"):
            out.pop(key)
        return out


@dataclass(frozen=True)
class Entry:
    guid: str
    link: str
    entry_hash: str
    text_hash: str
    article_id: str
    status: str  # added | updated | duplicate | skipped | failed
    attempts: int


def _feed(row: sqlite3.Row) -> Feed:
    data = dict(row)
    legacy = tuple(str(data.pop(name, "") or "") for name in LEGACY_COLUMNS)
    return Feed(**{**data, "full_text": bool(data["full_text"]), "legacy_error": legacy})


class FeedStore:
    """One short connection per operation: callers are scheduler threads, request threads and
    other processes (`newsqa feeds poll` beside `newsqa serve`); SQLite's WAL and busy timeout
    serialize their writes."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / FILENAME
        self._ready = False
        self._legacy = False  # the file still has the error_en/error_vi columns of an older version

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 30000")
            if not self._ready:
                db.execute("PRAGMA journal_mode = WAL")
                db.executescript(SCHEMA)
                self._migrate(db)
                self._ready = True
            yield db
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        """An older file: the columns added since (another process may be adding them too)."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(feeds)")}
        for name, declaration in ADDED_COLUMNS.items():
            if name not in columns:
                try:
                    db.execute(f"ALTER TABLE feeds ADD COLUMN {name} {declaration}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc).lower():
                        raise
        self._legacy = all(name in columns for name in LEGACY_COLUMNS)

    # -- subscriptions -------------------------------------------------------------------------
    def add(self, url: str, every: float, source: str = "", full_text: bool = False) -> Feed | None:
        """The new subscription, or None when `url` is subscribed already."""
        with self._db() as db:
            try:
                cur = db.execute("INSERT INTO feeds (url, source, every, full_text, created) VALUES (?, ?, ?, ?, ?)",
                                 (url, source, float(every), int(full_text), now_iso()))
            except sqlite3.IntegrityError:
                return None
            return self._get(db, cur.lastrowid)

    @property
    def exists(self) -> bool:
        """Reading never creates the file: an index without subscriptions stays as it was."""
        return self.path.is_file()

    def remove(self, feed_id: int) -> Feed | None:
        if not self.exists:
            return None
        with self._db() as db:
            feed = self._get(db, feed_id)
            if feed:
                db.execute("DELETE FROM feeds WHERE id = ?", (feed_id,))
            return feed

    def get(self, feed_id: int) -> Feed | None:
        if not self.exists:
            return None
        with self._db() as db:
            return self._get(db, feed_id)

    def by_url(self, url: str) -> Feed | None:
        if not self.exists:
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone()
            return _feed(row) if row else None

    def list(self) -> list[Feed]:
        if not self.exists:
            return []
        with self._db() as db:
            return [_feed(r) for r in db.execute("SELECT * FROM feeds ORDER BY id")]

    @staticmethod
    def _get(db: sqlite3.Connection, feed_id: int | None) -> Feed | None:
        row = db.execute("SELECT * FROM feeds WHERE id = ?", (feed_id,)).fetchone()
        return _feed(row) if row else None

    def move(self, feed_id: int, url: str) -> bool:
        """The feed's new address after a permanent redirect; False if another subscription has it."""
        with self._db() as db:
            try:
                db.execute("UPDATE feeds SET url = ? WHERE id = ?", (url, feed_id))
            except sqlite3.IntegrityError:
                return False
            return True

    def record_poll(self, feed_id: int, *, status: str, error: Msg | NewsQAError | None = None,
                    etag: str | None = None, last_modified: str | None = None, title: str | None = None,
                    added: int = 0, updated: int = 0, next_poll: str = "") -> Feed | None:
        """The outcome of a poll. Validators are replaced only when given (None keeps the old ones)."""
        ok = status in ("ok", "not_modified")
        stamp = now_iso()
        key, params = (error.key, encode_params(error.params)) if error is not None else ("", "{}")
        with self._db() as db:
            # An older file's texts of an earlier error are superseded by this poll's outcome.
            legacy = ", error_en = '', error_vi = ''" if self._legacy else ""
            db.execute(
                f"""UPDATE feeds SET last_poll = ?, last_status = ?, error_key = ?, error_params = ?{legacy},
                       last_success = CASE WHEN ? THEN ? ELSE last_success END,
                       failures = CASE WHEN ? THEN 0 ELSE failures + 1 END,
                       etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
                       title = COALESCE(?, title), added_total = added_total + ?,
                       updated_total = updated_total + ?, last_added = ?, next_poll = ?
                   WHERE id = ?""",
                (stamp, status, key, params, ok, stamp, ok, etag, last_modified, title,
                 added, updated, added, next_poll, feed_id))
            return self._get(db, feed_id)

    # -- entries -------------------------------------------------------------------------------
    def entry(self, feed_id: int, guid: str, link: str = "") -> Entry | None:
        """What is known of an item: by its GUID, else by its link (a feed that changed GUIDs)."""
        with self._db() as db:
            row = db.execute("SELECT * FROM entries WHERE feed_id = ? AND guid = ?", (feed_id, guid)).fetchone()
            if row is None and link:
                row = db.execute("SELECT * FROM entries WHERE feed_id = ? AND link = ? ORDER BY seen_at DESC",
                                 (feed_id, link)).fetchone()
            return Entry(**{k: row[k] for k in Entry.__dataclass_fields__}) if row else None

    def save_entry(self, feed_id: int, entry: Entry) -> bool:
        """Record an item of a feed; False when the feed is no longer subscribed (removed meanwhile)."""
        with self._db() as db:
            try:
                db.execute(
                    """INSERT INTO entries (feed_id, guid, link, entry_hash, text_hash, article_id, status, attempts,
                                            seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed_id, guid) DO UPDATE SET link = excluded.link, entry_hash = excluded.entry_hash,
                           text_hash = excluded.text_hash, article_id = excluded.article_id, status = excluded.status,
                           attempts = excluded.attempts, seen_at = excluded.seen_at""",
                    (feed_id, entry.guid, entry.link, entry.entry_hash, entry.text_hash, entry.article_id, entry.status,
                     entry.attempts, now_iso()))
            except sqlite3.IntegrityError:  # FOREIGN KEY: the feed's row is gone
                if self._get(db, feed_id) is None:
                    return False
                raise
            return True

    def entries(self, feed_id: int) -> list[Entry]:
        with self._db() as db:
            return [Entry(**{k: r[k] for k in Entry.__dataclass_fields__})
                    for r in db.execute("SELECT * FROM entries WHERE feed_id = ? ORDER BY seen_at", (feed_id,))]

    def prune(self, feed_id: int, keep: int = ENTRIES_KEPT) -> None:
        with self._db() as db:
            db.execute("""DELETE FROM entries WHERE feed_id = ? AND rowid NOT IN (
                              SELECT rowid FROM entries WHERE feed_id = ? ORDER BY seen_at DESC LIMIT ?)""",
                       (feed_id, feed_id, keep))

    # -- index update bookkeeping --------------------------------------------------------------
    def mark_pending(self) -> int:
        """Articles were saved: the index needs an update that starts after this call."""
        with self._db() as db:
            db.execute("UPDATE meta SET value = value + 1 WHERE key = 'pending'")
            return int(db.execute("SELECT value FROM meta WHERE key = 'pending'").fetchone()[0])

    def pending(self) -> int:
        """0 when the index holds everything the polls saved, else the mark an update must reach."""
        if not self.exists:
            return 0
        with self._db() as db:
            values = dict(db.execute("SELECT key, value FROM meta").fetchall())
            return values["pending"] if values["pending"] > values["indexed"] else 0

    def mark_indexed(self, mark: int) -> None:
        """An update that started after `mark` succeeded."""
        with self._db() as db:
            db.execute("UPDATE meta SET value = MAX(value, ?) WHERE key = 'indexed'", (mark,))
