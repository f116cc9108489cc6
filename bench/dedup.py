"""Duplicates in a news corpus: exact copies (same normalized text) and near-duplicates (MinHash
over word 4-shingles of title + text, LSH at estimated Jaccard >= 0.8), as the index groups them.

Usage: python bench/dedup.py [--data ../shared/data/baomoi-35k.jsonl.gz] [--limit N] [--examples 5]"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.settings import PROJECT_ROOT  # noqa: E402
from index.dedup import find_groups, fingerprint_text, jaccard  # noqa: E402

DATA = PROJECT_ROOT.parent / "shared" / "data" / "baomoi-35k.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--examples", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with gzip.open(args.data, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if (row.get("text") or "").strip():
                rows.append(row)
            if args.limit and len(rows) >= args.limit:
                break
    t0 = time.perf_counter()
    groups = find_groups((r["id"], r.get("title") or "", r["text"]) for r in rows)
    seconds = time.perf_counter() - t0
    by_id = {r["id"]: r for r in rows}
    group_count = len(set(groups.dup_of.values()))
    print(f"{len(rows)} articles from {args.data.name}: {groups.exact} exact duplicates, {groups.near} near-duplicates "
          f"(not exact), in {group_count} groups; {seconds:.1f}s ({len(rows) / seconds:.0f} articles/s)")
    near = [(k, v) for k, v in groups.dup_of.items() if by_id[k]["text"].strip() != by_id[v]["text"].strip()]
    for key, first in near[: args.examples]:
        a, b = by_id[first], by_id[key]
        print(f"  near: {first} [{a.get('source')}] ~ {key} [{b.get('source')}] "
              f"jaccard {jaccard(fingerprint_text(a['title'], a['text']), fingerprint_text(b['title'], b['text'])):.2f}: "
              f"{a['title'][:60]!r} / {b['title'][:60]!r}")


if __name__ == "__main__":
    main()
