"""The embedding step of a build spread over a Ray cluster (`newsqa index build --ray [ADDRESS]`).

Ray Data streams the passages the embedding cache does not hold through a pool of actors, each
holding one copy of the model (one GPU each where the cluster has GPUs, else CPU threads); the
vectors come back to this process, which commits every batch to the embedding cache as it arrives.
So an interrupted distributed build resumes from the cache like a local one, and the rest of the
build (lexical index, store, publication) is the same code for both. Needs the `cluster` extra."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import numpy as np

from index.config import IndexConfig
from index.errors import IndexStateError

log = logging.getLogger(__name__)

LOCAL = "local"  # a Ray started inside this process (no cluster)
ACTOR_BATCH = 64
CONNECT_TIMEOUT = 5.0


def _ray():
    try:
        import ray
    except ImportError:
        raise IndexStateError("ray_not_installed") from None
    return ray


def check_address(address: str) -> None:
    """A cluster address that does not answer fails here in seconds (ray.init would wait minutes)."""
    if address in (LOCAL, "auto"):
        return
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port or (10001 if parsed.scheme == "ray" else 6379)
    except ValueError:
        raise IndexStateError("ray_unreachable", address=address, error="not host:port") from None
    if not host:
        raise IndexStateError("ray_unreachable", address=address, error="not host:port")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise IndexStateError("ray_unreachable", address=address, error=str(exc)) from None


def connect(address: str, actors: int) -> None:
    ray = _ray()
    check_address(address)
    if ray.is_initialized():
        return
    try:
        if address == LOCAL:
            ray.init(num_cpus=max(actors, 1), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ValueError ...
        raise IndexStateError("ray_unreachable", address=address, error=" ".join(str(exc).split())[:300]) from None


class _EmbedActor:
    """One model per actor, loaded once; encodes the batches Ray Data hands it."""

    def __init__(self, config: IndexConfig, threads: int) -> None:
        import torch

        from index.embedder import load_embedder

        if threads:
            torch.set_num_threads(threads)
        self.embedder = load_embedder(config)
        self.batch_size = self.embedder.batch_size(config.batch_size)

    def __call__(self, batch: dict) -> dict:
        texts = [str(t) for t in batch["text"]]
        vectors = self.embedder.encode_documents(texts, batch_size=self.batch_size)
        return {"key": batch["key"], "vector": np.asarray(vectors, dtype=np.float32)}


def embed_stream(config: IndexConfig, address: str, keys: list[str], texts: list[str],
                 actors: int = 0) -> Iterator[tuple[list[str], np.ndarray]]:
    """(keys, vectors) batches for `texts`, computed by actors on the cluster, in completion order."""
    ray = _ray()
    connect(address, actors or 2)
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        pool, per_actor = {"num_gpus": 1, "num_cpus": 1}, 0
        size = actors or gpus
    else:
        cpus = int(resources.get("CPU", 1))
        size = actors or max(1, cpus // 2)
        threads = max(1, cpus // size)
        pool, per_actor = {"num_cpus": threads}, threads
    log.info("Ray: %d embedding actor(s) on %s (%s)", size, address, "GPU" if gpus else f"{per_actor} CPU threads each")
    data = ray.data.from_items([{"key": k, "text": t} for k, t in zip(keys, texts)],
                               override_num_blocks=max(size * 4, 1))
    mapped = data.map_batches(_EmbedActor, fn_constructor_kwargs={"config": config, "threads": per_actor},
                              batch_size=ACTOR_BATCH, concurrency=size, **pool)
    for batch in mapped.iter_batches(batch_size=ACTOR_BATCH, batch_format="numpy", prefetch_batches=2):
        yield [str(k) for k in batch["key"]], np.stack(batch["vector"]).astype(np.float32)

