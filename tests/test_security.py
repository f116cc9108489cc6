"""Security and reliability hardening, each item of the audit against the real code: the app over
HTTP where the item is about the server, the service and library in-process otherwise. The
stored-XSS item is in tests/test_browser_security.py (a real browser)."""

from __future__ import annotations

import http.client
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from assistant.admin import Admin, Caller
from assistant.errors import AccessError
from assistant.library import ADDED_DIR, Library
from assistant.service import MAX_K, NewsQA
from assistant.settings import Settings
from index.layout import current_version
from index.updater import update_index
from tests.conftest import CORPUS, GUIDING_EN, GUIDING_VI, PASSWORD, SEED_ID

ARTICLE = {"title": "Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều", "date": "2024-06-20",
           "text": "Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn "
                   "mỗi ngày, giúp nông dân không phải bán vải tươi giá rẻ.", "source": "Báo Thử"}


def small_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    for path in sorted(CORPUS.glob("*.md"))[:1] + sorted((CORPUS / "baomoi").glob("*.md"))[:4]:
        shutil.copy(path, corpus)
    return corpus


def raw(server: str, method: str, path: str, headers: dict[str, str], body: bytes = b"",
        timeout: float = 120) -> tuple[int, dict, bytes]:
    """One request with exactly these headers (http.client adds none we do not ask for)."""
    where = urlsplit(server)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout)
    conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders()
    if body:
        conn.send(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def post_json(server: str, path: str, payload: object, extra: dict | None = None, timeout: float = 120):
    body = json.dumps(payload).encode()
    status, headers, data = raw(server, "POST", path, {"Content-Type": "application/json",
                                                       "Content-Length": str(len(body)), **(extra or {})},
                                body, timeout)
    return status, json.loads(data or b"{}")


# -- 2. concurrent queries while updates publish new versions ------------------------------------------
def test_queries_in_threads_while_updates_publish_new_versions(tmp_path, base_settings, embedder):
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=small_corpus(tmp_path))
    update_index(settings.index_config(), embedder)
    qa = NewsQA(settings, embedder=embedder)
    library = Library(settings)
    errors: list[BaseException] = []
    done = threading.Event()
    answered = [0]

    def ask_forever(question: str) -> None:
        while not done.is_set():
            try:
                qa.search(question, k=5)
                qa.sources()
                if answered[0] % 10 == 0:
                    qa.ask(question, k=3)
                answered[0] += 1
            except BaseException as exc:  # noqa: BLE001 - every failure is what this test counts
                errors.append(exc)

    threads = [threading.Thread(target=ask_forever, args=(q,)) for q in (GUIDING_EN, GUIDING_VI, "Nghị quyết 382",
                                                                       "giá vàng")]
    for t in threads:
        t.start()
    versions = set()
    try:
        for i in range(8):
            library.add_text(f"Bản tin số {i} về hợp tác xã", f"Hợp tác xã số {i} báo cáo sản lượng vải thiều "
                             f"năm nay đạt {i + 10} nghìn tấn, tăng so với năm trước.", "2024-06-20")
            qa.update()
            versions.add(current_version(settings.index_dir).name)
            # Let the readers run against every version before the next publish.
            target, waited = answered[0] + 4, time.monotonic()
            while answered[0] < target and time.monotonic() - waited < 60 and not errors:
                time.sleep(0.05)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=120)
    assert len(versions) == 8 and answered[0] >= 32
    assert not errors, f"{len(errors)} failed requests, first: {errors[0]!r}"
    # The race made deterministic: a request still holding the old version when a new one is opened.
    held = qa.index()
    library.add_text("Bản tin cuối", "Hợp tác xã báo cáo tổng kết mùa vải thiều năm nay với nhiều kết quả tốt.")
    qa.update()
    assert qa.index().version != held.version
    assert held.db.sources() is not None and held.db.articles([SEED_ID])


# -- 3. bounded history and a maximal request ---------------------------------------------------------
def test_history_items_are_capped_and_a_maximal_request_returns_in_time(server):
    status, out = post_json(server, "/api/ask", {"question": GUIDING_VI, "history": ["x" * 300_000]})
    assert status == 422 and "history" in out["error"]
    maximal = {"question": ("dai ta luong thanh binh yeu cau gi " * 60)[:2000],
               "history": [("ong ay noi gi ve cong tac ky thuat " * 60)[:2000]] * 20}
    started = time.perf_counter()
    status, out = post_json(server, "/api/ask", maximal)
    assert status == 200 and time.perf_counter() - started < 30


