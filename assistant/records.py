"""Typed results shared by the CLI, the Python API, the web app and the tests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Passage:
    """A passage of an article with its provenance and score."""

    article_id: str
    title: str
    date: str | None
    url: str
    source: str
    text: str
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hit(Passage):
    """One retrieved passage, located in its article."""

    chunk_id: int
    position: int
    start: int
    end: int
    also: tuple[str, ...] = ()  # sources of duplicate copies collapsed into this result

    def cite(self, n: int, text: str | None = None, score: float | None = None) -> Citation:
        """This passage as citation [n], optionally with a wider text or its own score."""
        return Citation(n=n, article_id=self.article_id, title=self.title, date=self.date, url=self.url,
                        source=self.source, text=self.text if text is None else text,
                        score=self.score if score is None else score, also=self.also)


@dataclass(frozen=True)
class Citation(Passage):
    """What a marker [n] in an answer points to."""

    n: int
    also: tuple[str, ...] = ()  # sources that published a copy of the article


@dataclass
class Answer:
    question: str
    answer: str
    language: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    found: bool = True
    notice: str = ""
    mode: str = "extractive"
    seconds: float = 0.0
    gate: object = None  # answering.Gate of an extractive answer: the decision's features and verdict

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "language": self.language,
            "found": self.found,
            "notice": self.notice,
            "mode": self.mode,
            "citations": [c.as_dict() for c in self.citations],
            "hits": [
                {"article_id": h.article_id, "title": h.title, "text": h.text, "score": h.score, "chunk_id": h.chunk_id}
                for h in self.hits
            ],
        }
