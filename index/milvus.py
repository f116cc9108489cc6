"""The Milvus backend: one collection per index version, published by switching an alias.

Each passage is a row: its chunk id (primary key), article id, source, publication date (yyyymmdd as
an integer, 0 when undated), its dense vector and a sparse vector holding BM25's term-frequency part
(index/lexical.py, `SparseTerms`). A query's sparse vector holds the IDF of its tokens, so the inner
product Milvus computes is BM25 itself, with our Vietnamese analysis (syllables, bigrams, folded
forms) rather than a server analyzer. Source and date filters become a boolean expression evaluated
inside both searches.

The version folder on disk keeps what a process needs beside the collection: the manifest, the
article store (SQLite) and the vocabulary with its document frequencies (a memory-mapped trie); no
vectors and no BM25 matrix live in the serving process."""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from index.config import MilvusConfig
from index.errors import IndexMismatchError, IndexStateError
from index.search import LexicalHits, Where

log = logging.getLogger(__name__)

LITE_FILE = "milvus.db"
# HNSW on a server (what bench/faiss_choice.py measured for FAISS); milvus-lite builds FLAT instead.
HNSW_PARAMS = {"M": 32, "efConstruction": 200}
SEARCH_EF = 128
INSERT_BATCH = 2000
MAX_VARCHAR = 1024
TIMEOUT = 30.0  # seconds per call: a hung server answers with an error, not a hung request
INDEX_TIMEOUT = 1800.0  # the first search after loading waits for the index build (minutes at 150k+ passages)


def lite_uri(index_dir: Path) -> str:
    return str(Path(index_dir).resolve() / LITE_FILE)


def resolve_uri(config: MilvusConfig, index_dir: Path) -> str:
    return config.uri or lite_uri(index_dir)


def collection_name(prefix: str, version: str) -> str:
    """Milvus names allow letters, digits and underscores; a version folder name has '-' and 'T'."""
    return f"{prefix}_{re.sub(r'[^0-9A-Za-z_]', '_', version)}"


_clients: dict[tuple[str, str], object] = {}
_clients_lock = threading.Lock()


def connect(config: MilvusConfig, index_dir: Path):
    """A client for the configured Milvus (one per URI and token in a process), or an
    IndexStateError naming the setting to fix."""
    uri = resolve_uri(config, index_dir)
    key = (uri, config.token)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise IndexStateError("milvus_not_installed") from None
        lite = uri.endswith(".db")
        if lite:
            # milvus-lite serves in a thread of this process and does not implement AllocTimestamp,
            # which pymilvus asks for after writes and then does without; grpc would log a traceback.
            # A file locked by another process is reported below as milvus_lite_busy, not as a traceback.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
            logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)
        try:
            client = MilvusClient(uri=uri, token=config.token, timeout=TIMEOUT)
            client.list_collections(timeout=TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises MilvusException or grpc errors alike
            if lite and "Open local milvus failed" in str(exc):
                raise IndexStateError("milvus_lite_busy", uri=uri) from None
            raise _connection_error(exc, uri) from None
        _clients[key] = client
        return client


def _connection_error(exc: Exception, uri: str) -> IndexStateError:
    text = str(exc)
    if any(w in text.lower() for w in ("auth", "token", "credential", "permission", "unauthenticated")):
        return IndexStateError("milvus_auth_failed", uri=uri, error=_short(text))
    return IndexStateError("milvus_unreachable", uri=uri, error=_short(text))


def _short(text: str) -> str:
    return " ".join(text.split())[:300]


def _date_number(date: str | None) -> int:
    if not date:
        return 0
    try:
        return int(date[:10].replace("-", ""))
    except ValueError:
        return 0


def _literal(text: str) -> str:
    # A JSON string is a valid Milvus string literal: quotes and backslashes escaped.
    return json.dumps(text, ensure_ascii=False)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MATCH_NOTHING = "id < 0"


def where_expression(where: Where | None) -> str:
    if where is None or not where.restricts:
        return ""
    clauses = []
    if where.sources:
        # Stored sources are normalized (no control characters), so a value holding one matches
        # nothing, and Milvus's expression parser would refuse its escape (\u0001).
        usable = [s for s in where.sources if not _CONTROL.search(s)]
        if not usable:
            return MATCH_NOTHING
        clauses.append(f"source in [{', '.join(_literal(s) for s in usable)}]")
    if where.date_from or where.date_to:
        clauses.append("date > 0")
    if where.date_from:
        clauses.append(f"date >= {_date_number(where.date_from)}")
    if where.date_to:
        clauses.append(f"date <= {_date_number(where.date_to)}")
    return " and ".join(clauses)


def _schema(dimension: int):
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("article_id", DataType.VARCHAR, max_length=MAX_VARCHAR)
    # Partition key: a source filter searches only that source's partitions on a real server.
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR, is_partition_key=True)
    schema.add_field("date", DataType.INT32)
    schema.add_field("v_from", DataType.INT64)  # the index version that wrote the row (index/milvus_build.py)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    return schema


