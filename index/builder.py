"""Building an index from a corpus directory."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from index import milvus_build
from index.chunking import SEPARATORS, Chunk, chunk_article, make_splitter
from index.config import IndexConfig
from index.corpus import Article, LoadProblem, load_corpus
from index.dedup import find_groups
from index.embedcache import EmbeddingCache, text_key
from index.embedder import Embedder
from index.errors import IndexStateError, Msg
from index.layout import LOCK, new_version_dir, publish
from index.lexical import LexicalIndex
from index.manifest import Manifest, describe_files
from index.metadata import MetadataDB
from index.milvus_build import Written
from index.vectorstore import new_store

log = logging.getLogger(__name__)

# progress(fraction 0..1, message) for UIs; the CLI gets a tqdm bar.
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
    embedded: int = 0  # passages sent to the model; the rest came from the embedding cache
    reused: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def summary_text(self) -> Msg:
        """What the summary says, as data; the catalog (assistant/messages.json) words it."""
        return Msg("build_summary", articles=self.articles, chunks=self.chunks, seconds=self.seconds,
                   embedded=self.embedded, tokens=self.tokens, tokens_per_second=self.tokens_per_second,
                   reused=self.reused, skipped=len(self.problems), version=self.version, index_dir=self.index_dir)

    def summary(self, lang: str = "en") -> str:
        return self.summary_text().message(lang)


def build_lock(index_dir: Path) -> FileLock:
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    return FileLock(str(Path(index_dir) / LOCK))


@contextmanager
def locked(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock, or refuse at once: a second build never waits silently."""
    lock = build_lock(index_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IndexStateError("index_busy", index_dir=index_dir) from None
    try:
        yield
    finally:
        lock.release()


def build_index(
    config: IndexConfig,
    embedder: Embedder,
    corpus_dir: Path | None = None,
    index_dir: Path | None = None,
    show_progress: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    corpus_dir = Path(corpus_dir or config.corpus_dir)
    index_dir = Path(index_dir or config.index_dir)
    with locked(index_dir):
        return _build(config, embedder, corpus_dir, index_dir, show_progress, progress)


def _build(config, embedder, corpus_dir, index_dir, show_progress, progress) -> BuildReport:
    started = time.perf_counter()
    report = progress or (lambda frac, msg: None)
    report(0.0, "loading corpus")
    loaded = load_corpus(corpus_dir)
    for problem in loaded.problems:
        log.warning("Skipped %s: %s", problem.path, problem.reason)
    return build_from_articles(config, embedder, loaded.articles, index_dir, str(corpus_dir), show_progress,
                               report, loaded.problems, started)


def build_from_articles(config: IndexConfig, embedder: Embedder, articles: list[Article], index_dir: Path,
                        origin: str, show_progress: bool = False, report: Progress | None = None,
                        problems: list[LoadProblem] | None = None, started: float | None = None,
                        incremental: bool = False) -> BuildReport:
    """Index `articles` into a new published version of `index_dir` (the caller holds the lock).
    `incremental`: on Milvus, patch the live collection rather than write a new one."""
    started = started if started is not None else time.perf_counter()
    report = report or (lambda frac, msg: None)
    problems = problems or []
    if config.backend == "milvus":
        from index import milvus

        # A wrong URI or token, or a prefix another index publishes under, fails now, not after the embedding.
        milvus.Ledger(index_dir).check_alias(milvus.connect(config.milvus, index_dir), config.milvus.prefix)
    if config.ray:
        from index import distributed

        distributed.check_address(config.ray)
    report(0.01, "finding duplicates")
    groups = find_groups((a.id, a.title, a.text) for a in articles)
    articles = [replace(a, dup_of=groups.dup_of.get(a.id, "")) for a in articles]
    log.info("%d exact and %d near duplicates among %d articles", groups.exact, groups.near, len(articles))
    splitter = make_splitter(config.chunk_size, config.chunk_overlap)
    per_article: list[tuple[Article, list[Chunk]]] = [(a, chunk_article(a, splitter)) for a in articles]
    chunks = [c for _, cs in per_article for c in cs]
    texts = [c.embed_text for c in chunks]
    report(0.05, f"embedding {len(chunks)} passages")
    log.info("stage: embedding %d passages", len(chunks))

    t0 = time.perf_counter()
    cache = EmbeddingCache.for_index(index_dir, embedder.name, embedder.dimension)
    try:
        vectors, fresh = _embed_cached(embedder, cache, texts, embedder.batch_size(config.batch_size),
                                      show_progress, report, config)
    finally:
        cache.close()
    embed_seconds = time.perf_counter() - t0
    tokens = sum(embedder.count_tokens(fresh)) if fresh else 0
    embedded, n_chunks = len(fresh), len(chunks)
    del texts, fresh  # read back one at a time for the lexical index

    report(0.95, "writing index")
    log.info("stage: writing")
    staged = new_version_dir(index_dir)
    written: Written | None = None
    previous = None
    try:
        if config.backend == "milvus" and incremental:
            previous = milvus_build.previous_version(config, index_dir, articles)
        # Chunk ids: 0..n-1 in order, except where a Milvus update keeps unchanged passages' ids.
        id_lists = milvus_build.assign_ids(per_article, previous)
        db = MetadataDB(staged / MetadataDB.FILENAME)
        try:
            for (article, cs), ids in zip(per_article, id_lists):
                db.add_article(article, zip(ids, cs))
            db.commit()
            # Each part is written and let go before the next is built: at 35k articles the passages,
            # the vectors (FAISS holds its own copy) and the BM25 build together set the build's peak.
            del per_article, chunks
            if config.backend == "milvus":
                positions = {cid: i for i, cid in enumerate(c for ids in id_lists for c in ids)}
                written = milvus_build.write(config, index_dir, staged, db, vectors, positions, embedder.dimension,
                                             previous)
            else:
                written = _write_local(config, staged, db, vectors, n_chunks, embedder.dimension)
            del vectors
        finally:
            db.close()
        next_id = max([-1, *(c for ids in id_lists for c in ids), *written.hidden,
                       (previous.next_id - 1) if previous else -1]) + 1
        files = written.files + [MetadataDB.FILENAME]
        manifest = Manifest(
            model=embedder.name, dimension=embedder.dimension, chunk_size=config.chunk_size,
            chunk_overlap=config.chunk_overlap, separators=SEPARATORS, store=written.kind,
            articles=len(articles), chunks=n_chunks,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3), corpus_dir=origin,
            exact_duplicates=groups.exact, near_duplicates=groups.near,
            files=describe_files(staged, files), collection=written.collection,
            milvus_seq=written.seq, milvus_hidden=written.hidden, milvus_next_id=next_id if written.collection else 0,
        )
        manifest.save(staged)
        log.info("stage: publishing")
        live = milvus_build.live_manifest(index_dir)
        final = publish(index_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        milvus_build.abandon(config, index_dir, written)
        raise
    if written.collection:
        milvus_build.publish(config, index_dir, written, live.collection if live else "")
    report(1.0, "done")
    return BuildReport(
        index_dir=str(index_dir), version=final.name, articles=len(articles), chunks=n_chunks,
        tokens=tokens, seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
        problems=problems, embedded=embedded, reused=n_chunks - embedded,
    )


def _write_local(config: IndexConfig, staged: Path, db: MetadataDB, vectors: np.ndarray, n_chunks: int,
                 dimension: int) -> Written:
    store = new_store("faiss", dimension, n_chunks, config.exact_search_limit)
    if n_chunks:
        store.add(np.arange(n_chunks, dtype=np.int64), vectors)
    files = store.save(staged)
    del store
    lexical = LexicalIndex.build(list(range(n_chunks)), db.embed_texts())  # read back as analysed
    return Written("faiss", files + lexical.save(staged))


def _embed_cached(embedder: Embedder, cache: EmbeddingCache, texts: list[str], batch_size: int,
                  show_progress: bool, report, config: IndexConfig | None = None) -> tuple[np.ndarray, list[str]]:
    """Vectors for `texts` (cache first, model for the rest) and the list of texts the model embedded.

    The misses go to the model longest first, so each batch holds passages of similar length (little
    padding), and every slice is committed to the cache before the next one starts."""
    from tqdm import tqdm

    out = np.zeros((len(texts), embedder.dimension), np.float32)
    if not texts:
        return out, []
    keys = [text_key(t) for t in texts]
    known = cache.get_many(keys)
    todo: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        if key in known:
            out[i] = known[key]
        else:
            todo.setdefault(key, []).append(i)
    order = sorted(todo, key=lambda k: -len(texts[todo[k][0]]))
    fresh = [texts[todo[k][0]] for k in order]
    step = batch_size * 16
    if config is not None and config.ray and order:
        from index import distributed

        batches = distributed.embed_stream(config, config.ray, order, fresh, config.ray_actors)
    else:
        batches = ((order[i : i + step], embedder.encode_documents(fresh[i : i + step], batch_size=batch_size))
                   for i in range(0, len(order), step))
    done = 0
    with tqdm(total=len(texts), initial=len(texts) - sum(map(len, todo.values())), unit="passage",
              desc="embedding", disable=not show_progress) as bar:
        for part, vecs in batches:
            cache.put_many(part, vecs)
            for key, vec in zip(part, vecs):
                out[todo[key]] = vec
            bar.update(sum(len(todo[k]) for k in part))
            done += len(part)
            log.debug("embedded %d/%d new passages", done, len(order))
            report(0.05 + 0.9 * done / len(order), f"embedded {done}/{len(order)}")
    return out, fresh
