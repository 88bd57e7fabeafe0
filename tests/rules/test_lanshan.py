"""Lanshan district, Linyi, Shandong, insurance year 2016 (the district's 2016 notice, seed 003)."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.engine import assess, benefit_period, price_on, refund_on, say_date, subsidy_for
from enrollment.rules.policy import Window

from . import continuous, person, preset, tag, yuan


def lanshan():
    return preset("lanshan-2016")


def test_given_lanshan_2016_then_individual_150_subsidy_410_and_total_560():
    financing = lanshan().financing
    assert (financing.individual_fen, financing.subsidy_fen, financing.total_fen) == (
        yuan(150),
        yuan(410),
        yuan(560),
    )


def test_given_lanshan_then_the_normal_period_is_13_november_to_31_december_2015():
    assert lanshan().collection.window == Window(date(2015, 11, 13), date(2015, 12, 31))
    assert lanshan().coverage == Window(date(2016, 1, 1), date(2016, 12, 31))


@pytest.mark.parametrize(
    ("paid_on", "payable", "rule", "start"),
    [
        (date(2015, 11, 13), yuan(150), "pricing[0]", date(2016, 1, 1)),
        (date(2015, 12, 31), yuan(150), "pricing[0]", date(2016, 1, 1)),
        (date(2016, 1, 1), yuan(150), "pricing[1]", date(2016, 3, 1)),  # late: only I, from 1 March
        (
            date(2016, 2, 29),
            yuan(150),
            "pricing[1]",
            date(2016, 3, 1),
        ),  # the leap day is still "by the end of February"
        (
            date(2016, 3, 1),
            yuan(560),
            "pricing[2]",
            date(2016, 3, 31),
        ),  # from 1 March: F, 30 days after payment
        (date(2016, 6, 15), yuan(560), "pricing[2]", date(2016, 7, 15)),
        (date(2016, 12, 1), yuan(560), "pricing[2]", date(2016, 12, 31)),
        (date(2016, 12, 2), yuan(560), "pricing[2]", None),  # 30 days later is 2017
    ],
)
def test_given_the_payment_date_then_the_tier_sets_the_price_and_the_benefit_start(
    paid_on, payable, rule, start
):
    facts = continuous(2016)
    price = price_on(lanshan(), facts, paid_on)
    assert (price.accepted, price.payable_fen, price.rule) == (True, payable, rule)
    cover = benefit_period(lanshan(), facts, paid_on)
    assert cover.start == start
    assert cover.end == date(2016, 12, 31)


def test_given_a_payment_before_13_november_then_refused_because_the_period_has_not_opened():
    decision = price_on(lanshan(), continuous(2016), date(2015, 11, 12))
    assert (decision.accepted, decision.rule) == (False, "collection")
    assert say_date(date(2015, 11, 13)) in decision.way_forward


@pytest.mark.parametrize(
    ("paid_on", "words"),
    [
        (date(2016, 2, 29), "2016年2月底以前只缴纳筹资当年度个人承担部分"),
        (date(2016, 3, 1), "包含各级财政补助资金共560元"),
    ],
)
def test_given_a_late_payment_then_the_reason_quotes_the_document(paid_on, words):
    assert words in price_on(lanshan(), continuous(2016), paid_on).reason


def test_given_a_late_payment_by_february_then_the_benefit_reason_names_1_march():
    assert "2016年3月1日至12月31日" in benefit_period(lanshan(), continuous(2016), date(2016, 2, 1)).reason


# --- special groups --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "subsidy"),
    [
        (date(1945, 12, 31), yuan(150)),  # 70 on 31 Dec 2015: the government pays
        (date(1930, 2, 28), yuan(150)),
        (date(1946, 1, 1), 0),  # 69
    ],
)
def test_given_a_birth_date_then_everyone_aged_70_plus_is_paid_for_without_any_tag(born, subsidy):
    decision = subsidy_for(lanshan(), person(born, last_paid=2015), date(2015, 12, 1))
    assert decision.subsidy_fen == subsidy


def test_given_a_70_year_old_without_district_hukou_then_no_subsidy():
    decision = subsidy_for(lanshan(), person(date(1940, 5, 1), hukou=False), date(2015, 12, 1))
    assert decision.subsidy_fen == 0


def test_given_a_70_year_old_when_assessed_then_nothing_is_collected():
    decision = assess(lanshan(), person(date(1945, 12, 31), last_paid=2015))
    assert (decision.government_pays_all, decision.payable_fen) == (True, 0)
    assert "1945年12月31日前出生" in decision.reason


@pytest.mark.parametrize("code", ["wubao", "dibao", "key_special_care", "certified_disability"])
@pytest.mark.parametrize(
    ("recognised_on", "subsidy"),
    [(date(2015, 12, 31), yuan(150)), (date(2016, 1, 1), 0)],
)
def test_given_a_special_group_then_only_recognition_by_31_december_2015_counts(code, recognised_on, subsidy):
    facts = continuous(2016, tags=[tag(code, recognised_on)])
    assert subsidy_for(lanshan(), facts, date(2015, 12, 1)).subsidy_fen == subsidy


@pytest.mark.parametrize(
    ("recognised_on", "subsidy"),
    [(date(2009, 3, 4), yuan(150)), (date(2015, 12, 31), yuan(150)), (date(2016, 1, 1), 0)],
)
def test_given_a_roster_tag_of_the_year_then_its_recognition_date_still_meets_the_deadline(
    recognised_on, subsidy
):
    facts = continuous(2016, tags=[tag("dibao", recognised_on, roster_year=2016)])
    assert subsidy_for(lanshan(), facts, date(2015, 12, 1)).subsidy_fen == subsidy


def test_given_a_recognition_after_the_deadline_then_the_reason_names_both_dates():
    decision = subsidy_for(
        lanshan(), continuous(2016, tags=[tag("dibao", date(2016, 1, 1))]), date(2016, 1, 5)
    )
    assert say_date(date(2016, 1, 1)) in decision.reason
    assert say_date(date(2015, 12, 31)) in decision.reason
    assert "城乡最低生活保障对象" in decision.reason


def test_given_a_special_group_with_hukou_elsewhere_then_no_subsidy():
    facts = continuous(2016, tags=[tag("certified_disability")], hukou=False)
    assert subsidy_for(lanshan(), facts, date(2015, 12, 1)).subsidy_fen == 0


def test_given_a_70_year_old_on_dibao_then_the_subsidies_do_not_stack():
    decision = price_on(
        lanshan(), person(date(1940, 1, 1), last_paid=2015, tags=[tag("dibao")]), date(2015, 12, 1)
    )
    assert (decision.subsidy.subsidy_fen, decision.payable_fen, decision.government_fen) == (
        yuan(150),
        0,
        yuan(560),
    )


# --- newborns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "paid_on", "payable", "start", "rule"),
    [
        (date(2016, 1, 10), date(2016, 7, 10), yuan(150), date(2016, 1, 10), "newborn[0]"),  # 6 months
        (date(2016, 1, 10), date(2016, 7, 11), yuan(560), date(2016, 8, 10), "newborn[1]"),
        (date(2015, 12, 31), date(2016, 6, 30), yuan(150), date(2016, 1, 1), "newborn[0]"),  # no 31 June
        (date(2015, 12, 31), date(2016, 7, 1), yuan(560), date(2016, 7, 31), "newborn[1]"),
        (
            date(2016, 2, 29),
            date(2016, 8, 29),
            yuan(150),
            date(2016, 2, 29),
            "newborn[0]",
        ),  # born on the leap day
        (date(2016, 2, 29), date(2016, 8, 30), yuan(560), date(2016, 9, 29), "newborn[1]"),
        (date(2015, 11, 20), date(2015, 12, 1), yuan(150), date(2016, 1, 1), "newborn[0]"),
    ],
)
def test_given_a_newborn_then_150_and_cover_from_birth_within_6_months_else_560_and_30_days_after_payment(
    born, paid_on, payable, start, rule
):
    baby = person(born)
    price = price_on(lanshan(), baby, paid_on)
    assert (price.payable_fen, price.rule) == (payable, rule)
    cover = benefit_period(lanshan(), baby, paid_on)
    assert (cover.start, cover.rule) == (start, rule)


def test_given_a_newborn_within_6_months_then_the_reason_quotes_the_document():
    decision = benefit_period(lanshan(), person(date(2016, 1, 10)), date(2016, 2, 1))
    assert "从出生之日起享受" in decision.reason


# --- the rest ---------------------------------------------------------------------------------


def test_given_a_double_payment_with_two_deposits_then_it_is_refundable():
    assert refund_on(lanshan(), "paid_twice", date(2016, 3, 1), date(2016, 1, 1), deposits=2).allowed


def test_given_lanshan_then_receipts_and_the_public_list_are_carried_as_notes():
    notes = "\n".join(lanshan().notes)
    assert "作废的票据不允许销毁" in notes
    assert "公示期不少于7天" in notes
