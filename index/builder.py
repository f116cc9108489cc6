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

from index.chunking import SEPARATORS, Chunk, chunk_article, make_splitter
from index.config import IndexConfig
from index.corpus import Article, LoadProblem, load_corpus
from index.dedup import find_groups
from index.embedcache import EmbeddingCache, text_key
from index.embedder import Embedder
from index.errors import IndexStateError, Msg
from index.layout import LOCK, current_version, new_version_dir, publish
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
                        problems: list[LoadProblem] | None = None, started: float | None = None) -> BuildReport:
    """Index `articles` into a new published version of `index_dir` (the caller holds the lock)."""
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
    written: _Written | None = None
    try:
        db = MetadataDB(staged / MetadataDB.FILENAME)
        try:
            next_id = 0
            for article, cs in per_article:
                ids = range(next_id, next_id + len(cs))
                db.add_article(article, zip(ids, cs))
                next_id += len(cs)
            db.commit()
            # Each part is written and let go before the next is built: at 35k articles the passages,
            # the vectors (FAISS holds its own copy) and the BM25 build together set the build's peak.
            del per_article, chunks
            if config.backend == "milvus":
                written = _write_milvus(config, index_dir, staged, db, vectors, n_chunks, embedder.dimension)
            else:
                written = _write_local(config, staged, db, vectors, n_chunks, embedder.dimension)
            del vectors
        finally:
            db.close()
        files = written.files + [MetadataDB.FILENAME]
        manifest = Manifest(
            model=embedder.name, dimension=embedder.dimension, chunk_size=config.chunk_size,
            chunk_overlap=config.chunk_overlap, separators=SEPARATORS, store=written.kind,
            articles=len(articles), chunks=n_chunks,
            built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3), corpus_dir=origin,
            exact_duplicates=groups.exact, near_duplicates=groups.near,
            files=describe_files(staged, files), collection=written.collection,
        )
        manifest.save(staged)
        log.info("stage: publishing")
        previous = _live_collection(index_dir)
        final = publish(index_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        if written is not None and written.collection:
            _drop_collection(config, index_dir, written.collection)
        raise
    if written.collection:
        _publish_collection(config, index_dir, written.collection, previous)
    report(1.0, "done")
    return BuildReport(
        index_dir=str(index_dir), version=final.name, articles=len(articles), chunks=n_chunks,
        tokens=tokens, seconds=time.perf_counter() - started, embed_seconds=embed_seconds,
        problems=problems, embedded=embedded, reused=n_chunks - embedded,
    )


@dataclass(frozen=True)
class _Written:
    kind: str  # the manifest's `store`
    files: list[str]
    collection: str = ""


def _write_local(config: IndexConfig, staged: Path, db: MetadataDB, vectors: np.ndarray, n_chunks: int,
                 dimension: int) -> _Written:
    store = new_store("faiss", dimension, n_chunks, config.exact_search_limit)
    if n_chunks:
        store.add(np.arange(n_chunks, dtype=np.int64), vectors)
    files = store.save(staged)
    del store
    lexical = LexicalIndex.build(list(range(n_chunks)), db.embed_texts())  # read back as analysed
    return _Written("faiss", files + lexical.save(staged))


def _write_milvus(config: IndexConfig, index_dir: Path, staged: Path, db: MetadataDB, vectors: np.ndarray,
                  n_chunks: int, dimension: int) -> _Written:
    """The passages into a new collection named after the version; the vocabulary stays on disk."""
    from index import milvus

    client = milvus.connect(config.milvus, index_dir)
    lexical, weights = LexicalIndex.build_terms(list(range(n_chunks)), db.embed_texts())
    files = lexical.save(staged)
    del lexical
    name = milvus.collection_name(config.milvus.prefix, staged.name.removesuffix(".tmp"))
    log.info("stage: writing %d passages to Milvus collection %s", n_chunks, name)
    milvus.Ledger(index_dir).add(name)  # before it exists: a build killed while writing leaves it to prune
    milvus.write_collection(client, name, dimension, milvus.rows_for(db.chunk_facets(), vectors, weights), n_chunks,
                            approximate=n_chunks > config.exact_search_limit)
    return _Written("milvus", files, name)


def _live_collection(index_dir: Path) -> str:
    try:
        return Manifest.load(current_version(index_dir)).collection
    except IndexStateError:  # no index yet, or an unreadable one being replaced
        return ""


def _publish_collection(config: IndexConfig, index_dir: Path, collection: str, previous: str) -> None:
    """After CURRENT names the new version: the alias follows, and collections older than the one it
    replaces are dropped (a build killed before this point leaves the alias on the previous version)."""
    from index import milvus

    log.info("stage: alias %s -> %s", config.milvus.prefix, collection)
    try:
        client = milvus.connect(config.milvus, index_dir)
        milvus.publish_alias(client, config.milvus.prefix, collection)
        milvus.Ledger(index_dir).prune(client, {collection, previous})
    except Exception as exc:  # noqa: BLE001 - the version is live already (CURRENT); the next build retries
        log.warning("Version published, but the Milvus alias %s could not be switched to %s: %s",
                    config.milvus.prefix, collection, exc)


def _drop_collection(config: IndexConfig, index_dir: Path, collection: str) -> None:
    """A build that failed before publishing leaves no collection behind (unless CURRENT already
    names it: then it is the live index)."""
    from index import milvus

    if _live_collection(index_dir) == collection:
        return
    try:
        milvus.drop_collection(milvus.connect(config.milvus, index_dir), collection)
    except IndexStateError as exc:
        log.warning("Could not drop the unpublished collection %s: %s", collection, exc)


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
