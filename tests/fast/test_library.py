"""Corpus management without the model: adding (pasted, uploaded), exact and near duplicates,
pending additions, refusals that write nothing, deleting, listing, and the index update after."""

from __future__ import annotations

import json

import pytest

from assistant.library import ADDED_DIR, Library
from assistant.service import NewsQA
from tests.fast.fakes import ARTICLES, BONG_DA, HOA_SEN, HOA_SEN_COPY, HOA_SEN_TEXT, SU_DOAN, TRUONG

NEW_TITLE = "Nông dân Bắc Giang thu hoạch vải sớm"
NEW_TEXT = ("Nông dân huyện Tân Yên bắt đầu thu hoạch vải sớm từ đầu tháng sáu. Giá bán tại vườn khoảng 25 nghìn "
            "đồng một kilôgam, cao hơn năm ngoái. Thương lái từ nhiều tỉnh đã về tận vườn thu mua.")


@pytest.fixture
def lib(fresh, fake_embedder):
    qa = NewsQA(fresh, embedder=fake_embedder)
    qa.build()
    return qa, Library(fresh)


def added_files(settings) -> list:
    folder = settings.corpus_dir / ADDED_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_pasted_article_is_saved_then_indexed_by_the_update(lib):
    qa, library = lib
    result = library.add_text(NEW_TITLE, NEW_TEXT, "05/06/2024", "https://example.org/vai-som", "Báo Thử")
    assert result.ok and result.status == "added" and result.path.startswith(f"{ADDED_DIR}/20240605-nong-dan-bac-giang")
    saved = (qa.settings.corpus_dir / result.path).read_text(encoding="utf-8")
    assert saved.startswith("---\n") and "date: '2024-06-05'" in saved and NEW_TEXT in saved
    assert result.article_id not in {r.id for r in library.list_articles()}  # not indexed yet
    report = qa.update()
    assert report.added == [result.article_id] and not report.removed and not report.changed
    # Only the new passage went to the model; the others came from the embedding cache.
    assert 1 <= report.build.embedded <= 2 and report.build.reused == report.build.chunks - report.build.embedded
    rows = library.list_articles("nong dan bac giang")
    assert [r.id for r in rows] == [result.article_id] and rows[0].date == "2024-06-05" and rows[0].source == "Báo Thử"
    assert qa.search("thu hoạch vải sớm Tân Yên", k=1)[0].article_id == result.article_id


def test_the_same_text_again_is_a_duplicate_pending_until_the_update(lib):
    qa, library = lib
    first = library.add_text(NEW_TITLE, NEW_TEXT)
    again = library.add_text("Một tiêu đề khác", "  " + NEW_TEXT.upper().replace(" ", "  ") + "\n")
    assert again.status == "duplicate" and again.duplicate_of == NEW_TITLE and again.pending
    assert again.needs_update and not again.ok
    assert NEW_TITLE in again.message("en") and "đã có trong kho" in again.message("vi")
    assert len(added_files(qa.settings)) == 1
    qa.update()
    indexed = Library(qa.settings).add_text("Tiêu đề thứ ba", NEW_TEXT)
    assert indexed.status == "duplicate" and not indexed.pending and first.ok
    # A text already in the corpus before any addition is a duplicate of that article.
    old = library.add_text("Bản sao", HOA_SEN_TEXT)
    assert old.status == "duplicate" and old.duplicate_of == ARTICLES[HOA_SEN][0]["title"]


def test_a_near_copy_is_added_and_flagged(lib):
    _, library = lib
    result = library.add_text("Hoa Sen khánh thành nhà máy", HOA_SEN_TEXT + " Ảnh: Báo Ba.", "2024-06-22")
    titles = {ARTICLES[HOA_SEN][0]["title"], ARTICLES[HOA_SEN_COPY][0]["title"]}
    assert result.ok and result.similar_to and result.similar_to[0] in titles
    assert "nearly identical" in result.message("en") and "gần giống hệt" in result.message("vi")
    assert not library.add_text(NEW_TITLE, NEW_TEXT).similar_to


@pytest.mark.parametrize("title,text,date,url,phrase_en,phrase_vi", [
    ("", NEW_TEXT, "", "", "needs a title", "cần có tiêu đề"),
    (NEW_TITLE, "   ", "", "", "has no text", "không có nội dung"),
    (NEW_TITLE, NEW_TEXT, "hôm kia", "", "Unknown date format", "Không hiểu định dạng ngày"),
    (NEW_TITLE, NEW_TEXT, "", "javascript:alert(1)", "not an http", "không phải địa chỉ http"),
])
def test_refused_articles_write_nothing_and_say_why_in_both_languages(lib, title, text, date, url, phrase_en,
                                                                      phrase_vi):
    qa, library = lib
    result = library.add_text(title, text, date, url)
    assert result.status == "error" and not result.ok and not result.needs_update
    assert phrase_en in result.message("en") and phrase_vi in result.message("vi")
    assert added_files(qa.settings) == []


