"""Corpus management: adding articles by paste, upload, URL and feed; duplicates; deleting; the
URL fetcher's safety rules; and every kind of bad input leaving corpus and index as they were."""

from __future__ import annotations

import json
import shutil

import pytest

from assistant.library import ADDED_DIR, Library
from assistant.service import NewsQA
from index.dedup import find_groups, jaccard
from index.reader import check_index
from index.updater import update_index
from tests.conftest import CORPUS
from tests.test_corpus import to_cp1258
from tests.web_server import ARTICLES, WebServer

TEXT = ("Hợp tác xã Hoa Sen ở huyện Lục Ngạn vừa khánh thành nhà máy sấy vải thiều công suất 40 tấn mỗi ngày. "
        "Giám đốc hợp tác xã, bà Trần Thị Mận, cho biết nhà máy giúp nông dân không phải bán vải tươi giá rẻ.")


@pytest.fixture(scope="module")
def web():
    with WebServer() as server:
        yield server


@pytest.fixture
def setup(tmp_path, base_settings, embedder, web):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(CORPUS.glob("*.md"))[:1] + sorted((CORPUS / "baomoi").glob("*.md"))[:4]:
        shutil.copy(path, corpus)
    settings = base_settings.with_(index_dir=tmp_path / "idx", corpus_dir=corpus, fetch_timeout=1.0,
                                   fetch_allow_private="127.0.0.1")
    update_index(settings.index_config(), embedder)
    return settings, Library(settings)


def snapshot(settings):
    files = sorted((p.relative_to(settings.corpus_dir), p.read_bytes()) for p in settings.corpus_dir.rglob("*")
                   if p.is_file())
    return files, check_index(settings.index_dir).version


def test_paste_then_update_then_answer(setup, embedder):
    settings, lib = setup
    result = lib.add_text("Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải", TEXT, "20/06/2024", "", "Báo Thử")
    assert result.ok and result.path.startswith(f"{ADDED_DIR}/20240620-hop-tac-xa-hoa-sen")
    saved = (settings.corpus_dir / result.path).read_text(encoding="utf-8")
    assert saved.startswith("---\n") and "date: '2024-06-20'" in saved and "source: Báo Thử" in saved
    again = lib.add_text("Một tiêu đề khác", "  " + TEXT.replace(" ", "  ") + "\n", "", "", "")
    assert again.status == "duplicate" and "Hợp tác xã Hoa Sen" in again.message("en")
    assert "đã có trong kho" in again.message("vi")
    report = update_index(settings.index_config(), embedder)
    assert report.added == [result.article_id] and report.build.embedded <= 2
    ans = NewsQA(settings, embedder=embedder).ask("Nhà máy sấy vải của hợp tác xã Hoa Sen công suất bao nhiêu?")
    assert ans.found and ans.citations[0].article_id == result.article_id and "40 tấn" in ans.answer
    rows = lib.list_articles("hoa sen")
    assert [r.id for r in rows] == [result.article_id] and rows[0].date == "2024-06-20" and rows[0].chunks == 1
    assert [r.title for r in lib.list_articles(sort="title")] == sorted(r.title for r in lib.list_articles(sort="title"))


def test_near_duplicate_is_flagged_and_collapsed_in_search(setup, embedder):
    settings, lib = setup
    first = lib.add_text("Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải", TEXT, "2024-06-20", "", "Báo Thử")
    copy = lib.add_text("Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải thiều", TEXT + " Ảnh: Báo Thử.",
                        "2024-06-21", "", "Báo Khác")
    assert first.ok and copy.ok and copy.similar_to == [first.title]
    assert "gần giống hệt" in copy.message("vi") and "nearly identical" in copy.message("en")
    update_index(settings.index_config(), embedder)
    hits = NewsQA(settings, embedder=embedder).search("nhà máy sấy vải thiều Hoa Sen", k=5)
    ids = [h.article_id for h in hits]
    assert ids.count(first.article_id) + ids.count(copy.article_id) == 1
    top = hits[0]
    assert top.article_id in (first.article_id, copy.article_id) and top.also in (("Báo Khác",), ("Báo Thử",))


def test_upload_formats_and_jsonl_with_a_broken_line(setup):
    settings, lib = setup
    lines = [json.dumps({"title": "Bài một về giao thông", "text": "Nội dung bài một về giao thông đô thị."},
                        ensure_ascii=False), "{broken", json.dumps({"title": "Bài hai về y tế",
                                                                    "text": "Nội dung bài hai về y tế cơ sở."},
                                                                   ensure_ascii=False)]
    results = lib.add_upload("batch.jsonl", "\n".join(lines).encode())
    assert [r.status for r in results] == ["added", "added", "error"] and "batch.jsonl:2" in results[2].message("en")
    html = ("<html><head><title>Giá lúa tăng</title></head><body><article><h1>Giá lúa tăng</h1>"
            "<p>Giá lúa tại Đồng bằng sông Cửu Long tăng mạnh trong tuần qua do nhu cầu xuất khẩu.</p>"
            "</article></body></html>")
    assert lib.add_upload("lua.html", html.encode())[0].ok
    legacy = to_cp1258("Tin vắn\n\nGiá cà phê hôm nay tăng nhẹ tại Tây Nguyên, nông dân phấn khởi vì được mùa.")
    res = lib.add_upload("legacy.txt", legacy)[0]
    assert res.ok and "cà phê" in (settings.corpus_dir / res.path).read_text(encoding="utf-8")


