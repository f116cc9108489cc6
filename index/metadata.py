"""SQLite store for articles and chunks (the text side of the index)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index.chunking import Chunk, embed_text_for
from index.corpus import Article, article_signature

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, url TEXT, source TEXT, author TEXT,
    language TEXT, summary TEXT, text TEXT NOT NULL, content_hash TEXT NOT NULL, path TEXT, dup_of TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
"""
ARTICLE_COLS = ("id", "title", "date", "url", "source", "author", "language", "summary", "text", "path", "dup_of")


@dataclass(frozen=True)
class StoredChunk:
    id: int
    article_id: str
    position: int
    start: int
    end: int
    text: str


class MetadataDB:
    FILENAME = "metadata.sqlite"

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        # A percent-encoded file URI: pasted raw, a "#" or "?" in the path ends it early, and an
        # index in "idx#2" was written to "idx".
        uri = self.path.resolve().as_uri() + ("?mode=ro" if readonly else "")
        self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        if not readonly:
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def add_article(self, article: Article, chunks: Iterable[tuple[int, Chunk]]) -> None:
        values = [getattr(article, c) for c in ARTICLE_COLS]
        self.conn.execute(
            f"INSERT INTO articles ({', '.join(ARTICLE_COLS)}, content_hash) VALUES ({', '.join('?' * len(ARTICLE_COLS))}, ?)",
            [*values, article.content_hash],
        )
        self.conn.executemany(
            "INSERT INTO chunks (id, article_id, position, start, end, text) VALUES (?, ?, ?, ?, ?, ?)",
            [(cid, c.article_id, c.position, c.start, c.end, c.text) for cid, c in chunks],
        )

    def commit(self) -> None:
        self.conn.commit()

    def counts(self) -> tuple[int, int]:
        arts = self.conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        chunks = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(arts), int(chunks)

    def chunks(self, ids: Iterable[int]) -> dict[int, StoredChunk]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT id, article_id, position, start, end, text FROM chunks WHERE id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
        return {r["id"]: StoredChunk(**dict(r)) for r in rows}

    def articles(self, ids: Iterable[str]) -> dict[str, Article]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT {', '.join(ARTICLE_COLS)} FROM articles WHERE id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
        return {r["id"]: Article(**dict(r)) for r in rows}

    def list_articles(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT a.id, a.title, a.date, a.source, a.url, a.dup_of, COUNT(c.id) AS chunks FROM articles a "
            "LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id ORDER BY a.date DESC, a.title"
        ).fetchall()
        return [dict(r) for r in rows]

    def all_articles(self) -> list[Article]:
        rows = self.conn.execute(f"SELECT {', '.join(ARTICLE_COLS)} FROM articles").fetchall()
        return [Article(**dict(r)) for r in rows]

    def content_hashes(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT id, content_hash FROM articles")}

    def row_keys(self) -> dict[str, tuple[str, str, str | None]]:
        """Article id -> (content hash, source, date): what a Milvus row of its passages depends on."""
        return {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute("SELECT id, content_hash, source, date FROM articles")}

    def signatures(self) -> dict[str, str]:
        """Article id -> `Article.signature` of the article as indexed."""
        rows = self.conn.execute("SELECT id, content_hash, date, url, source, author, language, summary FROM articles")
        return {r[0]: article_signature(*r[1:]) for r in rows}

    def sources(self) -> list[str]:
        rows = self.conn.execute("SELECT DISTINCT source FROM articles WHERE source <> '' ORDER BY source").fetchall()
        return [r[0] for r in rows]

    def chunk_ids_where(self, sources: tuple[str, ...] = (), date_from: str | None = None,
                        date_to: str | None = None) -> list[int]:
        """Chunk ids of the articles matching the filters; a date filter excludes undated articles."""
        clauses, params = [], []
        if sources:
            clauses.append(f"a.source IN ({', '.join('?' * len(sources))})")
            params += list(sources)
        if date_from:
            clauses.append("a.date IS NOT NULL AND a.date >= ?")
            params.append(date_from)
        if date_to:
            clauses.append("a.date IS NOT NULL AND a.date <= ?")
            params.append(date_to)
        where = " AND ".join(clauses) or "1"
        rows = self.conn.execute(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE {where}", params
        ).fetchall()
        return [r[0] for r in rows]

    def newest_date(self, not_after: str = "9999-12-31") -> str | None:
        """The latest publication date, ignoring those after `not_after` (ISO)."""
        return self.conn.execute("SELECT MAX(date) FROM articles WHERE date <= ?", (not_after,)).fetchone()[0]

    def date_span(self) -> tuple[int, str | None, str | None]:
        """How many articles have a publication date, and the oldest and newest of those dates."""
        row = self.conn.execute(
            "SELECT COUNT(date), MIN(date), MAX(date) FROM articles WHERE date IS NOT NULL AND date <> ''"
        ).fetchone()
        return int(row[0]), row[1], row[2]

    def chunk_dates(self, ids: Iterable[int]) -> dict[int, str | None]:
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        rows = self.conn.execute(
            f"SELECT c.id, a.date FROM chunks c JOIN articles a ON a.id = c.article_id "
            f"WHERE c.id IN ({', '.join('?' * len(ids))})", ids
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def all_chunks(self) -> list[StoredChunk]:
        rows = self.conn.execute("SELECT id, article_id, position, start, end, text FROM chunks ORDER BY id").fetchall()
        return [StoredChunk(**dict(r)) for r in rows]

    def chunk_facets(self) -> Iterator[tuple[int, str, str, str | None]]:
        """(chunk id, article id, source, date) of every passage in chunk id order, one at a time."""
        yield from self.conn.execute("SELECT c.id, a.id, a.source, a.date FROM chunks c "
                                     "JOIN articles a ON a.id = c.article_id ORDER BY c.id")

    def embed_texts(self) -> Iterator[str]:
        """Every passage as the model read it (title + passage), in chunk id order, one at a time."""
        rows = self.conn.execute("SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id "
                                 "ORDER BY c.id")
        for title, text in rows:
            yield embed_text_for(title, text)
