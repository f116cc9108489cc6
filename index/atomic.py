"""Crash-safe file writing: fsync helpers and write-to-a-temp-name-then-rename.

A rename is only durable once the directory holding it is fsynced, so every helper that renames
also syncs the parent directory."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (creations, renames) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """Flush every file below `path`, then `path` itself."""
    for item in path.rglob("*"):
        if item.is_file():
            with open(item, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(path)


def atomic_write_text(target: Path, text: str, prefix: str = ".tmp-", suffix: str = ".tmp") -> Path:
    """Write `text` to a temporary file beside `target`, fsync it, rename it over `target` and fsync
    the directory: a crash leaves either the old file (or none) or the whole new one."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)  # the rename itself must survive a power cut, not only the bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