def test_gradio_chat_with_a_huge_history_returns_in_time(server):
    from gradio_client import Client

    client = Client(server + "/", verbose=False)
    def message(role: str, text: str) -> dict:
        return {"role": role, "content": [{"type": "text", "text": text}]}

    history = [message("user", "ông ấy nói gì " * 20_000), message("assistant", "?")] * 5
    started = time.perf_counter()
    final = client.predict("Ông ấy yêu cầu gì?", history, 5, "vi", "extractive", [], "", "", False, api_name="/chat")
    assert time.perf_counter() - started < 30 and final[-1]["role"] == "assistant"


def test_service_bounds_history_and_k(qa):
    started = time.perf_counter()
    answer = qa.ask("Ông ấy yêu cầu gì?", history=["đại tá lương thanh bình " * 20_000] * 50)
    assert time.perf_counter() - started < 20 and answer.answer
    assert len(qa.search("Nghị quyết 382", k=100_000)) <= MAX_K
    assert len(qa.search("Nghị quyết 382", k=-3)) >= 1
    assert 1 <= len(qa.ask(GUIDING_EN, k=-3).hits)


# -- 4. admin protection, Host check, JSON only ---------------------------------------------------------
def test_admin_actions_are_disabled_on_a_public_bind_without_a_password(own_index, embedder):
    qa = NewsQA(own_index.with_(admin_password="", host="0.0.0.0"), embedder=embedder)
    admin = Admin(qa)
    assert admin.disabled
    with pytest.raises(AccessError, match="NEWSQA_ADMIN_PASSWORD"):
        admin.add_text(None, ARTICLE["title"], ARTICLE["text"])
    assert not (own_index.corpus_dir / ADDED_DIR).exists() or not list((own_index.corpus_dir / ADDED_DIR).glob("*hoa-sen*"))
    assert not Admin(NewsQA(own_index.with_(admin_password=""), embedder=embedder)).disabled  # loopback: open


def test_wrong_passwords_are_rate_limited(own_index, embedder):
    admin = Admin(NewsQA(own_index, embedder=embedder))
    for _ in range(5):
        with pytest.raises(AccessError, match="Wrong"):
            admin.update("guess", caller=Caller("10.1.2.3"))
    with pytest.raises(AccessError, match="Too many"):
        admin.update(PASSWORD, caller=Caller("10.1.2.3"))
    # Another client is not locked out by the first one's guesses.
    with pytest.raises(AccessError, match="Wrong"):
        admin.update("guess", caller=Caller("10.9.9.9"))


def test_foreign_host_headers_are_refused(server):
    port = urlsplit(server).port
    status, _, _ = raw(server, "GET", "/api/health", {"Host": "attacker.example"})
    assert status == 400
    status, _, _ = raw(server, "GET", "/", {"Host": f"attacker.example:{port}"})
    assert status == 400
    status, _, _ = raw(server, "GET", "/api/health", {"Host": f"127.0.0.1:{port}"})
    assert status == 200


def test_bodies_must_be_json(server):
    body = json.dumps({"question": GUIDING_EN}).encode()
    for ctype in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {"Content-Length": str(len(body)), **({"Content-Type": ctype} if ctype else {})}
        status, _, data = raw(server, "POST", "/api/ask", headers, body)
        assert status == 415 and "JSON" in json.loads(data)["error"]


# -- 6. body and upload limits ---------------------------------------------------------------------------
def test_content_length_with_chunked_encoding_is_refused(server):
    chunk = b"x" * 5_000_000
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    status, _, _ = raw(server, "POST", "/api/ask", {"Content-Type": "application/json", "Content-Length": "10",
                                                     "Transfer-Encoding": "chunked"}, body)
    assert status == 400


def test_gradio_routes_count_the_bytes_they_receive(server):
    chunk = b"x" * 6_000_000
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n"
    status, _, _ = raw(server, "POST", "/gradio_api/queue/join", {"Content-Type": "application/json",
                                                                  "Transfer-Encoding": "chunked"}, body)
    assert status == 413


def test_anonymous_uploads_are_bounded(server):
    boundary = "newsqa-boundary"
    payload = b"a" * (12 * 1024 * 1024)
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    status, _, _ = raw(server, "POST", "/gradio_api/upload", {
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))}, body)
    assert status == 413


def test_uploads_are_not_read_before_the_password_is_checked(own_index, embedder):
    admin = Admin(NewsQA(own_index, embedder=embedder))
    read = []
    with pytest.raises(AccessError):
        admin.add_files("wrong", lambda: read.append(1) or [], caller=Caller("10.5.5.5"))
    assert not read


