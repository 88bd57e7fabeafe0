"""When tax accepts a payment and at what amount: the schedule insurance sent, applied as sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from collection.rules import BackPaymentTerms, acceptance_on, window_reason
from tests.collection.support import AMOUNT, LATE_AMOUNT, SCHEDULE


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("day", "accepted", "amount", "rule"),
    [
        (dt.date(2026, 9, 1), True, AMOUNT, "on_time"),
        (dt.date(2026, 12, 31), True, AMOUNT, "on_time"),
        (dt.date(2027, 1, 1), True, LATE_AMOUNT, "late"),
        (dt.date(2027, 3, 25), True, LATE_AMOUNT, "late"),
        (dt.date(2027, 3, 26), False, 0, "late"),
        (dt.date(2027, 6, 30), False, 0, "late"),
        (dt.date(2026, 8, 31), False, 0, "collection.not_open"),
        (dt.date(2027, 7, 1), False, 0, "collection.closed"),
    ],
)
def test_given_a_schedule_then_each_day_is_accepted_at_its_lines_amount_or_refused(
    day, accepted, amount, rule
):
    decision = acceptance_on(schedule=SCHEDULE, amount_fen=AMOUNT, day=day)

    assert (decision.accepted, decision.amount_fen, decision.rule) == (accepted, amount, rule)


def test_given_a_day_after_the_window_then_the_way_forward_is_to_ask_insurance_about_a_back_payment():
    decision = acceptance_on(schedule=SCHEDULE, amount_fen=AMOUNT, day=dt.date(2027, 7, 1))

    assert decision.reason == "The collection period ended on 2027-06-30."
    assert decision.way_forward == (
        "Ask the medical insurance office whether a back-payment (补缴) can still be applied for; "
        "once it is approved, it can be paid here."
    )


def test_given_a_day_outside_the_days_of_the_month_then_the_days_are_named_as_ordinals():
    decision = acceptance_on(schedule=SCHEDULE, amount_fen=AMOUNT, day=dt.date(2027, 2, 27))

    assert decision.reason == "Payments are accepted only from the 1st to the 25th of each month."


def test_given_a_day_outside_the_days_of_the_month_in_chinese_then_the_days_are_bare_numbers():
    with translation.override("zh-hans"):
        decision = acceptance_on(schedule=SCHEDULE, amount_fen=AMOUNT, day=dt.date(2027, 2, 27))

    assert decision.reason == "仅在每月1日至25日受理缴费。"


def test_given_a_gap_between_lines_then_the_next_opening_is_named():
    schedule = [SCHEDULE[0], {**SCHEDULE[1], "from": "2027-02-01"}]

    decision = acceptance_on(schedule=schedule, amount_fen=AMOUNT, day=dt.date(2027, 1, 10))

    assert (decision.accepted, decision.reason) == (
        False,
        "Payments for this year are accepted from 2027-02-01.",
    )


def test_given_no_schedule_then_the_amount_due_is_accepted_any_day():
    decision = acceptance_on(schedule=[], amount_fen=AMOUNT, day=dt.date(2030, 1, 1))

    assert (decision.accepted, decision.amount_fen) == (True, AMOUNT)


# --- after the period: the year's back-payment window, as insurance sent it ----------------------

AFTER_THE_PERIOD = dt.date(2027, 7, 1)


def _way_forward(terms: BackPaymentTerms) -> str:
    return acceptance_on(
        schedule=SCHEDULE, amount_fen=AMOUNT, day=AFTER_THE_PERIOD, back_payment=terms
    ).way_forward


def test_given_back_payments_taken_until_a_later_day_then_the_way_forward_names_the_window():
    terms = BackPaymentTerms(2027, True, dt.date(2027, 1, 1), dt.date(2027, 8, 31))

    assert _way_forward(terms) == (
        "The medical insurance office takes back-payment (补缴) applications for 2027 from 2027-01-01 "
        "until 2027-08-31; once one is approved, it can be paid here."
    )


def test_given_back_payment_applications_closed_then_the_way_forward_says_since_when():
    terms = BackPaymentTerms(2027, True, dt.date(2027, 1, 1), dt.date(2027, 6, 30))

    assert _way_forward(terms) == (
        "Back-payment (补缴) applications for 2027 closed on 2027-06-30; one made before then can be paid "
        "here once it is approved."
    )


def test_given_a_policy_without_back_payments_then_the_way_forward_says_it_can_no_longer_be_paid():
    assert _way_forward(BackPaymentTerms(2027, False)) == (
        "The 2027 policy takes no back-payments (补缴): this contribution can no longer be paid."
    )


def test_given_a_window_on_a_refusal_other_than_the_period_closed_then_it_changes_nothing():
    terms = BackPaymentTerms(2027, True, dt.date(2027, 1, 1), dt.date(2027, 8, 31))

    decision = acceptance_on(
        schedule=SCHEDULE, amount_fen=AMOUNT, day=dt.date(2027, 2, 27), back_payment=terms
    )

    assert decision.way_forward == "Come back on one of those days."


def test_given_a_refusal_in_chinese_then_the_way_forward_follows_the_full_stop_without_a_space():
    terms = BackPaymentTerms(2027, True, dt.date(2027, 1, 1), dt.date(2027, 6, 30))
    with translation.override("zh-hans"):
        decision = acceptance_on(
            schedule=SCHEDULE, amount_fen=AMOUNT, day=AFTER_THE_PERIOD, back_payment=terms
        )

        text = window_reason(decision)

    assert text == (
        "集中缴费期已于2027-06-30结束。2027年度补缴申请已于2027-06-30截止；截止前提出的申请获批后可在此缴费。"
    )


def test_given_a_refusal_in_english_then_the_way_forward_follows_after_a_space():
    decision = acceptance_on(schedule=SCHEDULE, amount_fen=AMOUNT, day=dt.date(2027, 2, 27))

    assert window_reason(decision) == (
        "Payments are accepted only from the 1st to the 25th of each month. Come back on one of those days."
    )
