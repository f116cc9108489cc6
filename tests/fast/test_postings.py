"""A saved index scores BM25 from postings read per question (index/postings.py): the same scores
as bm25s's own on its memory-mapped matrix, to the bit, without mapping the matrix into the process."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from index.lexical import LexicalIndex, analyze_query
from index.textnorm import fold_diacritics

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _texts() -> list[str]:
    # Every paragraph of the bundled articles: thousands of postings per common syllable.
    paragraphs = []
    for path in sorted(CORPUS.rglob("*.md")):
        paragraphs += [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 40]
    return paragraphs


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[LexicalIndex, LexicalIndex, list[str]]:
    texts = _texts()
    built = LexicalIndex.build(list(range(len(texts))), texts)
    folder = tmp_path_factory.mktemp("lexical")
    built.save(folder)
    return built, LexicalIndex.load(folder), texts


def _questions(texts: list[str]) -> list[str]:
    out = ["What tasks did Colonel Lương Thanh Bình assign?", "giá vàng", "không có gì ở đây xyz"]
    for t in texts[::3]:
        words = re.findall(r"\w+", t)[:12]
        out += [" ".join(words), fold_diacritics(" ".join(words)), " ".join(words[::-1] * 3)]
    return out


def test_scores_are_bm25s_scores_to_the_bit(saved):
    built, loaded, texts = saved
    assert loaded.postings is not None
    questions = _questions(texts)
    assert len(questions) > 30
    nonzero = 0
    for q in questions:
        tokens = analyze_query(q)
        ours = loaded.scores(tokens)
        columns = loaded.vocab.columns(dict.fromkeys(tokens))
        theirs = (np.asarray(loaded.bm25.get_scores_from_ids(columns), np.float32) if columns
                  else np.zeros(len(loaded), np.float32))
        assert ours.dtype == np.float32 and np.array_equal(ours, theirs), q
        assert np.array_equal(ours, built.scores(tokens)), q
        nonzero += bool(ours.any())
    assert nonzero > len(questions) * 0.9


def test_the_score_matrix_is_not_held_by_the_process(tmp_path):
    texts = _texts()
    LexicalIndex.build(list(range(len(texts))), texts).save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.scores(analyze_query("Sư đoàn 346")).any()
    for q in _questions(texts):
        loaded.scores(analyze_query(q))
    held = {}
    name = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(None, 5)
            name = parts[5] if len(parts) > 5 else ""
        elif line.startswith("Rss:") and name and name.endswith((".csc.index.npy",)) and "/lexical" in name:
            held[name] = held.get(name, 0) + int(line.split()[1])
    # The column pointers (one per token: 24 MB at 35k articles) stay mapped; the matrix must not.
    mapped = [n for n in held if n.startswith(str(tmp_path)) and n.endswith(("/data.csc.index.npy",
                                                                              "/indices.csc.index.npy"))]
    assert len(mapped) in (0, 2)
    assert all(held[n] == 0 for n in mapped), {n: held[n] for n in mapped}


def test_a_truncated_postings_file_is_refused(tmp_path):
    from index.errors import IndexStateError

    texts = _texts()[:50]
    LexicalIndex.build(list(range(len(texts))), texts).save(tmp_path)
    data = tmp_path / "lexical" / "data.csc.index.npy"
    data.write_bytes(data.read_bytes()[:-400])
    with pytest.raises(IndexStateError):
        LexicalIndex.load(tmp_path)
