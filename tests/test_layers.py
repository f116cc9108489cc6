"""The layers point one way: `assistant` (service, retrieval, UI) builds on `index`, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

INDEX = Path(__file__).resolve().parent.parent / "index"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_index_never_imports_assistant():
    files = sorted(INDEX.glob("*.py"))
    assert files, f"no modules found in {INDEX}"
    offenders = [
        f"{path.name}:{line} imports {module}"
        for path in files
        for line, module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if module == "assistant" or module.startswith("assistant.")
    ]
    assert not offenders, "index/ must not depend on assistant/:\n" + "\n".join(offenders)


def test_assistant_errors_are_the_index_errors():
    import assistant.errors
    import index.errors

    for name in ("NewsQAError", "ModelError", "IndexStateError", "IndexMissingError", "IndexMismatchError",
                 "IndexFormatError", "CorpusError"):
        assert getattr(assistant.errors, name) is getattr(index.errors, name)
    assert issubclass(assistant.errors.InputError, index.errors.NewsQAError)
    assert issubclass(assistant.errors.AccessError, index.errors.NewsQAError)


def test_index_config_carries_the_settings_it_names(tmp_path):
    from dataclasses import fields

    from assistant.settings import DEFAULT_MODEL, Settings
    from index.config import DEFAULT_MODEL as INDEX_DEFAULT_MODEL

    settings = Settings(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "corpus", chunk_size=321, batch_size=7,
                        backend="milvus", milvus_uri="http://h:1", milvus_prefix="p2", ray="auto", ray_actors=3)
    config = settings.index_config()
    # The Milvus connection travels as one record built from the three NEWSQA_MILVUS_* settings.
    assert config.milvus == settings.milvus_config() and config.milvus.prefix == "p2"
    named = [f.name for f in fields(config) if f.name != "milvus"]
    assert {n: getattr(config, n) for n in named} == {n: getattr(settings, n) for n in named}
    assert DEFAULT_MODEL is INDEX_DEFAULT_MODEL and config.model == DEFAULT_MODEL