def _index_params(client, approximate: bool = True):
    """Exact search (FLAT) up to the exact-search limit, as the local backend: both rank alike."""
    params = client.prepare_index_params()
    if approximate:
        params.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW_PARAMS)
    else:
        params.add_index("dense", index_type="FLAT", metric_type="IP")
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    return params


def write_collection(client, name: str, dimension: int, rows: Iterable[dict], total: int,
                     approximate: bool = True) -> None:
    """Create collection `name` and insert `rows` in batches; dropped again if anything fails."""
    try:
        _write(client, name, dimension, rows, total, approximate)
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - any server error: one message, the live index untouched
        raise IndexStateError("milvus_write_failed", collection=name, error=_short(str(exc))) from None


def _write(client, name: str, dimension: int, rows: Iterable[dict], total: int, approximate: bool) -> None:
    if client.has_collection(name, timeout=TIMEOUT):
        drop_collection(client, name)  # a leftover of a build killed before publishing
    client.create_collection(name, schema=_schema(dimension), index_params=_index_params(client, approximate),
                             timeout=TIMEOUT)
    try:
        insert_rows(client, name, rows, total, show_progress=total >= 10 * INSERT_BATCH)
        client.flush(name, timeout=INDEX_TIMEOUT)
        client.load_collection(name, timeout=INDEX_TIMEOUT)
        stored = collection_rows(client, name)
        if stored != total:
            raise IndexStateError("milvus_count_mismatch", collection=name, found=stored, expected=total)
        _warm_up(client, name, dimension)
    except BaseException:
        _drop_quietly(client, name)
        raise


def _warm_up(client, name: str, dimension: int) -> None:
    """One search on each field, paid by the build: milvus-lite builds its indexes at the first search
    (9.6 s at 22k passages), which would otherwise be the first question's wait after a publish."""
    probe = np.zeros(dimension, np.float32)
    probe[0] = 1.0
    client.search(name, data=[probe.tolist()], anns_field="dense", limit=1, output_fields=[], timeout=INDEX_TIMEOUT)
    client.search(name, data=[{1: 1.0}], anns_field="sparse", limit=1, output_fields=[], timeout=INDEX_TIMEOUT)


def insert_rows(client, name: str, rows: Iterable[dict], total: int, show_progress: bool = False) -> None:
    """`rows` into collection `name` in batches of INSERT_BATCH (`total`: how many are expected)."""
    from tqdm import tqdm

    done = 0
    batch: list[dict] = []
    with tqdm(total=total, unit="passage", desc="milvus", disable=not show_progress) as bar:
        for row in itertools.chain(rows, [None]):  # None: the end, flushing the last batch
            if row is not None:
                batch.append(row)
            if batch and (len(batch) >= INSERT_BATCH or row is None):
                client.insert(name, batch, timeout=TIMEOUT)
                done += len(batch)
                bar.update(len(batch))
                log.debug("inserted %d/%d passages into %s", done, total, name)
                batch = []


def collection_rows(client, name: str, where: str = "") -> int:
    """Rows of collection `name` (matching expression `where`, if given)."""
    # Strong consistency: right after the inserts a bounded-staleness count can still be short.
    got = client.query(name, filter=where, output_fields=["count(*)"], consistency_level="Strong", timeout=TIMEOUT)
    return int(got[0]["count(*)"]) if got else 0


def drop_collection(client, name: str) -> None:
    _drop_quietly(client, name)


