"""Date expressions in questions become publication-date filters."""

from __future__ import annotations

import datetime as dt

import pytest

from assistant.dates import extract_date_range
from tests.conftest import SEED_ID

NOW = dt.date(2026, 11, 28)  # a Saturday


@pytest.mark.parametrize("question,start,end,said", [
    ("Sư đoàn 346 làm gì trong tháng 5/2022?", "2022-05-01", "2022-05-31", "tháng 5/2022"),
    ("su doan 346 thang 5 nam 2022", "2022-05-01", "2022-05-31", "thang 5 nam 2022"),
    ("What did Division 346 do in May 2022?", "2022-05-01", "2022-05-31", "May 2022"),
    ("Tin quân sự năm 2022", "2022-01-01", "2022-12-31", "năm 2022"),
    ("Hôm qua có tin gì?", "2026-11-27", "2026-11-27", "Hôm qua"),
    ("tuần trước có bão không", "2026-11-16", "2026-11-22", "tuần trước"),
    ("any floods last month?", "2026-10-01", "2026-10-31", "last month"),
    ("năm ngoái giá vàng", "2025-01-01", "2025-12-31", "năm ngoái"),
    ("What happened in 2021?", "2021-01-01", "2021-12-31", "in 2021"),
])
def test_expressions(question, start, end, said):
    period = extract_date_range(question, NOW)
    assert period is not None and period.iso == (start, end) and period.expression == said


@pytest.mark.parametrize("question", [
    "Nghị quyết 382 ngày 29/11/2007 nói gì?",  # an event date, not a publication date
    "What tasks did Colonel Lương Thanh Bình assign?",
    "tháng 13/2022", "năm 3000", "",
])
def test_no_period(question):
    assert extract_date_range(question, NOW) is None


def test_ask_applies_the_period_and_says_so(qa):
    hit = qa.ask("Sư đoàn 346 tổ chức hội nghị gì trong tháng 5/2022?", now=NOW)
    assert hit.found and hit.citations[0].article_id == SEED_ID
    assert "2022-05-01" in hit.notice and "2022-05-31" in hit.notice
    # A period that holds nothing: the best matches outside it, and the notice says so.
    miss = qa.ask("Sư đoàn 346 tổ chức hội nghị gì trong tháng 6/2022?", now=NOW)
    assert miss.found and miss.citations[0].article_id == SEED_ID
    assert "2022-06-01" in miss.notice and "2022-05-13" in miss.notice and "ngoài khoảng thời gian" in miss.notice
