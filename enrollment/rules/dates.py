"""Calendar arithmetic the rulebook needs, in plain Python."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


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
