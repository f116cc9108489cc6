"""Passage embeddings cached by (model, text hash), so rebuilding unchanged text costs no model time.

The cache lives beside the index versions (INDEX_DIR/cache/embeddings.sqlite) and outlives them; an
interrupted build leaves every committed batch in it, so the next run resumes where it stopped.
Being only a cache, a corrupt file is moved aside and replaced by an empty one rather than failing
every build."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID;
"""


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB; a busy or read-only database is not corrupt and is not touched."""
    # The low byte is the primary code; extended codes (SQLITE_CORRUPT_INDEX ...) add high bits.
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class EmbeddingCache:
    FILENAME = "embeddings.sqlite"

    def __init__(self, path: Path, model: str, dimension: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.dimension = dimension
        self.conn: sqlite3.Connection | None = None
        self._guarded(self._db)  # opened now, so that a file that is no database is found at once

    def _db(self) -> sqlite3.Connection:
        if self.conn is None:
            self.conn = self._connect()
        return self.conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            # WAL: a kill -9 mid-write loses at most the uncommitted batch, never the file.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _guarded(self, work: Callable[[], T]) -> T:
        """`work()`, run once more on a fresh empty cache if the file turns out corrupt. Corruption
        can surface when opening or only when a damaged page is first read, so every use goes here."""
        try:
            return work()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise
            self._set_aside(exc)
            return work()

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        self.close()
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S-%f")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        # Journal files SQLite did not remove on closing travel with the database: left behind,
        # they would be replayed into the fresh file; beside the copy, they still open with it.
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{self.path}{suffix}"):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        log.warning("The embedding cache %s is corrupt (%s); moved it aside to %s and started an empty one: "
                    "the passages it held will be embedded again.", self.path, exc, aside.name)

    @classmethod
    def for_index(cls, index_dir: Path, model: str, dimension: int) -> EmbeddingCache:
        return cls(Path(index_dir) / "cache" / cls.FILENAME, model, dimension)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        return self._guarded(lambda: self._get_many(keys))

    def put_many(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [(self.model, k, self.dimension, np.asarray(v, np.float32).tobytes()) for k, v in zip(keys, vectors)]
        self._guarded(lambda: self._put_rows(rows))

    def _put_rows(self, rows: list[tuple]) -> None:
        with self._db() as conn:
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)

    def _get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            rows = self._db().execute(
                f"SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND text_hash IN "
                f"({', '.join('?' * len(part))})", [self.model, *part],
            ).fetchall()
            for key, dim, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                # A row of another width (a model renamed in place) is ignored, not trusted.
                if dim == self.dimension and vec.shape[0] == dim:
                    found[key] = vec
        return found
