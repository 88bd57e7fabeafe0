"""Jilin province, insurance year 2023 (吉医保联〔2022〕11号, seed 001), and its status rules for every region."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.engine import (
    EnrollmentSpan,
    PaidPeriod,
    back_payment_on,
    benefit_period,
    coverage_on,
    price_on,
    refund_on,
)
from enrollment.rules.policy import Window

from . import continuous, person, preset, yuan


def jilin():
    return preset("jilin-2023")


def test_given_jilin_2023_then_the_national_2023_standard_applies_and_says_so():
    financing = jilin().financing
    assert (financing.individual_fen, financing.subsidy_fen) == (yuan(380), yuan(640))
    assert "国家筹资标准" in financing.note


def test_given_jilin_then_the_assumed_collection_period_is_september_to_december_2022_and_says_so():
    assert jilin().collection.window == Window(date(2022, 9, 1), date(2022, 12, 31))
    assert "假定" in jilin().pricing[0].note


@pytest.mark.parametrize("paid_on", [date(2022, 9, 1), date(2022, 12, 31)])
def test_given_a_payment_in_the_period_then_the_individual_standard_and_cover_from_1_january(paid_on):
    assert price_on(jilin(), continuous(2023), paid_on).payable_fen == yuan(380)
    assert benefit_period(jilin(), continuous(2023), paid_on).start == date(2023, 1, 1)


@pytest.mark.parametrize(
    ("facts", "paid_on", "start"),
    [
        (person(last_paid=None), date(2023, 1, 1), date(2023, 2, 1)),
        (person(last_paid=None), date(2023, 3, 15), date(2023, 4, 1)),
        (person(last_paid=2022, transfer=True), date(2023, 6, 10), date(2023, 7, 1)),
        (person(last_paid=2022, transfer=True), date(2023, 12, 31), None),
    ],
)
def test_given_a_first_enrollment_or_a_transfer_then_it_may_pay_outside_the_period(facts, paid_on, start):
    price = price_on(jilin(), facts, paid_on)
    assert (price.accepted, price.payable_fen, price.rule) == (True, yuan(380), "pricing[1]")
    assert "转移接续、首次参保" in price.reason
    assert benefit_period(jilin(), facts, paid_on).start == start


@pytest.mark.parametrize("facts", [continuous(2023), person(last_paid=2020)])
def test_given_a_renewal_or_a_return_after_a_break_then_a_payment_outside_the_period_is_refused(facts):
    decision = price_on(jilin(), facts, date(2023, 1, 5))
    assert (decision.accepted, decision.rule) == (False, "collection")
    assert not back_payment_on(jilin(), facts, date(2023, 1, 5)).allowed


@pytest.mark.parametrize(
    ("paid_on", "start", "rule"),
    [
        (date(2023, 4, 10), date(2023, 1, 10), "newborn[0]"),  # day 90
        (date(2023, 4, 11), date(2023, 5, 1), "benefit[1]"),
    ],
)
def test_given_a_newborn_then_cover_from_birth_within_90_days(paid_on, start, rule):
    decision = benefit_period(jilin(), person(date(2023, 1, 10)), paid_on)
    assert (decision.start, decision.rule) == (start, rule)


# --- refunds (医保办函〔2021〕11号) ------------------------------------------------------------


@pytest.mark.parametrize("reason", ["death", "paid_twice", "employee_insurance", "enrolled_elsewhere"])
@pytest.mark.parametrize(("event_on", "allowed"), [(date(2022, 12, 31), True), (date(2023, 1, 1), False)])
def test_given_a_refund_reason_then_refundable_only_before_the_benefit_period_starts(
    reason, event_on, allowed
):
    decision = refund_on(jilin(), reason, event_on, date(2023, 1, 1), deposits=2)
    assert (decision.allowed, decision.rule) == (allowed, f"refunds.reasons.{reason}")
    assert "进入待遇享受期后不予退还" in decision.note  # the policy's note, apart from the reason


def test_given_an_agency_error_then_it_is_refunded_without_the_note_on_the_benefit_period():
    # an agency's error is refunded always: "进入待遇享受期后不予退还" is the other reasons' note, not its
    decision = refund_on(jilin(), "agency_error", date(2023, 6, 1), date(2023, 1, 1))
    assert (decision.allowed, decision.rule, decision.note) == (True, "refunds.reasons.agency_error", "")


def test_given_the_identifier_duplicate_and_employee_rules_then_they_are_carried_as_notes():
    notes = "\n".join(jilin().notes)
    for words in (
        "身份证号码",
        "港澳居民来往内地通行证",
        "外国护照",
        "自动生成",
        "常住地",
        "书面",
        "自动终止",
    ):
        assert words in notes


# --- status rules for every region (coverage_on) ----------------------------------------------

ENROLLED = date(2022, 10, 1)
PAID = PaidPeriod(2023, date(2022, 10, 1), date(2023, 1, 1), date(2023, 12, 31))


def span(status: str = "normal", changed: date = ENROLLED, ended: date | None = None) -> EnrollmentSpan:
    return EnrollmentSpan(status, ENROLLED, ended, changed, reason="死亡" if ended else "")


def test_given_a_normal_enrollment_and_a_payment_then_covered_within_the_paid_period():
    decision = coverage_on(date(2023, 6, 1), [span()], [PAID])
    assert (decision.covered, decision.rule, decision.start, decision.end) == (
        True,
        "coverage.normal_paid",
        date(2023, 1, 1),
        date(2023, 12, 31),
    )


def test_given_a_suspension_after_the_payment_then_still_covered_within_the_paid_period():
    decision = coverage_on(date(2023, 6, 1), [span("suspended", date(2023, 5, 1))], [PAID])
    assert (decision.covered, decision.rule, decision.end) == (
        True,
        "coverage.suspended_paid",
        date(2023, 12, 31),
    )


def test_given_a_suspension_before_the_payment_then_not_covered():
    paid_after = PaidPeriod(2023, date(2023, 5, 10), date(2023, 6, 1), date(2023, 12, 31))
    decision = coverage_on(date(2023, 7, 1), [span("suspended", date(2023, 5, 1))], [paid_after])
    assert (decision.covered, decision.rule) == (False, "coverage.suspended")


def test_given_a_suspended_enrollment_that_was_never_paid_then_not_covered():
    decision = coverage_on(date(2023, 6, 1), [span("suspended", date(2023, 5, 1))], [])
    assert (decision.covered, decision.rule) == (False, "coverage.unpaid")


@pytest.mark.parametrize(
    ("day", "covered", "rule"),
    [
        (date(2023, 6, 15), True, "coverage.before_termination"),  # the day of death
        (date(2023, 6, 16), False, "coverage.terminated"),
    ],
)
def test_given_a_termination_then_costs_before_it_are_covered_and_none_after(day, covered, rule):
    decision = coverage_on(day, [span("terminated", date(2023, 6, 15), ended=date(2023, 6, 15))], [PAID])
    assert (decision.covered, decision.rule) == (covered, rule)


def test_given_a_termination_then_the_covered_period_ends_on_the_termination_date():
    decision = coverage_on(
        date(2023, 3, 1), [span("terminated", date(2023, 6, 15), ended=date(2023, 6, 15))], [PAID]
    )
    assert (decision.start, decision.end) == (date(2023, 1, 1), date(2023, 6, 15))


@pytest.mark.parametrize(
    ("day", "covered", "rule"),
    [
        (date(2023, 3, 31), False, "coverage.waiting"),
        (date(2023, 4, 1), True, "coverage.normal_paid"),
    ],
)
def test_given_a_payment_with_a_later_benefit_start_then_the_days_before_it_are_a_waiting_period(
    day, covered, rule
):
    waiting = PaidPeriod(2023, date(2023, 3, 15), date(2023, 4, 1), date(2023, 12, 31))
    decision = coverage_on(day, [span()], [waiting])
    assert (decision.covered, decision.rule) == (covered, rule)
    if not covered:
        assert decision.start == date(2023, 4, 1)


def test_given_an_enrollment_without_a_payment_then_not_covered():
    decision = coverage_on(date(2023, 6, 1), [span()], [])
    assert (decision.covered, decision.rule) == (False, "coverage.unpaid")


def test_given_a_day_after_the_paid_period_then_not_covered():
    decision = coverage_on(date(2024, 1, 1), [span()], [PAID])
    assert (decision.covered, decision.rule) == (False, "coverage.unpaid")


def test_given_a_day_before_the_enrollment_then_not_enrolled():
    decision = coverage_on(date(2022, 9, 30), [span()], [PAID])
    assert (decision.covered, decision.rule) == (False, "coverage.not_enrolled")
