"""The one catalog of user-facing texts, in Vietnamese and English: UI labels, notices, report lines
and error messages all live in assistant/messages.json, keyed by name, and are rendered with
`t(key, lang, **params)` (str.format placeholders; an unknown language gets English; an unknown key
is a programming error and raises KeyError).

Errors carry a key and parameters (`InputError("library_no_title")`); the index layer, which may not
import this package, renders its errors and reports through the hook in `index.errors`, which this
module installs on import (`assistant.errors` imports it, so every entry point has it)."""

from __future__ import annotations

import json
from pathlib import Path

import index.errors
from index.errors import Msg, NewsQAError

LANGS = ("vi", "en")
CATALOG_FILE = Path(__file__).with_name("messages.json")
CATALOG: dict[str, dict[str, str]] = json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


def _param(value: object, lang: str) -> object:
    """A parameter that is itself a text (a Msg, an error) is rendered in the same language."""
    return value.message(lang) if isinstance(value, (Msg, NewsQAError)) else value


def t(key: str, lang: str = "en", /, **params: object) -> str:
    table = CATALOG[key]
    text = table.get(lang) or table["en"]
    return text.format(**{name: _param(value, lang) for name, value in params.items()})

index.errors.set_renderer(t)
