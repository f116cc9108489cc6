"""Splitting articles into passages that stand on their own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from index.corpus import Article
from index.textnorm import fold_diacritics

# Paragraph, line, sentence, clause, word: the order in which Vietnamese prose may be cut.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "… ", "; ", ": ", ", ", " ", ""]
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+(?=[\"“‘(]?[A-ZÀ-Ỹ0-9Đ])|\n+")
# A period after these is an abbreviation before a name, not a sentence's end ("TP. Hà Nội", "PGS. Lê
# An", "Q. Hoàn Kiếm", "St. Johns"): split there, an answer quoted "… trên địa bàn TP." and cited the
# rest as another sentence.
_ABBREVIATIONS = frozenset(
    "TP Tp TX TT Q P H ThS TS PGS GS BS KS NSƯT NSND Mr Mrs Ms Dr St Prof Gen Col Lt Sgt Capt Mt".split())
_LAST_WORD = re.compile(r"(?:^|(?<=[\s(\"“]))([^\s(\"“]+)\.$")
MAX_SENTENCE_CHARS = 1000  # longer spans are cut (see _bounded)


@dataclass(frozen=True)
class Chunk:
    article_id: str
    position: int
    start: int
    end: int
    text: str
    title: str = ""

    @property
    def embed_text(self) -> str:
        """What the model reads. Made when asked rather than stored: a stored copy of every passage
        was ~0.4 GB of a 35k-article build."""
        return embed_text_for(self.title, self.text)


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=SEPARATORS,
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def embed_text_for(title: str, passage: str) -> str:
    """The title travels with every passage so a chunk is understandable on its own."""
    return f"{title}\n{passage}" if title else passage


def chunk_article(article: Article, splitter: RecursiveCharacterTextSplitter) -> list[Chunk]:
    docs = splitter.create_documents([article.text])
    chunks = []
    for pos, doc in enumerate(docs):
        start = int(doc.metadata.get("start_index", article.text.find(doc.page_content)))
        text = doc.page_content
        chunks.append(Chunk(article.id, pos, start, start + len(text), text, article.title))
    return chunks


def _western(word: str) -> bool:
    """A capitalized word of a Western name: "George", "Theo" — not "Văn" or "Van" of "Nguyễn Văn A.",
    the initial that stands for an anonymized Vietnamese name at a sentence's end."""
    return word[:1].isupper() and fold_diacritics(word) == word and word not in ("Van", "Thi")


def _abbreviated(text: str, period: int) -> bool:
    """Whether the period ending at `period` closes an abbreviation or an initial inside a Western name:
    "George W. Bush", "doanh nhân M. Theo Kearney" (after a name, or before two capitalized words), but not
    "độ C. Tuy vậy" or "ông Nguyễn Văn A. Bộ Công an cho biết"."""
    before = text[max(0, period - 40) : period]
    word = _LAST_WORD.search(before)
    if not word:
        return False
    last = word.group(1)
    if last.rsplit(".", 1)[-1] in _ABBREVIATIONS:  # "PGS.TS." too
        return True
    if len(last) != 1 or not last.isupper():
        return False
    previous = before[: word.start(1)].split()
    after = text[period : period + 80].split()[:2]
    return (bool(previous) and _western(previous[-1])) or (len(after) == 2 and all(map(_western, after)))


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, none longer than MAX_SENTENCE_CHARS."""
    spans = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if not m.group().startswith("\n") and _abbreviated(text, m.start()):
            continue
        if text[start : m.start()].strip():
            spans += _bounded(text, start, m.start())
        start = m.end()
    if text[start:].strip():
        spans += _bounded(text, start, len(text.rstrip()))
    return spans


def _bounded(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A span cut at spaces (after a comma where there is one) into pieces of at most MAX_SENTENCE_CHARS: an
    answer quotes whole sentences, and a text without punctuation (a pasted table, a hostile article) would
    be one sentence of any length. 1 news sentence in 2,700 is over 1,000 characters (baomoi sample)."""
    spans = []
    while end - start > MAX_SENTENCE_CHARS:
        window = text[start : start + MAX_SENTENCE_CHARS]
        comma = window.rfind(", ")
        cut = comma + 1 if comma > MAX_SENTENCE_CHARS // 2 else window.rfind(" ")
        cut = cut if cut > 0 else MAX_SENTENCE_CHARS
        spans.append((start, start + cut))
        start += cut
        while start < end and text[start].isspace():
            start += 1
    return spans + ([(start, end)] if text[start:end].strip() else [])
