"""Opening a published index for reading."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from index.layout import current_version
from index.lexical import LexicalIndex
from index.manifest import Manifest
from index.metadata import MetadataDB
from index.vectorstore import VectorStore, load_store

log = logging.getLogger(__name__)


@dataclass
class OpenIndex:
    folder: Path
    manifest: Manifest
    store: VectorStore
    lexical: LexicalIndex
    db: MetadataDB

    @property
    def version(self) -> str:
        return self.folder.name

    def close(self) -> None:
        self.db.close()


def open_index(index_dir: Path, model: str | None = None) -> OpenIndex:
    """Load the live version; refuses an index built with another model than `model`."""
    folder = current_version(index_dir)
    manifest = Manifest.load(folder)
    if model is not None:
        manifest.check_model(model)
    # Checksums, not just sizes: a flipped byte in a same-size file must not load as a valid index.
    manifest.verify_files(folder, deep=True)
    store = load_store(manifest.store, folder, manifest.dimension)
    lexical = LexicalIndex.load(folder)
    db = MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
    log.info("Opened index %s (%d articles, %d chunks)", folder, manifest.articles, manifest.chunks)
    return OpenIndex(folder, manifest, store, lexical, db)


@dataclass(frozen=True)
class Integrity:
    version: str
    manifest_chunks: int
    vectors: int
    sqlite_chunks: int
    lexical_docs: int
    manifest_articles: int
    sqlite_articles: int

    @property
    def ok(self) -> bool:
        return (self.manifest_chunks == self.vectors == self.sqlite_chunks == self.lexical_docs
                and self.manifest_articles == self.sqlite_articles)

    def as_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def check_index(index_dir: Path) -> Integrity:
    """Deep check of the live version: every file against its checksum, and FAISS count == SQLite
    chunk count == lexical documents == manifest. Raises IndexStateError naming a broken file."""
    idx = open_index(index_dir)  # verifies every file's checksum on the way
    try:
        articles, chunks = idx.db.counts()
        return Integrity(idx.version, idx.manifest.chunks, len(idx.store), chunks, len(idx.lexical),
                         idx.manifest.articles, articles)
    finally:
        idx.close()


def open_metadata(index_dir: Path) -> MetadataDB:
    """The live version's article store alone (read-only), after the manifest's format check."""
    folder = current_version(index_dir)
    Manifest.load(folder)
    return MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
