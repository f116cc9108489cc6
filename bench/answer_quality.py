"""Answer quality and `ask` latency of the extractive answerer on a question set with reference
answers: a throwaway index of the file's contexts (as `newsqa eval`), every question asked through
`NewsQA.ask` (retrieval, gates, sentence choice, citations), then

- answered: share of questions answered rather than "not found";
- cites gold: share whose citations include the question's own context;
- answer recall: mean share of the reference answer's syllables that the answer contains (the
  references of ViMedAQA are written sentences, not spans, so containment would say little);
- span found: share whose answer contains the reference verbatim (meaningful for span answers).

Usage: python bench/answer_quality.py [FILE ...] [--limit 300]
Default files: ../shared/data/qa/ViMedAQA_v2.csv and ViRe4MRC_v2.csv (columns question, answer, context)."""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import time
from dataclasses import replace
from pathlib import Path

from load import pct

from assistant.evaluation import eval_index, load_eval_file
from assistant.llm import clean_markers
from assistant.service import NewsQA
from assistant.settings import PROJECT_ROOT, Settings
from index.embedder import load_embedder
from index.textnorm import normalize_text, words

QA = PROJECT_ROOT.parent / "shared" / "data" / "qa"
DEFAULT_FILES = [QA / "ViMedAQA_v2.csv", QA / "ViRe4MRC_v2.csv"]


def references(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [normalize_text(row.get("answer") or "") for row in csv.DictReader(fh)]


def recall(reference: str, answer: str) -> float:
    ref = [w.lower() for w in words(reference)]
    got = {w.lower() for w in words(answer)}
    return sum(w in got for w in ref) / len(ref) if ref else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    ap.add_argument("--limit", type=int, default=300, help="first N questions of each file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    embedder = load_embedder(settings.index_config())
    print("| set | questions | answered | cites gold | answer recall | span found | ask p50 ms | ask p95 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for path in args.files:
        evalset = load_eval_file(path)
        refs = references(path)[: args.limit]
        with eval_index(settings, embedder, evalset, show_progress=False) as index:
            qa = NewsQA(replace(settings, index_dir=index.folder.parent.parent), embedder=embedder)
            qa.ask(evalset.questions[0])  # opens the index
            answered = cites = spans = 0
            recalls, latency = [], []
            for question, gold, ref in zip(evalset.questions, evalset.gold, refs):
                t0 = time.perf_counter()
                ans = qa.ask(question)
                latency.append((time.perf_counter() - t0) * 1000)
                text = " ".join(clean_markers(ans.answer, set()).splitlines()) if ans.found else ""
                answered += ans.found
                cites += any(c.article_id == gold for c in ans.citations)
                recalls.append(recall(ref, text))
                spans += bool(ref) and ref.lower() in text.lower()
        n = len(refs)
        print(f"| {evalset.name} | {n} | {100 * answered / n:.1f}% | {100 * cites / n:.1f}% | "
              f"{100 * statistics.mean(recalls):.1f}% | {100 * spans / n:.1f}% | {statistics.median(latency):.0f} | "
              f"{pct(latency, .95):.0f} |", flush=True)


if __name__ == "__main__":
    main()