# -- 11. an article whose index update failed is picked up by the retry --------------------------------
def test_an_added_article_is_not_lost_when_its_update_fails(tmp_path, base_settings, embedder, monkeypatch):
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=small_corpus(tmp_path))
    update_index(settings.index_config(), embedder)
    qa = NewsQA(settings, embedder=embedder)
    admin = Admin(qa)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(qa, "update", disk_full)
        first = admin.add_text(None, ARTICLE["title"], ARTICLE["text"], ARTICLE["date"])
    assert first.results[0].status == "added" and "No space left" in first.update_en
    retry = admin.add_text(None, ARTICLE["title"], ARTICLE["text"], ARTICLE["date"])
    assert retry.results[0].status == "duplicate" and retry.results[0].pending and "1 added" in retry.update_en
    answer = qa.ask("Nhà máy sấy vải của hợp tác xã Hoa Sen công suất bao nhiêu?")
    assert "40 tấn" in answer.answer
    again = admin.add_text(None, ARTICLE["title"], ARTICLE["text"], ARTICLE["date"])
    assert again.results[0].status == "duplicate" and not again.results[0].pending


def test_storage_errors_are_clear_over_http(own_index, embedder, monkeypatch):
    from fastapi.testclient import TestClient

    from assistant.api import create_api

    qa = NewsQA(own_index, embedder=embedder)
    client = TestClient(create_api(qa, Admin(qa)), raise_server_exceptions=False)

    def locked(*args, **kwargs):
        import sqlite3

        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(qa, "search", locked)
    out = client.get("/api/search", params={"q": "Nghị quyết"})
    assert out.status_code == 503 and "Storage error" in out.json()["error"]


# -- 15. hygiene -------------------------------------------------------------------------------------------------
def test_no_absolute_paths_or_secrets_reach_clients(own_index, embedder, tmp_path):
    from fastapi.testclient import TestClient

    from assistant.api import create_api

    settings = own_index.with_(llm_api_key="sk-very-secret")
    assert PASSWORD not in repr(settings) and "sk-very-secret" not in repr(settings)
    missing = NewsQA(own_index.with_(index_dir=tmp_path / "nothing-here"), embedder=embedder)
    out = TestClient(create_api(missing, Admin(missing))).post("/api/ask", json={"question": GUIDING_EN})
    assert out.status_code == 503 and str(tmp_path) not in out.json()["error"]


def test_gradio_status_endpoint_hides_the_index_path(server, own_index):
    from gradio_client import Client

    status = Client(server + "/", verbose=False).predict(api_name="/status")
    assert status["ready"] and "index_dir" not in status and str(own_index.index_dir) not in json.dumps(status)


def test_admin_actions_are_logged_without_the_password(own_index, embedder, caplog):
    admin = Admin(NewsQA(own_index, embedder=embedder))
    with caplog.at_level(logging.INFO, logger="assistant.admin"):
        with pytest.raises(AccessError):
            admin.update("not-the-password", caller=Caller("10.7.7.7"))
        admin.update(PASSWORD, caller=Caller("10.7.7.8"))
    events = [getattr(r, "fields", {}) for r in caplog.records if getattr(r, "fields", {}).get("event") == "admin"]
    assert [(e["action"], e["client"], e["outcome"].split(":")[0]) for e in events] == [
        ("update", "10.7.7.7", "refused"), ("update", "10.7.7.8", "done")]
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text


def test_added_articles_survive_a_crash_after_rename(tmp_path, monkeypatch):
    import index.atomic as atomic

    synced = []
    monkeypatch.setattr(atomic, "fsync_dir", lambda path: synced.append(Path(path)))
    settings = Settings(index_dir=tmp_path / "idx", corpus_dir=tmp_path / "corpus")
    result = Library(settings).add_text(ARTICLE["title"], ARTICLE["text"], ARTICLE["date"])
    assert result.status == "added" and synced == [settings.corpus_dir / ADDED_DIR]


def test_a_bad_new_version_does_not_take_the_app_down(tmp_path, base_settings, embedder, monkeypatch):
    import assistant.service as service

    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=small_corpus(tmp_path))
    update_index(settings.index_config(), embedder)
    qa = NewsQA(settings, embedder=embedder)
    good = qa.index().version
    Library(settings).add_text(ARTICLE["title"], ARTICLE["text"], ARTICLE["date"])
    qa.update()
    bad = current_version(settings.index_dir)
    assert bad.name != good
    # A flipped byte in the new version: its checksum no longer matches.
    target = bad / "metadata.sqlite"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    qa._pointer_stamp = None  # as if the pointer had just moved to the broken version
    opened = []
    real_open = service.open_index
    monkeypatch.setattr(service, "open_index", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    for _ in range(5):
        assert qa.search("Nghị quyết 382", k=3)[0].article_id == SEED_ID
    assert qa.index().version == good and len(opened) == 1


def test_duplicate_detection_does_not_refingerprint_the_corpus_after_an_update(tmp_path, base_settings, embedder,
                                                                                monkeypatch):
    import assistant.library as library

    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=corpus)
    update_index(settings.index_config(), embedder)
    lib = Library(settings)
    calls = []
    real = library.fingerprint_text
    monkeypatch.setattr(library, "fingerprint_text", lambda *a: calls.append(1) or real(*a))
    assert lib.add_text(ARTICLE["title"], ARTICLE["text"], ARTICLE["date"]).status == "added"
    first = len(calls)
    assert first >= 25  # the first look reads every article once
    update_index(settings.index_config(), embedder)
    text = "Một bài khác hoàn toàn về giá lúa gạo ở đồng bằng sông Cửu Long tuần này tăng nhẹ."
    assert lib.add_text("Giá lúa tăng nhẹ", text).status == "added"
    assert len(calls) - first <= 3, "the whole corpus was fingerprinted again after the update"
    assert lib.add_text("Bản sao", ARTICLE["text"]).status == "duplicate"
    near = lib.add_text(ARTICLE["title"], ARTICLE["text"] + " Nhà máy mới.")
    assert near.status == "added" and near.similar_to


