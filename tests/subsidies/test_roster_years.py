"""A roster's tags hold for the roster's insurance year alone.

Next year's roster is dated this autumn (the upload form's default from September), and its rows
may give recognition dates years back: its tags' dates reach this year too, but they must change
neither this year's assessments, nor tax's due items for this year, nor the totals of this year;
and a tag that last year's roster gave never keeps next year's mark at tax from being withdrawn.

Two Linfen policies: this year's and next year's (I 400 yuan; 低保 a fixed 160 yuan), both
assessed, their amounts delivered to tax's ledger before the imports.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from collection.models import DueItem, SubsidyMark
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Assessment
from enrollment.policies import policy_save
from sharing import services as sharing
from sharing.models import OutboxMessage
from subsidies import selectors
from subsidies.models import SubsidyTag
from tests.subsidies.support import (
    DIBAO,
    HEADER,
    INDIVIDUAL,
    ROSTER_DATE,
    YEAR,
    check,
    confirm,
    counts,
    enrolled,
    linfen_policy,
    row,
    scope_of,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

THIS_YEAR = YEAR - 1


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def two_years(world):
    """张三 and 李四 of 屯里村 (尧都区), this year and next year assessed, tax's ledger up to date."""
    policy_save(document=_shifted("linfen-this", THIS_YEAR - 2021, INDIVIDUAL, 70000), note="测试")
    linfen_policy()
    persons = {"zhang": enrolled("张三", 1), "li": enrolled("李四", 3)}
    for year in (THIS_YEAR, YEAR):
        assessment_run_now(county_code="141002", insurance_year=year)
    sharing.delivery_drain(seconds=30)
    return persons


def _assessment(person, year: int) -> tuple[int, int, str, int]:
    a = Assessment.objects.get(person=person, insurance_year=year)
    return a.subsidy_fen, a.payable_fen, a.subsidy_category, a.revision


def _due(person, year: int) -> tuple[int, int, str, int]:
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=year)
    return item.amount_fen, item.subsidy_fen, item.status, item.source_message_id


def _due_items_sent_since(message_id: int) -> set[tuple[int, str]]:
    """(insurance year, person) of every due item sent to tax after ``message_id``."""
    sent = OutboxMessage.objects.filter(
        topic__in=["assessment.due_batch", "assessment.due"], pk__gt=message_id
    )
    found = set()
    for message in sent:
        items = message.payload.get("items") or [message.payload]
        found |= {(message.payload["insurance_year"], item["person_id"]) for item in items}
    return found


def _last_message() -> int:
    return OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- assessment ---------------------------------------------------------------------------------


def test_given_next_years_roster_dated_this_year_when_imported_then_this_years_assessment_and_due_item_stay(
    world, two_years
):
    zhang = two_years["zhang"]
    this_year_before = _assessment(zhang, THIS_YEAR)
    due_before = _due(zhang, THIS_YEAR)
    since = _last_message()

    job = confirm(
        world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), roster_date=ROSTER_DATE, year=YEAR)
    )
    sharing.delivery_drain(seconds=30)

    assert counts(job, "added") == {"added": 1}
    tag = SubsidyTag.objects.get(person=zhang)
    assert (tag.valid_from, tag.valid_to, tag.roster.insurance_year) == (
        ROSTER_DATE,
        dt.date(YEAR, 12, 31),
        YEAR,
    )
    assert this_year_before[:3] == (0, INDIVIDUAL, "")
    assert _assessment(zhang, THIS_YEAR) == this_year_before
    assert _due(zhang, THIS_YEAR) == due_before
    assert _due_items_sent_since(since) == {(YEAR, zhang.id_number)}
    assert _assessment(zhang, YEAR)[:3] == (DIBAO, INDIVIDUAL - DIBAO, "dibao")
    assert _due(zhang, YEAR)[:3] == (INDIVIDUAL - DIBAO, DIBAO, "due")


def test_given_a_recognition_date_years_back_when_next_years_roster_is_imported_then_only_next_year_changes(
    world, two_years
):
    zhang = two_years["zhang"]
    this_year_before = _assessment(zhang, THIS_YEAR)
    due_before = _due(zhang, THIS_YEAR)
    recognised = dt.date(2020, 3, 1)

    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang, recognised=recognised)]), year=YEAR))
    sharing.delivery_drain(seconds=30)

    assert SubsidyTag.objects.get(person=zhang).valid_from == recognised
    assert _assessment(zhang, THIS_YEAR) == this_year_before
    assert _due(zhang, THIS_YEAR) == due_before
    assert _assessment(zhang, YEAR)[:3] == (DIBAO, INDIVIDUAL - DIBAO, "dibao")


def test_given_this_years_roster_when_imported_then_this_year_is_subsidised_and_next_year_is_not(
    world, two_years
):
    zhang = two_years["zhang"]
    next_year_before = _assessment(zhang, YEAR)

    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), year=THIS_YEAR))

    assert _assessment(zhang, THIS_YEAR)[:3] == (DIBAO, INDIVIDUAL - DIBAO, "dibao")
    assert _assessment(zhang, YEAR) == next_year_before


# --- withdrawals to tax -------------------------------------------------------------------------


def test_given_a_person_on_last_years_roster_when_next_years_roster_drops_him_then_tax_withdraws_next_years_mark(
    world, two_years
):
    zhang, li = two_years["zhang"], two_years["li"]
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), year=THIS_YEAR))
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), year=YEAR))
    later = ROSTER_DATE + dt.timedelta(days=1)

    job = confirm(world, check(world, xlsx_bytes([HEADER, row(1, li)]), roster_date=later, year=YEAR))
    sharing.delivery_drain(seconds=30)

    assert (job.counts["removed"], job.counts["untagged"]) == (1, 1)
    marks = {
        (m.insurance_year, m.category): (m.status, m.valid_to)
        for m in SubsidyMark.objects.filter(person_id=zhang.id_number)
    }
    assert marks == {
        (THIS_YEAR, "dibao"): ("active", dt.date(THIS_YEAR, 12, 31)),
        (YEAR, "dibao"): ("withdrawn", later),
    }


def test_given_a_tag_given_by_hand_reaching_next_year_when_next_years_roster_drops_the_person_then_no_withdrawal(
    world, two_years
):
    zhang, li = two_years["zhang"], two_years["li"]
    SubsidyTag.objects.create(
        person=zhang,
        category="dibao",
        region_code=zhang.region_code,
        source="手工",
        valid_from=dt.date(2020, 3, 1),
    )
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)]), year=YEAR))

    job = confirm(
        world,
        check(
            world, xlsx_bytes([HEADER, row(1, li)]), roster_date=ROSTER_DATE + dt.timedelta(days=1), year=YEAR
        ),
    )

    assert (job.counts["removed"], job.counts["untagged"]) == (1, 0)


# --- counts of tagged persons -------------------------------------------------------------------


def test_given_next_years_roster_when_the_totals_and_categories_are_read_then_it_counts_in_next_year_only(
    world, two_years
):
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, two_years["zhang"])]), year=YEAR))
    scope = scope_of(world)

    tagged = {year: selectors.subsidy_totals(scope=scope, year=year).tagged for year in (THIS_YEAR, YEAR)}
    categories = {
        policies.policy.insurance_year: {row.category.tag_code: row.tagged for row in policies.rows}["dibao"]
        for year in (THIS_YEAR, YEAR)
        for policies in selectors.category_policies(scope=scope, year=year)
    }

    assert tagged == {THIS_YEAR: 0, YEAR: 1}
    assert categories == {THIS_YEAR: 0, YEAR: 1}
