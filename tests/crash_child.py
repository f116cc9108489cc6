"""Runs `newsqa index update --full` and kills itself with SIGKILL (kill -9: no cleanup, no
finally blocks) when the builder (or the Milvus writer) logs a message containing argv[1] for the
argv[2]-th time; with argv[3] == "partial" the update is not --full."""

from __future__ import annotations

import logging
import os
import signal
import sys

from assistant.cli import main


class KillAt(logging.Handler):
    def __init__(self, needle: str, nth: int) -> None:
        super().__init__(logging.DEBUG)
        self.needle, self.left = needle, nth

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.left -= 1
            if self.left == 0:
                os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    kill = KillAt(sys.argv[1], int(sys.argv[2]))
    for name in ("index.builder", "index.milvus", "index.milvus_build"):
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).addHandler(kill)
    partial = len(sys.argv) > 3 and sys.argv[3] == "partial"  # `index update` without --full
    sys.exit(main(["index", "update", "-q"] if partial else ["index", "update", "--full", "-q"]))
