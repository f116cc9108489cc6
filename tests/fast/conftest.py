"""Fixtures of the fast tier: the fake embedder, a small corpus and indexes built from it.

Nothing here loads the real model. `load_embedder` is replaced for every fast test (the CLI and
`NewsQA(settings)` without an embedder call it), and the parent conftest's `embedder` fixture is
shadowed so that a fast test asking for the real model fails at once instead of loading it."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.service import NewsQA
from assistant.settings import Settings
from tests.fast.fakes import FAKE_MODEL, FakeEmbedder, fake_load_embedder, write_corpus

# Passages of about two sentences, so that the long article spans several of them.
CHUNK_SIZE = 300
CHUNK_OVERLAP = 40


@pytest.fixture(autouse=True)
def no_real_model(monkeypatch):
    """Where the package loads its model: the service's import and the module's own name (the CLI
    imports it inside `model info` and `eval`)."""
    monkeypatch.setattr("assistant.service.load_embedder", fake_load_embedder)
    monkeypatch.setattr("index.embedder.load_embedder", fake_load_embedder)


@pytest.fixture(scope="session")
def embedder():
    pytest.fail("fast tests use `fake_embedder`; the real model belongs to the full suite")


@pytest.fixture(scope="session")
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def fast_settings(root: Path, **changes) -> Settings:
    """Settings of a corpus and an index under `root` (the environment is not read). The fixed answer
    rule: the fitted gate was fit on the real model's scores, which the fake embedder does not give."""
    changes = {"answer_gate": "rule", **changes}
    return Settings(model=FAKE_MODEL, corpus_dir=root / "corpus", index_dir=root / "index",
                    model_cache_dir=root / "models", chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP,
                    **changes)


@pytest.fixture(scope="session")
def shared_qa(tmp_path_factory, fake_embedder) -> NewsQA:
    """A service over the whole small corpus, built once: for tests that only read."""
    root = tmp_path_factory.mktemp("fast-shared")
    write_corpus(root / "corpus")
    qa = NewsQA(fast_settings(root), embedder=fake_embedder)
    qa.build()
    return qa


@pytest.fixture
def fresh(tmp_path) -> Settings:
    """Settings of a private copy of the small corpus, not yet indexed: for tests that change things."""
    write_corpus(tmp_path / "corpus")
    return fast_settings(tmp_path)
