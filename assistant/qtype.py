"""What a factoid question asks for, and whether a sentence holds something of that kind.

"Bao nhiêu …" / "how many …" / "khi nào …" want a number or a date; "ai …" / "who …" / "ở đâu …" /
"where …" want a name. The sentence that answers holds a number (or a name) the question does not
already hold; a sentence that merely repeats the question's words does not.

Phrases are matched with their diacritics ("lúc nào", not the "lực nào" of "động lực nào"); a question
typed without diacritics is matched against their folded forms, except those that fold onto English
words ("mấy" -> "may")."""

from __future__ import annotations

import re
from enum import Enum

from index.textnorm import fold_diacritics, is_english_word


class Kind(Enum):
    NUMBER = "number"
    NAME = "name"


_PHRASES = {
    Kind.NUMBER: ("bao nhiêu", "năm nào", "ngày nào", "tháng nào", "khi nào", "lúc nào", "bao giờ", "bao lâu",
                  "mấy", "how many", "how much", "how long", "how old", "how far", "how large", "how big",
                  "what year", "which year", "when", "what percentage"),
    Kind.NAME: ("ai", "ở đâu", "nơi nào", "nước nào", "quốc gia nào", "thành phố nào", "tỉnh nào", "who", "whom",
                "whose", "where", "which country", "which city", "which company", "which team", "which person",
                "which state", "which province"),
}
_FOLDS_TO_ENGLISH = {"mấy"}


def _pattern(phrases) -> re.Pattern:
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in phrases) + r")(?!\w)")


_ACCENTED = {kind: _pattern(p) for kind, p in _PHRASES.items()}
_FOLDED = {kind: _pattern(fold_diacritics(x) for x in p if x not in _FOLDS_TO_ENGLISH) for kind, p in _PHRASES.items()}
# "AI" (artificial intelligence), "Ai Cập" (Egypt; not "ai cập nhật", who updated) and "WHO" (the World
# Health Organization) are not the question words "ai" / "who".
_NOT_WHO = re.compile(r"\bAI\b|\bWHO\b|\bA[iI] C(?:ập|ẬP|ap|AP)\b")
# A request for the news on a topic rather than a question ("Tin tức về giá xăng", "cho tôi xem các bài
# viết về bão", "news about floods"): matched at the start of the folded, lowercased message. A bare
# "tin" is no opening ("tin tặc", "tin học", "tin rằng"): only "tin về", "tin mới/nóng (nhất) về".
_NEWS_REQUEST = re.compile(
    r"\s*(?:(?:hay\s+)?(?:cho|giup)\s+(?:toi|minh|em)\s+(?:xin\s+|xem\s+|doc\s+|biet\s+|tim\s+)?|"
    r"toi\s+muon\s+(?:xem|doc|biet)\s+|(?:xem|tim|doc|cap\s+nhat)\s+|(?:show|give|get|find|tell)\s+me\s+|"
    r"any\s+|co\s+)?(?:cac\s+|nhung\s+|the\s+)?"
    r"(?:(?:tin\s+tuc|ban\s+tin|bai\s+bao|bai\s+viet|tin\s+gi)(?:\s+(?:moi|nong))?(?:\s+nhat)?|"
    r"tin(?:\s+(?:moi|nong))?(?:\s+nhat)?(?=\s+ve\b)|(?:latest\s+)?news|headlines|(?:news\s+)?articles|"
    r"(?:news\s+)?stories)(?!\w)\s*(?:ve|lien\s+quan\s+(?:den|toi)|on|about|of|:)?(?!\w)\s*")
# The topic of a request that asks something ("Tin tức về vụ án X: xét xử khi nào?") makes it a question.
# Whole phrases, not bare words: "giá dầu", "ngôi sao", "không quân", "hàng không", "Ai Cập" and "AI" ask
# nothing; "không" asks at the end after "có" / "đã" or before "?", "ai" in lowercase ("có ai bị thương").
_ASKS_ACCENTED = re.compile(r"(?<!\w)(?:gì|nào|mấy|ra sao|vì sao|tại sao|đâu|bao nhiêu|bao giờ|bao lâu|là ai|ai là)"
                            r"(?!\w)|(?<!\w)(?:không|chưa)\s*\?\s*$|(?<!\w)(?:có|đã)(?!\w).*(?<!\w)(?:không|chưa)\W*$")
_ASKS_FOLDED = re.compile(r"(?<!\w)(?:gi|the nao|khi nao|ra sao|vi sao|tai sao|o dau|di dau|bao nhieu|bao gio|bao lau|"
                          r"la ai|ai la)(?!\w)|(?<!\w)(?:khong|chua)\s*\?\s*$")
_ASKS_EN = re.compile(r"(?<!\w)(?:what|which|who|whom|when|where|why|how)(?!\w)")
_LOWERCASE_AI = re.compile(r"(?<!\w)ai(?!\w)(?!\s+c[aậ]p(?!\w))")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def asked_kind(question: str) -> Kind | None:
    """The kind whose phrase comes first ("Who was the coach when …" asks for a name)."""
    text = _NOT_WHO.sub(" ", question).lower()
    patterns = _FOLDED if fold_diacritics(text) == text else _ACCENTED
    found = [(m.start(), kind) for kind, p in patterns.items() if (m := p.search(text))]
    return min(found, key=lambda x: x[0])[1] if found else None


def news_topic(text: str, period: str = "") -> str | None:
    """The topic of a request for news ("Tin tức tuần trước về giá xăng", period "tuần trước" ->
    "giá xăng"), or None for a question or any other message. `period`: the date expression the
    message names, which is a filter, not part of the topic."""
    if period:
        text = re.sub(r"\s+", " ", re.sub(re.escape(period), " ", text, flags=re.IGNORECASE))
    folded = fold_diacritics(text).lower()  # one character for one: positions hold in `text`
    m = _NEWS_REQUEST.match(folded)
    topic = text[m.end():].strip(" .!?:;,-") if m else ""
    return topic if _WORD.search(topic) and not _asks(topic) else None


def _asks(topic: str) -> bool:
    lowered = _NOT_WHO.sub(" ", topic).lower()  # "news about WHO" asks nothing
    if _ASKS_EN.search(lowered) or _LOWERCASE_AI.search(topic):
        return True
    return bool((_ASKS_FOLDED if fold_diacritics(lowered) == lowered else _ASKS_ACCENTED).search(lowered))


def named_words(text: str) -> list[str]:
    """Numbers, and capitalized words past the first of each sentence (whose first word is capitalized
    anyway): a follow-up's query joins several questions."""
    out = []
    for sentence in _SENTENCE_END.split(text):
        words = _WORD.findall(sentence)
        out += [w for i, w in enumerate(words) if w[0].isdigit() or (i and w[0].isupper())]
    return out


def anchor_runs(text: str) -> list[list[str]]:
    """The words of a question in another language that Vietnamese text can hold as written — names,
    numbers, words with Vietnamese diacritics — in runs of words adjacent in the question ("What tasks
    did Colonel Lương Thanh Bình assign in 2022?" -> [Colonel, Lương, Thanh, Bình], [2022]): a pair of
    words from two runs is no phrase of it. A sentence's first word is a name unless it is a common
    English word ("Luong Thanh Binh: what …", not "What …")."""
    runs: list[list[str]] = []
    for sentence in _SENTENCE_END.split(text):
        run: list[str] = []
        for i, w in enumerate(_WORD.findall(sentence)):
            name = w[0].isupper() and (i > 0 or not is_english_word(w))
            if name or fold_diacritics(w) != w or any(ch.isdigit() for ch in w):
                run.append(w)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
    return runs


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
