"""Answer evaluation: questions with the article that answers them (or none: the index cannot
answer) asked through the real service, scored as a reader would judge the reply.

- answered: the reply quotes something (not the polite refusal);
- cited: the gold article is among the citations;
- answer in text: the gold answer string (as written in the article) appears in the reply;
- refused: for a question nothing in the index answers, the reply is the refusal.

`newsqa eval-answers FILE` prints these; bench/answers.py builds the evaluation indexes."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import InputError
from index.corpus import jsonl_lines


@dataclass(frozen=True)
class AnswerCase:
    question: str
    article_id: str | None  # None: nothing in the index answers it
    answer: str | None = None  # the span as the article writes it

    @property
    def answerable(self) -> bool:
        return bool(self.article_id)


@dataclass(frozen=True)
class AnswerOutcome:
    case: AnswerCase
    found: bool
    cited: bool
    answer_in_text: bool
    seconds: float
    features: dict[str, float] = field(default_factory=dict)
    best_article: str = ""  # where the best sentence came from (what answering would quote first)


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def load_answer_cases(path: Path) -> list[AnswerCase]:
    """JSONL rows with `question`, `article_id` (empty or null: unanswerable) and optionally
    `answer_in_text` (else `answer`)."""
    cases = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("file_unreadable", path=path, error=exc.strerror) from exc
    except UnicodeDecodeError as exc:
        raise InputError("file_unreadable", path=path, error=exc) from exc
    for n, line in jsonl_lines(text):
        try:
            row = json.loads(line)
            question = str(row["question"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError("answer_eval_bad_line", path=path, line=n, error=exc) from exc
        answer = row.get("answer_in_text") or row.get("answer")
        cases.append(AnswerCase(question, row.get("article_id") or None, str(answer) if answer else None))
    return cases


def evaluate_answers(qa, cases: Iterable[AnswerCase],
                     progress: Callable[[int], None] | None = None) -> list[AnswerOutcome]:
    outcomes = []
    for case in cases:
        started = time.perf_counter()
        answer = qa.ask(case.question)
        seconds = time.perf_counter() - started
        cited = bool(case.article_id) and any(c.article_id == case.article_id for c in answer.citations)
        in_text = bool(case.answer) and answer.found and _norm(case.answer) in _norm(answer.answer)
        gate = answer.gate
        outcomes.append(AnswerOutcome(case, answer.found, cited, in_text, seconds,
                                      dict(gate.features) if gate else {}, gate.best_article if gate else ""))
        if progress:
            progress(1)
    return outcomes


@dataclass(frozen=True)
class AnswerSummary:
    name: str
    answerable: int
    unanswerable: int
    answered: float  # % of answerable questions answered
    cited: float  # % of answerable questions whose gold article is cited
    answer_in_text: float  # % of answerable questions with the gold string in the reply
    refused: float  # % of unanswerable questions refused
    p50_ms: float
    p95_ms: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(name: str, outcomes: list[AnswerOutcome]) -> AnswerSummary:
    good = [o for o in outcomes if o.case.answerable]
    bad = [o for o in outcomes if not o.case.answerable]
    with_span = [o for o in good if o.case.answer]

    def pct(items, test) -> float:
        return round(100.0 * sum(1 for o in items if test(o)) / len(items), 1) if items else float("nan")

    ms = np.array([o.seconds * 1000 for o in outcomes]) if outcomes else np.zeros(1)
    return AnswerSummary(name, len(good), len(bad), pct(good, lambda o: o.found), pct(good, lambda o: o.cited),
                         pct(with_span, lambda o: o.answer_in_text), pct(bad, lambda o: not o.found),
                         round(float(np.percentile(ms, 50)), 1), round(float(np.percentile(ms, 95)), 1))


def format_summaries(summaries: list[AnswerSummary]) -> str:
    head = ("| question set | answerable | answered | gold cited | answer in text | unanswerable | refused "
            "| ask p50 / p95 ms |\n|---|---|---|---|---|---|---|---|")
    rows = [f"| {s.name} | {s.answerable} | {s.answered}% | {s.cited}% | {s.answer_in_text}% | {s.unanswerable} "
            f"| {s.refused}% | {s.p50_ms:.0f} / {s.p95_ms:.0f} |" for s in summaries]
    return "\n".join([head, *rows]).replace("nan%", "—")
