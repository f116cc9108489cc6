"""Deterministic, varied texts for the model parity test: Vietnamese with every tone mark and
đ/Đ, unaccented Vietnamese, English, numbers and dates, punctuation, emoji, mixed scripts, very
short and long (~400 token) texts."""

from __future__ import annotations

import random
import re
from pathlib import Path

from index.textnorm import fold_diacritics

VOWELS = "a ă â e ê i o ô ơ u ư y".split()
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]
INITIALS = "b c ch d đ g gh gi h k kh l m n ng ngh nh p ph qu r s t th tr v x Đ Ng Tr".split() + [""]
FINALS = ["", "c", "ch", "m", "n", "ng", "nh", "p", "t", "i", "o", "u"]
ENGLISH = [
    "What tasks did the colonel assign to the division?",
    "The conference reviewed fifteen years of technical work.",
    "Heavy rain flooded several provinces in central Vietnam on Monday.",
    "Prices rose 3.5% year on year, the statistics office said.",
    "Who won the football match between Vietnam and Thailand?",
    "A fire broke out at a warehouse near the airport late at night.",
]
EXTRAS = [
    "29/11/2007", "13-5-2022", "19/12/2012", "1.234.567 đồng", "12,5%", "3h30", "2007-2022", "No. 382/NQ-ĐUQSTW",
    "“Mẫu mực, tiêu biểu”", "(VKTBKT)", "!!!", "???", "...", "—", "–", "«quoted»", "#hashtag", "@user", "email@example.com",
    "🙂", "🎉🎉", "🇻🇳", "👍🏽", "❤️", "東京", "北京市", "서울", "Москва", "القاهرة", "ไทย", "Ελλάδα", "ﬁ", "①②③", "½",
    "https://example.org/a?b=c", "C++", "x²", "°C", "€100", "¥", "\t", "  ",
]


def _syllable(rng: random.Random) -> str:
    vowel = rng.choice(VOWELS)
    tone = rng.choice(TONES)
    return rng.choice(INITIALS) + vowel + tone + rng.choice(FINALS)


def _corpus_sentences(corpus: Path) -> list[str]:
    sentences = []
    for path in sorted(corpus.rglob("*.md")):
        body = path.read_text(encoding="utf-8").split("---", 2)[-1]
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", body) if len(s.strip()) > 20]
    return sentences


def varied_texts(corpus: Path, n: int = 520, seed: int = 2022) -> list[str]:
    import unicodedata

    rng = random.Random(seed)
    real = _corpus_sentences(corpus)
    texts: list[str] = []
    # Every vowel with every tone, and đ/Đ, at least once.
    for vowel in VOWELS:
        texts.append(" ".join(unicodedata.normalize("NFC", "đ" + vowel + t + "n") for t in TONES))
        texts.append(" ".join(unicodedata.normalize("NFC", "Đ" + vowel.upper() + t + "NG") for t in TONES))
    while len(texts) < n:
        kind = rng.randrange(9)
        if kind == 0:
            texts.append(rng.choice(real))
        elif kind == 1:
            texts.append(fold_diacritics(rng.choice(real)).lower())
        elif kind == 2:
            texts.append(rng.choice(ENGLISH))
        elif kind == 3:
            texts.append(" ".join(rng.choice(EXTRAS) for _ in range(rng.randint(1, 6))) + " " + rng.choice(real)[:80])
        elif kind == 4:
            texts.append(unicodedata.normalize("NFC", " ".join(_syllable(rng) for _ in range(rng.randint(3, 25)))))
        elif kind == 5:
            texts.append(rng.choice(["a", "Đ", "ừ", "ok", "?", "1", "🙂", "Hà Nội", "x y", "東"]))
        elif kind == 6:
            words = rng.choice(real).split() + rng.choice(ENGLISH).split() + [rng.choice(EXTRAS)]
            rng.shuffle(words)
            texts.append(" ".join(words))
        elif kind == 7:
            # Long texts: about 300-450 tokens.
            texts.append(" ".join(rng.sample(real, k=min(len(real), 9))))
        else:
            texts.append(rng.choice(real).upper() if rng.random() < 0.5 else rng.choice(real) + " " + rng.choice(EXTRAS))
    return texts[:n]
