"""Errors raised by the index layer, and the hook through which every user-facing text is rendered.

The index layer says *what* happened, never *how* to say it: an error (or a report) carries a catalog
key and its parameters, and the texts in Vietnamese and English live in the assistant's catalog
(assistant/messages.json). This module may not import `assistant`, so the catalog is plugged in
from above: importing `assistant.messages` (which `assistant.errors` does) calls `set_renderer`.
Before that, a text renders as its key and parameters, which is enough to debug but not for users.

`assistant.errors` re-exports these (same classes) and adds the errors of the upper layer."""

from __future__ import annotations

from collections.abc import Callable

# renderer(key, lang, **params) -> text in that language.
Renderer = Callable[..., str]


def _unrendered(key: str, lang: str = "en", /, **params: object) -> str:
    """The renderer until the catalog is installed: the key and its parameters, untranslated."""
    return key + (f" {params!r}" if params else "")


_renderer: Renderer = _unrendered


def set_renderer(renderer: Renderer) -> None:
    """Install the function that turns (key, lang, **params) into text (assistant/messages.py does)."""
    global _renderer
    _renderer = renderer


def render(key: str, lang: str = "en", /, **params: object) -> str:
    return _renderer(key, lang, **params)


class _Keyed:
    """A catalog key with its parameters, rendered on demand."""

    __slots__ = ()
    key: str
    params: dict

    def message(self, lang: str = "en") -> str:
        return render(self.key, lang, **self.params)

    def __str__(self) -> str:
        return self.message("en")


class Msg(_Keyed):
    """A text not rendered yet: a catalog key and its parameters. As a parameter of another text it is
    rendered in that text's language (a report's summary, the reason inside an error)."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: object) -> None:
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"Msg({self.key!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.key, self.params) == (other.key, other.params)

    __hash__ = None  # type: ignore[assignment]


def _rebuild(cls: type, key: str, params: dict) -> NewsQAError:
    return cls(key, **params)


class NewsQAError(_Keyed, Exception):
    """Base class: raised as `SomeError(key, **params)`; `err.message("vi")` renders it in Vietnamese
    through the catalog and `str(err)` is the English text."""

    def __init__(self, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __reduce__(self):
        return _rebuild, (type(self), self.key, self.params)


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
