"""Audit regressions in the index layer: input that costs quadratic time or explodes in memory, a
corrupt embedding cache, and index paths that are not plain words."""

from __future__ import annotations

import logging
import sqlite3
import time

import numpy as np
import pytest

from assistant.errors import CorpusError
from index.builder import build_index
from index.corpus import load_corpus, load_file
from index.embedcache import EmbeddingCache
from index.layout import current_version
from index.lexical import LexicalIndex, analyze_query
from index.metadata import MetadataDB
from index.reader import check_index, open_index

DOCS = [
    "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện tốt công tác tuyên truyền giáo dục.",
    "Sư đoàn 346 tổ chức hội nghị sơ kết Nghị quyết 382 của Đảng ủy Quân khu.",
    "Mưa lớn gây lũ ở miền Trung, hàng nghìn hộ dân phải sơ tán.",
    "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu.",
]


@pytest.fixture(scope="module")
def lexical() -> LexicalIndex:
    return LexicalIndex.build(list(range(len(DOCS))), DOCS)


def test_accent_restoration_is_linear_in_text_length(lexical):
    # 600k characters: ~13 s when every Viterbi step copied the back-pointer list, ~0.4 s appended.
    text = "dai ta luong thanh binh yeu cau don vi " * 15_000
    started = time.perf_counter()
    restored = lexical.restorer.restore(text)
    assert time.perf_counter() - started < 3.0
    assert restored.startswith("đại tá lương thanh bình yêu cầu đơn vị đại tá") and len(restored) == len(text)


@pytest.mark.parametrize("question, restored", [
    ("Dai ta Luong Thanh Binh yeu cau don vi thuc hien nhung nhiem vu gi?",
     "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện nhung nhiem vu gi?"),
    ("mua lon gay lu o dau", "mưa lớn gây lũ ở dau"),
])
def test_short_questions_are_restored_as_before(lexical, question, restored):
    assert lexical.restorer.restore(question) == restored


def test_a_repeated_query_token_is_scored_once(lexical, monkeypatch):
    repeated = analyze_query("mưa lũ " * 100_000)
    once = list(dict.fromkeys(repeated))
    expected = lexical.scores(once)
    seen: list[list[int]] = []
    real = lexical.bm25.get_scores_from_ids
    monkeypatch.setattr(lexical.bm25, "get_scores_from_ids", lambda ids: seen.append(ids) or real(ids))
    started = time.perf_counter()
    scores = lexical.scores(repeated)
    assert time.perf_counter() - started < 1.0
    assert seen == [lexical.vocab.columns(t for t in once if t in lexical.vocab)] and len(seen[0]) > 1
    assert np.array_equal(scores, expected) and scores.any()


def billion_laughs(levels: int = 8) -> str:
    names = "abcdefghijklmnop"[:levels]
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]" for prev, cur in zip(names, names[1:])]
    return "---\n" + "\n".join(lines) + f"\ntitle: *{names[-1]}\n---\nNội dung bài viết.\n"


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = tmp_path / "bomb.md"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    assert bomb.stat().st_size < 500
    started = time.perf_counter()
    with pytest.raises(CorpusError) as err:
        load_file(bomb)
    assert time.perf_counter() - started < 2.0
    assert "bomb.md" in str(err.value) and "alias" in str(err.value) and len(str(err.value)) < 300
    loaded = load_corpus(tmp_path)
    assert loaded.articles == [] and [p.path for p in loaded.problems] == [str(bomb)]


