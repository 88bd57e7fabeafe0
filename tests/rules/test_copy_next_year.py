""" "Copy for next year" moves every date by a year, and the last day of a month stays the last day of
its month: a document's "28 February" of a common year is the end of February (Qinbei: 可延迟缴费至
2023年2月28日; Lanshan: 2016年2月底). Until 30 November 2026 it stayed the 28th in a leap year:
Qinbei copied to 2024 took 350 yuan on 29 February for no cover at all, Lanshan copied to 2020
refused that day. A policy whose price rules take money on days no benefit rule covers is flagged
(``payments_without_cover``) and refused on save.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest

from enrollment.rules.dates import last_of_month, shift_date, shift_document
from enrollment.rules.engine import benefit_period, payments_without_cover, price_on
from enrollment.rules.policy import PERSON_CATEGORIES, Policy
from enrollment.rules.presets import PRESETS
from enrollment.views.rulebook import next_year_copy

from . import continuous, person, preset, yuan


def copied(code: str, years: int) -> Policy:
    document = preset(code).to_document()
    for _year in range(years):
        document = next_year_copy(document)
    return Policy.from_document(document)


# --- one date ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "years", "moved"),
    [
        (date(2023, 2, 28), 1, date(2024, 2, 29)),  # the end of February
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2016, 2, 29), 4, date(2020, 2, 29)),
        (date(2023, 2, 27), 1, date(2024, 2, 27)),
        (date(2024, 2, 28), 1, date(2025, 2, 28)),  # 28 Feb of a leap year is not the end of it
        (date(2023, 6, 30), 1, date(2024, 6, 30)),
        (date(2023, 12, 31), -1, date(2022, 12, 31)),
        (date(2024, 2, 29), -1, date(2023, 2, 28)),
    ],
)
def test_given_a_date_then_it_moves_by_years_keeping_the_end_of_a_month(day, years, moved):
    assert shift_date(day, years) == moved


def test_given_every_day_of_eight_years_then_only_the_end_of_a_month_changes_its_day():
    day = date(2019, 1, 1)
    while day < date(2027, 1, 1):
        for years in (-4, -1, 1, 2, 4):
            moved = shift_date(day, years)
            assert (moved.year, moved.month) == (day.year + years, day.month)
            if last_of_month(day):
                assert last_of_month(moved), (day, years)
            else:  # 28 February of a leap year stays the 28th, the end of a common year's February
                assert moved.day == day.day, (day, years)
        day += timedelta(days=1)


def test_given_a_document_then_its_iso_dates_and_chinese_dates_move_alike():
    document = {
        "coverage": {"from": "2023-01-01", "to": "2023-12-31"},
        "grace_until": "2023-02-28",
        "grace_note": "部分城乡居民按时缴费有困难的，可延迟缴费至2023年2月28日",
        "note": "在2022年9月1日至2023年2月28日缴纳的，从2023年1月1日起享受2023年度待遇；2016年2月底以前",
        "source": "桂医保发〔2022〕30号",
        "amount": 35000,
    }

    assert shift_document(document, 1) == {
        "coverage": {"from": "2024-01-01", "to": "2024-12-31"},
        "grace_until": "2024-02-29",
        "grace_note": "部分城乡居民按时缴费有困难的，可延迟缴费至2024年2月29日",
        "note": "在2023年9月1日至2024年2月29日缴纳的，从2024年1月1日起享受2024年度待遇；2017年2月底以前",
        "source": "桂医保发〔2022〕30号",  # a document's number is not a date
        "amount": 35000,
    }


# --- Qinbei and Lanshan copied into a leap year -----------------------------------------------------


def test_given_qinbei_copied_to_2024_then_the_grace_period_runs_to_29_february_and_buys_1_january():
    policy = copied("qinbei-2023", 1)
    facts = continuous(2024)

    assert policy.collection.grace_until == date(2024, 2, 29)
    assert "可延迟缴费至2024年2月29日" in policy.collection.grace_note
    price = price_on(policy, facts, date(2024, 2, 29))
    benefit = benefit_period(policy, facts, date(2024, 2, 29))
    assert (price.accepted, price.payable_fen) == (True, yuan(350))
    assert (benefit.start, benefit.rule) == (date(2024, 1, 1), "benefit[3]")
    after = benefit_period(policy, facts, date(2024, 3, 1))
    assert (after.start, after.rule) == (date(2024, 4, 1), "benefit[4]")


def test_given_lanshan_copied_to_2020_then_29_february_is_still_a_late_payment_of_the_individual_part():
    policy = copied("lanshan-2016", 4)

    on_the_29th = price_on(policy, person(), date(2020, 2, 29))
    on_1_march = price_on(policy, person(), date(2020, 3, 1))

    assert (on_the_29th.accepted, on_the_29th.payable_fen, on_the_29th.rule) == (
        True,
        yuan(150),
        "pricing[1]",
    )
    assert benefit_period(policy, person(), date(2020, 2, 29)).start == date(2020, 3, 1)
    assert (on_1_march.payable_fen, on_1_march.rule) == (yuan(560), "pricing[2]")
    # And back into a common year: the 28th.
    assert copied("lanshan-2016", 5).pricing[1].paid.end == date(2021, 2, 28)


@pytest.mark.parametrize("code", sorted(PRESETS))
def test_given_every_preset_copied_on_for_eight_years_then_no_payment_goes_without_cover_and_month_ends_stay(
    code,
):
    original = preset(code).to_document()
    document = original
    for years in range(1, 9):
        document = next_year_copy(document)
        policy = Policy.from_document(document)
        assert policy.insurance_year == preset(code).insurance_year + years
        assert payments_without_cover(policy) == [], (code, policy.insurance_year)
        for before, after in zip(_iso_dates(original), _iso_dates(document), strict=True):
            assert after == shift_date(before, years)
    assert payments_without_cover(preset(code)) == []


def _iso_dates(document: object) -> list[date]:
    if isinstance(document, dict):
        return [day for value in document.values() for day in _iso_dates(value)]
    if isinstance(document, list):
        return [day for value in document for day in _iso_dates(value)]
    if isinstance(document, str) and len(document) == 10 and document[4] == "-":
        return [date.fromisoformat(document)]
    return []


# --- the check: a price rule taking money that no benefit rule covers ---------------------------------


def _qinbei_2024_graced_to_the_28th() -> Policy:
    """Qinbei 2024 as the copy made it before: the grace period ending on 28 February."""
    document = copied("qinbei-2023", 1).to_document()
    document["collection"]["grace_until"] = "2024-02-28"
    return Policy.from_document(document)


def test_given_a_grace_period_ending_on_28_february_of_a_leap_year_then_the_29th_is_flagged():
    problems = payments_without_cover(_qinbei_2024_graced_to_the_28th())

    assert problems == [
        (
            "policy.pricing[1]",
            "2024年2月29日至2024年2月29日收取的缴费（连续参保（上年度已缴费））没有任何待遇规则覆盖：缴费不能换来任何保障",
        )
    ]


def test_given_a_price_rule_for_students_only_then_the_flag_names_the_person_categories():
    # Without the students' benefit rule, and the renewal's rule for the others only, the school's
    # period (when the price rules take the students' money) is left uncovered.
    document = preset("guigang-2024").to_document()
    del document["benefit"][0]
    document["benefit"][0]["person_categories"] = ["rural", "urban", "newborn"]

    problems = payments_without_cover(Policy.from_document(document))

    words = "2024年8月20日至2024年9月20日收取的缴费（人员类别student, preschool）没有任何待遇规则覆盖：缴费不能换来任何保障"
    assert problems == [("policy.pricing[0]", words), ("policy.pricing[1]", words)]


@pytest.mark.parametrize(
    "which", ["qinbei-2024-graced-to-the-28th", "qinbei-2023", "guigang-2024", "jilin-2023"]
)
def test_given_each_day_and_person_then_a_payment_taken_without_a_benefit_rule_is_exactly_what_the_check_flags(
    which,
):
    policy = _qinbei_2024_graced_to_the_28th() if which.endswith("28th") else preset(which)
    flagged = set()
    for _path, words in payments_without_cover(policy):
        flagged.add(words)
    year = policy.insurance_year
    uncovered = set()
    # The months where the periods meet: the collection period's end, the grace period, a school's.
    days = [date(year - 1, 12, 20) + timedelta(days=n) for n in range(80)]
    days += [date(year, 8, 15) + timedelta(days=n) for n in range(40)]
    for category in PERSON_CATEGORIES:
        for facts in (
            person(category=category, last_paid=year - 1),
            person(category=category, last_paid=year - 3),
            person(category=category),
            person(category=category, last_paid=year - 1, transfer=True),
        ):
            for day in days:
                if not price_on(policy, facts, day).accepted:
                    continue
                if benefit_period(policy, facts, day).rule == "benefit":  # no rule covers it
                    uncovered.add((day, category))
    if which.endswith("28th"):
        assert uncovered == {(date(year, 2, 29), category) for category in PERSON_CATEGORIES}
        assert len(flagged) == 1
    else:
        assert uncovered == set() and flagged == set()


def test_given_every_day_of_the_year_in_the_copy_made_before_then_only_29_february_was_sold_without_cover():
    policy = _qinbei_2024_graced_to_the_28th()
    facts = continuous(2024)
    day = date(2023, 9, 1)
    sold_for_nothing = []
    while day <= date(2024, 12, 31):
        if price_on(policy, facts, day).accepted and benefit_period(policy, facts, day).rule == "benefit":
            sold_for_nothing.append(day)
        day += timedelta(days=1)
    assert sold_for_nothing == [date(2024, 2, 29)]
    assert calendar.isleap(2024)
