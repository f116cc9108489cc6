"""Load: N concurrent clients (half gradio_client on /ask, half the JSON API /api/ask and
/api/search) asking varied questions for a fixed time against the app on loopback.
Prints requests, errors, throughput and latency p50/p95 per client kind.

Usage: python bench/load.py [--clients 50] [--seconds 60] [--index DIR]
Starts `python app.py` on a free port with the given (or default) index and stops it after."""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.settings import PROJECT_ROOT, Settings  # noqa: E402
from index.corpus import load_corpus  # noqa: E402
from index.textnorm import fold_diacritics  # noqa: E402
from tests.helpers import RunningApp  # noqa: E402

ENGLISH = ["What tasks did Colonel Lương Thanh Bình assign?", "Who shot down the drone in Syria?",
           "How many kilograms of drugs were destroyed in Binh Duong?", "What did North Korea say about Trump?"]


def questions(settings: Settings) -> list[str]:
    titles = [a.title for a in load_corpus(settings.corpus_dir).articles]
    return ENGLISH + titles + [fold_diacritics(t).lower() for t in titles]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def api_request(base: str, endpoint: str, text: str, k: int = 5) -> urllib.request.Request:
    """A JSON API call: POST /api/ask with the question, or GET /api/search for the query."""
    if endpoint == "search":
        return urllib.request.Request(f"{base}/api/search?" + urllib.parse.urlencode({"q": text, "k": k}))
    return urllib.request.Request(f"{base}/api/ask", data=json.dumps({"question": text}).encode(),
                                  headers={"Content-Type": "application/json"}, method="POST")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--index", type=Path, default=None)
    args = ap.parse_args()
    settings = Settings.from_env(index_dir=args.index)
    if not (Path(settings.index_dir) / "CURRENT").exists():
        subprocess.run([sys.executable, "-m", "assistant.cli", "index", "update", "-q", "--index",
                        str(settings.index_dir)], check=True, cwd=PROJECT_ROOT)
    pool = questions(settings)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "newsqa-load-app.log"
    app = RunningApp(settings, log, NEWSQA_LOG_FORMAT="text")
    results: dict[str, list[tuple[float, bool]]] = {"gradio_client /ask": [], "JSON /api/ask": [],
                                                    "JSON /api/search": []}
    lock = threading.Lock()
    try:
        app.wait_ready()
        base = app.url.rstrip("/")
        from gradio_client import Client

        start = threading.Barrier(args.clients + 1)
        deadline = [0.0]

        def record(kind: str, seconds: float, ok: bool) -> None:
            with lock:
                results[kind].append((seconds, ok))

        def gradio_worker(seed: int) -> None:
            rng = random.Random(seed)
            client = Client(base + "/", verbose=False)
            start.wait()
            while time.time() < deadline[0]:
                t0 = time.perf_counter()
                try:
                    out = client.predict(rng.choice(pool), 5, api_name="/ask")
                    ok = isinstance(out, dict) and "answer" in out
                except Exception:  # noqa: BLE001 - counted as an error
                    ok = False
                record("gradio_client /ask", time.perf_counter() - t0, ok)

        def api_worker(seed: int) -> None:
            rng = random.Random(seed)
            start.wait()
            while time.time() < deadline[0]:
                endpoint = "search" if rng.random() < 0.3 else "ask"
                req = api_request(base, endpoint, rng.choice(pool))
                kind = f"JSON /api/{endpoint}"
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(req, timeout=300) as resp:
                        ok = resp.status == 200 and bool(json.loads(resp.read()))
                except (urllib.error.URLError, OSError, ValueError):
                    ok = False
                record(kind, time.perf_counter() - t0, ok)

        threads = [threading.Thread(target=gradio_worker if i % 2 == 0 else api_worker, args=(i,))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        deadline[0] = time.time() + args.seconds
        start.wait()
        began = time.time()
        for t in threads:
            t.join()
        elapsed = time.time() - began
    finally:
        app.stop()
    print(f"{args.clients} clients for {args.seconds:.0f}s against {settings.index_dir} "
          f"(queue concurrency {settings.queue_concurrency}, size {settings.queue_size}); wall {elapsed:.0f}s")
    total = errors = 0
    for kind, rows in results.items():
        lat = [s * 1000 for s, _ in rows]
        bad = sum(1 for _, ok in rows if not ok)
        total += len(rows)
        errors += bad
        if rows:
            print(f"  {kind:20} {len(rows):5} requests, {bad} errors, p50 {statistics.median(lat):7.0f} ms, "
                  f"p95 {pct(lat, .95):7.0f} ms")
    print(f"total {total} requests, {errors} errors, throughput {total / elapsed:.1f} requests/s")


if __name__ == "__main__":
    main()
