"""Back-payments (补缴) end to end in the engine: who may apply and when, the amount, and the
benefit period the payment buys — Linfen 2021 (F, 90 days after the deposit, closed when the
next collection opens, newborns under their own rule) and the national 2025 default (the
individual standard, the waiting period by years of break, shortened by years paid back)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import translation

from enrollment.rules.engine import back_payment_on, benefit_period, price_on, say_date, situation_of

from . import continuous, person, preset, yuan


def linfen():
    return preset("linfen-2021")


def national():
    return preset("national-2025")


def test_given_a_linfen_payer_of_last_year_on_1_march_then_allowed_at_f_900_with_the_documents_words():
    decision = back_payment_on(linfen(), continuous(2021), date(2021, 3, 1))
    assert (decision.allowed, decision.rule, decision.amount_fen) == (True, "back_payment", yuan(900))
    assert "自缴费入库之日起90天后享受待遇" in decision.reason


def test_given_an_application_after_31_august_then_refused_because_the_next_collection_opened():
    decision = back_payment_on(linfen(), continuous(2021), date(2021, 9, 1))
    assert (decision.allowed, decision.rule, decision.amount_fen) == (False, "back_payment.apply_until", 0)
    assert say_date(date(2021, 8, 31)) in decision.reason


@pytest.mark.parametrize(
    ("applied_on", "allowed", "rule"),
    [
        (date(2021, 10, 2), True, "back_payment"),  # cover from 31 December: a day of it
        (date(2021, 10, 3), False, "back_payment.start"),  # cover would start on 1 January 2022
    ],
)
def test_given_a_late_application_then_refused_when_the_cover_it_buys_would_start_after_the_year(
    applied_on, allowed, rule
):
    # Given Linfen's rule with applications taken to the year's end, cover 90 days after payment
    document = linfen().to_document()
    document["back_payment"] = {**document["back_payment"], "apply_until": "2021-12-31"}
    policy = type(linfen()).from_document(document)

    decision = back_payment_on(policy, continuous(2021), applied_on)

    assert (decision.allowed, decision.rule) == (allowed, rule)
    if not allowed:
        assert decision.reason == (
            "2021年度补缴若于2021年10月3日缴费，待遇自2022年1月1日起享受，已在参保年度结束日（2021年12月31日）之后："
            "缴费不能换来任何保障，不予补缴"
        )


def test_given_an_application_during_the_collection_period_then_refused_until_26_december():
    decision = back_payment_on(linfen(), continuous(2021), date(2020, 12, 1))
    assert (decision.allowed, decision.rule) == (False, "back_payment.apply_from")
    assert say_date(date(2020, 12, 26)) in decision.reason


@pytest.mark.parametrize(
    "facts",
    [person(last_paid=None), person(last_paid=None, transfer=True), person(last_paid=2019, transfer=True)],
    ids=["first", "transfer", "transfer after a break"],
)
def test_given_a_first_enrollment_or_a_transfer_in_linfen_on_10_march_then_a_back_payment_of_900_is_the_way_to_pay(
    facts,
):
    # given: Linfen takes no payment after 25 December but through the county's back-payment
    # when: a first enrollment or a transfer of this year asks on 10 March 2021
    with translation.override("en"):
        price = price_on(linfen(), facts, date(2021, 3, 10))
    decision = back_payment_on(linfen(), facts, date(2021, 3, 10))
    # then: the counter refuses and points to the county; the back-payment is F, cover 90 days later
    assert (price.accepted, price.way_forward) == (
        False,
        "Apply to the county medical insurance agency for a back-payment",
    )
    assert (decision.allowed, decision.rule, decision.amount_fen) == (True, "back_payment", yuan(900))
    assert "首次参保、医保关系转移接续" in decision.reason
    cover = benefit_period(linfen(), facts, date(2021, 3, 10), back_payment=True)
    assert cover.start == date(2021, 6, 8)


def test_given_someone_after_a_break_in_linfen_then_not_eligible_for_a_back_payment():
    decision = back_payment_on(linfen(), person(last_paid=2019), date(2021, 3, 1))
    assert (decision.allowed, decision.rule) == (False, "back_payment.eligible")


def test_given_a_newborn_within_90_days_then_refused_as_a_back_payment_and_pointed_to_the_newborn_rule():
    baby = person(date(2021, 2, 1))

    decision = back_payment_on(linfen(), baby, date(2021, 3, 1))

    assert (decision.allowed, decision.rule) == (False, "newborn[1]")
    assert "征缴期后出生的新生儿，出生后90天内参保缴费的" in decision.reason


def test_given_a_newborn_past_the_newborn_window_then_the_eligibility_rule_answers():
    baby = person(date(2021, 2, 1))  # 90 days after 1 February is 2 May

    decision = back_payment_on(linfen(), baby, date(2021, 6, 1))

    assert (decision.allowed, decision.rule) == (False, "back_payment.eligible")


def test_given_a_linfen_back_payment_deposited_on_10_march_then_cover_starts_8_june():
    decision = benefit_period(linfen(), continuous(2021), date(2021, 3, 10), back_payment=True)
    assert (decision.start, decision.end, decision.rule) == (
        date(2021, 6, 8),
        date(2021, 12, 31),
        "back_payment.start",
    )


def test_given_a_national_break_of_three_years_then_the_back_payment_is_400_and_cover_waits_five_months():
    facts = person(last_paid=2021)  # 2022–2024 unpaid: 3 years of break, 2 beyond the first

    allowed = back_payment_on(national(), facts, date(2025, 3, 1))
    cover = benefit_period(national(), facts, date(2025, 3, 10), back_payment=True)

    assert (allowed.allowed, allowed.amount_fen) == (True, yuan(400))
    assert (cover.start, cover.rule) == (date(2025, 8, 10), "back_payment.start")


@pytest.mark.parametrize(
    ("last_paid", "paid_back", "start"),
    [
        (2021, 1, date(2025, 7, 10)),  # 5 months less 1 paid back
        (2021, 2, date(2025, 6, 10)),  # the added 2 months repaired: the fixed 3 remain
        (2021, 3, date(2025, 6, 10)),  # paying back more never goes below the fixed 3
        (2019, 2, date(2025, 9, 10)),  # 5 years of break: 7 − 2 = 5, but at least 6 months
    ],
)
def test_given_years_paid_back_then_the_national_waiting_period_of_a_back_payment_shortens(
    last_paid, paid_back, start
):
    facts = person(last_paid=last_paid, paid_back=paid_back)
    assert benefit_period(national(), facts, date(2025, 3, 10), back_payment=True).start == start


# --- until when an approved back-payment may be paid ----------------------------------------------


@pytest.mark.parametrize(
    ("last_paid", "paid_back", "pay_until"),
    [
        (2023, 0, date(2025, 9, 30)),  # 3 months: paid 30 Sep, covered from 30 Dec
        (2022, 0, date(2025, 8, 31)),  # 4 months: paid 31 Aug, covered from 31 Dec
        (2021, 0, date(2025, 7, 31)),  # 5 months
        (2019, 0, date(2025, 5, 31)),  # 5 years of break: 3 + 4 = 7 months
        (2019, 2, date(2025, 6, 30)),  # 7 − 2 = 5, but at least 6 months after 4 years or more
    ],
)
def test_given_a_national_back_payment_then_payable_only_while_the_waiting_period_ends_within_the_year(
    last_paid, paid_back, pay_until
):
    facts = person(last_paid=last_paid, paid_back=paid_back)

    decision = back_payment_on(national(), facts, date(2025, 3, 1))

    assert decision.allowed
    assert (decision.extra["pay_until"], decision.extra["pay_until_rule"]) == (
        pay_until,
        "back_payment.start",
    )
    assert f"最迟于{say_date(pay_until)}缴费" in decision.reason
    assert decision.extra["pay_until_reason"] in decision.reason
    last_day = benefit_period(national(), facts, pay_until, back_payment=True)
    day_after = benefit_period(national(), facts, pay_until + timedelta(days=1), back_payment=True)
    assert last_day.start is not None and last_day.start <= date(2025, 12, 31)
    assert day_after.start is None


def test_given_a_national_application_on_1_october_after_one_year_of_break_then_refused_as_it_buys_no_cover():
    facts = person(last_paid=2023)

    on_the_last_day = back_payment_on(national(), facts, date(2025, 9, 30))
    a_day_later = back_payment_on(national(), facts, date(2025, 10, 1))

    assert (on_the_last_day.allowed, on_the_last_day.extra["pay_until"]) == (True, date(2025, 9, 30))
    assert (a_day_later.allowed, a_day_later.rule) == (False, "back_payment.start")
    assert say_date(date(2026, 1, 1)) in a_day_later.reason


def test_given_linfens_back_payment_then_payable_until_the_last_day_to_apply():
    decision = back_payment_on(linfen(), continuous(2021), date(2021, 3, 1))

    assert (decision.extra["pay_until"], decision.extra["pay_until_rule"]) == (
        date(2021, 8, 31),
        "back_payment.apply_until",
    )
    assert "可缴费至2021年8月31日" in decision.reason


def test_given_linfens_rule_taking_applications_to_the_years_end_then_payable_until_2_october():
    document = linfen().to_document()
    document["back_payment"] = {**document["back_payment"], "apply_until": "2021-12-31"}
    policy = type(linfen()).from_document(document)

    decision = back_payment_on(policy, continuous(2021), date(2021, 3, 1))

    # Paid on 2 October, 90 days on is 31 December; paid on the 3rd, 1 January 2022.
    assert (decision.extra["pay_until"], decision.extra["pay_until_rule"]) == (
        date(2021, 10, 2),
        "back_payment.start",
    )
    assert say_date(date(2022, 1, 1)) in decision.reason


def _policies_with_back_payments():
    linfen_to_the_years_end = linfen().to_document()
    linfen_to_the_years_end["back_payment"] = {
        **linfen_to_the_years_end["back_payment"],
        "apply_until": "2021-12-31",
        "eligible": [],
    }
    return [national(), linfen(), type(linfen()).from_document(linfen_to_the_years_end)]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_given_every_day_of_the_application_window_then_allowed_exactly_when_paying_any_day_until_the_last_buys_cover(
    index,
):
    policy = _policies_with_back_payments()[index]
    rule = policy.back_payment
    year = policy.insurance_year
    days = [
        rule.apply_from + timedelta(days=n) for n in range(-1, (rule.apply_until - rule.apply_from).days + 2)
    ]
    for facts in (person(last_paid=year - 2), person(last_paid=year - 5, paid_back=1), continuous(year)):
        buys = {day: benefit_period(policy, facts, day, back_payment=True).start is not None for day in days}
        allowed = 0
        for day in days:
            decision = back_payment_on(policy, facts, day)
            if decision.rule == "back_payment.start":
                # Refused because a payment on the day itself would buy nothing.
                assert not decision.allowed and not buys[day], (facts, day)
            if not decision.allowed:
                continue
            allowed += 1
            pay_until = decision.extra["pay_until"]
            assert day <= pay_until <= rule.apply_until, (facts, day)
            # Every day from the application to the last one buys cover; the next day does not,
            # or applications are closed by then.
            assert all(buys[other] for other in days if day <= other <= pay_until), (facts, day)
            assert pay_until == rule.apply_until or not buys[pay_until + timedelta(days=1)], (facts, day)
        # Allowed on every day of the window that buys cover, for whoever the rule is for.
        if not rule.eligible or situation_of(policy, facts) in rule.eligible:
            assert allowed == sum(buys[day] for day in days if rule.apply_from <= day <= rule.apply_until)
