"""The nationwide default for 2025: 国办发〔2024〕38号 (waiting periods, incentive) and 医保办函〔2021〕11号."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.engine import (
    assess,
    back_payment_on,
    benefit_period,
    illness_cap_raise,
    price_on,
    refund_on,
    waiting_months,
)
from enrollment.rules.policy import Situation, Window

from . import continuous, person, preset, yuan


def national():
    return preset("national-2025")


def test_given_the_national_preset_then_it_applies_nationwide_with_the_2025_standard():
    policy = national()
    assert policy.region_code == ""
    assert (policy.financing.individual_fen, policy.financing.subsidy_fen, policy.financing.total_fen) == (
        yuan(400),
        yuan(700),
        yuan(1100),
    )


def test_given_the_national_preset_then_the_assumed_collection_period_is_stated_in_the_notes():
    assert national().collection.window == Window(date(2024, 9, 1), date(2024, 12, 31))
    assert any("假定" in note and "2024年9月1日至12月31日" in note for note in national().notes)


@pytest.mark.parametrize(
    ("paid_on", "rule"),
    [(date(2024, 9, 1), "pricing[0]"), (date(2024, 12, 31), "pricing[0]"), (date(2025, 1, 1), "pricing[1]")],
)
def test_given_any_payment_date_in_the_window_then_the_individual_standard_is_due(paid_on, rule):
    decision = price_on(national(), person(last_paid=2020), paid_on)
    assert (decision.payable_fen, decision.rule) == (yuan(400), rule)


# --- the waiting period arithmetic -----------------------------------------------------------


@pytest.mark.parametrize(
    ("last_paid", "paid_back", "months"),
    [
        (2024, 0, 3),  # continuous, but paying outside the period: the fixed 3 months
        (None, 0, 3),  # never enrolled: the fixed 3 months
        (2023, 0, 3),  # one year of break (2024): covered by the fixed wait
        (2022, 0, 4),  # two years: one further year adds a month
        (2021, 0, 5),
        (2021, 1, 4),  # each year paid back removes one added month
        (2021, 2, 3),
        (2021, 5, 3),  # … never below the fixed 3 months
        (2020, 0, 6),  # four years of break
        (2020, 3, 6),  # after 4+ years at least 6 months, whatever is paid back
        (2018, 0, 8),
        (2018, 1, 7),
        (2018, 2, 6),
        (2018, 5, 6),
    ],
)
def test_given_breaks_and_years_paid_back_then_the_waiting_period_is_as_38_hao_says(
    last_paid, paid_back, months
):
    assert waiting_months(national(), person(last_paid=last_paid, paid_back=paid_back))[0] == months


def test_given_a_newborn_then_there_is_no_waiting_period():
    assert waiting_months(national(), person(date(2025, 2, 1)))[0] == 0
    assert national().waiting_period.exempt == frozenset({Situation.NEWBORN})


@pytest.mark.parametrize(
    ("facts", "paid_on", "start", "rule"),
    [
        (continuous(2025), date(2024, 12, 31), date(2025, 1, 1), "benefit[0]"),
        (person(last_paid=None), date(2024, 10, 1), date(2025, 1, 1), "benefit[0]"),
        # after a break, even paying in the period: the wait runs from 1 January
        (person(last_paid=2023), date(2024, 10, 1), date(2025, 4, 1), "benefit[1]"),
        (person(last_paid=2022), date(2024, 10, 1), date(2025, 5, 1), "benefit[1]"),
        (person(last_paid=2020), date(2024, 10, 1), date(2025, 7, 1), "benefit[1]"),
        (person(last_paid=2021, paid_back=2), date(2024, 10, 1), date(2025, 4, 1), "benefit[1]"),
        # outside the period: from the payment date
        (continuous(2025), date(2025, 2, 10), date(2025, 5, 10), "benefit[2]"),
        (person(last_paid=None), date(2025, 2, 10), date(2025, 5, 10), "benefit[2]"),
        (person(last_paid=2022), date(2025, 2, 10), date(2025, 6, 10), "benefit[2]"),
        (person(last_paid=None), date(2025, 8, 31), date(2025, 11, 30), "benefit[2]"),  # no 31 November
        (person(last_paid=None), date(2025, 9, 30), date(2025, 12, 30), "benefit[2]"),
        (person(last_paid=None), date(2025, 10, 1), None, "benefit[2]"),  # the wait ends in 2026
    ],
)
def test_given_the_situation_and_payment_date_then_cover_starts_after_the_waiting_period(
    facts, paid_on, start, rule
):
    decision = benefit_period(national(), facts, paid_on)
    assert (decision.start, decision.rule) == (start, rule)


def test_given_a_waiting_period_then_the_reason_quotes_38_hao():
    decision = benefit_period(national(), person(last_paid=2022), date(2025, 2, 10))
    assert "固定待遇等待期3个月" in decision.reason


@pytest.mark.parametrize(
    ("born", "paid_on", "start", "rule"),
    [
        (date(2025, 3, 1), date(2025, 5, 30), date(2025, 3, 1), "newborn[0]"),  # day 90
        (
            date(2025, 3, 1),
            date(2025, 5, 31),
            date(2025, 5, 31),
            "benefit[2]",
        ),  # later: no wait, from payment
        (date(2024, 10, 15), date(2024, 11, 1), date(2025, 1, 1), "newborn[0]"),
        (date(2024, 9, 1), date(2024, 12, 31), date(2025, 1, 1), "benefit[0]"),
    ],
)
def test_given_a_newborn_then_covered_from_birth_within_90_days_and_never_waiting(born, paid_on, start, rule):
    decision = benefit_period(national(), person(born), paid_on)
    assert (decision.start, decision.rule) == (start, rule)


# --- repairing the added months by paying back -------------------------------------------------


def test_given_a_break_when_paying_back_a_year_then_it_costs_the_individual_standard():
    decision = back_payment_on(national(), person(last_paid=2021), date(2025, 3, 1))
    assert (decision.allowed, decision.amount_fen) == (True, yuan(400))
    assert "每多缴纳1年减少1个月" in decision.reason


def test_given_no_break_then_there_is_nothing_to_pay_back():
    decision = back_payment_on(national(), continuous(2025), date(2025, 3, 1))
    assert (decision.allowed, decision.rule) == (False, "back_payment.eligible")


# --- refunds (医保办函〔2021〕11号) ------------------------------------------------------------


@pytest.mark.parametrize("reason", ["death", "paid_twice", "employee_insurance", "enrolled_elsewhere"])
@pytest.mark.parametrize(
    ("event_on", "allowed"),
    [(date(2024, 12, 31), True), (date(2025, 1, 1), False), (date(2025, 6, 1), False)],
)
def test_given_a_national_refund_reason_then_refundable_only_before_the_benefit_period_starts(
    reason, event_on, allowed
):
    decision = refund_on(national(), reason, event_on, date(2025, 1, 1), deposits=2)
    assert decision.allowed is allowed
    assert "待遇享受期开始后不予退还" in decision.note  # the policy's note, apart from the reason


def test_given_a_payment_still_waiting_then_a_death_before_the_benefit_start_is_refundable():
    assert refund_on(national(), "death", date(2025, 4, 30), date(2025, 5, 10)).allowed


def test_given_emigration_then_the_national_rule_does_not_refund():
    assert not refund_on(national(), "emigration", date(2024, 12, 1), date(2025, 1, 1)).allowed


# --- incentive for continuous enrollment -------------------------------------------------------


@pytest.mark.parametrize(
    ("years", "cap", "raise_by"),
    [
        (4, yuan(300_000), 0),
        (5, yuan(300_000), yuan(1_000)),
        (7, yuan(300_000), yuan(3_000)),
        (100, yuan(300_000), yuan(60_000)),  # at most 20% of the cap
    ],
)
def test_given_continuous_years_then_the_critical_illness_cap_rises_1000_a_year_after_4(years, cap, raise_by):
    decision = illness_cap_raise(national(), years, cap)
    assert (decision.amount_fen, decision.allowed) == (raise_by, raise_by > 0)


def test_given_a_region_without_the_incentive_then_no_raise():
    assert illness_cap_raise(preset("linfen-2021"), 10, yuan(300_000)).amount_fen == 0


def test_given_nobody_subsidised_by_default_then_everyone_is_assessed_at_400():
    assert assess(national(), continuous(2025)).payable_fen == yuan(400)
