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
    manifest.verify_files(folder)
    store = load_store(manifest.store, folder, manifest.dimension)
    lexical = LexicalIndex.load(folder)
    db = MetadataDB(folder / MetadataDB.FILENAME, readonly=True)
    log.info("Opened index %s (%d articles, %d chunks)", folder, manifest.articles, manifest.chunks)
    return OpenIndex(folder, manifest, store, lexical, db)
