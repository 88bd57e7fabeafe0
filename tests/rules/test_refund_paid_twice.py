"""Paying twice (重复缴费) is refunded only when insurance's own deposit records (入库) show a deposit
beyond the one the year keeps, not yet paid back: the rule engine's part of it, database-free.

Linfen (seed 000): "因本人重复缴费需要办理退费的，缴费人可向医保经办机构提出退费申请，由医保经办机构进行
核验确认后，可办理退费的，于5个工作日内退还给缴费人；不能退费的，当场告知缴费人原因" — insurance verifies
the duplicate against its records; one deposit is nothing to verify, and the refusal is told on the spot.
"""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from django.utils import translation

from enrollment.rules.engine import refund_on
from enrollment.rules.policy import REFUND_REASONS, RefundWhen
from enrollment.rules.presets import all_presets

from . import preset

PRESETS = sorted(all_presets(), key=lambda policy: policy.code)
# Before and after each preset's benefit start (1 January of the year; Guigang's students: 1 September).
EVENTS = [date(2000, 1, 1), date(2099, 12, 31)]
BENEFIT_START = date(2050, 1, 1)
COUNTS = range(0, 5)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _listed(policy, reason: str) -> bool:  # type: ignore[no-untyped-def]
    when = policy.refunds.reasons.get(reason)
    return when is not None and when != RefundWhen.NEVER


@pytest.mark.parametrize("policy", PRESETS, ids=lambda policy: policy.code)
def test_given_any_reason_but_paying_twice_then_the_deposit_counts_change_nothing(policy):
    for reason, event_on, deposits, refunded in itertools.product(
        [r for r in REFUND_REASONS if r != "paid_twice"], EVENTS, COUNTS, COUNTS
    ):
        assert refund_on(
            policy, reason, event_on, BENEFIT_START, deposits=deposits, duplicates_refunded=refunded
        ) == refund_on(policy, reason, event_on, BENEFIT_START), (reason, event_on, deposits, refunded)


@pytest.mark.parametrize("policy", PRESETS, ids=lambda policy: policy.code)
def test_given_paying_twice_then_refundable_exactly_when_a_duplicate_deposit_is_left_and_the_policy_allows(
    policy,
):
    for event_on, deposits, refunded in itertools.product(EVENTS, COUNTS, COUNTS):
        decision = refund_on(
            policy, "paid_twice", event_on, BENEFIT_START, deposits=deposits, duplicates_refunded=refunded
        )
        # With a duplicate left, the policy's timing answers, as it always did.
        policy_answer = refund_on(policy, "paid_twice", event_on, BENEFIT_START, deposits=2)
        case = (event_on, deposits, refunded)
        if not _listed(policy, "paid_twice"):
            assert (decision.allowed, decision.rule) == (False, "refunds.reasons.paid_twice"), case
        elif deposits - refunded >= 2:
            assert decision == policy_answer, case
        else:
            assert (decision.allowed, decision.rule) == (False, "refunds.reasons.paid_twice.deposits"), case
            assert f"count {deposits}" in decision.reason, case
            assert decision.extra == {}, case


def test_given_linfen_and_one_deposit_then_paying_twice_is_refused_on_the_spot_with_the_count():
    decision = refund_on(
        preset("linfen-2021"), "paid_twice", date(2020, 10, 12), date(2021, 1, 1), deposits=1
    )

    assert (decision.allowed, decision.rule) == (False, "refunds.reasons.paid_twice.deposits")
    assert decision.reason == (
        "Not refundable as paid twice: the medical insurance bureau's deposit records for this person "
        "and year count 1; a duplicate payment needs at least 2"
    )
    # The policy's general note comes apart: glued on, it said the refusal could be refunded.
    assert decision.note == "重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由"


def test_given_linfen_and_no_deposit_given_then_paying_twice_is_refused():
    """The facts default to none: a caller that gathered no deposits gets a refusal, never a refund."""
    decision = refund_on(preset("linfen-2021"), "paid_twice", date(2020, 10, 12), date(2021, 1, 1))

    assert (decision.allowed, decision.rule) == (False, "refunds.reasons.paid_twice.deposits")
    assert "count 0;" in decision.reason


def test_given_linfen_and_two_deposits_then_paying_twice_is_refundable_within_5_working_days():
    decision = refund_on(
        preset("linfen-2021"), "paid_twice", date(2020, 10, 12), date(2021, 1, 1), deposits=2
    )

    assert (decision.allowed, decision.rule) == (True, "refunds.reasons.paid_twice")
    assert decision.extra == {"decision_working_days": 5}
    assert decision.reason == "Refundable: paid twice"
    assert decision.note == "重复缴费可申请退费，经办机构5个工作日内退还；不符合的当场说明理由"


def test_given_two_deposits_of_which_the_duplicate_was_paid_back_then_a_second_claim_is_refused():
    decision = refund_on(
        preset("linfen-2021"),
        "paid_twice",
        date(2020, 10, 12),
        date(2021, 1, 1),
        deposits=2,
        duplicates_refunded=1,
    )

    assert (decision.allowed, decision.rule) == (False, "refunds.reasons.paid_twice.deposits")
    assert decision.reason.startswith(
        "Not refundable as paid twice: the medical insurance bureau's deposit records for this person "
        "and year count 2, of which 1 already paid back as duplicates; no duplicate payment is left to refund"
    )


def test_given_three_deposits_of_which_one_duplicate_was_paid_back_then_the_other_is_refundable():
    decision = refund_on(
        preset("linfen-2021"),
        "paid_twice",
        date(2020, 10, 12),
        date(2021, 1, 1),
        deposits=3,
        duplicates_refunded=1,
    )

    assert (decision.allowed, decision.rule) == (True, "refunds.reasons.paid_twice")


def test_given_the_national_rule_and_two_deposits_then_the_benefit_start_still_decides():
    """医保办函〔2021〕11号: a duplicate payment is refundable before the benefit period starts only."""
    national = preset("national-2025")

    before = refund_on(national, "paid_twice", date(2024, 12, 31), date(2025, 1, 1), deposits=2)
    after = refund_on(national, "paid_twice", date(2025, 1, 1), date(2025, 1, 1), deposits=2)
    one = refund_on(national, "paid_twice", date(2024, 12, 31), date(2025, 1, 1), deposits=1)

    assert [(d.allowed, d.rule) for d in (before, after, one)] == [
        (True, "refunds.reasons.paid_twice"),
        (False, "refunds.reasons.paid_twice"),
        (False, "refunds.reasons.paid_twice.deposits"),
    ]


def test_given_chinese_then_the_refusal_reads_as_a_clerk_would_say_it():
    with translation.override("zh-hans"):
        decision = refund_on(
            preset("linfen-2021"), "paid_twice", date(2020, 10, 12), date(2021, 1, 1), deposits=1
        )

    assert decision.reason.startswith(
        "不予退费：医保经办机构的入库记录中，该参保人本年度只有1笔缴费，重复缴费须有2笔以上"
    )
