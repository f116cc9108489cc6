"""The embedding step of a build spread over a Ray cluster (`newsqa index build --ray [ADDRESS]`).

Ray Data streams the passages the embedding cache does not hold through a pool of actors, each
holding one copy of the model (one GPU each where the cluster has GPUs, else CPU threads); the
vectors come back to this process, which commits every batch to the embedding cache as it arrives.
So an interrupted distributed build resumes from the cache like a local one, and the rest of the
build (lexical index, store, publication) is the same code for both. Needs the `cluster` extra."""

from __future__ import annotations

import logging
import os
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


def connect(address: str, actors: int) -> bool:
    """Join the cluster (or start a local Ray); True when this call started or joined it."""
    ray = _ray()
    check_address(address)
    if ray.is_initialized():
        return False
    try:
        if address == LOCAL:
            # Every local CPU, or as many as the actors asked for (each actor takes at least one).
            ray.init(num_cpus=max(actors, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # noqa: BLE001 - ray raises ConnectionError, RuntimeError, ValueError ...
        raise IndexStateError("ray_unreachable", address=address, error=" ".join(str(exc).split())[:300]) from None
    return True


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
    """(keys, vectors) batches for `texts`, computed by actors on the cluster, in completion order.
    A Ray this call started or joined is shut down at the end (the build's process goes on)."""
    ray = _ray()
    started = connect(address, actors)
    try:
        yield from _stream(ray, config, address, keys, texts, actors)
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - actor and Ray Data failures: one message, the cache keeps the rest
        raise IndexStateError("ray_build_failed", error=" ".join(str(exc).split())[:300]) from None
    finally:
        if started:
            ray.shutdown()


def _stream(ray, config: IndexConfig, address: str, keys: list[str], texts: list[str], actors: int):
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        size = min(actors or gpus, gpus)  # more actors than GPUs could never be scheduled
        pool, per_actor = {"num_gpus": 1, "num_cpus": 1}, 0
    else:
        # Threads per actor fit on the smallest node, so every actor can be placed somewhere.
        node_cpus = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [1]
        cpus = int(resources.get("CPU", 1))
        size = actors or max(1, cpus // 2)
        threads = max(1, min(cpus // size, min(node_cpus)))
        pool, per_actor = {"num_cpus": threads}, threads
    log.info("Ray: %d embedding actor(s) on %s (%s)", size, address, "GPU" if gpus else f"{per_actor} CPU threads each")
    data = ray.data.from_items([{"key": k, "text": t} for k, t in zip(keys, texts)],
                               override_num_blocks=max(size * 4, 1))
    mapped = data.map_batches(_EmbedActor, fn_constructor_kwargs={"config": config, "threads": per_actor},
                              batch_size=ACTOR_BATCH, concurrency=size, **pool)
    for batch in mapped.iter_batches(batch_size=ACTOR_BATCH, batch_format="numpy", prefetch_batches=2):
        yield [str(k) for k in batch["key"]], np.stack(batch["vector"]).astype(np.float32)
