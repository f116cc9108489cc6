"""News at scale: index the baomoi corpus (title + text; the summary field is left out), then use
each sampled article's summary as the query and check that the article (or an exact duplicate of
its text) comes back at rank 1 / in the top 5. Also prints build figures, load time, `ask` and
`search` latency p50/p95, and memory.

Usage:
  python bench/scale.py build [--limit N] [--index DIR]   # embeddings are cached: a killed build resumes
  python bench/scale.py eval  [--index DIR] [--sample 1000] [--mode hybrid|dense|lexical]
On a GPU machine the build runs there in fp16 with large batches without configuration; the summary
line gives passages and tokens per second, and the articles per second are printed after it.

Reads ../shared/data/baomoi-35k.jsonl.gz (or --data)."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import resource
import statistics
import time
from pathlib import Path

from assistant.retrieval import SearchFilters
from assistant.service import NewsQA
from assistant.settings import PROJECT_ROOT, Settings
from index.builder import build_from_articles, build_lock
from index.corpus import Article
from index.textnorm import normalize_text

DATA = PROJECT_ROOT.parent / "shared" / "data" / "baomoi-35k.jsonl.gz"
DEFAULT_INDEX = Path.home() / ".cache" / "newsqa" / "bench" / "baomoi"


def load(data: Path, limit: int | None) -> tuple[list[Article], dict[str, str]]:
    """Articles without their summaries, and the summaries by article id."""
    articles, summaries = [], {}
    with gzip.open(data, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = normalize_text(row.get("text") or "").strip()
            if not text:
                continue
            articles.append(Article(id=row["id"], title=normalize_text(row.get("title") or ""), text=text,
                                    url=row.get("url") or "", source=row.get("source") or ""))
            summaries[row["id"]] = normalize_text(row.get("summary") or "").strip()
            if limit and len(articles) >= limit:
                break
    return articles, summaries


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(args, settings: Settings) -> None:
    articles, _ = load(args.data, args.limit)
    qa = NewsQA(settings)
    lock = build_lock(settings.index_dir)
    with lock:
        report = build_from_articles(settings, qa.embedder, articles, settings.index_dir, str(args.data),
                                     show_progress=True)
    print(report.summary())
    print(f"{report.articles / report.seconds:.1f} articles/s over the whole build; peak RSS {rss_mb():.0f} MB")


def evaluate(args, settings: Settings) -> None:
    articles, summaries = load(args.data, args.limit)
    group = {a.id: a.content_hash for a in articles}  # exact duplicates share the hash
    qa = NewsQA(settings)
    t0 = time.perf_counter()
    qa.embedder  # noqa: B018 - load the model
    load_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    status = qa.status()
    load_index = time.perf_counter() - t0
    print(f"index: {status.articles} articles, {status.chunks} passages; model load {load_model:.1f}s, "
          f"index open {load_index:.1f}s")
    rng = random.Random(args.seed)
    pool = [a for a in articles if len(summaries[a.id]) >= 20]
    sample = rng.sample(pool, min(args.sample, len(pool)))
    rank1 = top5 = 0
    lat = []
    for a in sample:
        t0 = time.perf_counter()
        hits = qa.search(summaries[a.id][: settings.max_question_chars], k=5, mode=args.mode,
                         filters=SearchFilters())
        lat.append((time.perf_counter() - t0) * 1000)
        found = [group.get(h.article_id) == group[a.id] for h in _per_article(hits)]
        rank1 += bool(found[:1] and found[0])
        top5 += any(found[:5])
    n = len(sample)
    print(f"summary -> article ({args.mode}, {n} sampled): rank 1 {100 * rank1 / n:.1f}%, "
          f"top 5 {100 * top5 / n:.1f}%; search p50 {statistics.median(lat):.0f} ms, p95 {pct(lat, .95):.0f} ms")
    questions = [a.title for a in sample[: args.questions]]
    qa.ask(questions[0])
    ask_lat = []
    for q in questions:
        t0 = time.perf_counter()
        qa.ask(q)
        ask_lat.append((time.perf_counter() - t0) * 1000)
    print(f"ask ({len(questions)} titles as questions): p50 {statistics.median(ask_lat):.0f} ms, "
          f"p95 {pct(ask_lat, .95):.0f} ms; peak RSS {rss_mb():.0f} MB")


def _per_article(hits):
    seen, out = set(), []
    for h in hits:
        if h.article_id not in seen:
            seen.add(h.article_id)
            out.append(h)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["build", "eval"])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env(index_dir=args.index)
    print(f"data: {args.data}; index: {args.index}")
    (build if args.phase == "build" else evaluate)(args, settings)


if __name__ == "__main__":
    main()
