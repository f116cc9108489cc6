"""Follow-up questions without an LLM: decide whether a message depends on the conversation and,
if so, build the retrieval query from it and the conversation's subject.

A message depends on what came before when it refers back ("ông ấy", "he", "đơn vị đó", "what
about …") or is a short question naming nothing of its own ("Ai trao giấy khen?"). A message that
names its own subject (a capitalized name after the first word, or a long question) starts a new
topic, and the old context must not leak into it.

A follow-up of a follow-up ("Ai phát biểu?" then "Ông ấy yêu cầu gì?") names nothing itself, and
neither does the question before it: the context walks back to the most recent question that names
its own subject (the conversation's subject) and keeps the follow-ups since, at most
MAX_CONTEXT_QUESTIONS questions and MAX_QUERY_CHARS characters in all."""

from __future__ import annotations

import re

from index.textnorm import detect_language, fold_diacritics

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
# Bounds of a follow-up's retrieval query: earlier questions it carries, and its whole length.
MAX_CONTEXT_QUESTIONS = 3
MAX_QUERY_CHARS = 2000


def _has_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", text) for p in phrases)


def names_own_subject(message: str) -> bool:
    words = re.findall(r"\w+", message)
    return any(w[0].isupper() for w in words[1:]) or len(words) >= LONG_WORDS


# Pointing at a person or unit named earlier: narrower than the phrases above, which also catch "it",
# "this" or "còn" in questions that stand alone. Matched with diacritics when the message has them ("ảnh
# ấy", "đơn vị đo" are not "anh ấy", "đơn vị đó"); English pronouns count in English only ("hệ", "hè"
# fold to "he", and unaccented Vietnamese writes "he thong").
_POINTS_AT_VI = ("ông ấy", "bà ấy", "anh ấy", "chị ấy", "cô ấy", "người này", "người đó", "đơn vị đó", "đơn vị này")
_POINTS_AT_VI_FOLDED = tuple(fold_diacritics(p) for p in _POINTS_AT_VI)
_POINTS_AT_EN = ("he", "she", "him", "his", "her")


def _mentions_earlier(text: str, english: bool) -> bool:
    """Holds a phrase that refers back. English phrases in English only: folded, "hệ", "ít" and "thật"
    would read as "he", "it" and "that"."""
    return _has_phrase(fold_diacritics(text).lower(), _REFERS_BACK_VI) or (
        english and _has_phrase(text.lower(), _REFERS_BACK_EN))


def points_back(text: str, english: bool) -> bool:
    """Mentions something said earlier without naming it ("vụ đó", "việc này", "him"): the topic of a
    request for news that must be read with the conversation."""
    return _mentions_earlier(text, english) and not names_own_subject(text)


def _english(message: str) -> bool:
    return detect_language(message) == "en"


def refers_back(message: str) -> bool:
    """Points at someone it does not name ("he", "ông ấy", "đơn vị đó")."""
    lowered = message.lower()
    if _english(message):
        points = _has_phrase(lowered, _POINTS_AT_EN)
    else:
        folded = fold_diacritics(lowered)
        points = _has_phrase(lowered, _POINTS_AT_VI) if folded != lowered else _has_phrase(folded, _POINTS_AT_VI_FOLDED)
    return points and not names_own_subject(message)


def depends_on_context(message: str) -> bool:
    if _mentions_earlier(message, _english(message)):
        return not names_own_subject(message) or len(re.findall(r"\w+", message)) < SHORT_WORDS
    return len(re.findall(r"\w+", message)) < SHORT_WORDS and not names_own_subject(message)


def conversation_context(previous_questions: list[str], limit: int = MAX_CONTEXT_QUESTIONS) -> list[str]:
    """The earlier questions a follow-up is read with, oldest first: walking back from the last
    one to the most recent that names its own subject, at most `limit` questions."""
    context: list[str] = []
    for question in reversed([q.strip() for q in previous_questions if q and q.strip()]):
        context.insert(0, question)
        if names_own_subject(question) or len(context) >= limit:
            break
    return context


def _bounded(context: list[str], message: str, limit: int) -> list[str]:
    """`context` cut to fit beside `message` in `limit` characters (a space between questions).
    The follow-ups between the subject and the latest turn go first; then the subject and the
    latest turn are shortened alike."""
    room = limit - len(message)
    context = list(context)
    while len(context) > 2 and sum(len(q) + 1 for q in context) > room:
        del context[1]
    if sum(len(q) + 1 for q in context) <= room:
        return context
    share = room // len(context) - 1 if context else 0
    return [q[:share].rstrip() for q in context] if share > 0 else []


def retrieval_query(message: str, previous_questions: list[str], limit: int = MAX_QUERY_CHARS) -> str:
    """The query to retrieve with: the message alone, or the conversation's context (its subject
    and the follow-ups since) followed by the message, at most `limit` characters."""
    message = message.strip()
    if not depends_on_context(message):
        return message
    context = _bounded(conversation_context(previous_questions), message, limit)
    return " ".join([*context, message])
