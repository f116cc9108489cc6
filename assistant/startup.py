"""Getting the server ready to answer: the model and the index load in a background thread while
the main thread imports the web framework (Gradio alone is ~1.7 s of imports), so the two costs
overlap instead of adding up. `newsqa serve`, `make run` and `python app.py` all start here."""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor

# oneDNN keeps a compiled primitive per input shape (1,024 by default), and questions and sentences
# come in many lengths: at 35k articles that cache was ~100 MB of the server's growth over its first
# 100 questions, with 16 the same speed (measured with bench/scale.py serve). Read when torch loads.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

from assistant.errors import IndexFormatError
from assistant.service import NewsQA
from assistant.settings import Settings

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> NewsQA:
    """Load the model and the index before the first visitor arrives; build the index if missing."""
    qa = NewsQA(settings)
    try:
        ready = qa.status().ready
    except IndexFormatError as exc:
        # Written by an older version of this program: same model, so rebuilding is safe and cheap.
        log.warning("%s Rebuilding it now.", exc)
        ready = False
    if not ready:
        log.warning("Building the index at %s from %s", settings.index_dir, settings.corpus_dir)
        log.warning(qa.update(full=True, show_progress=True).summary())
    # Loads the model and opens the index; a search is enough (an ask also encoded sentences: +1.7 s).
    qa.search("warm-up", k=1)
    return qa


def prepare_in_background(settings: Settings) -> Future[NewsQA]:
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsqa-prepare")
    try:
        return pool.submit(prepare, settings)
    finally:
        pool.shutdown(wait=False)


def serve(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    pending = prepare_in_background(settings)
    from assistant.web import serve_prepared  # Gradio imports while the model loads

    serve_prepared(settings, pending.result())


def main() -> None:
    from assistant.logs import configure_logging

    configure_logging()
    serve()
