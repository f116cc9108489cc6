"""Follow-up questions without an LLM: decide whether a message depends on the conversation and,
if so, build the retrieval query from it and the previous question.

A message depends on what came before when it refers back ("ông ấy", "he", "đơn vị đó", "what
about …") or is a short question naming nothing of its own ("Ai trao giấy khen?"). A message that
names its own subject (a capitalized name after the first word, or a long question) starts a new
topic, and the old context must not leak into it."""

from __future__ import annotations

import re

from index.textnorm import fold_diacritics

# Folded (unaccented) forms, so "ong ay" and "ông ấy" both count.
_REFERS_BACK_VI = (
    "ong ay", "ba ay", "anh ay", "chi ay", "co ay", "ho", "nguoi nay", "nguoi do", "don vi do", "don vi nay",
    "viec do", "viec nay", "dieu do", "su viec", "vu nay", "vu do", "con", "the con", "vay", "no", "ong", "ba",
    "dong chi", "ngoai ra", "them",
)
_REFERS_BACK_EN = (
    "he", "she", "they", "it", "his", "her", "their", "them", "him", "that", "this", "those", "these",
    "what about", "and", "also", "the unit", "the division",
)
SHORT_WORDS = 7
LONG_WORDS = 16


def _has_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text) for p in phrases)


def names_own_subject(message: str) -> bool:
    words = re.findall(r"\w+", message)
    return any(w[0].isupper() for w in words[1:]) or len(words) >= LONG_WORDS


def depends_on_context(message: str) -> bool:
    folded = fold_diacritics(message).lower()
    if _has_phrase(folded, _REFERS_BACK_VI) or _has_phrase(folded, _REFERS_BACK_EN):
        return not names_own_subject(message) or len(re.findall(r"\w+", message)) < SHORT_WORDS
    return len(re.findall(r"\w+", message)) < SHORT_WORDS and not names_own_subject(message)


def retrieval_query(message: str, previous_questions: list[str]) -> str:
    """The query to retrieve with: the message alone, or the previous question plus the message."""
    previous = [q for q in previous_questions if q and q.strip()]
    if not previous or not depends_on_context(message):
        return message
    return f"{previous[-1].strip()} {message.strip()}"
