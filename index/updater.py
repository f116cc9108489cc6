"""`newsqa index update`: bring the live index in line with the corpus, redoing only what changed.

Unchanged passages come from the embedding cache, so only new or edited articles cost model time;
deleted articles simply are not in the new version. The new version is published atomically like
a full build. An index built with another model or chunker is never patched: the update stops with
a message, and `--full` rebuilds it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from index.builder import BuildReport, Progress, build_from_articles, locked
from index.chunking import SEPARATORS
from index.config import IndexConfig
from index.corpus import load_corpus
from index.embedder import Embedder
from index.errors import IndexMismatchError, IndexMissingError, IndexStateError, Msg
from index.layout import current_version
from index.manifest import Manifest
from index.reader import open_metadata

log = logging.getLogger(__name__)


@dataclass
class UpdateReport:
    index_dir: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    full: bool = False
    build: BuildReport | None = None  # None: nothing changed, no new version written
    problems: list = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.build is None

    def summary_text(self) -> Msg:
        """What the summary says, as data; the catalog (assistant/messages.json) words it in each language."""
        head = Msg("update_head", added=len(self.added), changed=len(self.changed), removed=len(self.removed),
                   unchanged=self.unchanged)
        if self.build is None:
            return Msg("update_up_to_date", head=head)
        return Msg("update_done", action=Msg("update_action_full" if self.full else "update_action_partial"),
                   head=head, build=self.build.summary_text())

    def summary(self, lang: str = "en") -> str:
        """The summary in `lang`, rendered through the catalog the assistant layer installs."""
        return self.summary_text().message(lang)


def settings_mismatch(manifest: Manifest, config: IndexConfig, embedder: Embedder) -> str | None:
    if manifest.model != embedder.name or manifest.dimension != embedder.dimension:
        return f"model {manifest.model} ({manifest.dimension}-d) -> {embedder.name} ({embedder.dimension}-d)"
    if (manifest.chunk_size, manifest.chunk_overlap, list(manifest.separators)) != (
            config.chunk_size, config.chunk_overlap, list(SEPARATORS)):
        return (f"chunker {manifest.chunk_size}/{manifest.chunk_overlap} -> "
                f"{config.chunk_size}/{config.chunk_overlap}")
    built_on = "milvus" if manifest.store == "milvus" else "local"
    if built_on != config.backend:
        return f"backend {built_on} -> {config.backend}"
    return None


def _indexed_hashes(index_dir: Path) -> dict[str, str] | None:
    try:
        db = open_metadata(index_dir)
    except IndexMissingError:
        return None
    try:
        return db.signatures()
    finally:
        db.close()


def update_index(config: IndexConfig, embedder: Embedder, corpus_dir: Path | None = None,
                 index_dir: Path | None = None, full: bool = False, show_progress: bool = False,
                 progress: Progress | None = None) -> UpdateReport:
    corpus_dir = Path(corpus_dir or config.corpus_dir)
    index_dir = Path(index_dir or config.index_dir)
    with locked(index_dir):
        started = time.perf_counter()
        report = progress or (lambda frac, msg: None)
        report(0.0, "loading corpus")
        loaded = load_corpus(corpus_dir)
        try:
            old = _indexed_hashes(index_dir)
        except IndexStateError:
            if not full:
                raise
            old = None  # an unreadable or older-format index is simply replaced
        if old is not None and not full:
            change = settings_mismatch(Manifest.load(current_version(index_dir)), config, embedder)
            if change:
                raise IndexMismatchError("index_settings_changed", index_dir=index_dir, change=change)
        old = old or {}
        new = {a.id: a.signature for a in loaded.articles}
        out = UpdateReport(
            index_dir=str(index_dir), full=full or not old,
            added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)),
            changed=sorted(i for i in set(new) & set(old) if new[i] != old[i]),
            unchanged=sum(1 for i in set(new) & set(old) if new[i] == old[i]), problems=loaded.problems,
        )
        if old and not full and not (out.added or out.removed or out.changed):
            log.info("Index %s is up to date", index_dir)
            return out
        out.build = build_from_articles(config, embedder, loaded.articles, index_dir, str(corpus_dir),
                                        show_progress, report, loaded.problems, started, incremental=not out.full)
        return out
