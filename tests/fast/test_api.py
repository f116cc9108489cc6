"""The JSON API in process (FastAPI's TestClient) over the fake model: health, ask, search,
articles, validation errors as JSON, the admin password, and a missing index."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from assistant.admin import Admin
from assistant.api import create_api
from assistant.service import NewsQA
from tests.fast.fakes import ARTICLES, FAKE_MODEL, HOA_SEN, HOA_SEN_COPY, LU_LUT, METRO, SU_DOAN, TRUONG

PASSWORD = "fast-tier-secret"
QUESTION = "Nhà máy sấy vải thiều của hợp tác xã Hoa Sen công suất bao nhiêu?"
NEW_ARTICLE = {"title": "Cầu Rồng mở cửa cho người đi bộ", "date": "2024-09-01", "source": "Báo Đà Nẵng",
               "text": "Thành phố Đà Nẵng cho phép người đi bộ lên cầu Rồng vào tối thứ bảy và chủ nhật hằng tuần. "
                       "Cầu Rồng sẽ phun lửa và phun nước lúc 21 giờ."}


def client_for(qa: NewsQA) -> TestClient:
    return TestClient(create_api(qa, Admin(qa)))


@pytest.fixture(scope="module")
def client(shared_qa):
    return client_for(shared_qa)


def test_health_reports_the_index_and_the_model_it_was_built_with(client, shared_qa):
    out = client.get("/api/health").json()
    assert out["status"] == "ok" and out["model"] == FAKE_MODEL and out["articles"] == len(ARTICLES)
    assert out["index_version"] == shared_qa.index().version and out["passages"] == shared_qa.status().chunks


def test_ask_answers_with_typed_citations(client):
    res = client.post("/api/ask", json={"question": QUESTION, "k": 3})
    assert res.status_code == 200
    out = res.json()
    assert out["found"] and out["language"] == "vi" and out["mode"] == "extractive" and "40 tấn" in out["answer"]
    assert out["citations"][0]["article_id"] in (HOA_SEN, HOA_SEN_COPY) and out["citations"][0]["n"] == 1
    assert set(out["citations"][0]) >= {"n", "article_id", "title", "date", "url", "source", "text", "score", "also"}
    assert isinstance(out["seconds"], float) and "hits" not in out  # the response model leaves hits out


def test_ask_honours_filters_history_and_language(client):
    award = {"question": "Ai được trao giấy khen?"}
    assert client.post("/api/ask", json=award).json()["citations"][0]["article_id"] == SU_DOAN
    only = client.post("/api/ask", json={**award, "sources": ["Báo Giáo Dục"]}).json()
    assert only["found"] and {c["article_id"] for c in only["citations"]} == {TRUONG}
    follow = client.post("/api/ask", json={"question": "Ai được trao giấy khen?",
                                           "history": ["Cô Lê Thị Hoa đọc thư của ai?"]}).json()
    assert follow["found"] and "20 học sinh" in follow["answer"].splitlines()[0]
    empty = client.post("/api/ask", json={"question": "  ", "lang": "en"}).json()
    assert not empty["found"] and empty["language"] == "en" and empty["answer"] == "Please type a question."


def test_search_respects_k_mode_and_sources(client):
    out = client.get("/api/search", params={"q": "metro line stations", "k": 2}).json()
    assert out["query"] == "metro line stations" and len(out["hits"]) == 2 and out["hits"][0]["article_id"] == METRO
    assert out["hits"][0]["score"] >= out["hits"][1]["score"]
    lexical = client.get("/api/search", params={"q": "Quảng Bình", "mode": "lexical"}).json()
    assert lexical["hits"][0]["article_id"] == LU_LUT
    sources = client.get("/api/search", params=[("q", "nhà máy sấy vải"), ("source", "Báo Khác"),
                                                ("source", "Báo Miền Trung")]).json()
    assert sources["hits"] and {h["source"] for h in sources["hits"]} <= {"Báo Khác", "Báo Miền Trung"}


def test_articles_are_listed_in_windows(client):
    everything = client.get("/api/articles").json()
    assert everything["total"] == len(ARTICLES) and len(everything["articles"]) == len(ARTICLES)
    page = client.get("/api/articles", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == len(ARTICLES) and [a["id"] for a in page["articles"]] == [
        a["id"] for a in everything["articles"][1:3]]
    assert client.get("/api/articles", params={"query": "hoa sen"}).json()["total"] == 2


@pytest.mark.parametrize("kwargs,code,phrase", [
    ({"json": {"question": QUESTION, "k": 0}}, 422, "k"),
    ({"json": {"question": QUESTION, "k": 21}}, 422, "k"),
    ({"json": {"k": 3}}, 422, "question"),
    ({"json": {"question": "x" * 20_001}}, 422, "question"),
    ({"json": {"question": QUESTION, "lang": "fr"}}, 422, "lang"),
    ({"json": {"question": QUESTION, "history": ["x"] * 21}}, 422, "history"),
    ({"json": {"question": QUESTION, "date_from": "hôm kia"}}, 400, "Unknown date format"),
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, "Invalid request"),
    ({"content": b"question=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415, "JSON"),
    # The framework's own refusals came as {"detail": ...}, not the documented {"error": ...}.
    ({"content": b'{"question": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}}, 400, "body"),
])
def test_bad_asks_get_a_json_error_without_a_trace(client, kwargs, code, phrase):
    res = client.post("/api/ask", **kwargs)
    assert res.status_code == code and phrase in res.json()["error"] and "Traceback" not in res.text


@pytest.mark.parametrize("params,phrase", [({"q": "x", "k": 51}, "k"), ({"q": "x", "mode": "fuzzy"}, "mode"),
                                           ({}, "q"), ({"q": "x" * 2001}, "q")])
def test_bad_searches_are_refused(client, params, phrase):
    res = client.get("/api/search", params=params)
    assert res.status_code == 422 and phrase in res.json()["error"]


def test_without_an_index_health_says_so_and_questions_get_503_without_paths(tmp_path, shared_qa):
    qa = NewsQA(shared_qa.settings.with_(index_dir=tmp_path / "none"), embedder=shared_qa.embedder)
    client = client_for(qa)
    health = client.get("/api/health").json()
    assert health["status"] == "no_index" and health["articles"] == 0 and health["model"] == FAKE_MODEL
    res = client.post("/api/ask", json={"question": QUESTION})
    assert res.status_code == 503 and "index" in res.json()["error"].lower()
    assert str(tmp_path) not in res.text


def test_adding_needs_the_password_and_then_updates_the_index(fresh, fake_embedder):
    qa = NewsQA(fresh.with_(admin_password=PASSWORD), embedder=fake_embedder)
    qa.build()
    client = client_for(qa)
    for headers in ({}, {"X-Admin-Password": "wrong"}):
        res = client.post("/api/articles", json=NEW_ARTICLE, headers=headers)
        assert res.status_code == 403 and "password" in res.json()["error"]
    assert not (fresh.corpus_dir / "added").exists()
    res = client.post("/api/articles", json=NEW_ARTICLE, headers={"X-Admin-Password": PASSWORD})
    assert res.status_code == 200
    out = res.json()
    assert out["results"][0]["status"] == "added" and "1 added" in out["index_update"]
    assert str(fresh.corpus_dir) not in res.text and str(fresh.index_dir) not in res.text
    hits = client.get("/api/search", params={"q": "cầu Rồng phun lửa", "k": 1}).json()["hits"]
    assert hits[0]["title"] == NEW_ARTICLE["title"]
    assert client.get("/api/health").json()["articles"] == len(ARTICLES) + 1


@pytest.mark.parametrize("changes,headers", [({"host": "0.0.0.0"}, {}),
                                             ({"trusted_hosts": "news.example.org"}, {}),
                                             ({}, {"X-Forwarded-For": "203.0.113.9"})])
def test_without_a_password_adding_is_refused_unless_served_to_this_machine_only(fresh, fake_embedder, changes,
                                                                                 headers):
    qa = NewsQA(fresh.with_(**changes), embedder=fake_embedder)
    res = client_for(qa).post("/api/articles", json=NEW_ARTICLE, headers=headers)
    assert res.status_code == 403 and "NEWSQA_ADMIN_PASSWORD" in res.json()["error"]
    assert not (fresh.corpus_dir / "added").exists()


def test_unknown_api_paths_and_methods_answer_in_the_error_shape(client):
    missing = client.get("/api/nope")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    wrong = client.get("/api/ask")
    assert wrong.status_code == 405 and "error" in wrong.json()
