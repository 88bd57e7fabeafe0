"""Qinbei district, Qinzhou, Guangxi, insurance year 2023 (a town's 2023 work plan, seed 002)."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.engine import (
    assess,
    benefit_period,
    price_on,
    refund_on,
    say_date,
    schedule_of,
    subsidy_for,
)
from enrollment.rules.policy import Window

from . import continuous, person, preset, tag, yuan


def qinbei():
    return preset("qinbei-2023")


FIRST = person(last_paid=None)
CONTINUOUS = continuous(2023)
INTERRUPTED = person(last_paid=2021)  # nothing paid for 2022: a break of over a year


def test_given_qinbei_2023_then_the_individual_350_is_the_documents_and_the_subsidy_640_national():
    financing = qinbei().financing
    assert (financing.individual_fen, financing.subsidy_fen, financing.total_fen) == (
        yuan(350),
        yuan(640),
        yuan(990),
    )
    assert "640" in financing.note


def test_given_qinbei_then_the_period_is_september_to_december_with_a_grace_period_until_28_february():
    collection = qinbei().collection
    assert collection.window == Window(date(2022, 9, 1), date(2022, 12, 31))
    assert collection.grace_window == Window(date(2023, 1, 1), date(2023, 2, 28))
    assert "有困难" in collection.grace_note


@pytest.mark.parametrize(
    ("paid_on", "payable", "rule"),
    [
        (date(2022, 9, 1), yuan(350), "pricing[0]"),
        (date(2022, 12, 31), yuan(350), "pricing[0]"),
        (date(2023, 1, 1), yuan(350), "pricing[1]"),
        (date(2023, 2, 28), yuan(350), "pricing[1]"),
        (date(2023, 6, 30), yuan(350), "pricing[1]"),
        (date(2023, 7, 1), yuan(990), "pricing[2]"),
        (date(2023, 12, 31), yuan(990), "pricing[2]"),
    ],
)
def test_given_the_payment_date_then_350_until_30_june_and_990_from_1_july(paid_on, payable, rule):
    decision = price_on(qinbei(), CONTINUOUS, paid_on)
    assert (decision.accepted, decision.payable_fen, decision.rule) == (True, payable, rule)


@pytest.mark.parametrize("paid_on", [date(2022, 8, 31), date(2024, 1, 1)])
def test_given_a_date_outside_the_collection_and_insurance_year_then_the_payment_is_refused(paid_on):
    assert not price_on(qinbei(), CONTINUOUS, paid_on).accepted


def test_given_a_payment_from_1_july_then_the_reason_quotes_the_document():
    decision = price_on(qinbei(), CONTINUOUS, date(2023, 7, 1))
    assert "当年财政补助标准" in decision.reason
    assert "990.00" in decision.reason


# --- subsidies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "tekun",
        "orphan",
        "unsupported_child",
        "key_special_care",
        "urban_severe_disability",
        "family_planning",
    ],
)
def test_given_a_fully_paid_group_then_the_government_pays_the_whole_individual_part(code):
    decision = assess(qinbei(), continuous(2023, tags=[tag(code)]))
    assert (decision.government_pays_all, decision.payable_fen) == (True, 0)
    assert "政府全额代缴" in decision.reason


@pytest.mark.parametrize(
    "code",
    ["dibao", "low_income_seriously_ill", "low_income_severe_disability", "monitored"],
)
def test_given_a_60_percent_group_paid_by_30_june_then_the_person_pays_140(code):
    decision = price_on(qinbei(), continuous(2023, tags=[tag(code)]), date(2023, 6, 30))
    assert (decision.subsidy.subsidy_fen, decision.payable_fen) == (yuan(210), yuan(140))
    assert decision.government_fen == yuan(640) + yuan(210)


@pytest.mark.parametrize("code", ["dibao", "monitored", "poverty_alleviated"])
def test_given_a_subsidised_group_paying_on_1_july_then_the_subsidy_is_lost_and_990_is_due(code):
    decision = price_on(qinbei(), continuous(2023, tags=[tag(code)]), date(2023, 7, 1))
    assert (decision.subsidy.subsidy_fen, decision.payable_fen) == (0, yuan(990))


def test_given_the_30_june_deadline_then_the_category_itself_refuses_a_later_payment():
    decision = subsidy_for(qinbei(), continuous(2023, tags=[tag("dibao")]), date(2023, 7, 1))
    assert decision.subsidy_fen == 0
    assert say_date(date(2023, 6, 30)) in decision.reason
    assert "低保对象" in decision.reason


@pytest.mark.parametrize(
    ("born", "subsidy"),
    [
        (date(1962, 12, 31), yuan(210)),  # 60 on 31 Dec 2022
        (date(1963, 1, 1), 0),  # 59
    ],
)
def test_given_a_rural_low_income_family_member_then_the_60_plus_subsidy_depends_on_the_age(born, subsidy):
    facts = person(born, last_paid=2022, tags=[tag("rural_low_income")])
    assert subsidy_for(qinbei(), facts, date(2023, 3, 1)).subsidy_fen == subsidy


@pytest.mark.parametrize(
    ("born", "subsidy"),
    [
        (date(2005, 1, 1), yuan(210)),  # 17 on 31 Dec 2022
        (date(2004, 12, 31), 0),  # 18: no longer a minor
    ],
)
def test_given_a_rural_low_income_family_member_then_the_under_18_subsidy_depends_on_the_age(born, subsidy):
    facts = person(born, last_paid=2022, tags=[tag("rural_low_income")])
    assert subsidy_for(qinbei(), facts, date(2023, 3, 1)).subsidy_fen == subsidy


def test_given_a_rural_low_income_adult_of_working_age_then_no_subsidy():
    facts = person(date(1980, 1, 1), last_paid=2022, tags=[tag("rural_low_income")])
    assert subsidy_for(qinbei(), facts, date(2023, 3, 1)).subsidy_fen == 0


def test_given_tekun_and_dibao_then_subsidies_never_stack_and_the_full_one_wins():
    decision = subsidy_for(qinbei(), continuous(2023, tags=[tag("dibao"), tag("tekun")]), date(2023, 3, 1))
    assert (decision.subsidy_fen, decision.rule, decision.full) == (yuan(350), "subsidy_categories[0]", True)


def test_given_dibao_and_poverty_alleviated_then_the_60_percent_beats_the_fixed_100():
    decision = price_on(
        qinbei(), continuous(2023, tags=[tag("poverty_alleviated"), tag("dibao")]), date(2023, 3, 1)
    )
    assert (decision.subsidy.subsidy_fen, decision.payable_fen) == (yuan(210), yuan(140))
    assert decision.subsidy.rule == "subsidy_categories[6]"


def test_given_a_dibao_resident_when_assessed_then_the_schedule_shows_the_subsidy_lost_on_1_july():
    decision = assess(qinbei(), continuous(2023, tags=[tag("dibao")]))
    assert decision.payable_fen == yuan(140)
    assert decision.government_fen == yuan(640) + yuan(210)
    assert [(line.start, line.end, line.payable_fen, line.rule) for line in decision.schedule] == [
        (date(2022, 9, 1), date(2022, 12, 31), yuan(140), "pricing[0]"),
        (date(2023, 1, 1), date(2023, 6, 30), yuan(140), "pricing[1]"),
        (date(2023, 7, 1), date(2023, 12, 31), yuan(990), "pricing[2]"),
    ]


def test_given_a_resident_without_subsidy_then_the_schedule_has_350_then_990():
    assert [(line.payable_fen, line.subsidy_fen) for line in schedule_of(qinbei(), CONTINUOUS)] == [
        (yuan(350), 0),
        (yuan(350), 0),
        (yuan(990), 0),
    ]


# --- benefit start ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "paid_on", "start"),
    [
        # first enrollment
        (FIRST, date(2022, 9, 1), date(2023, 1, 1)),
        (FIRST, date(2022, 12, 31), date(2023, 1, 1)),
        (FIRST, date(2023, 1, 1), date(2023, 2, 1)),
        (FIRST, date(2023, 2, 28), date(2023, 3, 1)),
        (FIRST, date(2023, 6, 30), date(2023, 7, 1)),
        (FIRST, date(2023, 11, 30), date(2023, 12, 1)),
        (FIRST, date(2023, 12, 1), None),  # the 1st of next month is in 2024
        # continuous: the grace period until 28 February still buys 1 January
        (CONTINUOUS, date(2022, 12, 31), date(2023, 1, 1)),
        (CONTINUOUS, date(2023, 1, 1), date(2023, 1, 1)),
        (CONTINUOUS, date(2023, 2, 28), date(2023, 1, 1)),
        (CONTINUOUS, date(2023, 3, 1), date(2023, 4, 1)),
        (CONTINUOUS, date(2023, 7, 15), date(2023, 8, 1)),
        # interrupted for over a year
        (INTERRUPTED, date(2022, 12, 31), date(2023, 1, 1)),
        (INTERRUPTED, date(2023, 1, 1), date(2023, 4, 1)),  # paid in January → 1 April
        (INTERRUPTED, date(2023, 1, 31), date(2023, 4, 1)),
        (INTERRUPTED, date(2023, 2, 1), date(2023, 5, 1)),
        (INTERRUPTED, date(2023, 9, 30), date(2023, 12, 1)),
        (INTERRUPTED, date(2023, 10, 1), None),
    ],
)
def test_given_the_situation_and_payment_date_then_benefits_start_as_the_document_says(facts, paid_on, start):
    decision = benefit_period(qinbei(), facts, paid_on)
    assert decision.start == start
    assert decision.end == date(2023, 12, 31)


@pytest.mark.parametrize(
    ("facts", "paid_on", "rule", "words"),
    [
        (FIRST, date(2023, 1, 5), "benefit[1]", "次月1日"),
        (CONTINUOUS, date(2023, 2, 1), "benefit[3]", "2023年2月28日"),
        (INTERRUPTED, date(2023, 1, 5), "benefit[6]", "第3个月1日"),
    ],
)
def test_given_a_benefit_start_then_the_reason_is_the_documents_rule(facts, paid_on, rule, words):
    decision = benefit_period(qinbei(), facts, paid_on)
    assert decision.rule == rule
    assert words in decision.reason


def test_given_a_transfer_then_it_is_treated_as_a_first_enrollment():
    decision = benefit_period(qinbei(), person(last_paid=2022, transfer=True), date(2023, 5, 20))
    assert (decision.start, decision.rule) == (date(2023, 6, 1), "benefit[1]")


# --- newborns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "paid_on", "start", "rule"),
    [
        (date(2023, 1, 15), date(2023, 4, 15), date(2023, 1, 15), "newborn[0]"),  # within 3 months
        (date(2023, 1, 15), date(2023, 4, 16), date(2023, 5, 1), "benefit[7]"),  # later
        (
            date(2022, 11, 30),
            date(2023, 2, 28),
            date(2023, 1, 1),
            "newborn[0]",
        ),  # no 30 Feb: 28 Feb is the last day
        (date(2022, 11, 30), date(2023, 3, 1), date(2023, 4, 1), "benefit[7]"),
        (date(2022, 9, 5), date(2022, 12, 6), date(2023, 1, 1), "benefit[7]"),
    ],
)
def test_given_a_newborn_then_cover_starts_at_birth_within_3_months_else_the_1st_of_next_month(
    born, paid_on, start, rule
):
    decision = benefit_period(qinbei(), person(born), paid_on)
    assert (decision.start, decision.rule) == (start, rule)


@pytest.mark.parametrize(
    ("paid_on", "payable"),
    [(date(2023, 6, 30), yuan(350)), (date(2023, 7, 20), yuan(990))],
)
def test_given_a_newborn_then_the_price_depends_on_the_payment_date_like_everyone_elses(paid_on, payable):
    baby = person(date(2023, 5, 10))
    assert price_on(qinbei(), baby, paid_on).payable_fen == payable
    assert benefit_period(qinbei(), baby, paid_on).start == date(2023, 5, 10)


# --- refunds and the rest --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_on", "allowed"),
    [(date(2022, 12, 31), True), (date(2023, 1, 1), False)],
)
def test_given_a_death_then_the_refund_depends_on_whether_the_benefit_period_started(event_on, allowed):
    decision = refund_on(qinbei(), "death", event_on, date(2023, 1, 1))
    assert decision.allowed is allowed
    assert "桂医保发〔2020〕29号" in decision.note  # the policy's note, apart from the reason


def test_given_qinbei_then_the_village_ledger_school_and_full_enrollment_rules_are_carried_as_notes():
    notes = "\n".join(qinbei().notes)
    for words in ("台账", "共同签字确认", "以学校为单位参保缴费", "100%参保缴费"):
        assert words in notes
