"""What a factoid question asks for, and whether a sentence holds something of that kind.

"Bao nhiêu …" / "how many …" / "khi nào …" want a number or a date; "ai …" / "who …" / "ở đâu …" /
"where …" want a name. The sentence that answers holds a number (or a name) the question does not
already hold; a sentence that merely repeats the question's words does not. Matched on folded,
lower-cased text so unaccented questions read the same."""

from __future__ import annotations

import re
from enum import Enum

from index.textnorm import fold_diacritics


class Kind(Enum):
    NUMBER = "number"
    NAME = "name"


_NUMBER = re.compile(r"\b(bao nhieu|nam nao|ngay nao|thang nao|khi nao|luc nao|bao gio|bao lau|nam bao nhieu"
                     r"|how (many|much|long|old|far|large|big)|what year|which year|when|what percentage)\b")
_NAME = re.compile(r"\b(ai|o dau|noi nao|nuoc nao|quoc gia nao|thanh pho nao|tinh nao|who|whom|whose|where"
                   r"|which (country|city|company|team|person|state|province))\b")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+")


def asked_kind(question: str) -> Kind | None:
    lowered = question.lower()
    folded = fold_diacritics(lowered)
    # "mấy" (how many) folds to "may", which is also English: only the accented form counts.
    if _NUMBER.search(folded) or re.search(r"\bmấy\b", lowered):
        return Kind.NUMBER
    if _NAME.search(folded):
        return Kind.NAME
    return None


def named_words(text: str) -> list[str]:
    """Capitalized words past the first (a sentence's first word is capitalized anyway) and numbers."""
    words = _WORD.findall(text)
    return [w for i, w in enumerate(words) if w[0].isdigit() or (i and w[0].isupper())]


def _names(text: str) -> set[str]:
    return {fold_diacritics(w).lower() for w in named_words(text) if not w[0].isdigit()}


def holds_kind(kind: Kind | None, question: str, sentence: str) -> bool:
    """Whether `sentence` holds a new thing of the asked kind: a number, or a name, the question lacks."""
    if kind is Kind.NUMBER:
        return bool(set(_DIGITS.findall(sentence)) - set(_DIGITS.findall(question)))
    if kind is Kind.NAME:
        known = {fold_diacritics(w).lower() for w in _WORD.findall(question)}
        return bool(_names(sentence) - known)
    return False