def test_uploads_by_format_with_a_broken_line_reported(lib):
    qa, library = lib
    lines = [json.dumps({"title": "Bài một", "text": "Nội dung bài một về giao thông.", "date": "2024-01-02"}),
             "{not json",
             json.dumps({"title": "Bài hai", "text": "Nội dung bài hai về y tế."})]
    results = library.add_upload("batch.jsonl", "\n".join(lines).encode())
    assert [r.status for r in results] == ["added", "added", "error"]
    assert "batch.jsonl:2" in results[2].message("en")
    md = library.add_upload("bai.md", b"---\ntitle: Bai ba\n---\n\nNoi dung bai ba ve giao duc.\n")
    assert [r.status for r in md] == ["added"] and md[0].title == "Bai ba"
    assert len(added_files(qa.settings)) == 3
    assert "unsupported file type" in library.add_upload("notes.pdf", b"%PDF-1.4")[0].message("en")
    small = Library(qa.settings.with_(max_upload_mb=0.001))
    assert "the limit is 0.001 MB" in small.add_upload("big.md", b"x" * 2000)[0].message("en")
    assert len(added_files(qa.settings)) == 3
    # A name no filesystem holds (over 255 bytes, a NUL) was an uncaught OSError / ValueError for the batch.
    for i, name in enumerate(("Bài viết rất dài " * 20 + ".md", "a\x00b.md")):
        got = library.add_upload(name, f"---\ntitle: Tệp {i}\n---\n\nNội dung riêng của tệp {i}.\n".encode())
        assert [r.status for r in got] == ["added"], got


def test_adding_a_story_again_never_overwrites_the_version_a_feed_rewrote(lib):
    # The first text's file name (its digest) stays when a feed rewrites the text in place; adding that first
    # text again wrote the same name and replaced the rewritten file.
    from pathlib import Path

    from index.corpus import make_article

    qa, library = lib
    first = make_article({"title": NEW_TITLE, "date": "2024-06-03"}, NEW_TEXT, Path("feed item"), "feed")
    added = library.add(first)
    rewritten = make_article({"title": NEW_TITLE, "date": "2024-06-03"}, NEW_TEXT + " Cập nhật: giá đã giảm.",
                             Path("feed item"), "feed")
    assert library.replace_article(added.article_id, rewritten).status == "updated"
    again = library.add(first)
    assert again.status == "added" and again.article_id != added.article_id
    texts = [f.read_text("utf-8") for f in added_files(qa.settings)]
    assert len(texts) == 2 and any("Cập nhật" in t for t in texts)


def test_delete_removes_the_file_and_the_update_drops_the_article(lib):
    qa, library = lib
    result = library.delete(SU_DOAN)
    assert result.status == "deleted" and result.ok and result.path == f"{SU_DOAN}.md"
    assert not (qa.settings.corpus_dir / f"{SU_DOAN}.md").exists()
    report = qa.update()
    assert report.removed == [SU_DOAN] and not report.added
    assert SU_DOAN not in {r.id for r in library.list_articles()}
    assert SU_DOAN not in {h.article_id for h in qa.search("Đại tá Nguyễn Văn An trao giấy khen", k=10)}
    missing = library.delete(SU_DOAN)
    assert missing.status == "error" and "No article with id" in missing.message("en")


def test_an_article_of_a_multi_article_file_is_not_deleted(lib):
    qa, library = lib
    (qa.settings.corpus_dir / "batch.jsonl").write_text(
        json.dumps({"id": "j1", "title": "Một", "text": "Văn bản một."}) + "\n"
        + json.dumps({"id": "j2", "title": "Hai", "text": "Văn bản hai."}) + "\n", encoding="utf-8")
    qa.update()
    refused = library.delete("j1")
    assert refused.status == "error" and "holds several articles" in refused.message("en")
    assert (qa.settings.corpus_dir / "batch.jsonl").exists()


def test_listing_sorts_filters_without_accents_and_shows_duplicate_groups(shared_qa):
    library = Library(shared_qa.settings)
    rows = library.list_articles()
    assert {r.id for r in rows} == set(ARTICLES)
    dated = [r.date for r in rows if r.date]
    assert dated == sorted(dated, reverse=True) and rows[-1].id == BONG_DA  # undated last
    titles = [r.title for r in library.list_articles(sort="title")]
    assert titles == sorted(titles, key=str.lower)
    chunks = [r.chunks for r in library.list_articles(sort="chunks")]
    assert chunks == sorted(chunks, reverse=True) and chunks[0] > 1
    assert {r.id for r in library.list_articles("hoa sen")} == {HOA_SEN, HOA_SEN_COPY}
    assert [r.id for r in library.list_articles("khai giang")] == [TRUONG]
    assert [r.id for r in library.list_articles("bao quan doi")] == [SU_DOAN]  # sources match too
    by_id = {r.id: r for r in rows}
    assert by_id[HOA_SEN_COPY].duplicate_of == HOA_SEN and by_id[HOA_SEN].duplicate_of == ""