def test_metadata_must_be_short_scalars(tmp_path):
    def write(name: str, front: str) -> None:
        (tmp_path / name).write_text(f"---\n{front}\n---\nNội dung bài viết.\n", encoding="utf-8")

    write("list-title.md", "title: [một, hai]")
    write("map-source.md", "title: T\nsource: {a: 1}")
    write("long-url.md", "title: T\nurl: https://x.vn/" + "a" * 2100)
    write("huge-front-matter.md", "title: T\nnote: " + "n" * 70_000)
    write("long-title.md", "title: " + "Tiêu đề " * 300 + "\nsummary: " + "s" * 6000 + "\nid: 42\ndate: 2024-01-02")
    loaded = load_corpus(tmp_path)
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in loaded.problems}
    assert set(reasons) == {"list-title.md", "map-source.md", "long-url.md", "huge-front-matter.md"}
    assert "'title'" in reasons["list-title.md"] and "list" in reasons["list-title.md"]
    assert "'source'" in reasons["map-source.md"]
    assert "'url'" in reasons["long-url.md"] and "2000" in reasons["long-url.md"]
    assert "front matter" in reasons["huge-front-matter.md"]
    [article] = loaded.articles
    # Prose over its limit is cut, so the article still loads.
    assert article.id == "42" and article.date == "2024-01-02"
    assert len(article.title) == 1000 and article.title.endswith("...") and len(article.summary) == 5000


def corrupt(path, keep: int = 0) -> None:
    """Overwrite everything after the first `keep` bytes with a fixed non-database pattern."""
    size = max(path.stat().st_size if path.exists() else 0, 64 * 1024)
    pattern = bytes(range(256)) * (size // 256 + 1)
    with open(path, "r+b" if path.exists() else "wb") as fh:
        fh.seek(keep)
        fh.write(pattern[: size - keep])


def test_corrupt_embedding_cache_is_moved_aside_and_the_build_succeeds(tmp_path, tiny_corpus, base_settings,
                                                                      embedder, caplog):
    index_dir = tmp_path / "idx"
    cache_dir = index_dir / "cache"
    cache_dir.mkdir(parents=True)
    corrupt(cache_dir / "embeddings.sqlite")
    (cache_dir / "embeddings.sqlite-wal").write_bytes(b"stale journal of the broken file")
    settings = base_settings.with_(index_dir=index_dir, corpus_dir=tiny_corpus)
    with caplog.at_level(logging.WARNING, logger="index.embedcache"):
        report = build_index(settings.index_config(), embedder)
    assert report.articles == 3 and report.embedded == report.chunks and check_index(index_dir).ok
    assert len([p for p in cache_dir.glob("embeddings.sqlite.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]) == 1
    assert "corrupt" in caplog.text and "moved it aside" in caplog.text
    with sqlite3.connect(cache_dir / "embeddings.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == report.chunks
    assert build_index(settings.index_config(), embedder).reused == report.chunks


def test_cache_damaged_past_its_header_is_replaced_on_first_read(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    keys = [f"k{i}" for i in range(2000)]
    cache = EmbeddingCache(path, "m", 64)
    cache.put_many(keys, np.ones((len(keys), 64), np.float32))
    cache.close()
    corrupt(path, keep=2 * 4096)  # the header and schema pages survive, so opening still works
    cache = EmbeddingCache(path, "m", 64)
    try:
        assert cache.get_many(keys) == {}
        cache.put_many(keys[:3], np.zeros((3, 64), np.float32))
        assert sorted(cache.get_many(keys)) == keys[:3]
    finally:
        cache.close()
    assert len(list(tmp_path.glob("embeddings.sqlite.corrupt-*"))) == 1


def test_index_in_a_directory_named_with_uri_characters(tmp_path, tiny_corpus, base_settings, embedder):
    index_dir = tmp_path / "idx#2 ?x"
    report = build_index(base_settings.with_(index_dir=index_dir, corpus_dir=tiny_corpus).index_config(), embedder)
    db_file = current_version(index_dir) / MetadataDB.FILENAME
    assert db_file.is_file() and (index_dir / "cache" / EmbeddingCache.FILENAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "idx#2 ?x"]
    idx = open_index(index_dir)
    try:
        assert idx.db.counts() == (report.articles, report.chunks)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            idx.db.conn.execute("DELETE FROM chunks")
    finally:
        idx.close()
