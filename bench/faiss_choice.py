"""Which FAISS index: exact (Flat) vs HNSW vs IVF, by recall@10 against exact, single-query latency,
build time, memory, and whether passages can be added/removed in place.

Vectors: real multilingual-e5-small passage embeddings read from an embedding cache (default: the
one `bench/scale.py build` fills); sizes beyond what the cache holds are made by repeating real
vectors with small noise (said in the output). Queries: held-out real passage vectors.

Usage: python bench/faiss_choice.py [--cache PATH] [--sizes 20000,80000,160000,500000] [--queries 200]"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from pathlib import Path

import faiss
import numpy as np

DEFAULT_CACHE = Path.home() / ".cache" / "newsqa" / "bench" / "baomoi" / "cache" / "embeddings.sqlite"


def load_vectors(path: Path, limit: int) -> np.ndarray:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = conn.execute("SELECT vector FROM embeddings LIMIT ?", (limit,)).fetchall()
    conn.close()
    return np.vstack([np.frombuffer(r[0], dtype=np.float32) for r in rows])


def grow(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= len(real):
        return real[:n]
    extra = real[rng.integers(0, len(real), n - len(real))] + rng.normal(0, 0.02, (n - len(real), real.shape[1]))
    extra = (extra / np.linalg.norm(extra, axis=1, keepdims=True)).astype(np.float32)
    return np.vstack([real, extra])


def timed_queries(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    ids, lat = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, i = index.search(q[None, :], k)
        lat.append((time.perf_counter() - t0) * 1000)
        ids.append(i[0])
    return np.vstack(ids), statistics.median(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--sizes", default="20000,80000,160000,500000")
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    real = load_vectors(args.cache, max(sizes) + args.queries)
    queries, real = real[: args.queries], real[args.queries :]
    print(f"{len(real)} real passage vectors ({real.shape[1]}-d) from {args.cache}; {args.queries} held-out queries; "
          f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    print(f"{'N':>8} {'index':18} {'build s':>8} {'p50 ms':>7} {'recall@10':>9} {'MB':>7}  add/remove")
    for n in sizes:
        data = grow(real, n, rng)
        note = "" if n <= len(real) else f" ({n - len(real)} synthetic)"
        dim = data.shape[1]
        candidates = {
            "Flat (exact)": lambda dim=dim: faiss.IndexFlatIP(dim),
            "Flat fp16": lambda dim=dim: faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16,
                                                                    faiss.METRIC_INNER_PRODUCT),
            "HNSW32 ef=64": lambda dim=dim: faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT),
            "HNSW32 fp16 ef=64": lambda dim=dim: faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, 32,
                                                                   faiss.METRIC_INNER_PRODUCT),
            "IVF nprobe=16": lambda dim=dim, n=n: faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, int(4 * np.sqrt(n)),
                                                                    faiss.METRIC_INNER_PRODUCT),
        }
        exact_ids = None
        for name, make in candidates.items():
            index = make()
            t0 = time.perf_counter()
            if isinstance(index, faiss.IndexIVF):
                index.train(data)
                index.nprobe = 16
            index.add(data)
            if isinstance(index, faiss.IndexHNSW):
                index.hnsw.efSearch = 64
            build = time.perf_counter() - t0
            mb = faiss.serialize_index(index).nbytes / 1e6
            # One build, several search-time settings: the recall/latency trade-off of each kind.
            knobs = {"HNSW32 ef=64": [("ef=64", 64), ("ef=128", 128), ("ef=256", 256)],
                     "HNSW32 fp16 ef=64": [("ef=128", 128)],
                     "IVF nprobe=16": [("nprobe=16", 16), ("nprobe=64", 64)]}.get(name, [("", None)])
            for label, value in knobs:
                if isinstance(index, faiss.IndexHNSW) and value:
                    index.hnsw.efSearch = value
                elif isinstance(index, faiss.IndexIVF) and value:
                    index.nprobe = value
                ids, p50 = timed_queries(index, queries)
                if exact_ids is None:
                    exact_ids = ids
                recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact_ids)])
                shown = f"{name.split(' ef=')[0].split(' nprobe=')[0]} {label}".strip() if label else name
                editable = "add + remove" if not isinstance(index, faiss.IndexHNSW) else "add only"
                print(f"{n:>8} {shown:18} {build:8.2f} {p50:7.2f} {recall:9.3f} {mb:7.0f}  {editable}{note}")


if __name__ == "__main__":
    main()
