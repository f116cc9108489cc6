"""What a question asks for: one typed record that every entry point (CLI flags, JSON API body,
web chat, gradio_client, Python) builds and the service takes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from assistant.retrieval import SearchFilters


@dataclass(frozen=True)
class AskRequest:
    question: str
    k: int | None = None  # passages to retrieve; None: settings.top_k (always clamped to 1..MAX_K)
    ui_lang: str | None = None  # language of messages when the question's own is unclear
    mode: str | None = None  # "extractive" or "llm"; None: settings.answer_mode
    filters: SearchFilters = field(default_factory=SearchFilters)
    history: tuple[str, ...] = ()  # earlier questions of the conversation, oldest first
    now: dt.date | None = None  # "today" for periods named in the question ("tuần trước")

    def __post_init__(self) -> None:
        # Callers hand in lists and None; the record keeps hashable, always-present values.
        object.__setattr__(self, "question", self.question or "")
        object.__setattr__(self, "history", tuple(h for h in self.history or () if isinstance(h, str)))
        object.__setattr__(self, "filters", self.filters or SearchFilters())
        object.__setattr__(self, "mode", self.mode or None)

    @classmethod
    def from_fields(cls, question: str, *, sources=(), date_from: str | None = None, date_to: str | None = None,
                    prefer_recent: bool = False, **options) -> AskRequest:
        """From what a user typed (CLI flags, API body, UI fields): dates in any accepted format,
        empty fields meaning no filter; a date it cannot read raises CorpusError naming the formats."""
        filters = SearchFilters.parse(sources or (), date_from or None, date_to or None, prefer_recent)
        return cls(question, filters=filters, **options)
