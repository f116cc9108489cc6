"""Hybrid retrieval without the model: fusion arithmetic, the lexical confidence and its
discounts, per-article diversification, duplicate groups, search modes, filters and recency."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
import pytest

from assistant.retrieval import (
    ENGLISH_LEXICAL_DISCOUNT,
    RECENCY_HALF_LIFE_DAYS,
    RECENCY_WEIGHT,
    RESTORED_DENSE_DISCOUNT,
    Candidates,
    Retriever,
    SearchFilters,
    SearchRequest,
    fuse,
    lexical_query,
)
from assistant.service import NewsQA
from index.lexical import analyze_query
from index.textnorm import words
from tests.fast.fakes import ARTICLES, BONG_DA, HOA_SEN, HOA_SEN_COPY, LU_LUT, METRO, TRUONG

# -- fusion arithmetic --------------------------------------------------------------------------


def pool(confidence, discount=1.0, dense_weight=1.0) -> Candidates:
    # Passage 1 is a little weaker than passage 0 on the dense side and the only lexical match.
    return Candidates([10, 11, 12], np.array([0.90, 0.82, 0.80], np.float32), np.array([0.0, 10.0, 0.0], np.float32),
                      confidence, dense_weight, discount)


def test_without_lexical_confidence_fusion_is_min_max_normalized_dense():
    for confidence in (None, 0.0):
        assert np.allclose(fuse(pool(confidence)), [1.0, 0.2, 0.0], atol=1e-5)


def test_a_confident_lexical_match_overtakes_and_the_english_discount_takes_it_back():
    assert int(np.argmax(fuse(pool(1.0)))) == 1
    assert int(np.argmax(fuse(pool(1.0, discount=ENGLISH_LEXICAL_DISCOUNT)))) == 0
    assert int(np.argmax(fuse(pool(0.3)))) == 0  # a weak lexical reading does not reorder
    # The dense side's weight scales its part only.
    assert np.allclose(fuse(pool(1.0, dense_weight=0.5)) - fuse(pool(1.0)), [-0.5, -0.1, 0.0], atol=1e-5)


@pytest.mark.parametrize("query,weight", [
    ("Hợp tác xã Hoa Sen", 1.0),  # accented: the dense side keeps its full weight
    ("hop tac xa hoa sen", 1.0 - RESTORED_DENSE_DISCOUNT),  # unaccented Vietnamese: restored, discounted
    ("what about the Hanoi metro line", 1.0),  # English: the model reads it as typed
])
def test_dense_weight_by_the_form_of_the_question(query, weight):
    assert Retriever.dense_weight(query) == pytest.approx(weight)


# -- against a small index ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def retriever(shared_qa):
    return Retriever(shared_qa.index(), shared_qa.embedder)


def test_lexical_confidence_is_the_share_of_the_question_found_in_the_best_passage(retriever):
    assert retriever.retrieve(SearchRequest("Quảng Bình sơ tán")).confidence == pytest.approx(1.0)
    half = retriever.retrieve(SearchRequest("Quảng Bình sơ tán cà phê Đà Lạt")).confidence
    assert 0.0 < half < 1.0
    question = "What did Colonel Nguyễn Văn An award?"
    english = retriever.candidates(question, retriever.encode([question])[0], 50)
    vietnamese = retriever.candidates("Quảng Bình sơ tán", retriever.encode(["Quảng Bình sơ tán"])[0], 50)
    assert english.lexical_discount == ENGLISH_LEXICAL_DISCOUNT and vietnamese.lexical_discount == 1.0


def test_an_english_question_searches_the_lexical_side_by_its_names_and_numbers(retriever):
    assert lexical_query("Đại tá Nguyễn Văn An trao giấy khen") == analyze_query("Đại tá Nguyễn Văn An trao giấy khen")
    # (a run typed without diacritics is searched in its folded form, as any unaccented text)
    assert lexical_query("Who did Colonel Nguyễn Văn An award in 2023?", bigrams=False) == [
        "colonel", "nguyễn", "văn", "an", "~2023"]
    # Pairs only of neighbours: "an_hà" (a place name of its own) is no phrase of this question.
    assert "an_hà" not in lexical_query("Who met Nguyễn Văn An in Hà Nội?") and "hà_nội" in lexical_query(
        "Who met Nguyễn Văn An in Hà Nội?")
    # Typed all in lowercase, names cannot be told from words: every word is searched, as for Vietnamese.
    assert lexical_query("what position does luong thanh binh hold") == analyze_query(
        "what position does luong thanh binh hold")
    # No anchor: no lexical side at all, so the ranking is the dense one (English words in some
    # English-titled passage would otherwise pull it there).
    question = "How many stations does the metro line have?"
    qv = retriever.encode([question])[0]
    assert lexical_query(question) == []
    found = retriever.retrieve(SearchRequest(question), qv)
    assert found.confidence == 0.0
    assert [h.chunk_id for h in found.hits] == [h.chunk_id for h in retriever.search(SearchRequest(question, mode="dense"), qv)]


def test_unaccented_questions_are_embedded_with_the_corpus_diacritics(retriever):
    assert retriever.dense_form("nha may say vai thieu") == "nhà máy sấy vải thiều"
    assert retriever.dense_form("what about the metro") == "what about the metro"  # English stays as typed


def test_at_most_max_per_article_passages_per_article_and_k_in_all(shared_qa):
    query = "nhà máy sấy vải thiều Hoa Sen xuất khẩu vốn sản lượng"
    capped = shared_qa.search(query, k=5)
    assert len(capped) == 5 and max(Counter(h.article_id for h in capped).values()) <= 2
    assert [h.score for h in capped] == sorted((h.score for h in capped), reverse=True)
    # The cap is what holds the long article back: lifted, its other passages come in.
    wide = NewsQA(shared_qa.settings.with_(max_per_article=5), embedder=shared_qa.embedder).search(query, k=5)
    assert Counter(h.article_id for h in wide).most_common(1)[0][1] > 2
    assert len(shared_qa.search(query, k=2)) == 2


def test_a_duplicate_group_shows_once_and_names_the_other_source(shared_qa):
    hits = shared_qa.search("nhà máy sấy vải thiều Hoa Sen", k=10)
    group = [h for h in hits if h.article_id in (HOA_SEN, HOA_SEN_COPY)]
    assert group and len({h.article_id for h in group}) == 1
    shown = group[0].article_id
    other = HOA_SEN_COPY if shown == HOA_SEN else HOA_SEN
    assert all(h.also == (ARTICLES[other][0]["source"],) for h in group)
    assert all(h.also == () for h in hits if h not in group)


def test_modes(shared_qa):
    lexical = shared_qa.search("Quảng Bình", k=5, mode="lexical")
    assert lexical[0].article_id == LU_LUT
    assert all({"quảng", "bình"} & set(words(f"{h.title} {h.text}")) for h in lexical)
    # Dense search ranks every passage, so even words absent from the corpus get k of them.
    assert len(shared_qa.search("zyxw qvtk", k=3, mode="dense")) == 3
    assert shared_qa.search("zyxw qvtk", k=3, mode="lexical") == []
    assert shared_qa.search("", k=3) == [] and shared_qa.search("x" * 5000, k=3) == []


def test_source_and_date_filters_are_exact(shared_qa):
    assert set(shared_qa.sources()) == {m["source"] for m, _ in ARTICLES.values() if "source" in m}
    only = shared_qa.search("Đại tá Nguyễn Văn An trao giấy khen", k=5,
                            filters=SearchFilters(sources=("Báo Miền Trung",)))
    assert only and {h.article_id for h in only} == {LU_LUT}
    in_2023 = shared_qa.search("trao giấy khen", k=10, filters=SearchFilters(date_from="2023-01-01",
                                                                             date_to="2023-12-31"))
    assert {h.article_id for h in in_2023} == {TRUONG, LU_LUT}  # the undated article is out too
    assert BONG_DA in {h.article_id for h in shared_qa.search("trao giấy khen", k=10)}
    assert shared_qa.search("trao giấy khen", k=10, filters=SearchFilters(date_from="2030-01-01")) == []


def test_recency_bonus_halves_every_half_life_from_the_newest_article(retriever):
    query = "trao giấy khen"
    qv = retriever.encode([query])[0]
    plain = {s.chunk_id: s.score for s in retriever.rank(query, qv, 50)}
    recent = {s.chunk_id: s.score for s in retriever.rank(query, qv, 50, filters=SearchFilters(prefer_recent=True))}
    assert plain.keys() == recent.keys()
    dates = retriever.index.db.chunk_dates(plain)
    newest = max(d for d in dates.values() if d)
    assert newest == ARTICLES[METRO][0]["date"]
    top = max(plain.values())
    for chunk_id, score in plain.items():
        date = dates[chunk_id]
        age = (dt.date.fromisoformat(newest) - dt.date.fromisoformat(date)).days if date else None
        bonus = 0.0 if age is None else RECENCY_WEIGHT * top * 0.5 ** (age / RECENCY_HALF_LIFE_DAYS)
        assert recent[chunk_id] - score == pytest.approx(bonus, abs=1e-6), (chunk_id, date)
    # Some passage overtakes one it tied with or trailed, and always a newer one an older one.
    overtakes = [(a, b) for a in plain for b in plain if plain[a] >= plain[b] and recent[b] > recent[a]]
    assert overtakes and all(dates[b] and (not dates[a] or dates[b] > dates[a]) for a, b in overtakes)


def test_a_future_dated_article_neither_earns_the_recency_bonus_nor_takes_it_from_the_others(fresh, fake_embedder):
    # One article dated 2099 (a feed's wrong date) made "now" 2099: every real article aged ~75 years, no bonus.
    (fresh.corpus_dir / "future.md").write_text(
        "---\ntitle: Bài ngày sai\ndate: 2099-01-01\n---\nLễ trao giấy khen cho học sinh giỏi năm nay.\n", "utf-8")
    qa = NewsQA(fresh, embedder=fake_embedder)
    qa.build()
    retriever = Retriever(qa.index(), qa.embedder)
    query = "trao giấy khen"
    qv = retriever.encode([query])[0]
    plain = {s.chunk_id: s.score for s in retriever.rank(query, qv, 50)}
    recent = {s.chunk_id: s.score for s in retriever.rank(query, qv, 50, filters=SearchFilters(prefer_recent=True))}
    dates = retriever.index.db.chunk_dates(plain)
    newest = max(d for d in dates.values() if d and d < "2099")
    gains = {dates[c]: recent[c] - plain[c] for c in plain if dates[c]}
    assert gains["2099-01-01"] == 0.0
    assert gains[newest] == pytest.approx(RECENCY_WEIGHT * max(plain.values()), abs=1e-6)
