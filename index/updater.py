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

from assistant.errors import IndexMismatchError, IndexMissingError, IndexStateError
from assistant.settings import Settings
from index.builder import BuildReport, Progress, build_from_articles, locked
from index.chunking import SEPARATORS
from index.corpus import load_corpus
from index.embedder import Embedder
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

    def summary(self, lang: str = "en") -> str:
        if lang == "vi":
            head = (f"{len(self.added)} bài mới, {len(self.changed)} bài sửa, {len(self.removed)} bài xóa, "
                    f"{self.unchanged} bài không đổi")
            if self.build is None:
                return f"Chỉ mục đã cập nhật sẵn ({head})."
            b = self.build
            return (f"{'Dựng lại toàn bộ' if self.full else 'Đã cập nhật'}: {head}; {b.articles} bài, {b.chunks} đoạn; "
                    f"{b.embedded} đoạn được nhúng mới, {b.reused} đoạn dùng lại; {b.seconds:.1f} giây; "
                    f"phiên bản {b.version}.")
        head = (f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
                f"{self.unchanged} unchanged")
        if self.build is None:
            return f"Index is up to date ({head}); nothing to do."
        return f"{'Full rebuild' if self.full else 'Updated'}: {head}. {self.build.summary()}"


def settings_mismatch(manifest: Manifest, settings: Settings, embedder: Embedder) -> str | None:
    if manifest.model != embedder.name or manifest.dimension != embedder.dimension:
        return f"model {manifest.model} ({manifest.dimension}-d) -> {embedder.name} ({embedder.dimension}-d)"
    if (manifest.chunk_size, manifest.chunk_overlap, list(manifest.separators)) != (
            settings.chunk_size, settings.chunk_overlap, list(SEPARATORS)):
        return (f"chunker {manifest.chunk_size}/{manifest.chunk_overlap} -> "
                f"{settings.chunk_size}/{settings.chunk_overlap}")
    return None


def _indexed_hashes(index_dir: Path) -> dict[str, str] | None:
    try:
        db = open_metadata(index_dir)
    except IndexMissingError:
        return None
    try:
        return db.content_hashes()
    finally:
        db.close()


def update_index(settings: Settings, embedder: Embedder, corpus_dir: Path | None = None,
                 index_dir: Path | None = None, full: bool = False, show_progress: bool = False,
                 progress: Progress | None = None) -> UpdateReport:
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
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
            change = settings_mismatch(Manifest.load(current_version(index_dir)), settings, embedder)
            if change:
                raise IndexMismatchError(
                    f"The index at {index_dir} was built with other settings ({change}); it cannot be patched "
                    "without mixing them. Fix: `newsqa index update --full` rebuilds it (cached embeddings of the "
                    "same model are reused).",
                    f"Chỉ mục tại {index_dir} được dựng với thiết lập khác ({change}); không thể cập nhật từng phần. "
                    "Cách sửa: `newsqa index update --full` để dựng lại toàn bộ.",
                )
        old = old or {}
        new = {a.id: a.content_hash for a in loaded.articles}
        out = UpdateReport(
            index_dir=str(index_dir), full=full or not old,
            added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)),
            changed=sorted(i for i in set(new) & set(old) if new[i] != old[i]),
            unchanged=sum(1 for i in set(new) & set(old) if new[i] == old[i]), problems=loaded.problems,
        )
        if old and not full and not (out.added or out.removed or out.changed):
            log.info("Index %s is up to date", index_dir)
            return out
        out.build = build_from_articles(settings, embedder, loaded.articles, index_dir, str(corpus_dir),
                                        show_progress, report, loaded.problems, started)
        return out