def test_a_proxied_or_publicly_named_server_needs_a_password(own_index, embedder):
    open_loopback = Admin(NewsQA(own_index.with_(admin_password=""), embedder=embedder))
    with pytest.raises(AccessError, match="NEWSQA_ADMIN_PASSWORD"):
        open_loopback.update(None, caller=Caller("127.0.0.1", forwarded=True))  # nginx in front
    named = Admin(NewsQA(own_index.with_(admin_password="", trusted_hosts="news.example.org"), embedder=embedder))
    assert named.disabled


def test_concurrent_wrong_passwords_cannot_slip_past_the_limit(own_index, embedder):
    admin = Admin(NewsQA(own_index, embedder=embedder))
    outcomes: list[str] = []

    def guess() -> None:
        try:
            admin.authorize("guess", Caller("2001:db8::1"))
        except AccessError as exc:
            outcomes.append(str(exc).split()[0])

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("Wrong") == 5 and outcomes.count("Too") == 15
    # The rest of the same /64 is the same client.
    with pytest.raises(AccessError, match="Too many"):
        admin.authorize(PASSWORD, Caller("2001:db8::ffff"))


def test_ipv6_loopback_host_headers_are_accepted(server):
    port = urlsplit(server).port
    status, _, _ = raw(server, "GET", "/api/health", {"Host": f"[::1]:{port}"})
    assert status == 200


def test_a_trickled_body_is_cut_off():
    import asyncio

    from assistant.webguard import BodyLimit

    sent: list[dict] = []

    async def never(*args):
        raise AssertionError("the app must not be called")

    async def trickle():
        await asyncio.sleep(0.2)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "headers": [(b"content-length", b"100")]}
    started = time.perf_counter()
    asyncio.run(BodyLimit(never, default=1000, seconds=1.0)(scope, trickle, send))
    assert sent[0]["status"] == 408 and time.perf_counter() - started < 3


def test_rendered_text_shows_as_written_and_links_nothing():
    from markdown_it import MarkdownIt

    from assistant.markup import md_text, plain

    for text in ("2. Kết luận của hội nghị", "1) Thứ nhất", "# Tiêu đề", "- gạch đầu dòng"):
        html = MarkdownIt("commonmark").render(md_text(text))
        assert html.strip() == f"<p>{text}</p>" and plain(md_text(text)) == text
    # The browser's Markdown reads a bare "\r" as a line break: a heading or rule must not start there.
    for text in ("Báo C\r# TIN GIẢ\r---", "a\r- mục", "a\r1. mục"):
        html = MarkdownIt("commonmark").render(md_text(text))
        assert "<h1>" not in html and "<hr" not in html and "<li>" not in html, html
    escaped = md_text("xem https://evil.example/a, www.evil.vn hoặc hỏi a@evil.vn")
    assert "https\\://" in escaped and "www\\." in escaped and "a\\@evil" in escaped


def test_chat_and_search_errors_name_no_server_paths(own_index, embedder, tmp_path):
    from assistant.chat import search_markdown, stream_answer

    missing = NewsQA(own_index.with_(index_dir=tmp_path / "no-index-here"), embedder=embedder)
    final = list(stream_answer(missing, GUIDING_VI, [], 5, "vi"))[-1]
    shown = final[-1]["content"] + search_markdown(missing, "Nghị quyết", 5, "vi")
    assert str(tmp_path) not in shown and "index" in shown.lower()


def test_the_api_docs_page_may_load_swagger_and_nothing_else_may(server):
    _, docs, _ = raw(server, "GET", "/api/docs", {})
    _, page, _ = raw(server, "GET", "/", {})
    assert "cdn.jsdelivr.net" in docs["content-security-policy"]
    assert "cdn.jsdelivr.net" not in page["content-security-policy"] and "img-src 'self'" in page["content-security-policy"]
