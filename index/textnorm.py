"""Text normalization shared by ingestion, embedding and lexical search.

News text arrives in NFC or NFD form, with odd whitespace and control characters. Everything we
store, embed or match goes through `normalize_text` first so the same sentence is the same
string no matter which editor produced it."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 controls, zero-width marks, Unicode line separators and lone surrogates (a pasted text can hold one;
# UTF-8 cannot encode it, so it would fail wherever the text is stored or hashed).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_WORD = re.compile(r"\w+", re.UNICODE)

# Letters that only Vietnamese (among the languages our users write) uses.
_VI_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")
# Tone-marked vowels are composed from these combining marks.
_VI_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
# Frequent syllables of unaccented Vietnamese questions that are not English words.
_VI_ASCII = set(
    "cua nhung gi nao khong duoc nhu the nay voi cac mot trong ngay nam thang ai dau sao bao "
    "nhieu la va co da se dang cho ve tai tu den hay vi nguoi viec yeu cau nhiem vu thuc hien "
    "cong tac duoc chua roi toi ban ong ba anh chi em".split()
)
_EN_WORDS = set(
    "the a an of to in on for and or is are was were did does do what who whom which when where "
    "why how tasks task assign assigned with by from about this that these those it he she they "
    "his her their at as be been has have had not".split()
)


def normalize_text(text: str) -> str:
    """NFC, control characters removed, runs of spaces folded; line breaks kept."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def fold_diacritics(text: str) -> str:
    """'Đại tá Lương' -> 'Dai ta Luong': for matching unaccented input."""
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped.replace("đ", "d").replace("Đ", "D"))


def words(text: str) -> list[str]:
    """Lowercased syllable/word tokens of normalized text."""
    return _WORD.findall(normalize_text(text).lower())


def _has_vi_marks(token: str) -> bool:
    decomposed = unicodedata.normalize("NFD", token)
    return any(ch in _VI_LETTERS for ch in token) or any(ch in _VI_TONES for ch in decomposed)


def is_english_word(token: str) -> bool:
    """One of the common English words language detection counts ("what", "the", "did" …)."""
    return token.lower() in _EN_WORDS


def detect_language(text: str, default: str = "other") -> str:
    """'vi', 'en' or `default` (other scripts, or no evidence) — enough to answer in the
    user's language. Capitalized words are names ("Lương Thanh Bình" in an English question)
    and count for neither side."""
    norm = normalize_text(text)
    letters = [ch for ch in norm if ch.isalpha()]
    if not letters:
        return default
    if sum(1 for ch in letters if ch.isascii() or _has_vi_marks(ch)) / len(letters) < 0.5:
        return default
    toks = _WORD.findall(norm)
    vi = en = 0
    for i, tok in enumerate(toks):
        low = tok.lower()
        if low in _EN_WORDS:
            en += 1
        elif low in _VI_ASCII or (_has_vi_marks(tok) and (tok == low or i == 0)):
            vi += 1
    if vi == en == 0:
        return "vi" if any(_has_vi_marks(t) for t in toks) else default
    return "vi" if vi >= en else "en"
