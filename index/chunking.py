"""Splitting articles into passages that stand on their own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from index.corpus import Article

# Paragraph, line, sentence, clause, word: the order in which Vietnamese prose may be cut.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "… ", "; ", ": ", ", ", " ", ""]
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]*\s+(?=[\"“‘(]?[A-ZÀ-Ỹ0-9Đ])|\n+")


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


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`."""
    spans = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if text[start : m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans
