"""Date expressions in questions ("tháng 5/2022", "năm ngoái", "in May 2022", "last week") as
publication-date ranges, relative to today or a given "now".

Full calendar dates ("ngày 29/11/2007") are left alone on purpose: in news questions they usually
name the event ("Nghị quyết 382 ngày 29/11/2007"), not the day the article appeared."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from index.textnorm import fold_diacritics

MONTHS_EN = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS_EN.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH_EN = "|".join(sorted(MONTHS_EN, key=len, reverse=True))


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date
    expression: str

    @property
    def iso(self) -> tuple[str, str]:
        return self.start.isoformat(), self.end.isoformat()


def _month(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _year(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _relative(today: dt.date) -> list[tuple[str, tuple[dt.date, dt.date]]]:
    monday = today - dt.timedelta(days=today.weekday())
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    yesterday = today - dt.timedelta(days=1)
    return [
        (r"hom qua|yesterday", (yesterday, yesterday)),
        (r"hom nay|today", (today, today)),
        (r"tuan truoc|tuan qua|last week", (monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))),
        (r"tuan nay|this week", (monday, today)),
        (r"thang truoc|thang qua|last month", _month(last_month_end.year, last_month_end.month)),
        (r"thang nay|this month", (today.replace(day=1), today)),
        (r"nam ngoai|nam truoc|nam qua|last year", _year(today.year - 1)),
        (r"nam nay|this year", (dt.date(today.year, 1, 1), today)),
    ]


def extract_date_range(question: str, today: dt.date | None = None) -> DateRange | None:
    """The publication-date range a question asks about, or None."""
    today = today or dt.date.today()
    original = unicodedata.normalize("NFC", question or "")
    text = fold_diacritics(original).lower()

    def said(m: re.Match) -> str:
        # Folding maps each composed Vietnamese letter to one letter, so spans line up.
        return original[m.start() : m.end()] if len(original) == len(text) else m.group(0)

    for pattern, (start, end) in _relative(today):
        m = re.search(rf"\b(?:{pattern})\b", text)
        if m:
            return DateRange(start, end, said(m))
    patterns = [
        (r"\bthang (\d{1,2})\s*(?:/|-|nam)\s*(\d{4})\b", lambda m: _month(int(m[2]), int(m[1]))),
        (rf"\b({_MONTH_EN})\.?,?\s+(\d{{4}})\b", lambda m: _month(int(m[2]), MONTHS_EN[m[1]])),
        (r"\bnam (\d{4})\b", lambda m: _year(int(m[1]))),
        (r"\bin (\d{4})\b", lambda m: _year(int(m[1]))),
    ]
    for pattern, build in patterns:
        m = re.search(pattern, text)
        if not m:
            continue
        try:
            start, end = build(m)
        except ValueError:  # "tháng 13/2022"
            continue
        if 1900 <= start.year <= today.year + 1:
            return DateRange(start, end, said(m))
    return None
