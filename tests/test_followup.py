"""Follow-up questions without an LLM: what they depend on, and topic changes that must not leak."""

from __future__ import annotations

import pytest

from assistant.followup import depends_on_context, retrieval_query
from tests.conftest import GUIDING_VI, SEED_ID, TASK_FRAGMENTS


@pytest.mark.parametrize("message,depends", [
    ("Ai trao giấy khen?", True),
    ("Ông ấy giữ chức vụ gì?", True),
    ("ong ay giu chuc vu gi", True),
    ("and what did he ask the unit to do?", True),
    ("Messi có áo đấu của Ronaldo không?", False),
    ("What caused the fire in Can Tho?", False),
    ("Bộ Chỉ huy Bộ đội Biên phòng tỉnh Quảng Nam đã khởi tố nguyên Đồn phó vì vụ phá rừng pơ mu nào?", False),
])
def test_dependency(message, depends):
    assert depends_on_context(message) is depends


def test_query_combines_only_when_needed():
    assert retrieval_query("Ai trao giấy khen?", []) == "Ai trao giấy khen?"
    assert retrieval_query("Ai trao giấy khen?", [GUIDING_VI]) == f"{GUIDING_VI} Ai trao giấy khen?"
    assert retrieval_query("Messi có áo đấu của Ronaldo không?", [GUIDING_VI]) == "Messi có áo đấu của Ronaldo không?"


def test_vietnamese_follow_up_resolves_against_the_conversation(qa):
    without = qa.ask("Ông ấy giữ chức vụ gì?")
    assert not without.found
    ans = qa.ask("Ông ấy giữ chức vụ gì?", history=[GUIDING_VI])
    assert ans.found and "Phó chủ nhiệm Kỹ thuật Quân khu" in ans.answer
    assert {c.article_id for c in ans.citations} == {SEED_ID}
    award = qa.ask("Ai trao giấy khen?", history=[GUIDING_VI])
    assert "trao giấy khen" in award.answer and {c.article_id for c in award.citations} == {SEED_ID}


def test_english_follow_up_with_a_pronoun(qa):
    question = "and what did he ask the unit to do?"
    assert not qa.ask(question).found
    ans = qa.ask(question, history=["Who is Colonel Lương Thanh Bình?"])
    assert ans.found and TASK_FRAGMENTS[0] in ans.answer and SEED_ID in {c.article_id for c in ans.citations}


def test_topic_change_does_not_leak_the_old_context(qa):
    ans = qa.ask("Messi có áo đấu của Ronaldo không?", history=[GUIDING_VI, "Ai trao giấy khen?"])
    assert ans.found and SEED_ID not in {c.article_id for c in ans.citations}
    assert "Messi" in ans.answer
