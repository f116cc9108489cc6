"""Getting the server ready to answer: one background thread opens the index (its checksums release
the GIL; a missing index is built there), another loads the model (~3.5 s: torch, transformers'
model code and the 250k-piece tokenizer; index/lean_model.py), while the main thread imports the web
framework (Gradio alone is ~1.7 s) and builds the pages. `newsqa serve`, `make run` and `python app.py` all start here."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future

# oneDNN keeps a compiled primitive per input shape (1,024 by default), and questions and sentences
# come in many lengths: at 35k articles that cache was ~100 MB of the server's growth over its first
# 100 questions, with 16 the same speed (measured with bench/scale.py serve). Read when torch loads.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

from assistant.errors import IndexFormatError
from assistant.service import NewsQA
from assistant.settings import Settings

log = logging.getLogger(__name__)


def ensure_index(qa: NewsQA) -> None:
    """Open the index; build it first when there is none (or an older program's)."""
    try:
        ready = qa.status().ready
    except IndexFormatError as exc:
        # Written by an older version of this program: same model, so rebuilding is safe and cheap.
        log.warning("%s Rebuilding it now.", exc)
        ready = False
    if not ready:
        log.warning("Building the index at %s from %s", qa.settings.index_dir, qa.settings.corpus_dir)
        log.warning(qa.update(full=True, show_progress=True).summary())


def warm_up(qa: NewsQA, index_ready: Future) -> None:
    """Load the model, then, once the index is open, run everything a first question touches.
    The warm-up runs here, never in the main thread (which goes on to serve): with a warm-up search
    in the main thread as well, ask p50 at 35k articles read 170-196 ms instead of 141-157 ms over HTTP
    (bench/scale.py serve, alternating runs)."""
    qa.embedder  # noqa: B018 - loads it
    index_ready.result()
    qa.search("warm-up", k=1)


def in_daemon_thread(fn, *args) -> Future:
    """`fn(*args)` in a daemon thread: Ctrl+C during start-up (an index being built, say) ends the
    process instead of waiting for the thread; a build cut short leaves the live version as it was."""
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which raises it
            future.set_exception(exc)

    threading.Thread(target=run, name=f"newsqa-start-{fn.__name__}", daemon=True).start()
    return future


def serve(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    qa = NewsQA(settings)
    # Three things at once: the index opens (mostly checksums, which release the GIL; a missing index
    # is built here), the model loads, and the main thread imports Gradio and builds the pages.
    index_ready = in_daemon_thread(ensure_index, qa)
    warmed = in_daemon_thread(warm_up, qa, index_ready)
    from assistant.web import create_server, run_server

    index_ready.result()  # raises what stopped the index from opening or building
    server = create_server(qa)
    warmed.result()
    run_server(settings, server)


def main() -> None:
    from assistant.logs import configure_logging

    configure_logging()
    serve()
