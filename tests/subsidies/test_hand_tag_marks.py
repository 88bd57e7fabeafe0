"""Tags given or ended by hand reach tax's ledger of marks (``collection.SubsidyMark``), as a roster's do.

A tag given by hand holds in every insurance year its dates reach; tax gets an active mark for each
year not over whose cover the tag reaches under the county's policy of that year. Ending it
withdraws the marks of the years it no longer reaches, unless another tag of the category still
holds the person for the year (the roster import's rule).

Linfen policies for this year and next year (I 400 yuan; 低保 a fixed 160 yuan, marker 02), both
assessed, their amounts delivered to tax's ledger first (tests/subsidies/support.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from collection.models import SubsidyMark
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Person
from enrollment.policies import policy_save
from sharing import services as sharing
from subsidies import services
from subsidies.models import SubsidyTag
from tests.conftest import World
from tests.subsidies.support import (
    DIBAO,
    HAND,
    HEADER,
    INDIVIDUAL,
    SOURCE,
    THIS_YEAR,
    YEAR,
    check,
    confirm,
    enrolled,
    linfen_policy,
    row,
    tax_marks,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

FROM = dt.date(THIS_YEAR, 1, 1)
LEFT_ON = dt.date(THIS_YEAR, 6, 30)  # within this year's cover: before next year's starts


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def zhang(world: World) -> Person:
    """张三 of 屯里村 (尧都区); this year and next year assessed, tax's ledger up to date."""
    policy_save(document=_shifted("linfen-this", THIS_YEAR - 2021, INDIVIDUAL, 70000), note="测试")
    linfen_policy()
    person = enrolled("张三", 1)
    for year in (THIS_YEAR, YEAR):
        assessment_run_now(county_code="141002", insurance_year=year)
    sharing.delivery_drain(seconds=30)
    return person


def _add(person: Person, valid_from: dt.date) -> SubsidyTag:
    return services.subsidy_tag_add(person=person, category="dibao", source=HAND, valid_from=valid_from)


def test_given_a_tag_given_by_hand_then_tax_marks_every_year_not_over_that_its_dates_reach(
    zhang: Person,
):
    # Given: a policy for last year too (a year that is over)
    policy_save(document=_shifted("linfen-last", THIS_YEAR - 1 - 2021, INDIVIDUAL, 70000), note="测试")

    # When: 张三 is tagged 低保 by hand from March of last year, with no end
    _add(zhang, dt.date(THIS_YEAR - 1, 3, 1))

    # Then: tax marks him for this year and next year; last year is over and gets no mark
    active = ("dibao", "active", "02", "fixed", DIBAO, dt.date(THIS_YEAR - 1, 3, 1), None, HAND, "")
    assert tax_marks(zhang) == {THIS_YEAR: active, YEAR: active}


def test_given_a_tag_given_by_hand_from_next_year_then_tax_marks_next_year_alone(zhang: Person):
    # When: 张三 is tagged 低保 by hand from the first day of next year's cover
    _add(zhang, dt.date(YEAR, 1, 1))

    # Then: this year's cover ends before the tag begins: next year alone is marked
    assert tax_marks(zhang) == {
        YEAR: ("dibao", "active", "02", "fixed", DIBAO, dt.date(YEAR, 1, 1), None, HAND, ""),
    }


def test_given_a_tag_given_by_hand_when_it_ends_then_tax_withdraws_the_years_it_no_longer_reaches(
    zhang: Person,
):
    # Given: 张三 tagged 低保 by hand from the first day of this year, tax told
    tag = _add(zhang, FROM)
    sharing.delivery_drain(seconds=30)

    # When: the tag ends on 30 June of this year
    services.subsidy_tag_end(tag=tag, valid_to=LEFT_ON, reason="退出低保")

    # Then: next year's mark is withdrawn with the day and the reason; this year's stays, ending that day
    assert tax_marks(zhang) == {
        THIS_YEAR: ("dibao", "active", "02", "fixed", DIBAO, FROM, LEFT_ON, HAND, ""),
        YEAR: ("dibao", "withdrawn", "02", "fixed", DIBAO, FROM, LEFT_ON, HAND, "退出低保"),
    }


def test_given_a_roster_tag_for_next_year_when_a_hand_tag_of_the_category_ends_then_next_years_mark_stays(
    world: World, zhang: Person
):
    # Given: 张三 tagged 低保 by hand from the first day of this year, and on next year's 低保 roster
    tag = _add(zhang, FROM)
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)])))

    # When: the hand tag ends on 30 June of this year
    services.subsidy_tag_end(tag=tag, valid_to=LEFT_ON, reason="退出低保")

    # Then: the roster still tags him for next year: no withdrawal; tax keeps the roster's active mark
    assert tax_marks(zhang)[YEAR][1:3] == ("active", "02")
    assert SubsidyMark.objects.get(person_id=zhang.id_number, insurance_year=YEAR).roster == SOURCE
    assert not SubsidyMark.objects.filter(status="withdrawn").exists()


def test_given_a_roster_tag_when_ended_by_hand_before_its_year_then_tax_withdraws_its_mark(
    world: World, zhang: Person
):
    # Given: 张三 on next year's 低保 roster, tax told
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)])))
    sharing.delivery_drain(seconds=30)
    tag = SubsidyTag.objects.get(person=zhang)

    # When: the roster's tag is ended by hand five days after it began, before next year's cover
    ended_on = tag.valid_from + dt.timedelta(days=5)
    services.subsidy_tag_end(tag=tag, valid_to=ended_on, reason="退出低保")

    # Then: the tag no longer counts in its roster's year: tax's mark for it is withdrawn
    assert tax_marks(zhang) == {
        YEAR: ("dibao", "withdrawn", "02", "fixed", DIBAO, tag.valid_from, ended_on, SOURCE, "退出低保"),
    }
