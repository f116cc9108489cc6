"""Building an index from a corpus directory."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from assistant.errors import IndexStateError
from assistant.settings import Settings
from index.chunking import SEPARATORS, Chunk, chunk_article, make_splitter
from index.corpus import Article, LoadProblem, load_corpus
from index.embedder import Embedder
from index.layout import LOCK, new_version_dir, publish
from index.lexical import LexicalIndex
from index.manifest import Manifest, describe_files
from index.metadata import MetadataDB
from index.vectorstore import new_store

log = logging.getLogger(__name__)

# progress(fraction 0..1, message) for UIs; the CLI gets tqdm from sentence-transformers.
Progress = Callable[[float, str], None]


@dataclass
class BuildReport:
    index_dir: str
    version: str
    articles: int
    chunks: int
    tokens: int
    seconds: float
    embed_seconds: float
    problems: list[LoadProblem] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"Indexed {self.articles} articles into {self.chunks} passages ({self.tokens} tokens) in "
            f"{self.seconds:.1f}s ({self.tokens_per_second:.0f} tokens/s); {len(self.problems)} file(s) skipped; "
            f"version {self.version} at {self.index_dir}"
        )


def build_lock(index_dir: Path) -> FileLock:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(index_dir) / LOCK))


def build_index(
    settings: Settings,
    embedder: Embedder,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    lock = build_lock(index_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IndexStateError(
            f"Another build of {index_dir} is running. Wait for it to finish and try again.",
            f"Một lần dựng chỉ mục {index_dir} khác đang chạy. Hãy đợi xong rồi thử lại.",
        ) from None
    try:
        return _build(settings, embedder, corpus_dir, index_dir, show_progress, progress)
    finally:
        lock.release()


def _build(settings, embedder, corpus_dir, index_dir, show_progress, progress) -> BuildReport:
    started = time.perf_counter()
    report = progress or (lambda frac, msg: None)
    report(0.0, "loading corpus")
    loaded = load_corpus(corpus_dir)
    for problem in loaded.problems:
        log.warning("Skipped %s: %s", problem.path, problem.reason)
    return build_from_articles(settings, embedder, loaded.articles, index_dir, str(corpus_dir), show_progress,
                               report, loaded.problems, started)


def build_from_articles(settings: Settings, embedder: Embedder, articles: list[Article], index_dir: Path,
                        origin: str, show_progress: bool = False, report: Progress | None = None,
                        problems: list[LoadProblem] | None = None, started: float | None = None) -> BuildReport:
    """Index `articles` into a new published version of `index_dir` (the caller holds the lock)."""
    started = started if started is not None else time.perf_counter()
    report = report or (lambda frac, msg: None)
    problems = problems or []
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    per_article: list[tuple[Article, list[Chunk]]] = [(a, chunk_article(a, splitter)) for a in articles]
    chunks = [c for _, cs in per_article for c in cs]
    texts = [c.embed_text for c in chunks]
    tokens = sum(embedder.count_tokens(texts)) if texts else 0
    report(0.05, f"embedding {len(chunks)} passages")

    t0 = time.perf_counter()
    vectors = _embed(embedder, texts, settings.batch_size, show_progress, report)
    embed_seconds = time.perf_counter() - t0

    report(0.95, "writing index")
    staged = new_version_dir(index_dir)
    try:
        db = MetadataDB(staged / MetadataDB.FILENAME)
        next_id = 0
        for article, cs in per_article:
            ids = range(next_id, next_id + len(cs))
            db.add_article(article, zip(ids, cs))
            next_id += len(cs)
        db.commit()
        db.close()
        store = new_store("faiss", embedder.dimension)
        if len(chunks):
            store.add(np.arange(len(chunks), dtype=np.int64), vectors)
        lexical = LexicalIndex.build(list(range(len(chunks))), texts)
        files = store.save(staged) + lexical.save(staged) + [MetadataDB.FILENAME]
        manifest = Manifest(
            model=embedder.name, dimension=embedder.dimension, chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap, separators=SEPARATORS, store=store.kind,
            articles=len(articles), chunks=len(chunks),
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3), corpus_dir=origin,
            files=describe_files(staged, files),
        )
        manifest.save(staged)
        final = publish(index_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    report(1.0, "done")
    return BuildReport(
        index_dir=str(index_dir), version=final.name, articles=len(articles), chunks=len(chunks),
        tokens=tokens, seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
        problems=problems,
    )


def _embed(embedder: Embedder, texts: list[str], batch_size: int, show_progress: bool, report) -> np.ndarray:
    """Encode in slices so one progress bar (CLI) and a progress callback (UI) can follow along."""
    from tqdm import tqdm

    if not texts:
        return np.zeros((0, embedder.dimension), np.float32)
    step = max(batch_size * 8, 256)
    parts = []
    with tqdm(total=len(texts), unit="passage", desc="embedding", disable=not show_progress) as bar:
        for i in range(0, len(texts), step):
            parts.append(embedder.encode_documents(texts[i : i + step], batch_size=batch_size))
            done = min(i + step, len(texts))
            bar.update(done - i)
            report(0.05 + 0.9 * done / len(texts), f"embedded {done}/{len(texts)}")
    return np.vstack(parts)
