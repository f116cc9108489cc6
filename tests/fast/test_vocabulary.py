"""The lexical index's compact vocabulary scores exactly what bm25s scores with its own dict, on disk
and in memory, and an index saved before the trie existed still loads with the same results."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from index.lexical import LexicalIndex, analyze_document, analyze_query

TEXTS = [
    "Đại tá Lương Thanh Bình yêu cầu đơn vị thực hiện tốt công tác tuyên truyền, giáo dục chính trị.",
    "Sư đoàn 346 tổ chức hội nghị sơ kết 10 năm thực hiện Nghị quyết 382 của Đảng ủy Quân khu 1.",
    "Mưa lớn gây lũ ở miền Trung; hàng nghìn hộ dân ở Quảng Bình phải sơ tán khỏi vùng lũ.",
    "Giá vàng hôm nay tăng mạnh, vàng SJC lên 70 triệu đồng mỗi lượng.",
    "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu với Thái Lan tại Mỹ Đình.",
    "Bình Định: lũ quét làm sập cầu, giao thông chia cắt nhiều ngày.",
    "",
]
QUERIES = ["Đại tá Lương Thanh Bình giao nhiệm vụ gì?", "dai ta luong thanh binh yeu cau gi", "lũ ở miền Trung",
           "gia vang hom nay", "What tasks did Colonel Lương Thanh Bình assign?", "Việt Nam", "xyz không có"]


@pytest.fixture(scope="module")
def built() -> LexicalIndex:
    return LexicalIndex.build(list(range(100, 100 + len(TEXTS))), TEXTS)


def reference_scores(query: str):
    """bm25s on its own, fed token strings: the scores the trie must reproduce."""
    import bm25s

    bm25 = bm25s.BM25()
    bm25.index([analyze_document(t) for t in TEXTS], show_progress=False)
    tokens = [t for t in dict.fromkeys(analyze_query(query)) if t in bm25.vocab_dict]
    return np.asarray(bm25.get_scores(tokens), np.float32) if tokens else np.zeros(len(TEXTS), np.float32)


@pytest.mark.parametrize("query", QUERIES)
def test_scores_equal_bm25s_with_its_own_vocabulary(built, query):
    expected = reference_scores(query)
    assert np.array_equal(built.scores(analyze_query(query)), expected)


def test_saved_and_loaded_index_scores_and_restores_the_same(built, tmp_path):
    files = built.save(tmp_path)
    assert "lexical/vocab.marisa" in files and "lexical/vocab.index.json" not in files
    loaded = LexicalIndex.load(tmp_path)
    assert len(loaded.vocab) == len(built.vocab) and len(loaded) == len(built)
    for q in QUERIES:
        tokens = analyze_query(q)
        assert np.array_equal(loaded.scores(tokens), built.scores(tokens))
        assert loaded.idf(tokens[0]) == built.idf(tokens[0])
    assert loaded.restorer.restore("dai ta luong thanh binh") == "đại tá lương thanh bình"
    assert loaded.vocab.df("lũ") == 2 and loaded.vocab.df("never-seen") == 0


def test_an_index_saved_before_the_trie_loads_with_the_same_results(built, tmp_path):
    """Older versions saved bm25s's JSON vocabulary only; it is converted at load."""
    import bm25s

    built.save(tmp_path)
    target = tmp_path / LexicalIndex.DIRNAME
    for name in ("vocab.marisa", "vocab_columns.npy", "accents.marisa"):
        (target / name).unlink()
    bm25 = bm25s.BM25()
    vocab: dict[str, int] = {"": 0}
    for text in TEXTS:
        for token in analyze_document(text):
            vocab.setdefault(token, len(vocab))
    (target / LexicalIndex.BM25S_VOCAB).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    old = LexicalIndex.load(tmp_path)
    for q in QUERIES:
        assert np.array_equal(old.scores(analyze_query(q)), built.scores(analyze_query(q)))
    assert old.restorer.restore("mua lon gay lu") == built.restorer.restore("mua lon gay lu")
    del bm25


def test_a_damaged_vocabulary_is_an_index_error(built, tmp_path):
    from index.errors import IndexStateError

    built.save(tmp_path)
    target = tmp_path / LexicalIndex.DIRNAME
    np.save(target / "vocab_columns.npy", np.zeros(3, np.int64))
    with pytest.raises(IndexStateError):
        LexicalIndex.load(tmp_path)
    shutil.rmtree(target)


def test_the_lean_build_writes_the_arrays_bm25s_writes():
    """LeanBM25 (index/bm25build.py) must produce bm25s's own matrix, element for element."""
    import random
    from array import array

    import bm25s

    from index.bm25build import BLOCK_DOCS, column_pointers, count_documents, lean_bm25_class

    rng = random.Random(5)
    words = [f"w{i}" for i in range(300)]
    # More documents than one block, skewed token frequencies, repeats, and empty documents.
    texts = [[rng.choice(words[: rng.choice((5, 50, 300))]) for _ in range(rng.choice((0, 1, 7, 40)))]
             for _ in range(BLOCK_DOCS + 900)]
    vocab: dict[str, int] = {"": 0}
    docs = [array("i", [vocab.setdefault(t, len(vocab)) for t in doc]) for doc in texts]
    stock, lean = bm25s.BM25(), lean_bm25_class()()
    stock.index((docs, dict(vocab)), show_progress=False)
    counted = count_documents(iter(docs))
    lean.index_counts(counted, column_pointers(counted, len(vocab)))
    for key in ("data", "indices", "indptr"):
        assert lean.scores[key].dtype == stock.scores[key].dtype, key
        assert np.array_equal(lean.scores[key], stock.scores[key]), key
    assert lean.scores["num_docs"] == stock.scores["num_docs"]


def test_a_passage_with_more_than_65535_equal_tokens_keeps_its_count():
    from index.bm25build import column_pointers, count_documents, lean_bm25_class

    docs = [[1] * 70_000 + [2], [2, 3], []]
    counted = count_documents(iter(docs))
    bm25 = lean_bm25_class()()
    bm25.index_counts(counted, column_pointers(counted, 4))
    import bm25s

    stock = bm25s.BM25()
    stock.index((docs, {"": 0, "a": 1, "b": 2, "c": 3}), show_progress=False)
    assert np.array_equal(bm25.scores["data"], stock.scores["data"])


def test_a_text_count_that_differs_from_the_passage_count_is_refused():
    with pytest.raises(ValueError):
        LexicalIndex.build([1, 2, 3], ["một", "hai"])
