"""Opening a published index for reading."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from index.config import MilvusConfig
from index.layout import current_version
from index.lexical import LexicalIndex
from index.manifest import Manifest
from index.metadata import MetadataDB
from index.search import LocalSearch, PassageSearch
from index.vectorstore import load_store

log = logging.getLogger(__name__)


@dataclass
class OpenIndex:
    folder: Path
    manifest: Manifest
    search: PassageSearch
    lexical: LexicalIndex  # vocabulary and document frequencies (BM25 scoring too, locally)
    db: MetadataDB

    @property
    def version(self) -> str:
        return self.folder.name

    def close(self) -> None:
        self.search.close()
        self.db.close()


def open_index(index_dir: Path, model: str | None = None, milvus: MilvusConfig | None = None) -> OpenIndex:
    """Load the live version; refuses an index built with another model than `model`. A version
    built into Milvus is searched there (`milvus` says where the server is)."""
    folder = current_version(index_dir)
    manifest = Manifest.load(folder)
    if model is not None:
        manifest.check_model(model)
    # Checksums, not just sizes: a flipped byte in a same-size file must not load as a valid index.
    manifest.verify_files(folder, deep=True)
    lexical = LexicalIndex.load(folder)
    db = MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
    try:
        search = _open_search(manifest, folder, Path(index_dir), lexical, db, milvus)
    except BaseException:
        db.close()
        raise
    log.info("Opened index %s (%d articles, %d chunks, %s)", folder, manifest.articles, manifest.chunks,
             manifest.store)
    return OpenIndex(folder, manifest, search, lexical, db)


def _open_search(manifest: Manifest, folder: Path, index_dir: Path, lexical: LexicalIndex, db: MetadataDB,
                 milvus: MilvusConfig | None) -> PassageSearch:
    if manifest.store == "milvus":
        from index.milvus import MilvusSearch

        return MilvusSearch.open(milvus or MilvusConfig(), index_dir, manifest.collection, manifest.dimension,
                                 lexical.term_weight, len(lexical), manifest.milvus_seq, manifest.milvus_hidden)
    return LocalSearch(load_store(manifest.store, folder, manifest.dimension), lexical, db)


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


def check_index(index_dir: Path, milvus: MilvusConfig | None = None) -> Integrity:
    """Deep check of the live version: every file against its checksum, and vector count == SQLite
    chunk count == lexical documents == manifest. Raises IndexStateError naming a broken file."""
    idx = open_index(index_dir, milvus=milvus)  # verifies every file's checksum on the way
    try:
        articles, chunks = idx.db.counts()
        vectors, lexical_docs = idx.search.counts()
        return Integrity(idx.version, idx.manifest.chunks, vectors, chunks, lexical_docs,
                         idx.manifest.articles, articles)
    finally:
        idx.close()


def open_metadata(index_dir: Path) -> MetadataDB:
    """The live version's article store alone (read-only), after the manifest's format check."""
    folder = current_version(index_dir)
    Manifest.load(folder)
    return MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
