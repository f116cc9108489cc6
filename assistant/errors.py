"""Domain errors. Every error carries a catalog key and its parameters (`InputError("library_no_title")`),
so the UI and the CLI can show it in the user's language without a stack trace: `err.message(lang)`
renders it through assistant/messages.json, `str(err)` is the English text.

The base class and the index-side errors live in `index.errors` (the lower layer may not import this
package); they are re-exported here, so `assistant.errors.X is index.errors.X`."""

from __future__ import annotations

import assistant.messages  # noqa: F401 - installs the catalog as the renderer of every error
from index.errors import (
    CorpusError,
    IndexFormatError,
    IndexMismatchError,
    IndexMissingError,
    IndexStateError,
    ModelError,
    Msg,
    NewsQAError,
)

__all__ = [
    "AccessError", "CorpusError", "IndexFormatError", "IndexMismatchError", "IndexMissingError",
    "IndexStateError", "InputError", "ModelError", "Msg", "NewsQAError",
]


class InputError(NewsQAError):
    """A question or parameter from the user is unusable."""


class AccessError(NewsQAError):
    """An admin action without the right password."""
