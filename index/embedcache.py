"""Passage embeddings cached by (model, text hash), so rebuilding unchanged text costs no model time.

The cache lives beside the index versions (INDEX_DIR/cache/embeddings.sqlite) and outlives them; an
interrupted build leaves every committed batch in it, so the next run resumes where it stopped."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID;
"""


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    FILENAME = "embeddings.sqlite"

    def __init__(self, path: Path, model: str, dimension: int) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.dimension = dimension
        self.conn = sqlite3.connect(self.path, timeout=30)
        # WAL: a kill -9 mid-write loses at most the uncommitted batch, never the file.
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)

    @classmethod
    def for_index(cls, index_dir: Path, model: str, dimension: int) -> EmbeddingCache:
        return cls(Path(index_dir) / "cache" / cls.FILENAME, model, dimension)

    def close(self) -> None:
        self.conn.close()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            rows = self.conn.execute(
                f"SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND text_hash IN "
                f"({', '.join('?' * len(part))})", [self.model, *part],
            ).fetchall()
            for key, dim, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                # A row of another width (a model renamed in place) is ignored, not trusted.
                if dim == self.dimension and vec.shape[0] == dim:
                    found[key] = vec
        return found

    def put_many(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [(self.model, k, self.dimension, np.asarray(v, np.float32).tobytes()) for k, v in zip(keys, vectors)]
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
