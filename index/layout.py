"""On-disk layout of an index directory and atomic publication of new versions.

    INDEX_DIR/CURRENT            name of the live version (replaced atomically)
    INDEX_DIR/versions/<name>/   manifest.json, vectors.faiss, metadata.sqlite, ...
    INDEX_DIR/.build.lock        held while a build runs

A build writes a complete new version beside the live one and only then swaps CURRENT, so
readers always see either the old or the new index, never a half-written one."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path

from index.atomic import fsync_dir, fsync_tree
from index.errors import IndexMissingError, IndexStateError

POINTER = "CURRENT"
VERSIONS = "versions"
LOCK = ".build.lock"


def new_version_dir(index_dir: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(index_dir) / VERSIONS / f"{stamp}-{uuid.uuid4().hex[:8]}.tmp"
    folder.mkdir(parents=True)
    return folder


def current_version(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    pointer = index_dir / POINTER
    if not pointer.is_file():
        raise IndexMissingError("index_missing", index_dir=index_dir)
    name = pointer.read_text(encoding="utf-8").strip()
    folder = index_dir / VERSIONS / name
    if not name or not folder.is_dir():
        raise IndexStateError("index_pointer_broken", pointer=pointer, name=name)
    return folder


def publish(index_dir: Path, staged: Path, keep: int = 1) -> Path:
    """Make `staged` the live version; keep `keep` older versions for rollback."""
    index_dir = Path(index_dir)
    final = staged.with_name(staged.name.removesuffix(".tmp"))
    fsync_tree(staged)
    os.replace(staged, final)
    fsync_dir(final.parent)
    tmp = index_dir / f"{POINTER}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(final.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    fsync_dir(index_dir)
    _prune(index_dir, final.name, keep)
    return final


def _prune(index_dir: Path, live: str, keep: int) -> None:
    versions = sorted(p for p in (index_dir / VERSIONS).iterdir() if p.is_dir() and p.name != live)
    finished = [p for p in versions if not p.name.endswith(".tmp")]
    for old in finished[: max(0, len(finished) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    # Leftovers of interrupted builds: nobody reads them, the lock guarantees none is in progress.
    for stale in (p for p in versions if p.name.endswith(".tmp")):
        shutil.rmtree(stale, ignore_errors=True)