def _drop_quietly(client, name: str) -> None:
    try:
        # Milvus (2.5.5+) refuses to drop a collection an alias still names.
        for alias in client.list_aliases(collection_name=name, timeout=TIMEOUT).get("aliases", []):
            client.drop_alias(alias, timeout=TIMEOUT)
        client.drop_collection(name, timeout=TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - cleanup after another error: that one is reported
        log.warning("Could not drop collection %s: %s", name, exc)


def publish_alias(client, alias: str, name: str) -> None:
    """Point `alias` at collection `name` in one server call: readers of the alias switch at once."""
    if alias in client.list_aliases(timeout=TIMEOUT).get("aliases", []):
        client.alter_alias(name, alias, timeout=TIMEOUT)
    else:
        client.create_alias(name, alias, timeout=TIMEOUT)


def alias_target(client, alias: str) -> str | None:
    if alias not in client.list_aliases(timeout=TIMEOUT).get("aliases", []):
        return None
    return client.describe_alias(alias, timeout=TIMEOUT).get("collection_name")


LEDGER = "milvus-collections.json"


class Ledger:
    """The collections this index folder created, recorded before each is created: a build prunes only
    these (never another index's collections on the same server), including those of killed builds."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / LEDGER

    def names(self) -> list[str]:
        try:
            return list(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return []

    def _write(self, names: list[str]) -> None:
        from index.atomic import atomic_write_text

        atomic_write_text(self.path, json.dumps(sorted(set(names))) + "\n")

    def add(self, name: str) -> None:
        self._write([*self.names(), name])

    def check_alias(self, client, alias: str) -> None:
        """Refuse to build under a prefix whose alias names a collection this folder did not create."""
        target = alias_target(client, alias)
        if target and target not in self.names():
            raise IndexStateError("milvus_prefix_taken", prefix=alias, collection=target, index_dir=self.path.parent)

    def prune(self, client, keep: Iterable[str]) -> list[str]:
        keep = set(keep)
        dropped = [n for n in self.names() if n not in keep]
        for name in dropped:
            _drop_quietly(client, name)
        self._write([n for n in self.names() if n in keep])
        return dropped


class MilvusSearch:
    """Dense and BM25 search in one collection; the query's IDF weights come from the local vocabulary."""

    kind = "milvus"

    def __init__(self, client, collection: str, dimension: int, idf, lexical_docs: int, seq: int = 1,
                 hidden: Iterable[int] = ()) -> None:
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self._idf = idf  # token -> (sparse dimension, idf) or None
        self._lexical_docs = lexical_docs  # passages the vocabulary's statistics were counted over
        self._version = version_filter(seq, hidden)  # the rows this version sees

    def _filter(self, where: Where | None) -> str:
        extra = where_expression(where)
        if not self._version:
            return extra
        return f"{self._version} and ({extra})" if extra else self._version

    @classmethod
    def open(cls, config: MilvusConfig, index_dir: Path, collection: str, dimension: int, idf,
             lexical_docs: int, seq: int = 1, hidden: Iterable[int] = ()) -> MilvusSearch:
        client = connect(config, index_dir)
        try:
            if not client.has_collection(collection, timeout=TIMEOUT):
                raise IndexStateError("milvus_collection_missing", collection=collection,
                                      uri=resolve_uri(config, index_dir))
            found = _dense_dimension(client.describe_collection(collection, timeout=TIMEOUT))
            client.load_collection(collection, timeout=INDEX_TIMEOUT)
        except IndexStateError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _connection_error(exc, resolve_uri(config, index_dir)) from None
        if found != dimension:
            raise IndexMismatchError("milvus_dimension_mismatch", collection=collection, found=found,
                                     dimension=dimension)
        return cls(client, collection, dimension, idf, lexical_docs, seq, hidden)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, timeout=TIMEOUT, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise IndexStateError("milvus_search_failed", collection=self.collection, error=_short(str(exc))) from None

    def dense(self, query_vector: np.ndarray, k: int, where: Where | None = None) -> dict[int, float]:
        found = self._call(self.client.search, self.collection, data=[np.asarray(query_vector, np.float32).tolist()],
                           anns_field="dense", limit=max(1, k), filter=self._filter(where), output_fields=[],
                           search_params={"metric_type": "IP", "params": {"ef": max(SEARCH_EF, k)}})
        return {int(h["id"]): float(h["distance"]) for h in found[0]}

    def dense_scores(self, query_vector: np.ndarray, chunk_ids: list[int]) -> np.ndarray:
        if not chunk_ids:
            return np.zeros(0, np.float32)
        rows = {int(r["id"]): r["dense"] for r in self._call(self.client.get, self.collection, ids=list(chunk_ids),
                                                             output_fields=["dense"])}
        out = np.zeros(len(chunk_ids), np.float32)
        for i, c in enumerate(chunk_ids):
            if c in rows:
                out[i] = float(np.dot(np.asarray(rows[c], np.float32), query_vector))
        return out

    def query_weights(self, tokens: list[str]) -> dict[int, float]:
        weights: dict[int, float] = {}
        for token in dict.fromkeys(tokens):
            found = self._idf(token)
            if found is not None and found[1] > 0:
                weights[found[0]] = float(np.float32(found[1]))
        return weights

    def lexical(self, tokens: list[str], k: int, where: Where | None = None) -> LexicalHits:
        weights = self.query_weights(tokens)
        top: dict[int, float] = {}
        if weights:
            found = self._call(self.client.search, self.collection, data=[weights], anns_field="sparse",
                               limit=max(1, k), filter=self._filter(where), output_fields=[],
                               search_params={"metric_type": "IP"})
            top = {int(h["id"]): float(h["distance"]) for h in found[0] if h["distance"] > 0}

        def score_of(chunk_ids: list[int]) -> np.ndarray:
            if not chunk_ids or not weights:
                return np.zeros(len(chunk_ids), np.float32)
            rows = self._call(self.client.get, self.collection, ids=list(chunk_ids), output_fields=["sparse"])
            sparse = {int(r["id"]): r["sparse"] for r in rows}
            return np.array([sum(w * float(sparse.get(c, {}).get(d, 0.0)) for d, w in weights.items())
                             for c in chunk_ids], dtype=np.float32)

        return LexicalHits(top, score_of)

    def counts(self) -> tuple[int, int]:
        try:
            return collection_rows(self.client, self.collection, self._version), self._lexical_docs
        except Exception as exc:  # noqa: BLE001
            raise IndexStateError("milvus_search_failed", collection=self.collection, error=_short(str(exc))) from None

    def close(self) -> None:
        pass  # the client is shared by every version this process opens


def _dense_dimension(description: dict) -> int | None:
    for f in description.get("fields", []):
        if f.get("name") == "dense":
            return int(f.get("params", {}).get("dim", 0))
    return None


def rows_for(chunks: Iterable[tuple[int, str, str, str | None]], vectors: np.ndarray, positions: dict[int, int],
             sparse, sparse_rows: dict[int, int], version: int) -> Iterator[dict]:
    """Collection rows from (chunk id, article id, source, date): the dense vector at `positions[id]`
    of `vectors`, the sparse term-frequency row at `sparse_rows[id]` of the CSR matrix `sparse`."""
    for chunk_id, article_id, source, date in chunks:
        j = sparse_rows[chunk_id]
        lo, hi = sparse.indptr[j], sparse.indptr[j + 1]
        yield {
            "id": int(chunk_id), "article_id": article_id[:MAX_VARCHAR], "source": (source or "")[:MAX_VARCHAR],
            "date": _date_number(date), "v_from": int(version), "dense": vectors[positions[chunk_id]].tolist(),
            "sparse": {int(d): float(w) for d, w in zip(sparse.indices[lo:hi], sparse.data[lo:hi]) if w > 0},
        }


def version_filter(seq: int, hidden: Iterable[int] = ()) -> str:
    """The rows version `seq` sees: written by it or before, and not hidden by it. Seq 0: a collection
    written before versions had numbers (no v_from field): all its rows."""
    if seq < 1:
        return ""
    hidden = sorted(int(i) for i in hidden)
    return f"v_from <= {int(seq)}" + (f" and id not in [{', '.join(map(str, hidden))}]" if hidden else "")


def _batches(ids: list[int], size: int = 1000) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def existing_ids(client, name: str, ids: Iterable[int]) -> list[int]:
    found: list[int] = []
    for part in _batches(sorted(int(i) for i in ids)):
        found += [int(r["id"]) for r in client.get(name, ids=part, output_fields=["id"], timeout=TIMEOUT)]
    return found


def delete_ids(client, name: str, ids: Iterable[int]) -> None:
    for part in _batches(sorted(int(i) for i in ids)):
        client.delete(name, ids=part, timeout=TIMEOUT)


def patch_collection(client, name: str, seq: int, rows: Iterable[dict], expected: int, hidden: list[int]) -> None:
    """Rows of version `seq` into the live collection `name`, after deleting those of killed updates
    (v_from >= seq: no published version sees them); checks that version `seq` sees `expected` rows."""
    try:
        # Found with strong consistency, then deleted by id: a bounded-staleness read right after a
        # killed update could miss its rows and leave two rows under one id.
        leftover = client.query(name, filter=f"v_from >= {int(seq)}", output_fields=["id"],
                                consistency_level="Strong", timeout=TIMEOUT)
        delete_ids(client, name, [int(r["id"]) for r in leftover])
        insert_rows(client, name, rows, expected)
        client.flush(name, timeout=INDEX_TIMEOUT)
        seen = collection_rows(client, name, version_filter(seq, hidden))
    except Exception as exc:  # noqa: BLE001 - any server error: one message; the live version is untouched
        raise IndexStateError("milvus_write_failed", collection=name, error=_short(str(exc))) from None
    if seen != expected:
        raise IndexStateError("milvus_count_mismatch", collection=name, found=seen, expected=expected)
