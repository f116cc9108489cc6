"""Runs `newsqa feeds poll` and kills itself with SIGKILL (kill -9: no cleanup, no finally blocks)
when logger argv[1] logs a message containing argv[2] for the argv[3]-th time."""

from __future__ import annotations

import logging
import sys

from assistant.cli import main
from tests.crash_child import KillAt

if __name__ == "__main__":
    watched = logging.getLogger(sys.argv[1])
    watched.setLevel(logging.DEBUG)
    watched.addHandler(KillAt(sys.argv[2], int(sys.argv[3])))
    sys.exit(main(["feeds", "poll"]))
