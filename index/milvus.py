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
        if not config.uri:
            # milvus-lite serves in a thread of this process and does not implement AllocTimestamp,
            # which pymilvus asks for after writes and then does without; grpc would log a traceback.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            client = MilvusClient(uri=uri, token=config.token, timeout=TIMEOUT)
            client.list_collections(timeout=TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises MilvusException or grpc errors alike
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


def where_expression(where: Where | None) -> str:
    if where is None or not where.restricts:
        return ""
    clauses = []
    if where.sources:
        clauses.append(f"source in [{', '.join(_literal(s) for s in where.sources)}]")
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
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("date", DataType.INT32)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    return schema


def _index_params(client):
    params = client.prepare_index_params()
    params.add_index("dense", index_type="HNSW", metric_type="IP", params=HNSW_PARAMS)
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    return params


def write_collection(client, name: str, dimension: int, rows: Iterable[dict], total: int) -> None:
    """Create collection `name` and insert `rows` in batches; dropped again if anything fails."""
    from tqdm import tqdm

    if client.has_collection(name, timeout=TIMEOUT):
        client.drop_collection(name, timeout=TIMEOUT)  # a leftover of a build killed before publishing
    client.create_collection(name, schema=_schema(dimension), index_params=_index_params(client), timeout=TIMEOUT)
    try:
        batch: list[dict] = []
        with tqdm(total=total, unit="passage", desc="milvus", disable=total < 10 * INSERT_BATCH) as bar:
            for row in rows:
                batch.append(row)
                if len(batch) >= INSERT_BATCH:
                    _insert(client, name, batch, bar, total)
                    batch = []
            if batch:
                _insert(client, name, batch, bar, total)
        client.flush(name, timeout=TIMEOUT)
        client.load_collection(name, timeout=TIMEOUT)
        stored = collection_rows(client, name)
        if stored != total:
            raise IndexStateError("milvus_count_mismatch", collection=name, found=stored, expected=total)
    except BaseException:
        _drop_quietly(client, name)
        raise


def _insert(client, name: str, batch: list[dict], bar, total: int) -> None:
    client.insert(name, batch, timeout=TIMEOUT)
    bar.update(len(batch))
    log.debug("inserted %d/%d passages into %s", bar.n, total, name)


def collection_rows(client, name: str) -> int:
    got = client.query(name, filter="", output_fields=["count(*)"], timeout=TIMEOUT)
    return int(got[0]["count(*)"]) if got else 0


def drop_collection(client, name: str) -> None:
    _drop_quietly(client, name)


def _drop_quietly(client, name: str) -> None:
    try:
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


def prune_collections(client, prefix: str, keep: Iterable[str]) -> list[str]:
    """Drop this prefix's version collections other than `keep` (the live one and its predecessor)."""
    keep = set(keep)
    pattern = re.compile(rf"^{re.escape(prefix)}_\d{{8}}T\d{{6}}_[0-9a-f]{{8}}$")
    dropped = []
    for name in client.list_collections(timeout=TIMEOUT):
        if pattern.match(name) and name not in keep:
            _drop_quietly(client, name)
            dropped.append(name)
    return dropped


class MilvusSearch:
    """Dense and BM25 search in one collection; the query's IDF weights come from the local vocabulary."""

    kind = "milvus"

    def __init__(self, client, collection: str, dimension: int, idf) -> None:
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self._idf = idf  # token -> (sparse dimension, idf) or None

    @classmethod
    def open(cls, config: MilvusConfig, index_dir: Path, collection: str, dimension: int, idf) -> MilvusSearch:
        client = connect(config, index_dir)
        try:
            if not client.has_collection(collection, timeout=TIMEOUT):
                raise IndexStateError("milvus_collection_missing", collection=collection,
                                      uri=resolve_uri(config, index_dir))
            found = _dense_dimension(client.describe_collection(collection, timeout=TIMEOUT))
            client.load_collection(collection, timeout=TIMEOUT)
        except IndexStateError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _connection_error(exc, resolve_uri(config, index_dir)) from None
        if found != dimension:
            raise IndexMismatchError("milvus_dimension_mismatch", collection=collection, found=found,
                                     dimension=dimension)
        return cls(client, collection, dimension, idf)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, timeout=TIMEOUT, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise IndexStateError("milvus_search_failed", collection=self.collection, error=_short(str(exc))) from None

    def dense(self, query_vector: np.ndarray, k: int, where: Where | None = None) -> dict[int, float]:
        found = self._call(self.client.search, self.collection, data=[np.asarray(query_vector, np.float32).tolist()],
                           anns_field="dense", limit=max(1, k), filter=where_expression(where), output_fields=[],
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
                               limit=max(1, k), filter=where_expression(where), output_fields=[],
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
        n = collection_rows(self.client, self.collection)
        return n, n

    def close(self) -> None:
        pass  # the client is shared by every version this process opens


def _dense_dimension(description: dict) -> int | None:
    for f in description.get("fields", []):
        if f.get("name") == "dense":
            return int(f.get("params", {}).get("dim", 0))
    return None


def rows_for(chunks: Iterator[tuple[int, str, str, str | None]], vectors: np.ndarray, sparse) -> Iterator[dict]:
    """Collection rows from (chunk id, article id, source, date) in chunk id order, the dense vectors
    (row = chunk id) and the sparse term-frequency rows (a CSR matrix, row = chunk id)."""
    for chunk_id, article_id, source, date in chunks:
        lo, hi = sparse.indptr[chunk_id], sparse.indptr[chunk_id + 1]
        yield {
            "id": int(chunk_id), "article_id": article_id[:MAX_VARCHAR], "source": (source or "")[:MAX_VARCHAR],
            "date": _date_number(date), "dense": vectors[chunk_id].tolist(),
            "sparse": {int(d): float(w) for d, w in zip(sparse.indices[lo:hi], sparse.data[lo:hi]) if w > 0},
        }
