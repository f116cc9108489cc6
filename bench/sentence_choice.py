"""How far the extractive sentence choice can go with the evidence it has (issue 17: "answer string in the
answer >= 88%" at 5k / 35k articles). For every answerable XQuAD question of a split, the answerer's
ranked sentences (the model's shortlist, as `ask` scores them) are read with every question answered, so
the gate plays no part:

- span in the best sentence's quote, in any of the best 2, any of the best 3 (what quoting 1 / 2 / 3
  sentences could reach);
- the same for a sentence ranker *learned* on these sentences (logistic regression, 5-fold
  cross-validation grouped by gold paragraph, so no paragraph is scored by a model fit on it) over what
  a sentence offers beyond the shipped score: cosine, word overlap, question kind held, passage rank,
  syllable-pair cover, a new number, share of capitalized words, length, same article as the best,
  cosine below the best, English interactions, position in the ranking. If it cannot beat the shipped
  score, the choice is saturated with this evidence and a better one needs a reader model.

Usage: python bench/sentence_choice.py --articles 0,5000,35439 --split tune   (~4 min per size on 2 cores;
the indexes of bench/answers.py, built with its `build` command)"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import answers  # noqa: E402 (the bench's own indexes and question sets)

from assistant.answer_eval import _norm  # noqa: E402
from assistant.answering import ScoredSentence  # noqa: E402
from assistant.request import AskRequest  # noqa: E402
from index.textnorm import fold_diacritics  # noqa: E402

TOP = 8  # ranked sentences read per question
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Question:
    size: int
    form: str
    case: answers.AnswerCase  # the question, its gold article and answer string
    ranked: list[ScoredSentence]  # the answerer's, best first


def collect(args, size: int) -> list[Question]:
    one = argparse.Namespace(**{**vars(args), "articles": str(size)})
    qa = answers.NewsQA(answers.settings_for(one))
    out = []
    for form in answers.FORMS:
        for case in answers.cases(one, args.split)[f"xquad {form}"]:
            prepared = qa._prepare(AskRequest(case.question))
            if not hasattr(prepared, "answerer"):  # refused before retrieval (never for these questions)
                continue
            q, answerer = prepared.question, prepared.answerer
            ranked = answerer.score(q.text, prepared.question_vector, answerer.candidates(prepared.hits,
                                    prepared.articles), lang=q.lang)
            out.append(Question(size, form, case, ranked[:TOP]))
        print(f"  {size} {form}: {len(out)} questions read", file=sys.stderr, flush=True)
    return out


def words(text: str, fold: bool) -> list[str]:
    found = _WORD.findall(text.lower())
    return [fold_diacritics(w) for w in found] if fold else found


def features(q: Question, s: ScoredSentence, position: int) -> list[float]:
    fold = q.form == "vi_noaccent"
    text, article = s.candidate.text, s.candidate.article_id
    qw, sw, ww = words(q.case.question, fold), words(text, fold), words(s.quoted[1], fold)
    pairs = set(zip(qw, qw[1:]))
    pair_cover = len(pairs & set(zip(ww, ww[1:]))) / max(1, len(pairs))
    new_number = float(bool({w for w in sw if any(c.isdigit() for c in w)} - set(qw)))
    tokens = text.split()
    capitals = sum(1 for w in tokens if w[:1].isupper()) / max(1, len(tokens))
    best = q.ranked[0]
    english = float(q.form == "en")
    return [s.dense, s.overlap, float(s.kind_match), float(s.candidate.hit_index), pair_cover, new_number, capitals,
            float(np.log1p(len(sw))), float(article == best.candidate.article_id), s.dense - best.dense, english,
            english * s.dense, english * s.overlap, float(position)]


def holds(q: Question, s: ScoredSentence) -> bool:
    return _norm(q.case.answer) in _norm(s.quoted[1])


def learned_choice(questions: list[Question]) -> dict[int, int]:
    """Question position -> the position of the sentence a cross-validated ranker puts first."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    rows = [(qi, si) for qi, q in enumerate(questions) for si in range(len(q.ranked))]
    x = np.array([features(questions[qi], questions[qi].ranked[si], si) for qi, si in rows])
    y = np.array([holds(questions[qi], questions[qi].ranked[si]) for qi, si in rows], dtype=float)
    groups = np.array([questions[qi].case.article_id for qi, _ in rows])
    p = np.zeros(len(rows))
    for train, test in GroupKFold(5).split(x, y, groups):
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        model = LogisticRegression(C=1.0, max_iter=2000).fit((x[train] - mean) / scale, y[train])
        p[test] = model.predict_proba((x[test] - mean) / scale)[:, 1]
    best: dict[int, tuple[float, int]] = {}
    for (qi, si), prob in zip(rows, p):
        if qi not in best or prob > best[qi][0]:
            best[qi] = (prob, si)
    return {qi: si for qi, (_, si) in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", default="0,5000,35439", help="baomoi articles in the index, a comma list")
    ap.add_argument("--split", choices=["tune", "held"], default="tune")
    ap.add_argument("--data", type=Path, default=answers.SHARED / "baomoi-35k.jsonl.gz")
    ap.add_argument("--qa", type=Path, default=answers.SHARED / "qa")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    questions = [q for size in answers.sizes(args) for q in collect(args, size) if q.ranked]
    learned = learned_choice(questions)
    print(f"split {args.split}; every answerable question answered; answer string in the quote of the ranked "
          f"sentences (of the {TOP} best); learned ranker: 5-fold CV grouped by paragraph, all sizes and forms pooled")
    print("| baomoi articles added | form | questions | best 1 | any of best 2 | any of best 3 | learned ranker's best 1 |")
    print("|---|---|---|---|---|---|---|")
    for size in answers.sizes(args):
        for form in answers.FORMS:
            members = [(qi, q) for qi, q in enumerate(questions) if q.size == size and q.form == form]

            def share(test, members=members) -> str:
                return f"{100 * sum(1 for qi, q in members if test(qi, q)) / max(1, len(members)):.1f}"

            print(f"| {size} | {form} | {len(members)} | {share(lambda qi, q: holds(q, q.ranked[0]))} "
                  f"| {share(lambda qi, q: any(holds(q, s) for s in q.ranked[:2]))} "
                  f"| {share(lambda qi, q: any(holds(q, s) for s in q.ranked[:3]))} "
                  f"| {share(lambda qi, q: holds(q, q.ranked[learned[qi]]))} |")


if __name__ == "__main__":
    main()
