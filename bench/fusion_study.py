"""Fusion study: the retriever's fusion beside the alternatives it was measured against, on the
same candidate pools (dense top 50 and BM25 top 50 of each question, every passage scored by both
sides; `Retriever.candidates`), as nDCG@10 in percent with ViRE's definition.

Each question set runs as typed and, for Vietnamese ones, with its diacritics stripped. The first
row is what `newsqa eval` reports as hybrid; the rest are the roads not taken, so the choice can be
re-checked on any question file (CSV/JSONL with question + context, or question + article_id
against the configured index).

Usage: python bench/fusion_study.py [FILE ...] [--limit N]
Default files: ../shared/data/qa/ViMedAQA_v2.csv, ../shared/data/qa/ViRe4MRC_v2.csv,
bench/data/crosslingual_en.jsonl (against the configured index: build it first)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from assistant.errors import NewsQAError
from assistant.evaluation import distinct_articles, eval_index, gold_rank, load_eval_file, metrics_from_ranks
from assistant.retrieval import Candidates, Retriever, fuse
from assistant.settings import PROJECT_ROOT, Settings
from index.embedder import load_embedder
from index.textnorm import detect_language, fold_diacritics, words

QA = PROJECT_ROOT.parent / "shared" / "data" / "qa"
DEFAULT_FILES = [QA / "ViMedAQA_v2.csv", QA / "ViRe4MRC_v2.csv", PROJECT_ROOT / "bench" / "data" / "crosslingual_en.jsonl"]
FETCH = 50


@dataclass
class Pool:
    """One question's candidates, with what the phrase variant needs."""

    question: str
    gold: str
    candidates: Candidates
    texts: list[str]


def _minmax(x: np.ndarray) -> np.ndarray:
    return (x - x.min()) / (x.max() - x.min() + 1e-9)


def _zscore_top(x: np.ndarray, k: int = 20) -> np.ndarray:
    top = np.sort(x)[-k:]
    return (x - top.mean()) / (top.std() + 1e-9)


def _rrf(x: np.ndarray, k: int = 60) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(-x)] = np.arange(1, len(x) + 1)
    return 1.0 / (k + ranks)


def _confidence(c: Candidates) -> float:
    return c.confidence or 0.0


def word_grams(text: str, n: int) -> set[tuple[str, ...]]:
    """The word n-grams of `text`, diacritics folded."""
    toks = [fold_diacritics(w) for w in words(text)]
    return set(zip(*[toks[i:] for i in range(n)]))


def _phrase_overlap(p: Pool, n: int = 3) -> np.ndarray:
    """Share of the question's word n-grams that occur in each passage."""
    q = word_grams(p.question, n)
    if not q:
        return np.zeros(len(p.texts))
    return np.array([len(q & word_grams(t, n)) / len(q) for t in p.texts])


def _with_lexical_weight(w: float) -> Callable[[Pool], np.ndarray]:
    def score(p: Pool) -> np.ndarray:
        c = p.candidates
        return c.dense_weight * _minmax(c.dense) + w * _confidence(c) * c.lexical / (c.lexical.max() + 1e-9)
    return score


def _with_confidence_power(e: float) -> Callable[[Pool], np.ndarray]:
    def score(p: Pool) -> np.ndarray:
        return fuse(replace(p.candidates, confidence=_confidence(p.candidates) ** e))
    return score


VARIANTS: dict[str, Callable[[Pool], np.ndarray]] = {
    "ours: min-max dense + confidence x BM25/max": lambda p: fuse(p.candidates),
    "dense only": lambda p: p.candidates.dense,
    "BM25 only": lambda p: p.candidates.lexical,
    "no lexical confidence (always 1)": lambda p: fuse(replace(p.candidates, confidence=1.0)),
    "lexical weight 0.7": _with_lexical_weight(0.7),
    "lexical weight 1.3": _with_lexical_weight(1.3),
    "confidence^0.5": _with_confidence_power(0.5),
    "confidence^2": _with_confidence_power(2.0),
    "dense exp((d - max)/0.05) instead of min-max": lambda p: (
        p.candidates.dense_weight * np.exp((p.candidates.dense - p.candidates.dense.max()) / 0.05)
        + _confidence(p.candidates) * p.candidates.lexical / (p.candidates.lexical.max() + 1e-9)),
    "z-scores over each side's top 20": lambda p: (
        p.candidates.dense_weight * _zscore_top(p.candidates.dense)
        + _confidence(p.candidates) * _zscore_top(p.candidates.lexical)),
    "reciprocal rank fusion (k 60)": lambda p: _rrf(p.candidates.dense) + _rrf(p.candidates.lexical),
    "RRF, lexical x confidence": lambda p: _rrf(p.candidates.dense) + _confidence(p.candidates) * _rrf(p.candidates.lexical),
    "ours + 0.2 x word-trigram overlap": lambda p: fuse(p.candidates) + 0.2 * _phrase_overlap(p),
}


def pools(retriever: Retriever, questions: list[str], gold: list[str], desc: str) -> list[Pool]:
    out = []
    vectors = retriever.encode(questions)
    for q, g, qv in tqdm(list(zip(questions, gold, vectors)), desc=desc, leave=False):
        c = retriever.candidates(q, qv, FETCH)
        chunks = retriever.index.db.chunks(c.ids)
        out.append(Pool(q, g, c, [chunks[i].text if i in chunks else "" for i in c.ids]))
    return out


def ndcg(pool_list: list[Pool], chunk_article: dict[int, str], score: Callable[[Pool], np.ndarray]) -> float:
    ranks = []
    for p in pool_list:
        order = np.argsort(-score(p), kind="stable") if p.candidates.ids else []
        ranks.append(gold_rank(distinct_articles((p.candidates.ids[i] for i in order), chunk_article), p.gold))
    return metrics_from_ranks(ranks).ndcg_at_10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    ap.add_argument("--limit", type=int, default=None, help="first N questions of each file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    embedder = load_embedder(settings.index_config())
    columns: dict[str, dict[str, float]] = {}
    for path in args.files:
        try:
            evalset = load_eval_file(path)
        except NewsQAError as exc:
            print(f"skipped {path}: {exc}")
            continue
        questions, gold = evalset.questions[: args.limit], evalset.gold[: args.limit]
        forms = {evalset.name: questions}
        if sum(detect_language(q) == "vi" for q in questions) > len(questions) / 2:
            forms[f"{evalset.name} unaccented"] = [fold_diacritics(q) for q in questions]
        with ExitStack() as stack:
            try:
                index = stack.enter_context(eval_index(settings, embedder, evalset, show_progress=False))
            except NewsQAError as exc:  # e.g. gold article ids but no index built yet
                print(f"skipped {path}: {exc}")
                continue
            retriever = Retriever(index, embedder)
            chunk_article = {c.id: c.article_id for c in index.db.all_chunks()}
            for name, qs in forms.items():
                found = pools(retriever, qs, gold, name)
                columns[name] = {v: ndcg(found, chunk_article, f) for v, f in VARIANTS.items()}
    if not columns:
        raise SystemExit("No question file could be studied (see the lines above).")
    names = list(columns)
    print(f"nDCG@10 (%), candidate pools of dense top {FETCH} + BM25 top {FETCH}; model {embedder.name}")
    print("| fusion | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for variant in VARIANTS:
        print(f"| {variant} | " + " | ".join(f"{columns[n][variant]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
