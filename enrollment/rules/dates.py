"""Calendar arithmetic the rulebook needs, in plain Python."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import Any


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when that day does not exist (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def first_of_month_after(day: date, months: int = 1) -> date:
    """The 1st of the ``months``-th month after ``day``'s month (paid in January, 3 → 1 April)."""
    return add_months(day.replace(day=1), months)


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def age_on(birth_date: date, day: date) -> int:
    """Completed years of age on ``day``; someone born on 29 February turns a year older on 1 March."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def birthday_reached(birth_date: date, years: int, day: date) -> bool:
    """Whether the person is at least ``years`` old on ``day``."""
    return age_on(birth_date, day) >= years


def period_last_day(start: date, *, days: int = 0, months: int = 0) -> date:
    """The last day of a period of ``days`` days or ``months`` months after the event on ``start``.

    Counted as the Civil Code counts periods (民法典 第二百零一条至第二百零三条): the day of the
    event is not counted, so N days end on ``start`` + N days; a period of months ends on the
    corresponding day of the last month, or that month's last day when it has none (born 30 Nov,
    3 months → 28 or 29 Feb; born 31 Aug 2015, 6 months → 29 Feb 2016).
    """
    if days and months:
        raise ValueError("give days or months, not both")
    if months:
        return add_months(start, months)
    return add_days(start, days)


def last_of_month(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def shift_date(day: date, years: int) -> date:
    """The same day ``years`` later, where the last day of a month stays the last day of its month.

    A policy's "28 February" of a common year is the end of February (Qinbei: 可延迟缴费至2023年2月
    28日; Lanshan: 2016年2月底): moved into a leap year it is 29 February, or the leap year would
    have a day paid for but covered by no rule, or refused. 29 February moved into a common year
    is 28 February. Any other day keeps its day of the month.
    """
    year = day.year + years
    if last_of_month(day):
        return date(year, day.month, calendar.monthrange(year, day.month)[1])
    return date(year, day.month, day.day)


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A year in Chinese text, with the month and day that may follow it ("2023年", "2023年2月28日").
_CHINESE_DATE = re.compile(r"(20\d\d)年(?:(\d{1,2})月(\d{1,2})日)?")


def _shift_chinese(found: re.Match[str], years: int) -> str:
    year = int(found.group(1))
    if found.group(2) is None:
        return f"{year + years}年"
    month, day = int(found.group(2)), int(found.group(3))
    try:
        moved = shift_date(date(year, month, day), years)
    except ValueError:  # not a day of the calendar: only the year moves
        return f"{year + years}年{found.group(2)}月{found.group(3)}日"
    return f"{moved.year}年{moved.month}月{moved.day}日"


def shift_document(document: Any, years: int) -> Any:
    """A policy document (or any part of it) with every date moved by ``years`` as ``shift_date``
    moves it: ISO dates, and in its texts every "2021年" and "2021年2月28日" of the years around."""
    if isinstance(document, dict):
        return {key: shift_document(value, years) for key, value in document.items()}
    if isinstance(document, list):
        return [shift_document(value, years) for value in document]
    if isinstance(document, date):
        return shift_date(document, years).isoformat()
    if isinstance(document, str) and ISO_DATE.match(document):
        try:
            return shift_date(date.fromisoformat(document), years).isoformat()
        except ValueError:
            return document
    if isinstance(document, str):
        return _CHINESE_DATE.sub(lambda found: _shift_chinese(found, years), document)
    return document
