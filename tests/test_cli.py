"""The `newsqa` command line, run as a user runs it."""

from __future__ import annotations

import json

from tests.conftest import GUIDING_EN, GUIDING_VI, SEED_ID, TASK_FRAGMENTS
from tests.helpers import run_cli


def test_ask_json_cites_the_seed_in_both_languages(qa):
    for question in (GUIDING_EN, GUIDING_VI):
        out = json.loads(run_cli(qa.settings, "ask", question, "--json").stdout)
        assert set(out) >= {"answer", "citations", "hits"}
        assert all(f in out["answer"] for f in TASK_FRAGMENTS)
        assert SEED_ID in {c["article_id"] for c in out["citations"]}
        for c in out["citations"]:
            assert set(c) >= {"n", "article_id", "title", "date", "url", "text", "score"}
        assert all({"article_id", "text", "score"} <= set(h) for h in out["hits"])


def test_ask_plain_text_lists_sources(qa):
    out = run_cli(qa.settings, "ask", GUIDING_VI).stdout
    assert TASK_FRAGMENTS[1] in out and "[1] Sư đoàn 346" in out and "2022-05-13" in out


def test_search_json_respects_k(qa):
    out = json.loads(run_cli(qa.settings, "search", "Nghị quyết 382", "-k", "3", "--json").stdout)
    assert len(out["hits"]) == 3 and out["hits"][0]["article_id"] == SEED_ID
    assert out["hits"][0]["score"] >= out["hits"][-1]["score"]


def test_index_build_on_a_new_directory_then_status(qa, tmp_path, tiny_corpus):
    index_dir = tmp_path / "other-index"
    res = run_cli(qa.settings, "index", "build", "--corpus", str(tiny_corpus), "--index", str(index_dir), "-q")
    assert "Indexed 3 articles" in res.stdout
    status = json.loads(run_cli(qa.settings, "index", "status", "--index", str(index_dir), "--json").stdout)
    assert status["ready"] and status["articles"] == 3
    # Several indexes coexist: the same question against the small one still finds the seed.
    out = json.loads(run_cli(qa.settings, "ask", GUIDING_EN, "--index", str(index_dir), "--json").stdout)
    assert out["citations"][0]["article_id"] == SEED_ID


def test_missing_index_is_a_clear_error_with_exit_code_2(qa, tmp_path):
    res = run_cli(qa.settings, "ask", "xin chào", "--index", str(tmp_path / "none"), check=False)
    assert res.returncode == 2
    assert "No index found" in res.stderr and "newsqa index build" in res.stderr
    assert "Traceback" not in res.stderr


def test_empty_question_does_not_crash(qa):
    out = json.loads(run_cli(qa.settings, "ask", "   ", "--json").stdout)
    assert out["found"] is False and out["answer"]
