"""News at scale: index the baomoi corpus (title + text; the summary field is left out), then use
each sampled article's summary as the query and check that the article (or an exact duplicate of
its text) comes back at rank 1 / in the top 5. Also prints build figures, load time, `ask` and
`search` latency p50/p95, and memory.

Usage:
  python bench/scale.py build [--limit N] [--index DIR]   # embeddings are cached: a killed build resumes
  python bench/scale.py eval  [--index DIR] [--sample 1000] [--mode hybrid|dense|lexical]
  python bench/scale.py serve [--index DIR]  # the real app on that index: start time, RSS under requests
  python bench/scale.py misses [--index DIR]  # why summaries miss rank 1; article-level rescorings tried
  python bench/scale.py curve [--sizes 1000,5000,10000,35439]  # after a full build: the scaling table
  python bench/scale.py backends --limit 5000 --index DIR --milvus-index DIR2 --milvus-uri URI
      # the app over HTTP on a local index and on the same articles built into Milvus (NEWSQA_BACKEND=milvus
      # python bench/scale.py build ... --index DIR2): ask/search p50/p95, app RSS, the Milvus server's RSS
The curve builds each size into its own index beside the full one, sharing the full build's embedding
cache (so its build column is the index work without the model), then times the model on a fresh
sample of passages in fp32 and in the configured precision, and adds tokens / (tokens/s) for the
model's share. Each size is built and measured in fresh processes, so memory figures are per size.
On a GPU machine the build runs there in fp16 with large batches without configuration; the summary
line gives passages and tokens per second, and the articles per second are printed after it.

Reads ../shared/data/baomoi-35k.jsonl.gz (or --data)."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from load import api_request, pct

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


def rss_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Resident memory now (a server's steady state; the peak includes loading)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return rss_mb()


def build(args, settings: Settings) -> None:
    articles, _ = load(args.data, args.limit)
    qa = NewsQA(settings)
    lock = build_lock(settings.index_dir)
    with lock:
        report = build_from_articles(settings.index_config(), qa.embedder, articles, settings.index_dir, str(args.data),
                                     show_progress=True)
    print(report.summary())
    print(f"{report.articles / report.seconds:.1f} articles/s over the whole build; peak RSS {rss_mb():.0f} MB")
    result(articles=report.articles, passages=report.chunks, build_s=report.seconds, build_rss_mb=rss_mb())


def result(**values) -> None:
    """One machine-readable line for `curve`, which runs the phases as child processes."""
    print("RESULT " + json.dumps(values), flush=True)


def sample_summaries(articles: list[Article], summaries: dict[str, str], args) -> list[Article]:
    """The articles whose summaries are asked: the same ones for `eval` and `misses`."""
    pool = [a for a in articles if len(summaries[a.id]) >= 20]
    return random.Random(args.seed).sample(pool, min(args.sample, len(pool)))


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
    sample = sample_summaries(articles, summaries, args)
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
          f"p95 {pct(ask_lat, .95):.0f} ms; RSS now {current_rss_mb():.0f} MB, peak {rss_mb():.0f} MB")
    result(start_s=load_model + load_index, rank1=100 * rank1 / n, top5=100 * top5 / n,
           search_p50=statistics.median(lat), search_p95=pct(lat, .95), ask_p50=statistics.median(ask_lat),
           ask_p95=pct(ask_lat, .95), serve_rss_mb=current_rss_mb(), serve_peak_mb=rss_mb())


def model_speed(args, settings: Settings) -> None:
    """The token count of every passage of the first `--limit` articles; with --time-model also the
    model's tokens/s on a sample of 256 of them, in fp32 and in the configured precision."""
    from index.chunking import chunk_article, make_splitter
    from index.embedder import load_embedder

    articles, _ = load(args.data, args.limit)
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    texts = [c.embed_text for a in articles for c in chunk_article(a, splitter)]
    fp32 = load_embedder(settings.with_(precision="fp32").index_config())
    tokens = sum(fp32.count_tokens(texts))
    speeds = {}
    if args.time_model:
        sample = sorted(random.Random(1).sample(texts, min(256, len(texts))), key=len, reverse=True)
        sample_tokens = sum(fp32.count_tokens(sample))
        configured = load_embedder(settings.index_config()) if settings.precision != "fp32" else fp32
        for embedder in dict.fromkeys([fp32, configured]):
            embedder.encode_documents(sample[:16], batch_size=16)
            t0 = time.perf_counter()
            embedder.encode_documents(sample, batch_size=embedder.batch_size(0))
            speeds[embedder.precision] = sample_tokens / (time.perf_counter() - t0)
    print(f"{len(texts)} passages, {tokens} tokens" + ("; model tokens/s on a sample of 256 passages (model only, "
          "no cache): " + ", ".join(f"{k} {v:,.0f}" for k, v in speeds.items()) if speeds else ""))
    result(tokens=tokens, speeds=speeds)


