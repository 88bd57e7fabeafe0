"""Equivalence classes of tags: a tag reduced to its class gets the decision of the tag itself.

The set-based assessment asks the engine once per class of facts; these specifications hold the
reduction of a tag's dates (``TagClasses``) to the engine, decision and words alike.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from enrollment.rules import engine
from enrollment.rules.classes import TagClasses
from enrollment.rules.engine import PersonFacts, Tag

from . import person, preset, tag

PRESETS = ["guigang-2024", "jilin-2023", "lanshan-2016", "linfen-2021", "national-2025", "qinbei-2023"]


def _reduced(facts: PersonFacts, classes: TagClasses) -> PersonFacts:
    """The facts as the set-based run sees them: each tag its representative, duplicates once."""
    tags = sorted(
        {classes.representative(one) for one in facts.tags},
        key=lambda one: (one.category, one.recognised_on, one.ended_on or date.min, one.insurance_year or 0),
    )
    return PersonFacts(
        birth_date=facts.birth_date,
        person_category=facts.person_category,
        hukou_in_region=facts.hukou_in_region,
        tags=tuple(tags),
        last_paid_year=facts.last_paid_year,
        transfer=facts.transfer,
    )


def _what_the_run_asks(policy: engine.Policy, facts: PersonFacts) -> engine.AssessmentDecision:
    """The assessment, with the day and cover of a government-paid year the run records."""
    return engine.assess(policy, facts)


def _dates_around(days: list[date], rng: random.Random) -> date:
    """A date at, just before or just after one of ``days``, or anywhere in the years around them."""
    if rng.random() < 0.7:
        return rng.choice(days) + timedelta(days=rng.choice([-2, -1, 0, 1, 2]))
    return min(days) - timedelta(days=800) + timedelta(days=rng.randint(0, 2000))


@pytest.mark.parametrize("code", PRESETS)
def test_given_random_tags_around_every_cut_when_reduced_to_their_classes_then_the_decision_is_the_same(code):
    policy = preset(code)
    classes = TagClasses.of(policy)
    codes = [*sorted({category.tag_code for category in policy.subsidy_categories}), "not_in_policy"]
    # The years paid for: the insurance year, and a student's academic year where there is one.
    years = [policy.coverage, *([policy.student_coverage] if policy.student_coverage else [])]
    days = [
        *(year.start for year in years),
        *(year.end for year in years),
        *(c.conditions.recognised_by for c in policy.subsidy_categories if c.conditions.recognised_by),
    ]
    rng = random.Random(code)
    differing_keys = 0
    for _ in range(600):
        tags = []
        for _tag in range(rng.choice([1, 1, 2, 3])):
            ended = _dates_around(days, rng) if rng.random() < 0.4 else None
            year = rng.choice(
                [None, None, policy.insurance_year - 1, policy.insurance_year, policy.insurance_year + 1]
            )
            tags.append(tag(rng.choice(codes), _dates_around(days, rng), ended, roster_year=year))
        facts = person(
            born=date(1930, 1, 1) + timedelta(days=rng.randint(0, 33000)),
            last_paid=rng.choice([None, policy.insurance_year - 1, policy.insurance_year - 3]),
            category=rng.choice(["rural", "urban", "student", "preschool"]),
            tags=tags,
            hukou=rng.random() < 0.8,
        )
        reduced = _reduced(facts, classes)
        differing_keys += reduced.tags != facts.tags
        assert _what_the_run_asks(policy, reduced) == _what_the_run_asks(policy, facts), facts
    # The reduction did reduce: most of the random tags stand for a class date, not their own.
    assert differing_keys > 300


def test_given_lanshans_policy_then_a_tag_is_in_time_up_to_the_recognition_deadline():
    classes = TagClasses.of(preset("lanshan-2016"))

    assert classes.cuts["dibao"] == date(2015, 12, 31)
    # 70 and over needs no tag: only the coverage's end counts for a tag of that name.
    assert "aged_70" not in classes.cuts
    assert classes.cut("aged_70") == date(2016, 12, 31)
    assert classes.ends_from == date(2016, 1, 1)


def test_given_tags_recognised_at_different_dates_in_time_then_they_share_one_class():
    classes = TagClasses.of(preset("lanshan-2016"))

    early = classes.representative(Tag("dibao", date(2009, 3, 4), None))
    late_but_in_time = classes.representative(Tag("dibao", date(2015, 12, 31), date(2020, 1, 1)))

    assert early == late_but_in_time == Tag("dibao", date(2015, 12, 31), None)


def test_given_a_tag_recognised_after_the_deadline_then_it_keeps_its_date_which_the_reason_names():
    policy = preset("lanshan-2016")
    classes = TagClasses.of(policy)
    facts = person(born=date(1970, 5, 1), last_paid=2015, tags=[tag("dibao", date(2016, 2, 3))])

    reduced = _reduced(facts, classes)
    decision = engine.assess(policy, reduced)

    assert reduced.tags == (Tag("dibao", date(2016, 2, 3), None),)
    assert decision.subsidy.subsidy_fen == 0
    assert "2016年2月3日" in decision.subsidy.reason


def test_given_a_roster_tag_then_its_class_keeps_the_rosters_insurance_year():
    classes = TagClasses.of(preset("lanshan-2016"))

    this_year = classes.representative(Tag("dibao", date(2009, 3, 4), date(2016, 12, 31), 2016))
    next_year = classes.representative(Tag("dibao", date(2009, 3, 4), date(2017, 12, 31), 2017))

    assert this_year == Tag("dibao", date(2015, 12, 31), None, 2016)
    assert next_year == Tag("dibao", date(2015, 12, 31), None, 2017)


def test_given_a_tag_that_ended_before_the_coverage_then_it_keeps_its_end():
    classes = TagClasses.of(preset("lanshan-2016"))

    assert classes.ended_key(date(2015, 12, 31)) == date(2015, 12, 31)
    assert classes.ended_key(date(2016, 1, 1)) is None
    assert classes.ended_key(None) is None


def test_given_guigangs_academic_year_then_an_end_between_the_two_years_starts_stands_for_the_first():
    # Calendar year from 1 Jan 2024, students' academic year from 1 Sep 2024: an end in between
    # reaches the one and not the other, the same for every day of it.
    policy = preset("guigang-2024")
    classes = TagClasses.of(policy)

    assert (classes.ends_from, classes.end_steps) == (date(2024, 9, 1), (date(2024, 1, 1),))
    assert classes.ended_key(date(2024, 7, 31)) == classes.ended_key(date(2024, 1, 1)) == date(2024, 1, 1)
    assert classes.ended_key(date(2024, 9, 1)) is None
    assert classes.ended_key(date(2023, 12, 31)) == date(2023, 12, 31)
    # In time for everyone up to the calendar year's end; a student's later recognition keeps its day.
    assert classes.cut("dibao") == date(2024, 12, 31)
    for category, subsidy in (("student", 0), ("urban", 24000)):
        facts = person(
            date(2010, 5, 1), category=category, tags=[tag("dibao", date(2020, 1, 1), date(2024, 7, 31))]
        )
        reduced = _reduced(facts, classes)
        assert engine.assess(policy, reduced) == engine.assess(policy, facts)
        assert engine.assess(policy, facts).subsidy.subsidy_fen == subsidy
