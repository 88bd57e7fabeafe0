"""Guigang city, Guangxi, urban residents (贵港市城镇居民基本医疗保险参保缴费办法, seed 004), as 2024."""

from __future__ import annotations

from datetime import date

import pytest

from enrollment.rules.engine import assess, benefit_period, price_on, refund_on, say_date, subsidy_for
from enrollment.rules.policy import Policy, Window

from . import continuous, person, preset, tag, yuan


def guigang():
    return preset("guigang-2024")


def student(**kwargs):
    return person(date(2012, 5, 1), category="student", **kwargs)


def test_given_a_document_without_year_or_amounts_then_2024_and_the_national_2024_standard_and_it_says_so():
    policy = guigang()
    assert policy.insurance_year == 2024
    assert (policy.financing.individual_fen, policy.financing.subsidy_fen) == (yuan(400), yuan(670))
    assert "2024年国家筹资标准" in policy.financing.note
    assert any("文件未注明年度" in note for note in policy.notes)


def test_given_guigang_then_students_have_an_academic_year_and_a_school_collection_period():
    policy = guigang()
    assert policy.coverage_for("student") == Window(date(2024, 9, 1), date(2025, 8, 31))
    assert policy.coverage_for("preschool") == Window(date(2024, 9, 1), date(2025, 8, 31))
    assert policy.coverage_for("urban") == Window(date(2024, 1, 1), date(2024, 12, 31))
    assert policy.collection.student_window == Window(date(2024, 8, 20), date(2024, 9, 20))


@pytest.mark.parametrize(
    ("paid_on", "accepted"),
    [
        (date(2024, 8, 19), False),
        (date(2024, 8, 20), True),
        (date(2024, 9, 20), True),
        (date(2024, 9, 21), False),
        (date(2023, 10, 8), False),  # the adults' period is not the school's
    ],
)
def test_given_a_student_then_payments_are_taken_from_20_august_to_20_september(paid_on, accepted):
    decision = price_on(guigang(), student(last_paid=2023), paid_on)
    assert decision.accepted is accepted
    if accepted:
        assert (decision.payable_fen, decision.rule) == (yuan(400), "pricing[0]")
        assert "8月20日至9月20日" in decision.reason


def test_given_a_student_paying_too_early_then_the_way_forward_names_the_schools_opening_day():
    decision = price_on(guigang(), student(last_paid=2023), date(2024, 8, 19))
    assert decision.rule == "collection"
    assert say_date(date(2024, 8, 20)) in decision.way_forward


@pytest.mark.parametrize("paid_on", [date(2024, 8, 20), date(2024, 9, 20)])
def test_given_a_student_payment_then_covered_1_september_to_31_august(paid_on):
    decision = benefit_period(guigang(), student(last_paid=2023), paid_on)
    assert (decision.start, decision.end, decision.rule) == (
        date(2024, 9, 1),
        date(2025, 8, 31),
        "benefit[0]",
    )


@pytest.mark.parametrize(
    ("paid_on", "accepted", "rule"),
    [
        (date(2023, 9, 30), False, "collection"),
        (date(2023, 10, 1), True, "pricing[1]"),
        (date(2023, 12, 31), True, "pricing[1]"),
    ],
)
def test_given_a_renewal_then_it_is_paid_1_october_to_31_december_for_next_year(paid_on, accepted, rule):
    decision = price_on(guigang(), continuous(2024, category="urban"), paid_on)
    assert (decision.accepted, decision.rule) == (accepted, rule)
    if accepted:
        assert benefit_period(guigang(), continuous(2024, category="urban"), paid_on).start == date(
            2024, 1, 1
        )


@pytest.mark.parametrize(
    ("paid_on", "start"),
    [(date(2024, 1, 1), date(2024, 2, 1)), (date(2024, 3, 15), date(2024, 4, 1)), (date(2024, 12, 1), None)],
)
def test_given_a_new_enrollee_then_it_pays_for_the_current_year(paid_on, start):
    facts = person(category="urban")
    price = price_on(guigang(), facts, paid_on)
    assert (price.payable_fen, price.rule) == (yuan(400), "pricing[2]")
    assert "新参保居民缴纳当年的保费" in price.reason
    assert benefit_period(guigang(), facts, paid_on).start == start


@pytest.mark.parametrize(
    ("paid_on", "start", "rule"),
    [(date(2024, 5, 1), date(2024, 2, 1), "newborn[0]"), (date(2024, 5, 2), date(2024, 6, 1), "benefit[2]")],
)
def test_given_a_newborn_then_the_national_90_day_rule_applies(paid_on, start, rule):
    decision = benefit_period(guigang(), person(date(2024, 2, 1), category="urban"), paid_on)
    assert (decision.start, decision.rule) == (start, rule)


# --- special categories ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("born", "payable"), [(date(1963, 12, 31), yuan(160)), (date(1964, 1, 1), yuan(400))]
)
def test_given_a_low_income_family_member_then_the_subsidy_starts_at_60(born, payable):
    facts = person(born, last_paid=2023, category="urban", tags=[tag("low_income")])
    assert price_on(guigang(), facts, date(2023, 11, 1)).payable_fen == payable


