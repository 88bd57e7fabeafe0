"""Linfen city, Shanxi, insurance year 2021 (临医保发〔2020〕29号, seed 000)."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from enrollment.rules.engine import (
    assess,
    back_payment_on,
    benefit_period,
    last_payable_day,
    price_on,
    refund_on,
    say_date,
    subsidy_for,
)
from enrollment.rules.policy import Policy

from . import continuous, person, preset, tag, yuan


def linfen():
    return preset("linfen-2021")


def extended(to: date):
    return linfen().with_collection_extended(to=to, note="医保、税务部门协商延长缴费时间")


def test_given_linfen_2021_then_the_national_2021_standard_applies_and_says_so():
    financing = linfen().financing
    assert (financing.individual_fen, financing.subsidy_fen, financing.total_fen) == (
        yuan(320),
        yuan(580),
        yuan(900),
    )
    assert "国家筹资标准" in financing.note


def test_given_linfen_then_the_collection_period_is_1_september_to_25_december_2020_on_days_1_to_25():
    collection = linfen().collection
    assert (collection.window.start, collection.window.end) == (date(2020, 9, 1), date(2020, 12, 25))
    assert collection.days_of_month == (1, 25)


@pytest.mark.parametrize(
    "paid_on",
    [date(2020, 9, 1), date(2020, 9, 25), date(2020, 10, 1), date(2020, 11, 15), date(2020, 12, 25)],
)
def test_given_a_collection_day_when_paying_then_the_individual_standard_is_due(paid_on):
    decision = price_on(linfen(), continuous(2021), paid_on)
    assert decision.accepted
    assert (decision.payable_fen, decision.government_fen) == (yuan(320), yuan(580))
    assert decision.rule == "pricing[0]"
    assert decision.days_of_month == (1, 25)
    assert "集中征缴期" in decision.reason


@pytest.mark.parametrize(
    ("paid_on", "next_day"),
    [
        (date(2020, 9, 26), date(2020, 10, 1)),
        (date(2020, 9, 30), date(2020, 10, 1)),
        (date(2020, 10, 31), date(2020, 11, 1)),
        (date(2020, 11, 26), date(2020, 12, 1)),
    ],
)
def test_given_the_26th_or_later_when_paying_then_refused_with_the_next_collection_day_as_the_way_forward(
    paid_on, next_day
):
    decision = price_on(linfen(), continuous(2021), paid_on)
    assert not decision.accepted
    assert decision.rule == "collection.days_of_month"
    assert decision.payable_fen == 0
    assert say_date(next_day) in decision.way_forward
    assert say_date(date(2020, 12, 25)) in decision.way_forward


def test_given_the_26th_in_english_then_the_reason_and_the_way_forward_name_the_days_as_ordinals():
    with translation.override("en"):
        decision = price_on(linfen(), continuous(2021), date(2020, 9, 26))

    assert decision.reason == (
        "Payments are taken only from the 1st to the 25th of each month; 2020-09-26 is not a collection day"
    )
    assert decision.way_forward == (
        "Pay from 2020-10-01 (collection days: the 1st to the 25th of each month, until 2020-12-25)"
    )


def test_given_the_26th_in_chinese_then_the_days_read_as_before():
    with translation.override("zh-hans"):
        decision = price_on(linfen(), continuous(2021), date(2020, 9, 26))

    assert decision.reason.startswith("仅在每月1日至25日受理缴费，")


def test_given_25_december_then_the_deadline_is_not_moved_for_holidays():
    policy = linfen()
    assert policy.collection.holiday_extension is False
    assert policy.collection.effective_window.end == date(2020, 12, 25)
    assert price_on(policy, continuous(2021), date(2020, 12, 25)).accepted


def test_given_26_december_when_paying_then_refused_and_the_way_forward_is_a_back_payment():
    decision = price_on(linfen(), continuous(2021), date(2020, 12, 26))
    assert not decision.accepted
    assert decision.rule == "collection"
    assert decision.way_forward
    assert back_payment_on(linfen(), continuous(2021), date(2020, 12, 26)).allowed


def test_given_august_2020_when_paying_then_refused_because_the_period_has_not_opened():
    decision = price_on(linfen(), continuous(2021), date(2020, 8, 31))
    assert not decision.accepted
    assert decision.rule == "collection"
    assert say_date(date(2020, 9, 1)) in decision.way_forward


def test_given_a_payment_in_the_period_then_the_whole_year_2021_is_covered():
    decision = benefit_period(linfen(), continuous(2021), date(2020, 10, 10))
    assert (decision.start, decision.end) == (date(2021, 1, 1), date(2021, 12, 31))
    assert decision.rule == "benefit[0]"
    assert "2021年1月1日起享受待遇" in decision.reason


def test_given_a_resident_when_assessed_then_the_schedule_is_the_collection_period_on_days_1_to_25():
    decision = assess(linfen(), continuous(2021))
    assert decision.payable_fen == yuan(320)
    assert not decision.government_pays_all
    assert [line.as_document() for line in decision.schedule] == [
        {
            "from": "2020-09-01",
            "to": "2020-12-25",
            "amount_fen": yuan(320),
            "subsidy_fen": 0,
            "rule": "pricing[0]",
            "days_of_month": [1, 25],
        }
    ]


# --- extension of the collection period (an administrator action) -----------------------------


def test_given_an_extension_to_25_january_then_payments_are_taken_on_days_1_to_25_until_then():
    policy = extended(date(2021, 1, 25))
    assert policy.collection.extension_note == "医保、税务部门协商延长缴费时间"
    refused = price_on(policy, continuous(2021), date(2020, 12, 26))
    assert (refused.accepted, refused.rule) == (False, "collection.days_of_month")
    assert say_date(date(2021, 1, 1)) in refused.way_forward
    assert price_on(policy, continuous(2021), date(2021, 1, 25)).payable_fen == yuan(320)
    assert price_on(policy, continuous(2021), date(2021, 1, 26)).rule == "collection"
    assert benefit_period(policy, continuous(2021), date(2021, 1, 10)).start == date(2021, 1, 1)


def test_given_an_extension_ending_before_the_next_collection_day_then_the_way_forward_is_a_back_payment():
    decision = price_on(extended(date(2020, 12, 31)), continuous(2021), date(2020, 12, 28))
    assert (decision.accepted, decision.rule) == (False, "collection.days_of_month")
    assert "2021-01-01" not in decision.way_forward
    assert decision.way_forward


def test_given_an_extension_to_25_january_when_applying_for_a_back_payment_on_5_january_then_refused_as_the_period_is_open():
    # given: insurance and tax extended the collection period to 25 January 2021
    policy = extended(date(2021, 1, 25))
    # when: last year's payer asks on 5 January, a collection day of the extension
    decision = back_payment_on(policy, continuous(2021), date(2021, 1, 5))
    # then: not missed yet — pays 320 at the counter, cover from 1 January, not 900 and a 90-day wait
    assert (decision.allowed, decision.rule, decision.amount_fen) == (False, "back_payment.apply_from", 0)
    assert say_date(date(2021, 1, 26)) in decision.reason
    assert "医保、税务部门协商延长缴费时间" in decision.reason
    price = price_on(policy, continuous(2021), date(2021, 1, 5))
    assert (price.accepted, price.payable_fen) == (True, yuan(320))
    assert benefit_period(policy, continuous(2021), date(2021, 1, 5)).start == date(2021, 1, 1)


@pytest.mark.parametrize(
    ("applied_on", "allowed"),
    [(date(2021, 1, 25), False), (date(2021, 1, 26), True)],
)
def test_given_an_extension_to_25_january_then_back_payments_open_the_day_after_it_ends(applied_on, allowed):
    decision = back_payment_on(extended(date(2021, 1, 25)), continuous(2021), applied_on)
    assert (decision.allowed, decision.amount_fen) == (allowed, yuan(900) if allowed else 0)


# --- back-payment ----------------------------------------------------------------------------


def test_given_last_years_payer_who_missed_the_period_when_applying_then_the_back_payment_is_the_total_900():
    decision = back_payment_on(linfen(), continuous(2021), date(2021, 3, 1))
    assert decision.allowed
    assert decision.amount_fen == yuan(900)
    assert decision.rule == "back_payment"
    assert "900元" in decision.reason


@pytest.mark.parametrize(
    ("paid_on", "start"),
    [
        (date(2021, 3, 1), date(2021, 5, 30)),
        (date(2021, 1, 1), date(2021, 4, 1)),
        (date(2021, 8, 31), date(2021, 11, 29)),
        (date(2021, 10, 2), date(2021, 12, 31)),
        (date(2021, 10, 3), None),  # 90 days later the year is over
    ],
)
def test_given_a_back_payment_then_benefits_start_90_days_after_the_deposit_date(paid_on, start):
    decision = benefit_period(linfen(), continuous(2021), paid_on, back_payment=True)
    assert decision.start == start
    assert decision.rule == "back_payment.start"


@pytest.mark.parametrize(
    ("applied_on", "allowed", "rule"),
    [
        (date(2020, 12, 25), False, "back_payment.apply_from"),
        (date(2020, 12, 26), True, "back_payment"),
        (date(2021, 8, 31), True, "back_payment"),
        (date(2021, 9, 1), False, "back_payment.apply_until"),  # the next collection period opens
    ],
)
def test_given_the_application_date_then_back_payments_close_when_the_next_collection_period_opens(
    applied_on, allowed, rule
):
    decision = back_payment_on(linfen(), continuous(2021), applied_on)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_given_someone_who_did_not_pay_last_year_when_applying_for_a_back_payment_then_refused():
    decision = back_payment_on(linfen(), person(last_paid=2019), date(2021, 3, 1))
    assert (decision.allowed, decision.rule) == (False, "back_payment.eligible")


# --- newborns --------------------------------------------------------------------------------


@pytest.mark.parametrize("born", [date(2020, 9, 1), date(2020, 10, 1), date(2020, 12, 25)])
def test_given_a_baby_born_in_the_period_when_paid_by_25_february_then_320_and_the_whole_year(born):
    baby = person(born)
    price = price_on(linfen(), baby, date(2021, 2, 25))
    assert (price.accepted, price.payable_fen, price.rule) == (True, yuan(320), "newborn[0]")
    cover = benefit_period(linfen(), baby, date(2021, 2, 25))
    assert (cover.start, cover.end, cover.rule) == (date(2021, 1, 1), date(2021, 12, 31), "newborn[0]")
    assert "2月25日" in cover.reason


def test_given_a_baby_born_in_the_period_when_paying_on_26_february_then_refused():
    decision = price_on(linfen(), person(date(2020, 10, 1)), date(2021, 2, 26))
    assert not decision.accepted


def test_given_an_extension_of_the_period_then_the_newborn_deadline_moves_by_as_many_days():
    policy = extended(date(2021, 1, 25))  # 31 days later
    baby = person(date(2020, 10, 1))
    assert price_on(policy, baby, date(2021, 3, 28)).rule == "newborn[0]"
    assert not price_on(policy, baby, date(2021, 3, 29)).accepted


def test_given_an_extension_then_a_baby_born_in_the_extension_is_born_in_the_period():
    policy = extended(date(2021, 1, 25))
    decision = price_on(policy, person(date(2021, 1, 20)), date(2021, 3, 28))
    assert (decision.accepted, decision.rule) == (True, "newborn[0]")
    assert benefit_period(policy, person(date(2021, 1, 20)), date(2021, 3, 28)).start == date(2021, 1, 1)


@pytest.mark.parametrize(
    ("born", "paid_on", "accepted", "start"),
    [
        (date(2020, 12, 26), date(2021, 3, 26), True, date(2021, 1, 1)),  # day 90
        (date(2021, 1, 10), date(2021, 4, 10), True, date(2021, 1, 10)),
        (date(2021, 1, 10), date(2021, 4, 11), False, None),
    ],
)
def test_given_a_baby_born_after_the_period_then_the_national_90_day_rule_applies(
    born, paid_on, accepted, start
):
    baby = person(born)
    assert price_on(linfen(), baby, paid_on).accepted is accepted
    if accepted:
        assert price_on(linfen(), baby, paid_on).rule == "newborn[1]"
        assert benefit_period(linfen(), baby, paid_on).start == start


def test_given_a_payment_before_the_birth_then_it_is_refused():
    decision = price_on(linfen(), person(date(2020, 11, 20)), date(2020, 11, 19))
    assert (decision.accepted, decision.rule) == (False, "newborn")


# --- subsidies -------------------------------------------------------------------------------


def test_given_a_registered_poor_resident_then_nothing_is_collected_and_tax_never_sees_a_due_amount():
    decision = assess(linfen(), continuous(2021, tags=[tag("poverty_registered")]))
    assert decision.government_pays_all
    assert decision.payable_fen == 0
    assert decision.government_fen == yuan(900)
    assert decision.rule == "subsidy_categories[0]"
    assert "建档立卡贫困人口" in decision.reason


def test_given_a_dibao_resident_then_tax_collects_only_the_remaining_amount():
    decision = assess(linfen(), continuous(2021, tags=[tag("dibao")]))
    assert not decision.government_pays_all
    assert (decision.payable_fen, decision.subsidy.subsidy_fen) == (yuan(160), yuan(160))
    assert "城乡低保对象" in decision.subsidy.reason


def test_given_clergy_then_the_subsidy_works_like_a_partial_subsidy():
    decision = assess(linfen(), continuous(2021, tags=[tag("clergy")]))
    assert (decision.payable_fen, decision.government_pays_all) == (yuan(160), False)


def test_given_dibao_and_registered_poor_then_subsidies_do_not_stack_and_the_full_one_wins():
    decision = subsidy_for(linfen(), continuous(2021, tags=[tag("dibao"), tag("poverty_registered")]), None)
    assert (decision.subsidy_fen, decision.rule, decision.full) == (yuan(320), "subsidy_categories[0]", True)


def test_given_dibao_and_clergy_then_only_one_fixed_subsidy_is_granted():
    decision = price_on(linfen(), continuous(2021, tags=[tag("clergy"), tag("dibao")]), date(2020, 10, 1))
    assert (decision.subsidy.subsidy_fen, decision.payable_fen) == (yuan(160), yuan(160))


# --- refunds ---------------------------------------------------------------------------------


def test_given_a_double_payment_with_two_deposits_then_it_is_refunded_within_5_working_days():
    decision = refund_on(linfen(), "paid_twice", date(2021, 6, 1), date(2021, 1, 1), deposits=2)
    assert decision.allowed
    assert decision.extra["decision_working_days"] == 5
    assert "5个工作日" in decision.note


def test_given_a_reason_the_document_does_not_list_then_the_reason_for_refusal_is_given_on_the_spot():
    with translation.override("en"):
        decision = refund_on(linfen(), "death", date(2020, 12, 1), date(2021, 1, 1))
    assert (decision.allowed, decision.rule) == (False, "refunds.reasons.death")
    assert decision.reason == "Not refundable: this region does not refund contributions for death"
    # Linfen's note is on paying twice: not death's
    assert decision.note == ""


def test_given_an_agency_error_then_the_refund_carries_no_note_on_paying_twice():
    # Linfen's only refund note ("重复缴费可申请退费…") is the paid-twice reason's own
    with translation.override("en"):
        decision = refund_on(linfen(), "agency_error", date(2020, 12, 1), date(2021, 1, 1))
    assert (decision.allowed, decision.rule, decision.reason) == (
        True,
        "refunds.reasons.agency_error",
        "Refundable: an agency's error",
    )
    assert decision.note == ""


def test_given_linfen_then_registration_subsidy_and_refund_procedures_are_carried_as_notes():
    notes = "\n".join(linfen().notes)
    for words in (
        "不得办理参保登记",
        "防止带病参保",
        "按上年财政补助标准执行",
        "全市统一的标识标准",
        "开具缴费证明",
        "用款计划",
        "节假日不顺延",
    ):
        assert words in notes


# --- the last day the year can be paid (an enrollment begun after it owes nothing for the year) ------


def test_given_a_first_enrollment_then_the_last_payable_day_is_the_last_day_to_apply_for_a_back_payment():
    # given: a newcomer, who may pay 2021 as a back-payment until 31 August 2021 (cover 90 days after)
    # when / then: 31 August 2021 — someone enrolled on 1 December 2021 could never pay for 2021
    assert last_payable_day(linfen(), person()) == date(2021, 8, 31)


def test_given_a_person_after_a_break_then_the_last_payable_day_is_the_end_of_the_collection_period():
    # given: last paid 2018 (back-payments are for last year's payers and newcomers only)
    # when / then: the last collection day, 25 December 2020
    assert last_payable_day(linfen(), person(last_paid=2018)) == date(2020, 12, 25)


def test_given_the_period_extended_to_25_january_then_a_person_after_a_break_can_pay_until_then():
    assert last_payable_day(extended(date(2021, 1, 25)), person(last_paid=2018)) == date(2021, 1, 25)


def test_given_back_payments_open_until_the_year_end_then_the_last_payable_day_is_the_last_that_buys_cover():
    # given: applications until 31 December 2021, cover 90 days after the deposit
    document = linfen().to_document()
    document["back_payment"] = {**document["back_payment"], "apply_until": "2021-12-31"}
    policy = Policy.from_document(document)

    # when / then: 2 October 2021 (cover from 31 December); a day later it would buy nothing in 2021
    assert last_payable_day(policy, person()) == date(2021, 10, 2)