@pytest.mark.parametrize("name,data,phrase_en,phrase_vi", [
    ("empty.md", b"", "has no text", "không có nội dung"),
    ("blank.txt", b"   \n\t \n", "has no text", "không có nội dung"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary", "nhị phân"),
    ("broken.html", b"<html><body><div><p>", "no article text", "không trích xuất"),
    ("date.md", "---\ntitle: T\ndate: hôm kia\n---\nNội dung.".encode(), "Unknown date format", "định dạng ngày"),
    ("huge.md", b"x" * (50 * 1024 * 1024), "limit is 10 MB", "giới hạn là 10 MB"),
    ("notes.docx", b"PK\x03\x04", "unsupported file type", "không hỗ trợ"),
])
def test_bad_uploads_are_refused_and_nothing_changes(setup, name, data, phrase_en, phrase_vi):
    settings, lib = setup
    before = snapshot(settings)
    results = lib.add_upload(name, data)
    assert len(results) == 1 and results[0].status == "error"
    assert phrase_en in results[0].message("en") and phrase_vi in results[0].message("vi")
    assert snapshot(settings) == before


@pytest.mark.parametrize("title,text,date,phrase", [
    ("Tiêu đề", "", "", "has no text"),
    ("Tiêu đề", "   \n  ", "", "has no text"),
    ("", "Nội dung có thật.", "", "needs a title"),
    ("Tiêu đề", "Nội dung.", "32/13/2024", "Unknown date format"),
])
def test_bad_pasted_articles(setup, title, text, date, phrase):
    settings, lib = setup
    before = snapshot(settings)
    result = lib.add_text(title, text, date)
    assert result.status == "error" and phrase in result.message("en")
    assert snapshot(settings) == before


def test_add_by_url_and_by_feed(setup, web):
    settings, lib = setup
    result = lib.add_url(f"{web.url}/cau-moi.html")
    assert result.ok and result.title == ARTICLES["/cau-moi.html"][0]
    saved = (settings.corpus_dir / result.path).read_text(encoding="utf-8")
    assert "date: '2024-03-05'" in saved and "author: Minh Anh" in saved and "2.500 tỷ đồng" in saved
    assert "Trang chủ" not in saved and f"url: {web.url}/cau-moi.html" in saved
    results = lib.add_feed(f"{web.url}/feed.xml")
    assert [r.status for r in results] == ["duplicate", "added"]


@pytest.mark.parametrize("path,allow,phrase", [
    ("/slow.html", "127.0.0.1", "no answer within 1 s"),
    ("/empty-feed.xml", "127.0.0.1", "no entries"),
    ("/cau-moi.html", "", "non-public address (127.0.0.1)"),
    ("/to-metadata", "127.0.0.1", "non-public address (169.254.169.254)"),
    ("/to-localhost", "127.0.0.1", "non-public address"),
    ("/big.html", "127.0.0.1", "larger than the limit"),
    ("/missing.html", "127.0.0.1", "answered 404"),
])
def test_fetch_refusals(setup, web, path, allow, phrase):
    settings, _ = setup
    lib = Library(settings.with_(fetch_allow_private=allow))
    before = snapshot(settings)
    results = lib.add_feed(f"{web.url}{path}") if path.endswith(".xml") else [lib.add_url(f"{web.url}{path}")]
    assert results[0].status == "error" and phrase in results[0].message("en"), results[0].message("en")
    assert snapshot(settings) == before


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x", "http://", "javascript:alert(1)"])
def test_only_http_urls(setup, url):
    _, lib = setup
    result = lib.add_url(url)
    assert result.status == "error" and "only http:// and https://" in result.message("en")
    assert "chỉ chấp nhận" in result.message("vi")


def test_delete_removes_the_file_and_update_drops_the_article(setup, embedder):
    settings, lib = setup
    added = lib.add_text("Hợp tác xã Hoa Sen khánh thành nhà máy sấy vải", TEXT, "2024-06-20")
    update_index(settings.index_config(), embedder)
    result = lib.delete(added.article_id)
    assert result.ok and not (settings.corpus_dir / added.path).exists()
    report = update_index(settings.index_config(), embedder)
    assert report.removed == [added.article_id] and not lib.list_articles("hoa sen")
    assert lib.delete("no-such-article").status == "error"


def test_find_groups_counts_exact_and_near_copies():
    base = "Mưa lớn kéo dài khiến nhiều tỉnh miền Trung ngập sâu, hàng nghìn hộ dân phải sơ tán khỏi vùng lũ. " * 3
    groups = find_groups([("a", "Lũ", base), ("b", "LŨ MIỀN TRUNG", base.upper()), ("c", "Lũ", base + " Ảnh: TTXVN."),
                          ("d", "Khác", "Một bài khác hẳn.")])
    assert groups.exact == 1 and groups.near == 1 and groups.dup_of == {"b": "a", "c": "a"}
    assert jaccard(base, base + " Ảnh: TTXVN.") > 0.8


def test_articles_table_shows_a_window_of_a_large_corpus():
    from assistant.chat import TABLE_ROWS, articles_table
    from assistant.library import ArticleRow

    rows = [ArticleRow(f"a{i}", f"Tin số {i}", "2024-01-01", "Báo Thử", "", 1) for i in range(TABLE_ROWS + 120)]
    table = articles_table(rows, "en")
    assert len(table["data"]) == TABLE_ROWS + 1 and "120 more" in table["data"][-1][1]
    assert table["headers"][1] == "Title" and articles_table([], "vi")["data"][0][1].startswith("Chưa có bài")
