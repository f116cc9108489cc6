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


def _link_new(tmp: Path, target: Path) -> None:
    """`tmp` renamed to `target` unless that exists: a hard link fails where a rename would replace."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: checked, then renamed (a race left open there)
        if target.exists():
            raise FileExistsError(target) from None
        os.replace(tmp, target)
    else:
        tmp.unlink()


def atomic_write_text(target: Path, text: str, prefix: str = ".tmp-", suffix: str = ".tmp",
                      exclusive: bool = False) -> Path:
    """Write `text` to a temporary file beside `target`, fsync it, rename it over `target` and fsync
    the directory: a crash leaves either the old file (or none) or the whole new one. `exclusive`:
    never replace an existing `target` (FileExistsError), also against another process."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            _link_new(Path(tmp), target)
        else:
            os.replace(tmp, target)
        fsync_dir(target.parent)  # the rename itself must survive a power cut, not only the bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
