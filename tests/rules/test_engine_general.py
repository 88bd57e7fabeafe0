"""Rules of the engine that hold for every policy: exact money, subsidies on the individual part only."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from enrollment.rules.engine import price_on, situation_of, subsidy_for, transferred_in_for
from enrollment.rules.policy import Policy, Situation, Window

from . import continuous, person, preset, tag, yuan


def qinbei_with(individual_fen: int, percent: int) -> Policy:
    document = copy.deepcopy(preset("qinbei-2023").to_document())
    document["financing"]["individual_fen"] = individual_fen
    document["subsidy_categories"][6]["percent"] = percent
    return Policy.from_document(document)


@pytest.mark.parametrize(
    ("individual_fen", "percent", "subsidy_fen"),
    [
        (35000, 60, 21000),
        (10001, 50, 5001),  # 5000.5 fen: half a fen rounds up
        (10003, 33, 3301),  # 3300.99 fen
        (10001, 30, 3000),  # 3000.3 fen
    ],
)
def test_given_a_percentage_subsidy_then_it_is_whole_fen_with_half_a_fen_rounded_up(
    individual_fen, percent, subsidy_fen
):
    policy = qinbei_with(individual_fen, percent)
    decision = subsidy_for(policy, continuous(2023, tags=[tag("dibao")]), date(2023, 3, 1))
    assert decision.subsidy_fen == subsidy_fen
    assert isinstance(decision.subsidy_fen, int)


def test_given_a_subsidy_then_it_reduces_only_the_individual_part_and_the_government_pays_the_standard_subsidy_plus_it():
    decision = price_on(preset("linfen-2021"), continuous(2021, tags=[tag("dibao")]), date(2020, 10, 1))
    assert decision.base_fen == yuan(320)
    assert decision.payable_fen == yuan(320) - yuan(160)
    assert decision.government_fen == yuan(580) + yuan(160)


def test_given_a_price_on_the_total_then_no_subsidy_applies():
    decision = price_on(
        preset("lanshan-2016"), continuous(2016, tags=[tag("dibao", date(2015, 1, 1))]), date(2016, 3, 1)
    )
    assert (decision.base_fen, decision.subsidy.subsidy_fen, decision.payable_fen) == (
        yuan(560),
        0,
        yuan(560),
    )


@pytest.mark.parametrize(
    ("facts", "situation"),
    [
        (person(last_paid=2022), Situation.CONTINUOUS),
        (person(last_paid=2021), Situation.INTERRUPTED),
        (person(last_paid=None), Situation.FIRST),
        (person(last_paid=2022, transfer=True), Situation.TRANSFER),
        (person(date(2022, 8, 31)), Situation.FIRST),
        (person(date(2022, 9, 1)), Situation.NEWBORN),  # born on the day the collection period opens
    ],
)
def test_given_the_facts_then_the_situation_towards_2023_is(facts, situation):
    assert situation_of(preset("qinbei-2023"), facts) == situation


@pytest.mark.parametrize(
    ("transfer_in", "enrolled_on", "transfer"),
    [
        (True, date(2022, 8, 31), False),  # before the 2023 collection period opened: it had all of it
        (True, date(2022, 9, 1), True),  # the day it opened
        (True, date(2023, 5, 20), True),  # within the insurance year
        (True, date(2020, 3, 1), False),  # years ago
        (False, date(2023, 5, 20), False),  # a new registration
    ],
)
def test_given_an_enrollment_then_it_is_a_transfer_towards_2023_only_if_begun_by_transfer_once_the_period_opened(
    transfer_in, enrolled_on, transfer
):
    policy = preset("qinbei-2023")
    assert transferred_in_for(policy, transfer_in=transfer_in, enrolled_on=enrolled_on) is transfer


def test_given_an_extension_into_the_grace_period_then_the_grace_period_starts_after_it():
    policy = preset("qinbei-2023").with_collection_extended(to=date(2023, 1, 15), note="延长集中缴费期")
    assert policy.collection.grace_window == Window(date(2023, 1, 16), date(2023, 2, 28))
    extended = policy.with_collection_extended(to=date(2023, 3, 31), note="再次延长")
    assert extended.collection.grace_window is None


def test_given_a_tag_that_ended_before_the_insurance_year_then_it_no_longer_counts():
    facts = continuous(2021, tags=[tag("poverty_registered", date(2016, 1, 1), ended_on=date(2020, 12, 31))])
    assert subsidy_for(preset("linfen-2021"), facts, None).subsidy_fen == 0
    still = continuous(2021, tags=[tag("poverty_registered", date(2016, 1, 1), ended_on=date(2021, 1, 1))])
    assert subsidy_for(preset("linfen-2021"), still, None).subsidy_fen == yuan(320)


def test_given_next_years_roster_tag_recognised_this_year_then_it_does_not_count_this_year():
    facts = continuous(2021, tags=[tag("poverty_registered", date(2020, 10, 1), roster_year=2022)])

    decision = subsidy_for(preset("linfen-2021"), facts, None)

    assert decision.subsidy_fen == 0
    assert "本参保年度无建档立卡贫困人口资助身份标识" in decision.reason


def test_given_a_roster_tag_of_the_year_recognised_years_back_then_it_counts_for_its_year():
    facts = continuous(2021, tags=[tag("poverty_registered", date(2016, 3, 1), roster_year=2021)])

    assert subsidy_for(preset("linfen-2021"), facts, None).subsidy_fen == yuan(320)


def test_given_last_years_roster_tag_not_yet_past_the_coverage_then_it_does_not_count_this_year():
    # A tag given by hand with the same dates would count: a roster's tag holds for its year alone.
    dates = (date(2020, 3, 1), date(2021, 6, 30))
    by_hand = continuous(2021, tags=[tag("poverty_registered", *dates)])
    last_years = continuous(2021, tags=[tag("poverty_registered", *dates, roster_year=2020)])

    assert subsidy_for(preset("linfen-2021"), by_hand, None).subsidy_fen == yuan(320)
    assert subsidy_for(preset("linfen-2021"), last_years, None).subsidy_fen == 0
