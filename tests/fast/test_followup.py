"""Follow-ups without an LLM: which earlier questions form the context, how the retrieval query is
bounded, and that the conversation's subject decides which of two similar facts is quoted."""

from __future__ import annotations

import pytest

from assistant.followup import (
    MAX_CONTEXT_QUESTIONS,
    conversation_context,
    depends_on_context,
    names_own_subject,
    refers_back,
    retrieval_query,
)
from assistant.records import Hit
from assistant.service import merge_follow_up_hits
from tests.fast.fakes import LU_LUT, SU_DOAN, TRUONG

ABOUT_AN = "Đại tá Nguyễn Văn An chủ trì hội nghị gì?"
ABOUT_HOA = "Cô Lê Thị Hoa đọc thư của ai?"
AWARD = "Ai được trao giấy khen?"


@pytest.mark.parametrize("message,depends", [
    ("Còn đơn vị đó thì sao?", True),
    ("what about the flood?", True),
    ("Họ làm gì sau đó?", True),
    ("Lũ ở Quảng Bình làm bao nhiêu hộ dân phải sơ tán?", False),  # names its own subject
    ("Giá vàng trong nước hôm nay tăng hay giảm so với tuần trước?", False),  # long, no reference back
])
def test_dependency(message, depends):
    assert depends_on_context(message) is depends


def test_the_context_walks_back_to_the_question_that_names_the_subject():
    history = ["Lũ ở Quảng Bình ra sao?", ABOUT_AN, "Ai phát biểu?", "Ông ấy yêu cầu gì?"]
    assert conversation_context(history) == [ABOUT_AN, "Ai phát biểu?", "Ông ấy yêu cầu gì?"]
    assert conversation_context([ABOUT_AN, "Ai phát biểu?", "  ", ""]) == [ABOUT_AN, "Ai phát biểu?"]
    unnamed = ["Có gì mới?", "Ở đâu?", "Khi nào?", "Ai làm?", "Vì sao?"]
    assert not any(names_own_subject(q) for q in unnamed)
    assert conversation_context(unnamed) == unnamed[-MAX_CONTEXT_QUESTIONS:]
    assert conversation_context([]) == []


def test_the_query_is_bounded_and_drops_the_middle_first():
    history = [ABOUT_AN, "Ai phát biểu trong hội nghị?", "Ông ấy yêu cầu gì?"]
    full = retrieval_query(AWARD, history)
    assert full == " ".join([*history, AWARD])
    limit = len(full) - 5  # too long by a little: the middle follow-up goes
    cut = retrieval_query(AWARD, history, limit=limit)
    assert cut == f"{ABOUT_AN} Ông ấy yêu cầu gì? {AWARD}" and len(cut) <= limit
    tight = retrieval_query(AWARD, history, limit=len(AWARD) + 30)  # subject and last turn shortened alike
    assert tight.endswith(AWARD) and len(tight) <= len(AWARD) + 30 and tight.startswith(ABOUT_AN[:8])
    assert retrieval_query(AWARD, history, limit=len(AWARD) + 1) == AWARD  # no room: the message alone


def test_the_conversation_subject_decides_which_award_is_quoted(shared_qa):
    # Both articles tell of certificates handed out; alone, the message cannot choose.
    alone = shared_qa.ask(AWARD)
    assert {SU_DOAN, TRUONG} <= {h.article_id for h in alone.hits[:2]}
    for history, subject, fact, other in ((ABOUT_AN, SU_DOAN, "15 tập thể", "20 học sinh"),
                                          (ABOUT_HOA, TRUONG, "20 học sinh", "15 tập thể")):
        ans = shared_qa.ask(AWARD, history=[history])
        assert ans.found and ans.hits[0].article_id == subject and ans.citations[0].article_id == subject
        first_line = ans.answer.splitlines()[0]
        assert fact in first_line and other not in first_line


def test_a_follow_ups_passages_join_their_articles_in_the_order_found():
    def hit(chunk_id: int, article_id: str) -> Hit:
        return Hit(article_id=article_id, title="", date="", url="", source="", text="", score=0.0,
                   chunk_id=chunk_id, position=0, start=0, end=1)

    with_subject = [hit(1, "subject"), hit(2, "subject"), hit(3, "stranger")]
    alone = [hit(9, "other"), hit(3, "stranger"), hit(7, "subject")]
    merged = merge_follow_up_hits(with_subject, alone)
    # The subject's passage found by the message alone ranks with the subject, not after strangers.
    assert [h.chunk_id for h in merged] == [1, 2, 7, 3, 9]
    assert merge_follow_up_hits(with_subject, []) == with_subject


def test_a_new_subject_does_not_carry_the_old_one(shared_qa):
    question = "Lũ ở Quảng Bình làm bao nhiêu hộ dân phải sơ tán?"
    ans = shared_qa.ask(question, history=[ABOUT_AN, AWARD])
    assert ans.found and ans.citations[0].article_id == LU_LUT
    assert SU_DOAN not in {c.article_id for c in ans.citations}
    # The same message after an unrelated conversation retrieves the same passages.
    assert [h.chunk_id for h in ans.hits] == [h.chunk_id for h in shared_qa.ask(question).hits]


@pytest.mark.parametrize("message,refers", [
    ("and what did he ask the unit to do?", True),
    ("Ông ấy giữ chức vụ gì?", True),
    ("ong ay giu chuc vu gi", True),
    ("What tasks did Colonel Lương Thanh Bình assign?", False),
    ("Ai trao giấy khen?", False),  # short and unnamed, but it points at nobody
    ("What did she say?", True),
    # "hệ", "hè", "hé" fold to "he"; unaccented Vietnamese writes them so; "the unit price" points at no one
    ("Hệ thống mới có tác dụng gì?", False),
    ("he thong moi co tac dung gi", False),
    ("Mùa hè năm nay nóng thế nào?", False),
    ("What was the unit price?", False),
    ("Ảnh ấy chụp ở đâu?", False),  # "ảnh ấy" (that photo), not "anh ấy"
    ("Đơn vị đo áp suất là gì?", False),
])
def test_refers_back(message, refers):
    assert refers_back(message) is refers
