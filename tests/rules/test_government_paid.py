"""A year the government pays in full (政府全额代缴) is recorded as paid on the person's own on-time
day and buys what an on-time payment buys: a student's academic year where the policy has one.

Until 30 November 2026 the run recorded every such year as paid on the adults' first collection day;
for a Guigang student (whose school takes payments 20 Aug – 20 Sep) no benefit rule covered that
day, so the year was "paid by the government" with no cover at all.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from enrollment.rules.engine import assess, benefit_period, price_on
from enrollment.rules.policy import PERSON_CATEGORIES, Policy, Scheme
from enrollment.rules.presets import PRESETS
from enrollment.views.rulebook import next_year_copy

from . import continuous, person, preset, tag


def guigang():
    return preset("guigang-2024")


@pytest.mark.parametrize("category", ["student", "preschool"])
def test_given_a_guigang_student_paid_for_in_full_then_recorded_on_the_schools_first_day_and_covered_for_the_academic_year(
    category,
):
    facts = person(date(2010, 5, 1), category=category, last_paid=2023, tags=[tag("dibao_sanwu")])

    decision = assess(guigang(), facts)

    assert (decision.government_pays_all, decision.payable_fen, decision.on_time) == (
        True,
        0,
        date(2024, 8, 20),
    )
    benefit = decision.government_benefit
    assert benefit is not None
    assert (benefit.start, benefit.end, benefit.rule) == (date(2024, 9, 1), date(2025, 8, 31), "benefit[0]")
    assert "其待遇从当年9月1日起到次年8月31日止" in benefit.reason


def test_given_a_guigang_adult_with_the_same_tag_then_recorded_on_1_october_and_covered_for_the_calendar_year():
    decision = assess(guigang(), continuous(2024, category="urban", tags=[tag("dibao_sanwu")]))

    assert decision.on_time == date(2023, 10, 1)
    assert decision.government_benefit is not None
    assert (decision.government_benefit.start, decision.government_benefit.end) == (
        date(2024, 1, 1),
        date(2024, 12, 31),
    )


def test_given_a_person_who_pays_then_the_assessment_carries_no_government_benefit():
    decision = assess(guigang(), person(date(2010, 5, 1), category="student", last_paid=2023))

    assert (decision.government_pays_all, decision.government_benefit) == (False, None)
    assert decision.on_time == date(2024, 8, 20)


# --- every preset, and every preset copied on for eight years -------------------------------------


def _preset_and_copies(code: str) -> list[Policy]:
    found = [preset(code)]
    document = preset(code).to_document()
    for _year in range(4):  # four years hold a leap year
        document = next_year_copy(document)
        found.append(Policy.from_document(document))
    return found


def _full_subsidy_facts(policy: Policy):
    """Persons of every category and situation holding the tag of a category paid in full (born
    in 1940, so also old enough for Lanshan's 70-year-olds, whom it pays for without a tag)."""
    year = policy.insurance_year
    tags = next(([tag(c.tag_code)] for c in policy.subsidy_categories if c.scheme == Scheme.FULL), [])
    for category in PERSON_CATEGORIES:
        for last_paid in (None, year - 1, year - 4):
            for transfer in (False, True):
                yield person(
                    date(1940, 1, 1), category=category, last_paid=last_paid, transfer=transfer, tags=tags
                )
        # Newborns: born the day the collection period opens, on the first day of the year,
        # mid-year, and on the last day of the year the person pays for.
        coverage = policy.coverage_for(category)
        for born in (
            policy.collection.window.start,
            policy.coverage.start,
            policy.coverage.start + timedelta(days=180),
            coverage.end,
        ):
            if born <= coverage.end:
                yield person(born, category=category, tags=tags)


# Every preset with a category paid in full (the national default has no categories).
PAYING_IN_FULL = sorted(
    code for code in PRESETS if any(c.scheme == Scheme.FULL for c in preset(code).subsidy_categories)
)


def test_given_the_presets_then_all_but_the_national_default_pay_some_in_full():
    assert set(PRESETS) - set(PAYING_IN_FULL) == {"national-2025"}


@pytest.mark.parametrize("code", PAYING_IN_FULL)
def test_given_every_preset_and_its_copies_then_every_year_the_government_pays_in_full_has_cover(code):
    paid_in_full = 0
    categories_seen = set()
    for policy in _preset_and_copies(code):
        for facts in _full_subsidy_facts(policy):
            decision = assess(policy, facts)
            if not decision.government_pays_all:
                assert decision.government_benefit is None
                continue
            paid_in_full += 1
            categories_seen.add(facts.person_category)
            benefit = decision.government_benefit
            assert benefit is not None and benefit.start is not None, (policy.code, facts, benefit)
            # The day recorded is a day the person could have paid on time, for nothing.
            on_time = price_on(policy, facts, decision.on_time)
            assert (on_time.accepted, on_time.payable_fen) == (True, 0), (policy.code, facts)
            assert benefit == benefit_period(policy, facts, decision.on_time)
            assert policy.coverage_for(facts.person_category).start <= benefit.start <= benefit.end
    # Not vacuous: persons of every category paid for in full, in every year.
    assert paid_in_full >= 5 * len(PERSON_CATEGORIES) * 6, paid_in_full
    assert categories_seen == set(PERSON_CATEGORIES)
