"""Requests for news ("Tin tức về giá xăng", "news about Donald Trump") at scale: answered with the
articles on the topic, or refused when none is about it. Asked through the real service against
bench/answers.py's indexes (bundled corpus + XQuAD paragraphs + N baomoi articles).

A request about a topic the news holds passes when it is answered and every listed line (an article's
title and its sentence most about the topic) holds the request's `words` (as written, case and
diacritics aside); one about a topic no article holds passes when refused. Requests:
bench/data/news_requests.jsonl (written for this project; the thresholds were not tuned on them; two
"absent" topics of the first draft, the Sapporo snow festival and a crewed flight to Mars, turned out
to be in the 35k sample and were replaced by made-up names).

Usage:
  python bench/answers.py build --articles 5000        # once per size (see bench/answers.py)
  python bench/news_requests.py --articles 0,5000,35439"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import answers  # noqa: E402 (the bench's own indexes)

from assistant.messages import t  # noqa: E402
from index.textnorm import fold_diacritics  # noqa: E402

REQUESTS = Path(__file__).resolve().parent / "data" / "news_requests.jsonl"


def _folded(text: str) -> str:
    return fold_diacritics(text).lower()


def verdict(answer, row: dict) -> tuple[str, int]:
    """(verdict, articles listed)."""
    listed = len(answer.citations) if answer.found else 0
    if row.get("absent"):
        return ("ok" if not answer.found else "listed"), listed
    if not answer.found:
        return "refused", 0
    if not answer.answer.startswith(t("digest_intro", answer.language)):
        return "quoted", listed  # an English topic with nothing to match word for word
    lines = answer.answer.splitlines()[1:]
    off = [line for line in lines if not all(_folded(w) in _folded(line) for w in row["words"])]
    return ("ok" if not off else f"{len(off)} of {len(lines)} off topic"), listed


def main() -> None:
    args = answers.per_size_args(__doc__)
    rows = [json.loads(line) for line in REQUESTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for qa in answers.services(args):
        print(f"\n{qa.status().articles} articles\n| request | verdict | articles listed |\n|---|---|---|")
        passed = {True: [0, 0], False: [0, 0]}
        for row in rows:
            v, listed = verdict(qa.ask(row["request"]), row)
            tally = passed[bool(row.get("absent"))]
            tally[0] += v == "ok"
            tally[1] += 1
            print(f"| {row['request']} | {v} | {listed} |")
        print(f"on-topic lists: {passed[False][0]}/{passed[False][1]}; absent topics refused: "
              f"{passed[True][0]}/{passed[True][1]}")


if __name__ == "__main__":
    main()
