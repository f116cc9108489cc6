"""Conversations at scale: periods named in a question that the archive does not cover, and
pronoun follow-ups that must stay with the conversation's subject two turns later."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from assistant.followup import MAX_CONTEXT_QUESTIONS, MAX_QUERY_CHARS, conversation_context, retrieval_query
from assistant.retrieval import SearchFilters
from assistant.service import NewsQA
from index.updater import update_index
from tests.conftest import CORPUS, SEED_ID, TASK_FRAGMENTS

NOW = dt.date(2026, 11, 28)  # a Saturday: "tuần trước" / "last week" is 2026-11-16 .. 2026-11-22

GOLD = ("---\ntitle: Giá vàng SJC tăng mạnh, vượt mốc 37 triệu đồng mỗi lượng\n{date}source: Báo Thử\n---\n\n"
        "Sáng nay, giá vàng SJC được Công ty Vàng bạc Đá quý Sài Gòn niêm yết ở mức 36,6 triệu đồng mỗi lượng mua "
        "vào và 37,1 triệu đồng mỗi lượng bán ra, tăng 200.000 đồng so với hôm qua. Giá vàng thế giới cũng tăng lên "
        "1.240 USD mỗi ounce do đồng USD suy yếu. Các chuyên gia cho rằng giá vàng còn biến động mạnh trong những "
        "tuần tới.\n")
PETROL = ("---\ntitle: Giá xăng giảm gần 500 đồng mỗi lít từ chiều nay\ndate: 2017-03-04\nsource: Báo Thử\n---\n\n"
          "Liên Bộ Công Thương - Tài chính quyết định giảm giá xăng RON 92 thêm 480 đồng mỗi lít, xuống còn 17.790 "
          "đồng. Giá dầu diesel giữ nguyên. Đây là lần giảm giá xăng thứ hai liên tiếp trong năm.\n")
# The only article inside "last week": about something else, so the period leaves a weak passage.
FOOTBALL = ("---\ntitle: Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu\ndate: 2026-11-20\nsource: Báo Thử\n---\n\n"
            "Đội tuyển Việt Nam thắng 2-0 trong trận giao hữu trên sân Mỹ Đình. Hai bàn thắng được ghi trong hiệp "
            "hai.\n")


def _index(folder, settings, embedder, articles: dict[str, str], seed: bool) -> NewsQA:
    corpus = folder / "corpus"
    corpus.mkdir()
    if seed:
        shutil.copy(CORPUS / f"0001-{SEED_ID}.md", corpus)
    for path in sorted((CORPUS / "baomoi").glob("*.md"))[:3]:  # undated
        shutil.copy(path, corpus)
    for name, text in articles.items():
        (corpus / f"{name}.md").write_text(text, encoding="utf-8")
    live = settings.with_(index_dir=folder / "idx", corpus_dir=corpus)
    update_index(live.index_config(), embedder)
    return NewsQA(live, embedder=embedder)


@pytest.fixture(scope="module")
def older(tmp_path_factory, base_settings, embedder) -> NewsQA:
    """An archive whose articles are undated or older than the periods asked about."""
    return _index(tmp_path_factory.mktemp("older"), base_settings, embedder,
                  {"gia-vang": GOLD.format(date="date: 2017-02-20\n"), "gia-xang": PETROL, "bong-da": FOOTBALL},
                  seed=True)


@pytest.fixture(scope="module")
def undated(tmp_path_factory, base_settings, embedder) -> NewsQA:
    return _index(tmp_path_factory.mktemp("undated"), base_settings, embedder, {"gia-vang": GOLD.format(date="")},
                  seed=False)


# --- A: a period the archive does not cover -------------------------------------------------------

@pytest.mark.parametrize("question,article,start,end,said", [
    ("Giá vàng hôm nay thế nào?", "gia-vang", "2026-11-28", "2026-11-28", "hôm nay"),
    # "last week" holds one article (football): far weaker than the petrol one outside it.
    ("Tin tức tuần trước về giá xăng", "gia-xang", "2026-11-16", "2026-11-22", "tuần trước"),
])
def test_implied_period_without_articles_falls_back_and_says_so(older, question, article, start, end, said):
    ans = older.ask(question, now=NOW)
    assert ans.found and ans.citations[0].article_id == article
    assert start in ans.notice and end in ans.notice and f"“{said}”" in ans.notice
    assert "2026-11-20" in ans.notice and "bài mới nhất" in ans.notice  # the index's newest article
    assert "ngoài khoảng thời gian" in ans.notice
    assert "Chỉ tìm trong" not in ans.notice  # the filter that was dropped is not claimed


def test_english_period_falls_back(older):
    ans = older.ask("What was the gold price last week?", ui_lang="en", now=NOW)
    assert ans.language == "en" and ans.found and ans.citations[0].article_id == "gia-vang"
    assert "2026-11-16" in ans.notice and "2026-11-22" in ans.notice and "“last week”" in ans.notice
    assert "newest article in the index is dated 2026-11-20" in ans.notice
    assert "outside that period" in ans.notice


def test_undated_archive_says_its_articles_are_undated(undated):
    vi = undated.ask("Giá vàng hôm nay thế nào?", now=NOW)
    assert vi.found and vi.citations[0].article_id == "gia-vang"
    assert "2026-11-28" in vi.notice and "không có ngày đăng" in vi.notice and "ngoài khoảng thời gian" in vi.notice
    en = undated.ask("What was the gold price last week?", ui_lang="en", now=NOW)
    assert en.found and en.citations[0].article_id == "gia-vang"
    assert "2026-11-16" in en.notice and "has a publication date" in en.notice and "outside that period" in en.notice


def test_a_period_that_holds_the_answer_keeps_the_filter(older):
    ans = older.ask("Đội tuyển Việt Nam tuần trước thắng mấy bàn?", now=NOW)
    assert ans.found and {c.article_id for c in ans.citations} == {"bong-da"}
    assert ans.notice == "Chỉ tìm trong các bài đăng từ 2026-11-16 đến 2026-11-22 (“tuần trước”)."
    seed = older.ask("Sư đoàn 346 tổ chức hội nghị gì trong tháng 5/2022?", now=NOW)
    assert seed.found and seed.citations[0].article_id == SEED_ID and seed.notice.startswith("Chỉ tìm trong")


def test_explicit_dates_are_kept_and_an_empty_result_says_why(older):
    filters = SearchFilters(date_from="2026-11-01", date_to="2026-11-10")
    ans = older.ask("Giá vàng SJC bao nhiêu?", filters=filters, now=NOW)
    assert not ans.found and ans.citations == [] and ans.hits == []
    assert "2026-11-01" in ans.notice and "2026-11-10" in ans.notice and "2026-11-20" in ans.notice
    en = older.ask("What was the SJC gold price?", filters=SearchFilters(date_from="2026-11-25"), ui_lang="en")
    assert not en.found and en.citations == []
    assert "published on or after 2026-11-25" in en.notice and "newest article in the index is dated 2026-11-20" in en.notice
    # Explicit dates that match leave the answer alone, with no notice.
    kept = older.ask("Giá vàng SJC bao nhiêu?", filters=SearchFilters(date_from="2017-01-01", date_to="2017-12-31"))
    assert kept.notice == "" and all(c.date and c.date.startswith("2017") for c in kept.citations)


# --- B: follow-ups stay with the conversation's subject --------------------------------------------

VI = ("Hội nghị tổng kết Nghị quyết 382 của Sư đoàn 346 diễn ra khi nào?", "Ai phát biểu chỉ đạo tại hội nghị?",
      "Ông ấy yêu cầu đơn vị làm gì?")
EN = ("When was Division 346's conference on Resolution 382 held?", "Who gave the directing speech at the conference?",
      "What did he ask the unit to do?")


@pytest.mark.parametrize("turns,subject", [(VI, "Sư đoàn 346"), (EN, "Division 346")])
def test_third_turn_carries_the_subject(turns, subject):
    first, second, third = turns
    query = retrieval_query(third, [first, second])
    assert subject in query and query.startswith(first) and second in query and query.endswith(third)
    # Two follow-ups later the subject is still there; a message of its own stays alone.
    later = retrieval_query(third, [first, second, third])
    assert subject in later and later.endswith(third)
    assert retrieval_query(first, [first, second]) == first


def test_context_starts_at_the_latest_named_subject():
    messi = "Messi có áo đấu của Ronaldo không?"
    assert conversation_context([VI[0], messi, "Ai tặng áo?"]) == [messi, "Ai tặng áo?"]
    query = retrieval_query(VI[2], [VI[0], VI[1], messi, "Ai tặng áo?"])
    assert "Sư đoàn 346" not in query and query.startswith(messi)
    # Without any named subject the context is the last few questions.
    follow_ups = ["Ai phát biểu?", "Khi nào?", "Ở đâu?", "Ai dự?", "Vì sao?"]
    assert conversation_context(follow_ups) == follow_ups[-MAX_CONTEXT_QUESTIONS:]


def test_the_retrieval_query_stays_bounded():
    long_subject = "Sư đoàn 346 " + "tổng kết Nghị quyết 382 " * 80
    middle = [VI[1], "Ông ấy giữ chức vụ gì?"]
    query = retrieval_query(VI[2], [long_subject, *middle])
    assert len(query) <= MAX_QUERY_CHARS and query.startswith("Sư đoàn 346") and query.endswith(VI[2])
    # The latest turn outlives the ones between it and the subject.
    assert f"{middle[1]} {VI[2]}" in query and middle[0] not in query
    small = retrieval_query(VI[2], [VI[0], VI[1]], limit=120)
    assert len(small) <= 120 and small.endswith(VI[2]) and small.startswith("Hội nghị")


@pytest.mark.parametrize("turns", [VI, EN], ids=["vi", "en"])
def test_pronoun_follow_up_two_turns_later_stays_with_the_subject(qa, turns):
    first, second, third = turns
    ans = qa.ask(third, history=[first, second])
    assert ans.hits and ans.hits[0].article_id == SEED_ID
    assert all(c.article_id == SEED_ID for c in ans.citations)  # never an unrelated article


@pytest.mark.parametrize("turns", [
    VI,
    # Answered from the seed article (gate probability 0.51), but the sentence quoted is the conference's
    # opening one: the English message matches no Vietnamese sentence well (best cosine 0.79), so the
    # context's "When was Division 346's conference …" chooses the sentence.
    # Strict: should it pass one day, the marker must go (an XPASS would otherwise go unnoticed).
    pytest.param(EN, marks=pytest.mark.xfail(reason="quotes the seed article's opening sentence, not the tasks",
                                             strict=True)),
], ids=["vi", "en"])
def test_pronoun_follow_up_two_turns_later_answers_from_the_subject(qa, turns):
    first, second, third = turns
    ans = qa.ask(third, history=[first, second])
    assert ans.found and ans.citations[0].article_id == SEED_ID
    assert TASK_FRAGMENTS[0] in ans.answer
