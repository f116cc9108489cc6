"""BM25 drift of a patched Milvus collection (`newsqa index update` on the Milvus backend).

An update keeps the unchanged passages' sparse rows, whose term-frequency part was computed with the
average passage length of the build that wrote them, while the query's IDF comes from the new
vocabulary. This script measures what that costs against a full rebuild (every row re-weighted),
without a server: both scorings are the same sparse products Milvus computes (the sparse vectors and
query weights of index/milvus_build.py), over N baomoi articles of which a share is replaced by
unseen ones. Queries: titles of sampled remaining articles. Prints the average passage length before
and after, how often the top 10 is the same list, and the BM25 score differences in the top 10.

Usage: python bench/milvus_drift.py [--articles 5000] [--shares 0.01,0.05,0.2] [--questions 300]"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scale import DATA, load  # noqa: E402

from assistant.settings import Settings  # noqa: E402
from index.chunking import chunk_article, make_splitter  # noqa: E402
from index.lexical import LexicalIndex, analyze_document, analyze_query  # noqa: E402


def passages(articles, splitter) -> list[tuple[str, str]]:
    """(article id, embed text) of every passage."""
    return [(a.id, c.embed_text) for a in articles for c in chunk_article(a, splitter)]


def query_vector(lexical: LexicalIndex, question: str, n_columns: int) -> np.ndarray:
    q = np.zeros(n_columns, np.float32)
    for token in dict.fromkeys(analyze_query(question)):
        found = lexical.term_weight(token)
        if found is not None and found[0] < n_columns:
            q[found[0]] = np.float32(found[1])
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--articles", type=int, default=5000)
    ap.add_argument("--shares", default="0.01,0.05,0.2")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    settings = Settings.from_env()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    shares = [float(x) for x in args.shares.split(",")]
    pool, _ = load(args.data, int(args.articles * (1 + max(shares))) + 10)
    base, spare = pool[: args.articles], pool[args.articles :]
    old = passages(base, splitter)
    old_index, old_weights = LexicalIndex.build_terms(list(range(len(old))), [t for _, t in old])
    print(f"data: {args.data}; {len(base)} articles, {len(old)} passages; "
          f"average passage length {_avgdl(old):.1f} tokens")
    rng = random.Random(args.seed)
    for share in shares:
        t0 = time.perf_counter()
        gone = set(rng.sample([a.id for a in base], int(share * len(base))))
        kept = [a for a in base if a.id not in gone]
        new_articles = kept + spare[: len(gone)]
        new = passages(new_articles, splitter)
        # As an update does: the live vocabulary's columns kept, new tokens appended.
        new_index, new_weights = LexicalIndex.build_terms(list(range(len(new))), [t for _, t in new],
                                                          seed=old_index.vocab)
        n_cols = new_weights.shape[1]
        old_rows = {(aid, text): i for i, (aid, text) in enumerate(old)}
        # Patched: unchanged passages keep their old rows (old average length), new ones get new rows.
        rows = []
        for i, key in enumerate(new):
            j = old_rows.get(key)
            row = old_weights[j] if j is not None else new_weights[i]
            rows.append(row if row.shape[1] == n_cols else _widen(row, n_cols))
        patched = scipy.sparse.vstack(rows).tocsr()
        questions = [a.title for a in rng.sample(kept, min(args.questions, len(kept)))]
        same, diffs = 0, []
        for q in questions:
            qv = query_vector(new_index, q, n_cols)
            full_scores = new_weights @ qv
            patch_scores = patched @ qv
            top_full = np.argsort(-full_scores)[:10]
            top_patch = np.argsort(-patch_scores)[:10]
            same += list(top_full) == list(top_patch)
            diffs += [abs(patch_scores[i] - full_scores[i]) / full_scores[i] for i in top_full if full_scores[i] > 0]
        print(f"replaced {share:.0%} ({len(gone)} articles): average passage length {_avgdl(old):.1f} -> "
              f"{_avgdl(new):.1f}; top 10 identical for {100 * same / len(questions):.1f}% of "
              f"{len(questions)} questions; BM25 relative difference in the top 10: median "
              f"{statistics.median(diffs):.2e}, max {max(diffs):.2e} ({time.perf_counter() - t0:.0f} s)")


def _avgdl(docs) -> float:
    """BM25's average document length: tokens per passage as analysed (with bigrams and folded forms)."""
    return float(np.mean([len(analyze_document(t)) for _, t in docs])) if docs else 0.0


def _widen(row, n_cols: int):
    row = row.tocoo()
    return scipy.sparse.csr_matrix((row.data, (row.row, row.col)), shape=(1, n_cols))


if __name__ == "__main__":
    main()
