"""Calendar arithmetic: months that lack a day, leap years, birthdays on 29 February, legal periods."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.dates import (
    add_days,
    add_months,
    age_on,
    birthday_reached,
    first_of_month_after,
    period_last_day,
)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # no 31 February: the month's last day
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 8, 31), 3, date(2025, 11, 30)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),  # across the year end
        (date(2025, 2, 10), 3, date(2025, 5, 10)),
        (date(2025, 3, 15), -3, date(2024, 12, 15)),
    ],
)
def test_given_a_day_when_adding_months_then_the_same_day_or_the_months_last_day(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("paid_on", "months", "expected"),
    [
        (date(2023, 1, 1), 3, date(2023, 4, 1)),  # Qinbei: paid in January → 1 April
        (date(2023, 1, 31), 3, date(2023, 4, 1)),
        (date(2023, 2, 28), 1, date(2023, 3, 1)),
        (date(2023, 12, 31), 1, date(2024, 1, 1)),
    ],
)
def test_given_a_payment_when_asking_the_first_of_the_nth_month_after_then_the_1st_of_that_month(
    paid_on, months, expected
):
    assert first_of_month_after(paid_on, months) == expected


def test_given_a_day_when_adding_days_then_the_calendar_counts_29_february():
    assert add_days(date(2016, 2, 28), 1) == date(2016, 2, 29)
    assert add_days(date(2016, 3, 1), 30) == date(2016, 3, 31)


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(1945, 12, 31), date(2015, 12, 31), 70),  # the birthday itself counts
        (date(1946, 1, 1), date(2015, 12, 31), 69),
        (date(1960, 2, 29), date(2020, 2, 29), 60),  # leap birthday in a leap year
        (date(1960, 2, 29), date(2023, 2, 28), 62),  # no 29 Feb in 2023: not yet 63 on 28 Feb
        (date(1960, 2, 29), date(2023, 3, 1), 63),  # … a year older on 1 March
    ],
)
def test_given_a_birth_date_when_asking_the_age_on_a_day_then_completed_years(born, on, age):
    assert age_on(born, on) == age


def test_given_a_29_february_birthday_when_the_year_is_not_a_leap_year_then_the_birthday_is_reached_on_1_march():
    assert not birthday_reached(date(1964, 2, 29), 61, date(2025, 2, 28))
    assert birthday_reached(date(1964, 2, 29), 61, date(2025, 3, 1))


@pytest.mark.parametrize(
    ("start", "days", "months", "last"),
    [
        (date(2025, 3, 1), 90, 0, date(2025, 5, 30)),  # the day of birth is not counted
        (date(2024, 2, 1), 90, 0, date(2024, 5, 1)),  # 29 Feb 2024 is one of the 90 days
        (date(2023, 1, 15), 0, 3, date(2023, 4, 15)),  # months end on the corresponding day
        (date(2022, 11, 30), 0, 3, date(2023, 2, 28)),  # … or the month's last day without one
        (date(2015, 8, 31), 0, 6, date(2016, 2, 29)),  # … in a leap year
        (date(2015, 12, 31), 0, 6, date(2016, 6, 30)),
    ],
)
def test_given_an_event_when_counting_a_legal_period_then_its_last_day_follows_the_civil_code(
    start, days, months, last
):
    assert period_last_day(start, days=days, months=months) == last


def test_given_both_days_and_months_when_counting_a_period_then_it_is_refused():
    with pytest.raises(ValueError, match="days or months"):
        period_last_day(date(2025, 1, 1), days=1, months=1)
