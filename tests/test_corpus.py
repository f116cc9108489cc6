"""Corpus loading: front matter, JSONL, HTML, cleaning, and files that cannot be read."""

from __future__ import annotations

import json
import unicodedata

import pytest

from assistant.errors import CorpusError
from index.corpus import clean_body, load_corpus, parse_date
from tests.conftest import CORPUS, SEED_ID


def test_bundled_corpus_starts_with_the_seed_article():
    loaded = load_corpus(CORPUS)
    assert loaded.problems == []
    assert len(loaded.articles) >= 10
    seed = loaded.articles[0]
    assert seed.id == SEED_ID
    assert seed.date == "2022-05-13" and seed.author == "Hải Biên" and seed.language == "vi"
    assert "Sư đoàn 346" in seed.title
    assert "Các tin khác" not in seed.text and "Tìm kiếm theo" not in seed.text
    # The photo caption stays as text.
    assert "Các đại biểu tham quan khu trưng bày sáng kiến" in seed.text
    assert "\n\n\n" not in seed.text


def test_clean_body_drops_site_chrome_and_empty_lines():
    raw = "Đoạn một.\n\n\n  \nẢnh: chú thích.\n\nTin và ảnh: A\n\nCác tin khác:\n- tin 1\nTìm kiếm theo: x"
    assert clean_body(raw) == "Đoạn một.\n\nẢnh: chú thích.\n\nTin và ảnh: A"


TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def to_cp1258(text: str) -> bytes:
    """Windows-1258, the legacy Vietnamese code page: tone marks are separate combining bytes."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
            out += base.encode("cp1258") + "".join(c for c in parts if c in TONE_MARKS).encode("cp1258")
    return bytes(out)


def test_all_formats_load_and_bad_files_are_reported_by_name(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: Tiêu đề A\ndate: 13/05/2022\nurl: https://x.vn/a\n---\nNội dung A.\n", "utf-8")
    (tmp_path / "b.txt").write_text("Tiêu đề B\n\nNội dung B.\n", "utf-8")
    lines = [
        json.dumps({"id": "j1", "title": "J1", "text": "Nội dung J1.", "source": "s", "date": "2022-01-02"}),
        "{broken json",
        json.dumps({"id": "j2", "title": "J2", "text": "Nội dung J2."}),
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines), "utf-8")
    (tmp_path / "d.html").write_text(
        "<html><head><title>Trang D</title><meta name='author' content='Tác Giả'>"
        "<meta property='article:published_time' content='2021-03-04'></head><body><nav>Menu</nav>"
        "<article><h1>Bão số 3 đổ bộ</h1><p>" + "Bão số 3 đổ bộ vào đất liền chiều nay với sức gió mạnh. " * 8 +
        "</p><p>Người dân đã được sơ tán an toàn khỏi vùng nguy hiểm trước khi bão đến.</p></article>"
        "<footer>Bản quyền</footer></body></html>", "utf-8")
    (tmp_path / "e.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (tmp_path / "f.md").write_text("---\ntitle: F\ndate: hôm kia\n---\nNội dung F.\n", "utf-8")
    (tmp_path / "g.txt").write_bytes(to_cp1258(
        "Tiêu đề G\n\nTiếng Việt mã cũ: Hà Nội mùa thu. Người dân đã được sơ tán an toàn khỏi vùng nguy hiểm.\n"))
    (tmp_path / "h.md").write_text("   \n\n", "utf-8")
    (tmp_path / "README.md").write_text("not an article", "utf-8")

    loaded = load_corpus(tmp_path)
    by_id = {a.id: a for a in loaded.articles}
    assert set(by_id) == {"a", "b", "j1", "j2", "d", "g"}
    assert by_id["a"].date == "2022-05-13" and by_id["a"].url == "https://x.vn/a"
    assert by_id["b"].title == "Tiêu đề B" and by_id["b"].text == "Nội dung B."
    assert by_id["d"].date == "2021-03-04" and "Bão số 3" in by_id["d"].text and "Menu" not in by_id["d"].text
    assert "Hà Nội mùa thu" in by_id["g"].text
    problems = {p.path.split("/")[-1]: p.reason for p in loaded.problems}
    assert set(problems) == {"c.jsonl:2", "e.txt", "f.md", "h.md"}
    assert "binary" in problems["e.txt"] and "date" in problems["f.md"].lower() and "no text" in problems["h.md"]


@pytest.mark.parametrize("raw,iso", [
    ("2022-05-13", "2022-05-13"), ("13/05/2022", "2022-05-13"), ("13-5-2022", "2022-05-13"),
    ("2022-05-13T08:30:00+07:00", "2022-05-13"), ("13/05/2022 08:00", "2022-05-13"), (None, None), ("", None), ("   ", None),
])
def test_parse_date(raw, iso):
    assert parse_date(raw) == iso


def test_unknown_date_is_a_clear_error():
    with pytest.raises(CorpusError, match="YYYY-MM-DD"):
        parse_date("sáng thứ hai")


def test_a_date_that_does_not_exist_skips_its_file_only(tmp_path):
    # YAML itself reads the date and Python's date refuses it: that was a traceback ending every build.
    (tmp_path / "bad.md").write_text("---\ntitle: Sai\ndate: 2024-02-30\n---\nNội dung.\n", "utf-8")
    (tmp_path / "good.md").write_text("---\ntitle: Đúng\n---\nNội dung khác.\n", "utf-8")
    # A file opening with "{" is read as JSON front matter, whose error is no YAML error either.
    (tmp_path / "brace.md").write_text('{\n"title": T\n}\nNội dung.\n', "utf-8")
    loaded = load_corpus(tmp_path)
    assert [a.id for a in loaded.articles] == ["good"]
    problems = {p.path.split("/")[-1]: p.message("vi") for p in loaded.problems}
    assert set(problems) == {"bad.md", "brace.md"} and "2024-02-30" in problems["bad.md"], problems


def test_jsonl_lines_end_at_newlines_only(tmp_path):
    # U+2028 / U+0085 are legal unescaped in a JSON string; splitlines() cut the records there.
    lines = [json.dumps({"id": "a", "title": "A\u0085B", "text": "x\u2028y z"}, ensure_ascii=False),
             json.dumps({"id": "b", "title": "B", "text": "t"})]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    loaded = load_corpus(tmp_path)
    assert not loaded.problems and [a.id for a in loaded.articles] == ["a", "b"]
    assert loaded.articles[0].title == "A B" and "\u2028" not in loaded.articles[0].text


def test_a_lone_surrogate_in_pasted_text_is_dropped():
    from pathlib import Path

    from index.corpus import make_article
    from index.dedup import text_hash

    article = make_article({"title": "T\udfff", "source": "Báo C\r# tin giả"}, "x\udfff y", Path("p"), "p")
    assert article.text == "x y" and article.title == "T" and text_hash(article.text)
    assert "\r" not in article.source


def test_missing_corpus_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