@pytest.mark.parametrize(
    ("on", "subsidy"),
    [
        ("2024-02-28", 0),  # born 29 Feb 1964: 59 the day before the birthday
        ("2024-02-29", yuan(240)),  # 60 on the leap day
    ],
)
def test_given_a_29_february_birthday_then_the_age_cut_off_is_the_birthday(on, subsidy):
    document = guigang().to_document()
    document["subsidy_categories"][0]["conditions"]["age_at_least"]["on"] = on
    facts = person(date(1964, 2, 29), last_paid=2023, category="urban", tags=[tag("low_income")])
    assert subsidy_for(Policy.from_document(document), facts, None).subsidy_fen == subsidy


@pytest.mark.parametrize(
    ("on", "subsidy"),
    [("2025-02-28", 0), ("2025-03-01", yuan(240))],
)
def test_given_a_29_february_birthday_in_a_common_year_then_the_person_is_older_on_1_march(on, subsidy):
    document = guigang().to_document()
    document["subsidy_categories"][0]["conditions"]["age_at_least"] = {"years": 61, "on": on}
    facts = person(date(1964, 2, 29), last_paid=2023, category="urban", tags=[tag("low_income")])
    assert subsidy_for(Policy.from_document(document), facts, None).subsidy_fen == subsidy


def test_given_dibao_and_dibao_without_income_or_supporter_then_the_full_subsidy_wins_alone():
    decision = assess(guigang(), continuous(2024, category="urban", tags=[tag("dibao"), tag("dibao_sanwu")]))
    assert (decision.government_pays_all, decision.payable_fen, decision.rule) == (
        True,
        0,
        "subsidy_categories[3]",
    )


def test_given_a_disabled_student_then_the_subsidy_applies_to_the_academic_year_price():
    decision = price_on(guigang(), student(last_paid=2023, tags=[tag("severe_disability")]), date(2024, 9, 1))
    assert (decision.subsidy.subsidy_fen, decision.payable_fen) == (yuan(240), yuan(160))
    assert "逐一核查" in decision.subsidy.reason


@pytest.mark.parametrize(
    ("category", "recognised_on", "ended_on", "subsidy"),
    [
        # A student pays for the academic year 1 Sep 2024 – 31 Aug 2025: the tag must reach it.
        ("student", date(2023, 1, 1), date(2024, 8, 31), 0),  # ended the day before the school year
        ("student", date(2023, 1, 1), date(2024, 9, 1), yuan(240)),
        ("student", date(2025, 8, 31), None, yuan(240)),  # recognised within the school year
        ("student", date(2025, 9, 1), None, 0),
        ("preschool", date(2025, 1, 10), None, yuan(240)),
        # The others pay for the calendar year 2024.
        ("urban", date(2023, 1, 1), date(2024, 7, 31), yuan(240)),
        ("urban", date(2023, 1, 1), date(2023, 12, 31), 0),
        ("urban", date(2025, 1, 10), None, 0),
        ("urban", date(2024, 12, 31), None, yuan(240)),
    ],
)
def test_given_a_dibao_tag_then_its_dates_count_against_the_year_the_person_pays_for(
    category, recognised_on, ended_on, subsidy
):
    facts = person(date(2010, 5, 1), category=category, tags=[tag("dibao", recognised_on, ended_on)])

    assert subsidy_for(guigang(), facts, None).subsidy_fen == subsidy
    assert assess(guigang(), facts).subsidy.subsidy_fen == subsidy


def test_given_a_student_whose_dibao_ended_in_july_then_the_reason_says_no_tag_for_the_year():
    facts = student(last_paid=2023, tags=[tag("dibao", date(2023, 1, 1), date(2024, 7, 31))])

    decision = assess(guigang(), facts)

    assert (decision.payable_fen, decision.subsidy.subsidy_fen) == (yuan(400), 0)
    assert "低保对象" in decision.subsidy.reason


# --- refunds: not for a change within the year paid for ------------------------------------------


@pytest.mark.parametrize("reason", ["death", "employee_insurance", "enrolled_elsewhere", "emigration"])
@pytest.mark.parametrize(("event_on", "allowed"), [(date(2023, 12, 31), True), (date(2024, 1, 1), False)])
def test_given_a_change_then_refundable_only_before_the_year_paid_for_begins(reason, event_on, allowed):
    decision = refund_on(guigang(), reason, event_on, date(2024, 1, 1), person_category="urban")
    assert decision.allowed is allowed
    assert "所缴费用不予以退回" in decision.note  # the policy's note, apart from the reason


def test_given_a_new_enrollee_who_dies_within_the_year_before_cover_starts_then_still_not_refunded():
    decision = refund_on(guigang(), "death", date(2024, 3, 20), date(2024, 4, 1), person_category="urban")
    assert not decision.allowed


@pytest.mark.parametrize(("event_on", "allowed"), [(date(2024, 8, 31), True), (date(2024, 9, 1), False)])
def test_given_a_student_then_the_academic_year_decides_the_refund(event_on, allowed):
    decision = refund_on(
        guigang(), "enrolled_elsewhere", event_on, date(2024, 9, 1), person_category="student"
    )
    assert decision.allowed is allowed


def test_given_a_double_payment_with_two_deposits_then_it_is_refundable_at_any_time():
    assert refund_on(guigang(), "paid_twice", date(2024, 6, 1), date(2024, 1, 1), deposits=2).allowed


def test_given_guigang_then_its_procedures_are_carried_as_notes():
    notes = "\n".join(guigang().notes)
    for words in (
        "当月25日前",
        "10月1日至月底的工作日",
        "当年缴费金额不变",
        "次月8日前",
        "元月份拨付50%",
        "七月份拨付50%",
    ):
        assert words in notes
