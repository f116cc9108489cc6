"""The web app launched for real and called over HTTP with gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client

from tests.conftest import GUIDING_EN, GUIDING_VI, SEED_ID, TASK_FRAGMENTS
from tests.helpers import serving


@pytest.fixture(scope="module")
def app_client(qa, tmp_path_factory):
    with serving(qa.settings, tmp_path_factory.mktemp("app") / "app.log") as url:
        yield Client(url, verbose=False)


def _text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


@pytest.mark.parametrize("question", [GUIDING_EN, GUIDING_VI])
def test_ask_endpoint_answers_the_guiding_question(app_client, question):
    out = app_client.predict(question, 5, api_name="/ask")
    assert out["found"] and all(f in out["answer"] for f in TASK_FRAGMENTS)
    assert SEED_ID in {c["article_id"] for c in out["citations"]}


def test_chat_streams_answer_and_sources(app_client):
    job = app_client.submit(GUIDING_VI, [], 5, "vi", "extractive", [], "", "", False, api_name="/chat")
    updates = list(job)
    assert len(updates) > 2, "the answer should arrive in several steps"
    final = job.outputs()[-1]
    assert final[0]["role"] == "user" and final[0]["content"]
    answer = _text(final[1])
    assert all(f in answer for f in TASK_FRAGMENTS) and "[1]" in answer
    sources = [m for m in final[2:] if m.get("metadata") and m["metadata"].get("title")]
    assert sources and sources[0]["metadata"]["title"].startswith("[1] Sư đoàn 346")
    assert TASK_FRAGMENTS[0] in "".join(_text(m) for m in sources)


@pytest.mark.parametrize("question,phrase", [
    ("", "Vui lòng nhập câu hỏi"),
    ("   ", "Vui lòng nhập câu hỏi"),
    ("x" * 20000, "quá dài"),
])
def test_chat_bad_input_gets_a_message(app_client, question, phrase):
    final = app_client.predict(question, [], 5, "vi", "extractive", [], "", "", False, api_name="/chat")
    assert phrase in _text(final[-1])
    assert len(_text(final[0])) <= 1001


def test_search_and_status_endpoints(app_client):
    hits = app_client.predict("Nghị quyết 382", 3, api_name="/search")
    assert len(hits) == 3 and hits[0]["article_id"] == SEED_ID
    status = app_client.predict(api_name="/status")
    assert status["ready"] and status["articles"] >= 10
    view = app_client.predict("Messi áo đấu", 3, "en", [], "", "", False, api_name="/search_view")
    assert "Messi" in view and "score" in view


def test_search_view_filters_and_bad_dates(app_client):
    only_baomoi = app_client.predict("Nghị quyết 382 Sư đoàn 346", 5, "vi", ["baomoi.com"], "", "", False,
                                     api_name="/search_view")
    assert "Sư đoàn 346 tổng kết" not in only_baomoi and "baomoi.com" in only_baomoi
    dated = app_client.predict("Nghị quyết 382", 5, "vi", [], "2022-05-01", "2022-05-31", False,
                               api_name="/search_view")
    assert "Sư đoàn 346 tổng kết" in dated and "baomoi.com" not in dated
    bad = app_client.predict("Nghị quyết 382", 5, "en", [], "yesterday-ish", "", False, api_name="/search_view")
    assert bad.startswith("Invalid date")


def test_chat_follow_up_uses_the_conversation(app_client):
    first = app_client.predict(GUIDING_VI, [], 5, "vi", "extractive", [], "", "", False, api_name="/chat")
    follow = app_client.predict("Ông ấy giữ chức vụ gì?", first, 5, "vi", "extractive", [], "", "", False, api_name="/chat")
    answer = _text(follow[len(first) + 1])
    assert "Phó chủ nhiệm Kỹ thuật Quân khu" in answer


def test_chat_settings_panel_filters_and_bad_dates(app_client):
    only = app_client.predict(GUIDING_VI, [], 5, "vi", "extractive", ["baomoi.com"], "", "", False, api_name="/chat")
    titles = [(m.get("metadata") or {}).get("title", "") for m in only[2:]]
    assert not any("Sư đoàn 346" in t for t in titles)
    dated = app_client.predict(GUIDING_VI, [], 5, "vi", "extractive", [], "2022-05-01", "2022-05-31", False,
                               api_name="/chat")
    assert all(f in _text(dated[1]) for f in TASK_FRAGMENTS)
    bad = app_client.predict(GUIDING_VI, [], 5, "en", "extractive", [], "someday", "", False, api_name="/chat")
    assert _text(bad[-1]).startswith("Invalid date") and len(bad) == 2


def test_every_ui_text_exists_in_both_languages():
    import re

    from assistant.messages import CATALOG

    for key, texts in CATALOG.items():
        assert texts.get("vi", "").strip() and texts.get("en", "").strip(), key
    # UI labels and the library's results: same placeholders in both, so a translation cannot drop a value.
    app_source = (__import__("assistant.settings").settings.PROJECT_ROOT / "assistant" / "web.py").read_text(encoding="utf-8")
    labels = set(re.findall(r'label\("(\w+)"', app_source))
    results = {f"library_{s}" for s in ("added", "duplicate", "similar", "pending", "error", "updated", "deleted")}
    for key in labels | results:
        assert key in CATALOG, key
        assert set(re.findall(r"{\w+}", CATALOG[key]["vi"])) == set(re.findall(r"{\w+}", CATALOG[key]["en"])), key
