"""Server start-up (assistant/startup.py): the index and the model come up in background threads
while the pages are built; what goes wrong in either reaches the caller as the domain error it is,
and the server is only started once both are ready."""

from __future__ import annotations

import time

import pytest

import assistant.web
from assistant import startup
from assistant.settings import Settings
from index.errors import IndexMissingError, ModelError


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(assistant.web, "create_server", lambda qa: seen.append("pages") or "server")
    monkeypatch.setattr(assistant.web, "run_server", lambda settings, server: seen.append(f"run {server}"))
    return seen


def test_the_server_starts_once_the_index_and_the_model_are_ready(calls, monkeypatch, tmp_path):
    def slow_warm_up(qa, index_ready):
        index_ready.result()
        time.sleep(0.3)
        calls.append("warm")

    monkeypatch.setattr(startup, "ensure_index", lambda qa: calls.append("index"))
    monkeypatch.setattr(startup, "warm_up", slow_warm_up)
    startup.serve(Settings(index_dir=tmp_path))
    assert calls[0] == "index" and calls[-1] == "run server" and calls.index("warm") < calls.index("run server")
    assert "pages" in calls


def test_an_index_that_cannot_open_stops_the_start_with_its_error(calls, monkeypatch, tmp_path):
    def missing(qa):
        raise IndexMissingError("index_missing", index_dir=tmp_path)

    monkeypatch.setattr(startup, "ensure_index", missing)
    started = time.perf_counter()
    with pytest.raises(IndexMissingError):
        startup.serve(Settings(index_dir=tmp_path))
    assert time.perf_counter() - started < 10 and not any(c.startswith("run") for c in calls)


def test_a_model_that_cannot_load_stops_the_start_with_its_error(calls, monkeypatch, tmp_path):
    def broken(qa, index_ready):
        raise ModelError("model_bad_precision", precision="fp8")

    monkeypatch.setattr(startup, "ensure_index", lambda qa: None)
    monkeypatch.setattr(startup, "warm_up", broken)
    with pytest.raises(ModelError):
        startup.serve(Settings(index_dir=tmp_path))
    assert not any(c.startswith("run") for c in calls)
