"""Dates: expressions in questions as periods (calendar edges the full suite does not cover), dates
typed into filters, and what a period does to an answer: filter, fall back, or say it is empty."""

from __future__ import annotations

import datetime as dt

import pytest

from assistant.dates import extract_date_range
from assistant.errors import CorpusError
from assistant.retrieval import SearchFilters
from tests.fast.fakes import ARTICLES, LU_LUT, SU_DOAN

MONDAY = dt.date(2024, 3, 4)
NEW_YEAR = dt.date(2025, 1, 2)  # a Thursday


@pytest.mark.parametrize("question,today,start,end", [
    ("Có tin gì tháng 2/2024?", MONDAY, "2024-02-01", "2024-02-29"),  # leap year
    ("tin tháng 2 năm 2023", MONDAY, "2023-02-01", "2023-02-28"),
    ("thang 12-2021 co gi", MONDAY, "2021-12-01", "2021-12-31"),
    ("news from Sep. 2023", MONDAY, "2023-09-01", "2023-09-30"),  # abbreviated month with a dot
    ("anything in February, 2024?", MONDAY, "2024-02-01", "2024-02-29"),
    ("tuần này có gì mới", MONDAY, "2024-03-04", "2024-03-04"),  # a week that began today
    ("this week", dt.date(2024, 3, 10), "2024-03-04", "2024-03-10"),  # ... and one that ends today
    ("tháng trước", NEW_YEAR, "2024-12-01", "2024-12-31"),  # last month crosses the year
    ("tuần trước", NEW_YEAR, "2024-12-23", "2024-12-29"),
    ("hôm qua", NEW_YEAR, "2025-01-01", "2025-01-01"),
    ("this year", NEW_YEAR, "2025-01-01", "2025-01-02"),
    ("tháng này", dt.date(2024, 2, 29), "2024-02-01", "2024-02-29"),
    ("kế hoạch năm 2025", NEW_YEAR - dt.timedelta(days=30), "2025-01-01", "2025-12-31"),  # next year: allowed
])
def test_periods(question, today, start, end):
    period = extract_date_range(question, today)
    assert period is not None and period.iso == (start, end)


@pytest.mark.parametrize("question", ["tháng 0/2022", "tháng 13/2022", "năm 1899", "kế hoạch năm 2027",
                                      "số 2022 trong tháng", "ngày 13/05/2022"])
def test_not_periods(question):
    assert extract_date_range(question, NEW_YEAR) is None


def test_the_expression_is_quoted_as_the_user_wrote_it():
    assert extract_date_range("Tin Tháng 5/2022 ra sao", MONDAY).expression == "Tháng 5/2022"
    assert extract_date_range("NĂM NGOÁI thế nào", MONDAY).expression == "NĂM NGOÁI"


@pytest.mark.parametrize("raw,iso", [("13/05/2022", "2022-05-13"), ("2022-05-13", "2022-05-13"),
                                     ("13.05.2022", "2022-05-13"), ("2022-05-13T08:00:00+07:00", "2022-05-13"),
                                     ("", None)])
def test_filter_dates_in_the_accepted_formats(raw, iso):
    filters = SearchFilters.parse(["Báo Thử"], raw, None, True)
    assert filters.date_from == iso and filters.sources == ("Báo Thử",) and filters.prefer_recent
    assert SearchFilters.parse((), raw).restricts is bool(iso)


@pytest.mark.parametrize("raw", ["hôm kia", "31/02/2022", "2022/13/01"])
def test_unreadable_filter_dates_name_the_formats(raw):
    with pytest.raises(CorpusError, match="YYYY-MM-DD or DD/MM/YYYY"):
        SearchFilters.parse(date_to=raw)


# -- what a period does to an answer -------------------------------------------------------------

FLOOD = "Lũ ở miền Trung {} khiến bao nhiêu hộ dân sơ tán?"
NOW = dt.date(2026, 1, 15)


def test_a_period_in_the_question_filters_and_says_so(shared_qa):
    ans = shared_qa.ask(FLOOD.format("tháng 10/2023"), now=NOW)
    assert ans.found and {h.article_id for h in ans.hits} == {LU_LUT}
    assert "2023-10-01" in ans.notice and "2023-10-31" in ans.notice and "tháng 10/2023" in ans.notice


def test_a_period_with_nothing_in_it_falls_back_to_the_whole_index(shared_qa):
    ans = shared_qa.ask(FLOOD.format("tháng 11/2023"), now=NOW)
    assert ans.found and ans.citations[0].article_id == LU_LUT
    assert len({h.article_id for h in ans.hits}) > 1  # no longer confined to the period
    dates = sorted(m["date"] for m, _ in ARTICLES.values() if "date" in m)
    # The notice names the period tried and what the index holds instead.
    assert "2023-11-01" in ans.notice and dates[-1] in ans.notice and dates[0] in ans.notice


def test_dates_the_user_set_are_kept_even_when_they_leave_nothing(shared_qa):
    empty = shared_qa.ask(FLOOD.format("tháng 10/2023"), now=NOW,
                          filters=SearchFilters(date_from="2030-01-01"))
    assert not empty.found and empty.hits == [] and "2030-01-01" in empty.notice
    # User dates win over the question's period, and results inside them need no notice.
    kept = shared_qa.ask("Đại tá Nguyễn Văn An trao giấy khen cho bao nhiêu tập thể tháng 10/2023?", now=NOW,
                         filters=SearchFilters(date_from="2022-01-01", date_to="2022-12-31"))
    assert kept.found and {h.article_id for h in kept.hits} == {SU_DOAN} and kept.notice == ""


def test_relative_periods_count_from_now(shared_qa):
    flood_day = dt.date.fromisoformat(ARTICLES[LU_LUT][0]["date"])
    ans = shared_qa.ask("Lũ ở miền Trung hôm qua khiến bao nhiêu hộ dân sơ tán?",
                        now=flood_day + dt.timedelta(days=1))
    assert ans.found and {h.article_id for h in ans.hits} == {LU_LUT} and flood_day.isoformat() in ans.notice
