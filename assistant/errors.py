"""Domain errors. Every error carries an English and a Vietnamese message so the UI and the
CLI can show it in the user's language without a stack trace."""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class: `str(err)` is English; `err.message("vi")` gives Vietnamese."""

    def __init__(self, en: str, vi: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.vi = vi or en

    def message(self, lang: str = "en") -> str:
        return self.vi if lang == "vi" else self.en


class ModelError(NewsQAError):
    """The embedding model cannot be found, built or loaded."""


class IndexStateError(NewsQAError):
    """The index is missing, corrupt or was built with something incompatible."""


class IndexMissingError(IndexStateError):
    pass


class IndexMismatchError(IndexStateError):
    """The index was built with another model, dimension or format."""


class IndexFormatError(IndexMismatchError):
    """The index was written by an older version of this program (its format changed)."""


class CorpusError(NewsQAError):
    """An article file cannot be read or has no usable text."""


class InputError(NewsQAError):
    """A question or parameter from the user is unusable."""


class AccessError(NewsQAError):
    """An admin action without the right password."""
