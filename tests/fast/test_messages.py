"""The one message catalog (assistant/messages.json): every text in both languages, every key the code
names present, errors and reports rendered through it (the index layer only through its hook)."""

from __future__ import annotations

import ast
import pickle
import string
from pathlib import Path

import pytest

from assistant.errors import IndexStateError, InputError, Msg, NewsQAError
from assistant.messages import CATALOG, LANGS, t

ROOT = Path(__file__).resolve().parents[2]
ERRORS = {"NewsQAError", "ModelError", "IndexStateError", "IndexMissingError", "IndexMismatchError",
          "IndexFormatError", "CorpusError", "InputError", "AccessError"}
# Functions whose first argument is a catalog key (label: the web UI's name for t).
RENDERERS = {"t", "label", "render", "Msg"} | ERRORS


def _fields(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}


def _keys(node: ast.AST) -> list[tuple[str, bool]]:
    """(key, exact) for a key expression: a literal, f"prefix_{x}" (prefix only) or a conditional of those."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, True)]
    if isinstance(node, ast.IfExp):
        return _keys(node.body) + _keys(node.orelse)
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return [(node.values[0].value, False)]
    return []


def _calls() -> list[tuple[str, int, str, ast.Call]]:
    found = []
    for folder in ("assistant", "index"):
        for path in sorted((ROOT / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                    if name in RENDERERS or name == "_refuse":
                        found.append((f"{folder}/{path.name}", node.lineno, name, node))
    return found


def test_every_text_is_in_both_languages_with_no_new_placeholder():
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGS), key
        assert texts["vi"].strip() and texts["en"].strip(), key
        # A translation may leave out a detail (an exception's text), never need a value the English has not.
        assert _fields(texts["vi"]) <= _fields(texts["en"]), key


def test_every_key_the_code_names_is_in_the_catalog():
    missing, checked = [], 0
    for where, line, name, call in _calls():
        args = call.args[1:] if name == "_refuse" else call.args
        if not args:
            continue
        for key, exact in _keys(args[0]):
            checked += 1
            if (key not in CATALOG) if exact else not any(k.startswith(key) for k in CATALOG):
                missing.append(f"{where}:{line} {name}({key!r})")
    assert checked > 100
    assert not missing, "keys missing from assistant/messages.json:\n" + "\n".join(missing)


def test_errors_are_raised_with_a_key_not_with_texts():
    legacy = [f"{where}:{line}" for where, line, name, call in _calls()
              if name in ERRORS and len(call.args) > 1]
    assert not legacy, "pass a catalog key and parameters, not (en, vi) texts:\n" + "\n".join(legacy)


def test_index_has_no_texts_of_its_own():
    for path in sorted((ROOT / "index").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert 'lang == "vi"' not in source and "lang == 'vi'" not in source, path.name


def test_t_renders_falls_back_to_english_and_fails_loudly_on_unknown_keys():
    assert t("too_long", "vi", n=5, limit=3).startswith("Câu hỏi quá dài (5 ký tự")
    assert t("too_long", "fr", n=5, limit=3) == t("too_long", "en", n=5, limit=3)
    assert t("fetch_failed", "vi", url="u", reason=Msg("fetch_status", status=404)) == "Không tải được u: máy chủ trả lời mã 404."
    with pytest.raises(KeyError):
        t("no_such_key", "en")


def test_errors_render_through_the_catalog():
    err = IndexStateError("index_busy", index_dir="/idx")
    assert str(err) == "Another build or update of /idx is running. Wait for it to finish and try again."
    assert err.message("vi").startswith("Một lần dựng/cập nhật chỉ mục /idx")
    assert err.message("de") == str(err)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is IndexStateError and copy.message("vi") == err.message("vi")
    wrapped = InputError("cli_date_option", error=InputError("library_no_title"))
    assert wrapped.message("vi") == "--from/--to: Bài viết cần có tiêu đề."
    assert isinstance(wrapped, NewsQAError)
    with pytest.raises(TypeError):  # two ready-made texts are no longer accepted: a key and parameters
        InputError("English text", "Văn bản tiếng Việt")


def test_update_summary_is_data_until_rendered():
    from index.builder import BuildReport
    from index.updater import UpdateReport

    build = BuildReport("/idx", "v1", articles=3, chunks=9, tokens=100, seconds=1.25, embed_seconds=0.5,
                        embedded=9, reused=0)
    report = UpdateReport("/idx", added=["a"], unchanged=2, build=build)
    assert report.summary_text().key == "update_done"
    assert report.summary("en") == (
        "Updated: 1 added, 0 changed, 0 removed, 2 unchanged. Indexed 3 articles into 9 passages in 1.2s; "
        "9 passages embedded (100 tokens, 200 tokens/s), 0 reused from the cache; 0 file(s) skipped; version v1 at /idx")
    assert report.summary("vi") == ("Đã cập nhật: 1 bài mới, 0 bài sửa, 0 bài xóa, 2 bài không đổi; 3 bài, 9 đoạn; "
                                    "9 đoạn được nhúng mới, 0 đoạn dùng lại; 1.2 giây; phiên bản v1.")
    assert UpdateReport("/idx", unchanged=4).summary("vi") == (
        "Chỉ mục đã cập nhật sẵn (0 bài mới, 0 bài sửa, 0 bài xóa, 4 bài không đổi).")


def test_the_index_layer_renders_keys_until_the_catalog_is_installed():
    import index.errors

    saved = index.errors._renderer
    index.errors.set_renderer(index.errors._unrendered)
    try:
        assert str(IndexStateError("index_busy", index_dir="/idx")) == "index_busy {'index_dir': '/idx'}"
    finally:
        index.errors.set_renderer(saved)


def test_corpus_problems_speak_the_readers_language(tmp_path):
    from index.corpus import load_corpus
    from index.errors import Msg

    (tmp_path / "a.jsonl").write_text('{"id": "x", "title": "T", "text": "Một bài báo."}\n{broken\n', "utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "x", "title": "T2", "text": "Bài khác."}\n', "utf-8")
    problems = load_corpus(tmp_path).problems
    assert len(problems) == 2
    broken, duplicate = sorted(problems, key=lambda p: isinstance(p.problem, Msg) and p.problem.key == "corpus_duplicate_id")
    assert broken.reason.startswith("invalid JSON line") and broken.message("vi").startswith("dòng JSON không hợp lệ")
    assert "duplicate article id 'x'" in duplicate.reason and "trùng mã bài 'x'" in duplicate.message("vi")
