"""Working days by China's official calendar (chinese-calendar): public holidays close, adjusted
working Saturdays and Sundays (调休) open, and a year the library does not know yet is counted
Monday to Friday with a note saying so. Exact dates, checked against the State Council's notices
for 2026 (春节 15–23 Feb with 14 and 28 Feb worked; 国庆 1–7 Oct with 10 Oct worked)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from refunds.calendar import add_working_days, is_working_day

D = dt.date


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2026, 10, 1), False),  # 国庆
        (D(2026, 10, 7), False),
        (D(2026, 10, 8), True),
        (D(2026, 10, 10), True),  # Saturday worked (调休)
        (D(2026, 10, 11), False),  # an ordinary Sunday
        (D(2026, 2, 14), True),  # Saturday worked before 春节
        (D(2026, 2, 16), False),  # Monday in 春节
        (D(2026, 2, 23), False),
        (D(2026, 2, 28), True),  # Saturday worked after 春节
        (D(2026, 9, 25), False),  # 中秋, a Friday
        (D(2026, 11, 27), True),
        (D(2026, 11, 28), False),
    ],
)
def test_given_a_2026_date_when_asked_then_the_official_calendar_answers(day, working):
    assert is_working_day(day) is working


def test_given_a_year_the_library_does_not_know_when_asked_then_none_not_a_crash():
    assert is_working_day(D(2099, 3, 2)) is None


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        # Wed 30 Sep: 国庆 closes 1–7 Oct; 8, 9, 10 (Saturday worked), 12, 13.
        (D(2026, 9, 30), 5, D(2026, 10, 13)),
        # Thu 24 Sep: 中秋 closes 25–27 Sep; 28, 29, 30, then 8, 9 Oct.
        (D(2026, 9, 24), 5, D(2026, 10, 9)),
        # Fri 13 Feb: 14 Feb (Saturday worked), then 春节 until 23 Feb; 24, 25, 26, 27.
        (D(2026, 2, 13), 5, D(2026, 2, 27)),
        # Tue 24 Feb: 25, 26, 27, 28 (Saturday worked), 2 Mar.
        (D(2026, 2, 24), 5, D(2026, 3, 2)),
        # An ordinary week: Fri 20 Nov → 23, 24, 25, 26, 27 Nov.
        (D(2026, 11, 20), 5, D(2026, 11, 27)),
        # Applied on a holiday: counting starts from the next working day.
        (D(2026, 10, 3), 1, D(2026, 10, 8)),
        (D(2026, 11, 20), 0, D(2026, 11, 20)),
        (D(2026, 11, 20), 10, D(2026, 12, 4)),
    ],
)
def test_given_a_start_when_adding_working_days_then_the_exact_official_date(start, n, due):
    deadline = add_working_days(start, n)
    assert (deadline.due_on, deadline.note) == (due, "")


def test_given_days_running_into_an_unpublished_year_then_monday_to_friday_and_a_note_naming_it(monkeypatch):
    # As chinese-calendar 1.11.0 behaves for 2027 (it raises for a year it has no notice for); the
    # newer versions that will know 2027 must not change what this test checks.
    import chinese_calendar

    known = chinese_calendar.is_workday

    def until_2026(day):  # type: ignore[no-untyped-def]
        if day.year >= 2027:
            raise NotImplementedError("no available data for year 2027")
        return known(day)

    monkeypatch.setattr(chinese_calendar, "is_workday", until_2026)
    # 29, 30, 31 Dec 2026 from the official calendar; Fri 1 Jan and Mon 4 Jan 2027 as plain weekdays.
    with translation.override("en"):
        deadline = add_working_days(D(2026, 12, 28), 5)
    assert deadline.due_on == D(2027, 1, 4)
    assert deadline.note == (
        "The official holiday calendar for 2027 is not published yet: those days are counted "
        "Monday to Friday, so the date may move once the State Council's notice is out."
    )


def test_given_a_year_far_ahead_then_every_day_counted_monday_to_friday():
    # Thu 1 Jan 2099 → Fri 2, Mon 5, Tue 6, Wed 7, Thu 8.
    deadline = add_working_days(D(2099, 1, 1), 5)
    assert deadline.due_on == D(2099, 1, 8)
    assert "2099" in deadline.note


def test_given_a_negative_count_then_refused():
    with pytest.raises(ValueError, match="negative"):
        add_working_days(D(2026, 1, 5), -1)
