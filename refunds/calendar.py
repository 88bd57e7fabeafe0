"""Working days (工作日) in mainland China: public holidays and adjusted working days (调休).

The holidays come from ``chinese-calendar`` (PyPI ``chinese-calendar``), a maintained library that
follows the State Council's yearly notice; it knows each year once the notice is out (usually in
November for the next year). For a year it does not know yet, the days of that year are counted
Monday to Friday and ``Deadline.note`` says so, so the page can show that the date may move;
nothing crashes and nothing guesses a holiday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import chinese_calendar
from django.utils.translation import gettext as _

# A refund applied for on the last day of a known year is decided within a couple of weeks; a
# deadline more than this many calendar days away means n was absurd, not a calendar gap.
_MAX_SPAN_DAYS = 3660


@dataclass(frozen=True)
class Deadline:
    due_on: dt.date
    # Empty when every counted day came from the official calendar; otherwise why the date may move.
    note: str = ""


def is_working_day(day: dt.date) -> bool | None:
    """True / False from the official calendar; None when the library does not know the year yet."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def add_working_days(start: dt.date, n: int) -> Deadline:
    """The n-th working day after ``start`` (``start`` itself is not counted; n = 0 gives ``start``).

    Applied on Wednesday 30 September 2026 with 5 working days: 国庆 closes 1–7 October, so the days
    are 8, 9, 10 (the adjusted working Saturday), 12 and 13 October → 13 October 2026.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    day = start
    counted = 0
    guessed_years: list[int] = []
    while counted < n:
        day += dt.timedelta(days=1)
        if (day - start).days > _MAX_SPAN_DAYS:
            raise ValueError("n is too large")
        known = is_working_day(day)
        if known is None:
            if day.year not in guessed_years:
                guessed_years.append(day.year)
            known = day.weekday() < 5
        if known:
            counted += 1
    note = ""
    if guessed_years:
        note = _(
            "The official holiday calendar for %(years)s is not published yet: those days are counted "
            "Monday to Friday, so the date may move once the State Council's notice is out."
        ) % {"years": "、".join(str(year) for year in guessed_years)}
    return Deadline(day, note)