def curve(args, settings: Settings) -> None:
    shared_cache = args.index / "cache"
    if not (shared_cache / "embeddings.sqlite").exists():
        raise SystemExit(f"No embedding cache at {shared_cache}: run `python bench/scale.py build` first.")
    rows = []
    for n, size in enumerate(int(x) for x in args.sizes.split(",")):
        where = args.index.parent / f"{args.index.name}-{size}"
        where.mkdir(parents=True, exist_ok=True)
        if not (where / "cache").exists():
            (where / "cache").symlink_to(shared_cache.resolve())
        row = {"size": size}
        common = ["--data", str(args.data), "--index", str(where), "--limit", str(size)]
        for phase, extra in (("build", []), ("eval", ["--sample", "300", "--questions", "30"]),
                             ("serve", ["--questions", "20"]), ("speed", [] if n else ["--time-model"])):
            row.update(_child(phase, common + extra))
        rows.append(row)
    speeds = rows[0]["speeds"]
    best = max(speeds, key=speeds.get)
    print(f"\nScaling (vectors from the full build's cache; model time = tokens / {best} tokens/s measured "
          "on a sample in the same run):")
    print("| articles | passages | tokens | index work s | + model s (est.) | build peak RSS MB | app start s "
          "| search p50 ms | ask p50 ms | ask p95 ms | server RSS MB (anonymous) | summary rank 1 / top 5 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        model_s = r["tokens"] / speeds[best]
        print(f"| {r['articles']:,} | {r['passages']:,} | {r['tokens']:,} | {r['build_s']:.0f} | {model_s:.0f} "
              f"| {r['build_rss_mb']:.0f} | {r['app_start_s']:.1f} | {r['search_p50']:.0f} | {r['ask_p50']:.0f} "
              f"| {r['ask_p95']:.0f} | {r['server_rss_mb']:,.0f} ({r['server_anon_mb']:,.0f}) "
              f"| {r['rank1']:.1f}% / {r['top5']:.1f}% |")
    ratio = speeds[best] / speeds["fp32"]
    print(f"{best} is {ratio:.2f}x fp32 on this machine ({os.cpu_count()} cores).")


def _child(phase: str, argv: list[str], env: dict[str, str] | None = None, label: str = "") -> dict:
    proc = subprocess.run([sys.executable, __file__, phase, *argv], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    lines = proc.stdout.splitlines()
    for line in lines:
        if not line.startswith("RESULT "):
            print(f"  [{phase} {label or argv[argv.index('--limit') + 1]}] {line}", flush=True)
    if proc.returncode:
        raise SystemExit(f"{phase} failed:\n{proc.stderr[-2000:]}")
    return json.loads(next(line[7:] for line in lines if line.startswith("RESULT ")))


def serve(args, settings: Settings) -> None:
    """Start `python app.py` on the index, time it until the UI answers, then send `ask` and
    `search` requests over HTTP and read the server's resident memory."""
    import urllib.request

    from tests.helpers import RunningApp  # importable: bench/load.py put the project root on sys.path

    articles, summaries = load(args.data, args.limit)
    sample = random.Random(args.seed).sample(articles, min(args.questions, len(articles)))
    log = args.index / "serve-bench.log"
    t0 = time.perf_counter()
    app = RunningApp(settings, log, NEWSQA_LOG_FORMAT="text")
    try:
        app.wait_ready()
        start = time.perf_counter() - t0
        ask, search = [], []
        for a in sample:
            for endpoint, text, times in (("ask", a.title, ask), ("search", summaries[a.id][:300] or a.title, search)):
                t1 = time.perf_counter()
                urllib.request.urlopen(api_request(app.url.rstrip("/"), endpoint, text), timeout=120).read()
                times.append((time.perf_counter() - t1) * 1000)
        status = Path(f"/proc/{app.proc.pid}/status").read_text().splitlines()
        field = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status
                 if line.startswith(("Vm", "Rss"))}
    finally:
        app.stop()
    print(f"app start (process launch to the UI answering, model + index loaded, warm-up done): {start:.1f}s")
    print(f"over HTTP, {len(sample)} questions: ask p50 {statistics.median(ask):.0f} ms, p95 {pct(ask, .95):.0f} ms; "
          f"search p50 {statistics.median(search):.0f} ms, p95 {pct(search, .95):.0f} ms")
    # Memory-mapped index files (vectors, BM25 postings, the vocabulary trie) count in RSS once touched,
    # but as page cache shared by every process that maps them; the anonymous part is the server's own.
    print(f"server memory: RSS {field['VmRSS']:.0f} MB now (anonymous {field['RssAnon']:.0f} MB, mapped files "
          f"{field['RssFile']:.0f} MB), peak {field['VmHWM']:.0f} MB")
    result(app_start_s=start, http_ask_p50=statistics.median(ask), http_search_p50=statistics.median(search),
           http_ask_p95=pct(ask, .95), http_search_p95=pct(search, .95),
           server_rss_mb=field["VmRSS"], server_anon_mb=field["RssAnon"], server_peak_mb=field["VmHWM"])


def backends(args, settings: Settings) -> None:
    """`serve` on the local index and on the Milvus one, one after the other, side by side."""
    common = ["--data", str(args.data), "--questions", str(args.questions), "--seed", str(args.seed)]
    if args.limit:
        common += ["--limit", str(args.limit)]
    local = _child("serve", [*common, "--index", str(args.index)], {"NEWSQA_BACKEND": "local"}, "local")
    remote = _child("serve", [*common, "--index", str(args.milvus_index)],
                    {"NEWSQA_BACKEND": "milvus", "NEWSQA_MILVUS_URI": args.milvus_uri or ""}, "milvus")
    server = _milvus_server_rss() if args.milvus_uri else None
    print("| backend | ask p50 / p95 ms | search p50 / p95 ms | app start s | app RSS MB (own) |")
    print("|---|---|---|---|---|")
    for name, r in (("local (FAISS + bm25s)", local), ("milvus", remote)):
        print(f"| {name} | {r['http_ask_p50']:.0f} / {r['http_ask_p95']:.0f} | {r['http_search_p50']:.0f} / "
              f"{r['http_search_p95']:.0f} | {r['app_start_s']:.1f} | {r['server_rss_mb']:.0f} "
              f"({r['server_anon_mb']:.0f}) |")
    if server:
        print(f"Milvus server ({server[0]}): RSS {server[1]:.0f} MB")


def _milvus_server_rss() -> tuple[str, float] | None:
    """The `milvus-lite server` process on this machine (a real Milvus runs elsewhere: not measured)."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "milvus-lite" in cmd and " server" in cmd:
                rss = next(int(x.split()[1]) / 1024 for x in (proc / "status").read_text().splitlines()
                           if x.startswith("VmRSS:"))
                return f"pid {proc.name}", rss
        except (OSError, StopIteration, ValueError):
            continue
    return None


def misses(args, settings: Settings) -> None:
    """Why the summary check misses rank 1, how the fusions of bench/fusion_study.py do on it, and
    what article-level rescoring of the fused top 20 would change (exact duplicates count as found;
    near-duplicate groups are not folded here, unlike search's results)."""
    import numpy as np
    from fusion_study import VARIANTS, Pool, word_grams

    from assistant.evaluation import distinct_articles
    from assistant.retrieval import Retriever, fuse

    articles, summaries = load(args.data, args.limit)
    group = {a.id: a.content_hash for a in articles}
    by_id = {a.id: a for a in articles}
    qa = NewsQA(settings)
    index = qa.index()
    retriever = Retriever(index, qa.embedder)
    stored = index.db.all_chunks()
    chunk_article = {c.id: c.article_id for c in stored}
    chunk_text = {c.id: c.text for c in stored}
    lead = {c.id: c.position == 0 for c in stored}
    article_chunks: dict[str, list[int]] = {}
    for c in stored:
        article_chunks.setdefault(c.article_id, []).append(c.id)
    dup_of = {a.id: a.dup_of or a.id for a in index.db.articles(article_chunks).values()}

    def mean_vector(article_id: str) -> np.ndarray:
        v = np.vstack([index.search.store.reconstruct(i) for i in article_chunks[article_id]]).mean(axis=0)
        return v / (np.linalg.norm(v) + 1e-9)

    sample = sample_summaries(articles, summaries, args)
    queries = [summaries[a.id][: settings.max_question_chars] for a in sample]
    variants = {"fused (what search ranks by)": lambda f: f["best"],
                "+ 0.1 if the best passage is the lead": lambda f: f["best"] + 0.1 * f["lead"],
                "+ 0.05 x its other candidate passages": lambda f: f["best"] + 0.05 * f["rest"],
                "+ 0.2 x article mean-vector cosine (min-max)": lambda f: f["best"] + 0.2 * f["mean_cos"],
                "+ 0.8 x summary bigrams found in the article": lambda f: f["best"] + 0.8 * f["bigrams"],
                "+ both of the last two": lambda f: f["best"] + 0.2 * f["mean_cos"] + 0.8 * f["bigrams"]}
    hits = {v: [0, 0] for v in variants}
    fusions = {v: [0, 0] for v in VARIANTS}
    kinds = {"near-duplicate of it at rank 1": 0, "another article at rank 1, it in the top 5": 0,
             "another article at rank 1, it below the top 5": 0}
    for a, q, qv in zip(sample, queries, retriever.encode(queries)):
        pool = retriever.candidates(q, qv, 50)
        fused = fuse(pool)  # without lexical matches: the dense order, as search falls back to
        study = Pool(q, a.id, pool, [chunk_text[i] for i in pool.ids])
        for v, score in VARIANTS.items():
            order = distinct_articles((pool.ids[i] for i in np.argsort(-score(study), kind="stable")), chunk_article, 5)
            found = [group[x] == group[a.id] for x in order]
            fusions[v][0] += bool(found) and found[0]
            fusions[v][1] += any(found)
        feats: dict[str, dict] = {}
        for cid, score in sorted(zip(pool.ids, fused), key=lambda x: -x[1]):
            art = chunk_article[cid]
            if art in feats:
                feats[art]["rest"] += float(score)
            else:
                feats[art] = {"best": float(score), "lead": lead[cid], "rest": 0.0}
        top = sorted(feats, key=lambda x: -feats[x]["best"])[:20]
        q_bigrams = word_grams(q, 2)
        cos = np.array([float(mean_vector(x) @ qv) for x in top])
        cos = (cos - cos.min()) / (cos.max() - cos.min() + 1e-9)
        for x, c in zip(top, cos):
            b = by_id[x]
            feats[x]["mean_cos"] = c
            feats[x]["bigrams"] = len(q_bigrams & word_grams(b.title + "\n" + b.text, 2)) / max(1, len(q_bigrams))
        for v, score in variants.items():
            order = sorted(top, key=lambda x: -score(feats[x]))
            found = [group[x] == group[a.id] for x in order[:5]]
            hits[v][0] += found[0]
            hits[v][1] += any(found)
            if v == next(iter(variants)) and not found[0]:
                kind = ("near-duplicate of it at rank 1" if dup_of.get(order[0]) == dup_of.get(a.id)
                        else "another article at rank 1, it in the top 5" if any(found)
                        else "another article at rank 1, it below the top 5")
                kinds[kind] += 1
    n = len(sample)
    print(f"{n} sampled summaries; rank-1 misses of the fused ranking: " + "; ".join(f"{k} {v}" for k, v in kinds.items()))
    print("| fusion (bench/fusion_study.py) | rank 1 | top 5 |\n|---|---:|---:|")
    for v, (r1, t5) in fusions.items():
        print(f"| {v} | {100 * r1 / n:.1f}% | {100 * t5 / n:.1f}% |")
    print("| article ranking | rank 1 | top 5 |\n|---|---:|---:|")
    for v, (r1, t5) in hits.items():
        print(f"| {v} | {100 * r1 / n:.1f}% | {100 * t5 / n:.1f}% |")


def _per_article(hits):
    seen, out = set(), []
    for h in hits:
        if h.article_id not in seen:
            seen.add(h.article_id)
            out.append(h)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["build", "eval", "serve", "curve", "speed", "misses", "backends"])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="1000,5000,10000,35439")
    ap.add_argument("--time-model", action="store_true", help="speed: also time the model (fp32 and configured)")
    ap.add_argument("--milvus-index", type=Path, help="backends: the index directory built with NEWSQA_BACKEND=milvus")
    ap.add_argument("--milvus-uri", help="backends: NEWSQA_MILVUS_URI of that index (empty: milvus-lite in the app)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env(index_dir=args.index)
    print(f"data: {args.data}; index: {args.index}")
    phases = {"build": build, "eval": evaluate, "serve": serve, "curve": curve, "speed": model_speed,
              "misses": misses, "backends": backends}
    phases[args.phase](args, settings)


if __name__ == "__main__":
    main()
