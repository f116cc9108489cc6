"""Writing a version into Milvus: a full build makes a new collection, an update patches the live one.

A full build (`newsqa index build`, `update --full`) writes every passage into a new collection
`<prefix>_<version>` with `v_from = 1`, and publication switches the alias to it.

An update keeps the live collection. Passages of unchanged articles keep their chunk ids and rows;
those of new and edited articles are inserted with `v_from = seq + 1` under fresh ids; passages of
removed and edited articles stay in the collection but are listed in the new version's `hidden` ids.
Each version searches `v_from <= seq and id not in hidden`, so a reader of the previous version
still sees exactly its passages while the update runs, and a killed update leaves only rows no
published version sees (deleted by the next update that patches the collection). Rows hidden from both the new version and the one
before it are deleted after publishing.

IDF stays exact: it is the query side's weight, taken from the new version's vocabulary. The passages'
term-frequency weights are frozen with the average passage length of the build that wrote them; an
update does not re-weight unchanged rows, `--full` does (the drift is measured in docs/scaling.md).
An update touching more than a fifth of the passages (and more than PATCH_MIN), or one that would
leave more than MAX_HIDDEN hidden ids, writes a new collection instead."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index import milvus
from index.config import IndexConfig
from index.errors import IndexStateError
from index.layout import current_version
from index.lexical import LexicalIndex
from index.manifest import Manifest
from index.metadata import MetadataDB

log = logging.getLogger(__name__)

PATCH_SHARE = 0.2  # above this share of new + removed passages an update rewrites the collection
PATCH_MIN = 2_000  # ... but an update this small is a patch
# Hidden ids travel in every search's filter (`id not in [...]`): past this many, a new collection.
MAX_HIDDEN = 2_000


@dataclass
class Previous:
    """The live Milvus version an update patches."""

    collection: str
    seq: int
    hidden: list[int]
    ids: dict[str, list[int]]  # article id -> its chunk ids, for articles whose content and facets match
    all_ids: set[int]
    next_id: int


@dataclass
class Written:
    kind: str  # the manifest's `store`
    files: list[str]
    collection: str = ""
    seq: int = 0
    hidden: list[int] = field(default_factory=list)
    delete_after_publish: list[int] = field(default_factory=list)


def live_manifest(index_dir: Path) -> Manifest | None:
    try:
        return Manifest.load(current_version(index_dir))
    except IndexStateError:  # no index yet, or an unreadable one being replaced
        return None


def previous_version(config: IndexConfig, index_dir: Path, articles) -> Previous | None:
    """What an update may reuse from the live version, or None (no Milvus version to patch)."""
    manifest = live_manifest(index_dir)
    if manifest is None or manifest.store != "milvus" or manifest.milvus_seq < 1:
        return None
    client = milvus.connect(config.milvus, index_dir)
    if not client.has_collection(manifest.collection, timeout=milvus.TIMEOUT):
        return None
    _drop_orphan_versions(index_dir, manifest)
    db = MetadataDB(current_version(index_dir) / MetadataDB.FILENAME, readonly=True)
    try:
        old = db.row_keys()
        chunks: dict[str, list[int]] = {}
        all_ids: set[int] = set()
        for chunk_id, article_id, *_ in db.chunk_facets():  # ids only: the passage texts are not needed
            chunks.setdefault(article_id, []).append(chunk_id)
            all_ids.add(chunk_id)
    finally:
        db.close()
    ids = {}
    for a in articles:
        # The row holds the source and date filters search by: both must match, not only the text.
        if old.get(a.id) == (a.content_hash, a.source, a.date):
            ids[a.id] = chunks.get(a.id, [])
    highest = max([*all_ids, *manifest.milvus_hidden, manifest.milvus_next_id - 1, -1])
    return Previous(manifest.collection, manifest.milvus_seq, list(manifest.milvus_hidden), ids, all_ids, highest + 1)


def _drop_orphan_versions(index_dir: Path, live: Manifest) -> None:
    """Version folders of the live collection numbered above the live version (a build killed after
    renaming its folder, before CURRENT; a hand rollback): their rows are about to be replaced, so
    they must not stay behind as the kept previous version."""
    here = current_version(index_dir)
    for folder in here.parent.iterdir():
        if folder == here or not folder.is_dir() or folder.name.endswith(".tmp"):
            continue
        try:
            other = Manifest.load(folder)
        except IndexStateError:
            continue
        if other.collection == live.collection and other.milvus_seq > live.milvus_seq:
            log.warning("Removing version %s: its rows in %s are replaced by this update", folder.name, live.collection)
            shutil.rmtree(folder, ignore_errors=True)


def assign_ids(per_article, previous: Previous | None) -> list[list[int]]:
    """Chunk ids per article: the previous version's for an unchanged article (same chunker, same
    text: the same passages), fresh ones above every id the collection has used for the rest."""
    out, next_id = [], previous.next_id if previous else 0
    for article, chunks in per_article:
        kept = previous.ids.get(article.id) if previous else None
        if kept is not None and len(kept) == len(chunks):
            out.append(kept)
        else:
            out.append(list(range(next_id, next_id + len(chunks))))
            next_id += len(chunks)
    return out


def write(config: IndexConfig, index_dir: Path, staged: Path, db: MetadataDB, vectors: np.ndarray,
          positions: dict[int, int], dimension: int, previous: Previous | None) -> Written:
    """The version's passages into Milvus (patching `previous`'s collection when given and small
    enough); the vocabulary and document frequencies stay on disk in `staged`."""
    client = milvus.connect(config.milvus, index_dir)
    chunk_ids = [cid for cid, *_ in db.chunk_facets()]
    sparse_rows = {cid: i for i, cid in enumerate(chunk_ids)}
    patch = None
    if previous is not None:
        fresh = [cid for cid in chunk_ids if cid not in previous.all_ids]
        removed = previous.all_ids - set(chunk_ids)
        # Rows hidden by the live version that still exist stay hidden; deleted ones need no mention.
        still = milvus.existing_ids(client, previous.collection, previous.hidden)
        hidden = sorted(removed | set(still))
        small = len(fresh) + len(removed) <= max(PATCH_MIN, PATCH_SHARE * len(chunk_ids))
        if small and len(hidden) <= MAX_HIDDEN:
            patch = (fresh, hidden, still)
        else:
            log.info("update adds %d and hides %d of %d passages: writing a new collection", len(fresh),
                     len(hidden), len(chunk_ids))
    # A patched collection's unchanged rows name tokens by the live vocabulary's columns: they are kept.
    seed = LexicalIndex.load(current_version(index_dir)).vocab if patch else None
    lexical, weights = LexicalIndex.build_terms(chunk_ids, db.embed_texts(), seed)
    files = lexical.save(staged)
    del lexical
    if patch:
        return _patch(client, previous, db, vectors, positions, weights, sparse_rows, *patch, files)
    name = milvus.collection_name(config.milvus.prefix, staged.name.removesuffix(".tmp"))
    log.info("stage: writing %d passages to Milvus collection %s", len(chunk_ids), name)
    milvus.Ledger(index_dir).add(name)  # before it exists: a build killed while writing leaves it to prune
    rows = milvus.rows_for(db.chunk_facets(), vectors, positions, weights, sparse_rows, version=1)
    milvus.write_collection(client, name, dimension, rows, len(chunk_ids),
                            approximate=len(chunk_ids) > config.exact_search_limit)
    return Written("milvus", files, name, seq=1)


def _patch(client, previous: Previous, db: MetadataDB, vectors, positions, weights, sparse_rows, fresh: list[int],
           hidden: list[int], still: list[int], files: list[str]) -> Written:
    seq = previous.seq + 1
    name = previous.collection
    log.info("stage: patching Milvus collection %s: %d passages in, %d hidden (version %d)", name, len(fresh),
             len(hidden), seq)
    fresh_set = set(fresh)
    facets = (f for f in db.chunk_facets() if f[0] in fresh_set)
    rows = milvus.rows_for(facets, vectors, positions, weights, sparse_rows, version=seq)
    milvus.patch_collection(client, name, seq, rows, expected=len(sparse_rows), hidden=hidden)
    return Written("milvus", files, name, seq=seq, hidden=hidden, delete_after_publish=still)


def publish(config: IndexConfig, index_dir: Path, written: Written, previous_collection: str) -> None:
    """After CURRENT names the new version: the alias follows, collections older than the one it
    replaces are dropped, and rows no longer seen by this version or the one before are deleted
    (a build killed before this point leaves the alias on the previous version)."""
    log.info("stage: alias %s -> %s", config.milvus.prefix, written.collection)
    try:
        client = milvus.connect(config.milvus, index_dir)
        milvus.publish_alias(client, config.milvus.prefix, written.collection)
        milvus.Ledger(index_dir).prune(client, {written.collection, previous_collection})
        if written.delete_after_publish:
            milvus.delete_ids(client, written.collection, written.delete_after_publish)
    except Exception as exc:  # noqa: BLE001 - the version is live already (CURRENT); the next build retries
        log.warning("Version published, but the Milvus alias %s could not be switched to %s: %s",
                    config.milvus.prefix, written.collection, exc)


def abandon(config: IndexConfig, index_dir: Path, written: Written | None) -> None:
    """A build that failed before publishing: a new collection is dropped (unless CURRENT already
    names it); a patched one keeps rows no version sees, which the next patching update deletes."""
    if written is None or not written.collection or written.seq > 1:
        return
    live = live_manifest(index_dir)
    if live is not None and live.collection == written.collection:
        return
    try:
        milvus.drop_collection(milvus.connect(config.milvus, index_dir), written.collection)
    except IndexStateError as exc:
        log.warning("Could not drop the unpublished collection %s: %s", written.collection, exc)
