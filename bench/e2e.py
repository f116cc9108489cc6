"""End-to-end figures on a corpus: index build time and tokens/s, `ask` latency p50/p95 over 50
questions (article titles as asked, unaccented, and a few English ones), and peak memory.

Usage: python bench/e2e.py [--corpus corpus] [--questions 50]
Builds into a temporary index directory; the model must already be materialized or will be."""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from assistant.service import NewsQA
from assistant.settings import PROJECT_ROOT, Settings
from index.corpus import load_corpus
from index.textnorm import fold_diacritics

ENGLISH = [
    "What tasks did Colonel Lương Thanh Bình assign?",
    "What caused the fire in Can Tho?",
    "How many kilograms of drugs were destroyed in Binh Duong?",
    "Who shot down the drone in Syria?",
    "What did North Korea say about President Trump?",
]


def questions(corpus: Path, n: int) -> list[str]:
    titles = [a.title for a in load_corpus(corpus).articles]
    rng = random.Random(7)
    pool = ENGLISH + titles + [fold_diacritics(t).lower() for t in titles]
    return [pool[i % len(pool)] if i < len(pool) else rng.choice(pool) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "corpus")
    ap.add_argument("--questions", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(index_dir=Path(tmp) / "index", corpus_dir=args.corpus)
        qa = NewsQA(settings)
        t0 = time.perf_counter()
        info = qa.embedder.info()
        load_s = time.perf_counter() - t0
        report = qa.build()
        print(f"model: {info.name} ({info.precision} on {info.device}), load {load_s:.1f}s")
        print(f"build: {report.articles} articles, {report.chunks} passages, {report.tokens} tokens in "
              f"{report.seconds:.1f}s total; embedding {report.embed_seconds:.1f}s = {report.tokens_per_second:.0f} tokens/s")
        qs = questions(args.corpus, args.questions)
        qa.ask(qs[0])  # warm-up: first call opens the index
        lat, found = [], 0
        for q in qs:
            t0 = time.perf_counter()
            ans = qa.ask(q)
            lat.append((time.perf_counter() - t0) * 1000)
            found += ans.found
        lat.sort()
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        print(f"ask: {len(qs)} questions, p50 {statistics.median(lat):.0f} ms, p95 {p95:.0f} ms, "
              f"answered {found}/{len(qs)}")
        hits_lat = []
        for q in qs:
            t0 = time.perf_counter()
            qa.search(q)
            hits_lat.append((time.perf_counter() - t0) * 1000)
        print(f"search: p50 {statistics.median(hits_lat):.0f} ms")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
