"""Conversations at scale: multi-turn chats about the seed article (Vietnamese, unaccented, English;
follow-ups that point back with "ông ấy" / "he") and questions naming a period, asked through the
real service against bench/answers.py's indexes (bundled corpus + XQuAD paragraphs + N baomoi articles).

A turn about the seed article passes when it is answered, its first citation is the seed article and
the answer holds the turn's expected string ("answers", as written in the article);
a turn naming a period (no expected article) passes when it is answered and says which period was
applied or what the index holds (a refusal that says so is printed as "refused, period said" and does
not pass). Conversations: bench/data/conversations.jsonl (written for this
project; the follow-up merge was mended on "conference, vi" at 5,085 articles, the rest were not tuned on).

Usage:
  python bench/answers.py build --articles 5000        # once per size (see bench/answers.py)
  python bench/conversations.py --articles 0,5000,35439"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import answers  # noqa: E402 (the bench's own indexes)

CONVERSATIONS = Path(__file__).resolve().parent / "data" / "conversations.jsonl"


def verdict(answer, article_id: str | None, expected: str | None = None) -> str:
    if not answer.found:
        return "refused, period said" if article_id is None and answer.notice else "refused"
    if article_id is None:
        return "ok" if answer.notice else "no notice"
    first = answer.citations[0].article_id if answer.citations else ""
    if first != article_id:
        return f"cites {first[:24]}"
    return "ok" if not expected or expected.lower() in answer.answer.lower() else "cited, not the answer"


def main() -> None:
    args = answers.per_size_args(__doc__)
    chats = [json.loads(line) for line in CONVERSATIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    for qa in answers.services(args):
        print(f"\n{qa.status().articles} articles; gate {qa.settings.answer_gate}")
        print("| conversation | turns: verdict (gate probability) |\n|---|---|")
        passed = total = 0
        for chat in chats:
            cells = []
            for i, turn in enumerate(chat["turns"]):
                answer = qa.ask(turn, history=chat["turns"][:i])
                v = verdict(answer, chat["article_id"], (chat.get("answers") or [None] * (i + 1))[i])
                passed, total = passed + (v == "ok"), total + 1
                cells.append(f"{v} ({answer.gate.probability:.2f})" if answer.gate else v)
            print(f"| {chat['name']} | {' → '.join(cells)} |")
        print(f"turns passed: {passed}/{total}")


if __name__ == "__main__":
    main()
