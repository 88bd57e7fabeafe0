"""A year's policy that comes after a tag was given by hand: tax still gets the year's mark.

A tag's own change marks the years that have a policy then (tests/subsidies/test_hand_tag_marks.py).
Next year's policy is saved every autumn, after most standing tags were given: each county's yearly
run ends by sending the county's tags given by hand that count in its year
(``subsidies.tasks.send_hand_tag_marks`` → ``subsidy_marks_send``), and ``manage.py
send_hand_tag_marks`` sends them for tags given before hand tags were marked at all.

Linfen: this year's policy first, next year's saved after the tag (低保 a fixed 160 yuan, marker 02,
in both).
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import translation

from collection.models import SubsidyMark
from enrollment.assessment import assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Person
from enrollment.policies import policy_save
from sharing import services as sharing
from sharing.models import OutboxMessage
from subsidies import services
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
    scope_of,
    tax_marks,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db

FROM = dt.date(THIS_YEAR, 3, 1)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def zhang(world: World) -> Person:
    """张三 of 屯里村 (尧都区), assessed for this year, the only year with a policy; tax up to date."""
    policy_save(document=_shifted("linfen-this", THIS_YEAR - 2021, INDIVIDUAL, 70000), note="测试")
    person = enrolled("张三", 1)
    assessment_run_now(county_code="141002", insurance_year=THIS_YEAR)
    sharing.delivery_drain(seconds=30)
    return person


def _next_year_policy_and_run() -> None:
    linfen_policy()
    assessment_run_now(county_code="141002", insurance_year=YEAR)


def test_given_a_hand_tag_given_before_next_years_policy_when_the_years_marks_are_sent_then_tax_marks_next_year(
    zhang: Person,
):
    # Given: 张三 tagged 低保 by hand in March, when only this year had a policy (this year marked)
    services.subsidy_tag_add(person=zhang, category="dibao", source=HAND, valid_from=FROM)
    assert set(tax_marks(zhang)) == {THIS_YEAR}
    # and next year's policy saved and its yearly run made since
    _next_year_policy_and_run()

    # When: the county's marks for next year are sent (what the run's end queues)
    sent = services.subsidy_marks_send(county_code="141002", insurance_year=YEAR)

    # Then: one message; tax marks him for next year too, with the tag's dates and source
    assert sent == 1
    assert tax_marks(zhang)[YEAR] == ("dibao", "active", "02", "fixed", DIBAO, FROM, None, HAND, "")
    assert tax_marks(zhang)[THIS_YEAR][:2] == ("dibao", "active")


def test_given_a_hand_tag_ended_before_next_years_cover_when_the_years_marks_are_sent_then_none_is_sent(
    zhang: Person,
):
    # Given: 张三's hand tag ended on 30 June of this year, and next year's policy and run since
    tag = services.subsidy_tag_add(person=zhang, category="dibao", source=HAND, valid_from=FROM)
    services.subsidy_tag_end(tag=tag, valid_to=dt.date(THIS_YEAR, 6, 30), reason="退出低保")
    _next_year_policy_and_run()
    before = OutboxMessage.objects.count()

    # When: next year's marks are sent
    sent = services.subsidy_marks_send(county_code="141002", insurance_year=YEAR)

    # Then: the tag does not reach next year's cover: nothing is sent, and tax has no mark for next year
    assert (sent, OutboxMessage.objects.count() - before) == (0, 0)
    assert YEAR not in tax_marks(zhang)


def test_given_only_a_roster_tag_when_the_years_marks_are_sent_then_the_rosters_mark_is_left_as_its_import_sent_it(
    world: World, zhang: Person
):
    # Given: next year's policy and run, and 张三 on next year's 低保 roster (marked by its import)
    _next_year_policy_and_run()
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang)])))
    roster_mark = tax_marks(zhang)[YEAR]

    # When: next year's marks are sent
    sent = services.subsidy_marks_send(county_code="141002", insurance_year=YEAR)

    # Then: nothing is sent for a roster's tag; tax's mark is the import's, source and all
    assert sent == 0
    assert tax_marks(zhang)[YEAR] == roster_mark
    assert roster_mark[7] == SOURCE


def test_given_a_year_that_is_over_when_its_marks_are_sent_then_none_is_sent(zhang: Person):
    # Given: a policy for last year, and a hand tag reaching it
    policy_save(document=_shifted("linfen-last", THIS_YEAR - 1 - 2021, INDIVIDUAL, 70000), note="测试")
    services.subsidy_tag_add(
        person=zhang, category="dibao", source=HAND, valid_from=dt.date(THIS_YEAR - 1, 3, 1)
    )

    # When / Then: last year is over: nothing is sent for it
    assert services.subsidy_marks_send(county_code="141002", insurance_year=THIS_YEAR - 1) == 0


def test_given_a_county_run_when_it_commits_then_the_years_hand_tag_marks_are_queued(
    zhang: Person, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # Given: next year's policy; the queues recorded instead of sent
    linfen_policy()
    queued: list[dict] = []
    monkeypatch.setattr("subsidies.tasks.send_hand_tag_marks.delay", lambda **kwargs: queued.append(kwargs))
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: None)

    # When: the county's run for next year commits
    with django_capture_on_commit_callbacks(execute=True):
        assessment_run_now(county_code="141002", insurance_year=YEAR)

    # Then: the county's hand-tag marks for next year are queued
    assert queued == [{"county_code": "141002", "insurance_year": YEAR}]


def test_given_hand_tags_never_marked_when_the_command_runs_then_tax_marks_every_year_not_over(
    zhang: Person,
):
    # Given: hand tags of two persons of one county, next year's policy and run, and tax's ledger
    # without their marks (as for tags given before hand tags were marked at tax)
    li = enrolled("李四", 2)
    services.subsidy_tag_add(person=zhang, category="dibao", source=HAND, valid_from=FROM)
    services.subsidy_tag_add(person=li, category="dibao", source=HAND, valid_from=FROM)
    _next_year_policy_and_run()
    sharing.delivery_drain(seconds=30)
    SubsidyMark.objects.all().delete()

    # When: the command runs, for every county and year
    out = StringIO()
    call_command("send_hand_tag_marks", stdout=out)

    # Then: both years not over are marked for both, one message a year for the county, and the
    # command says what it sent
    active = ("dibao", "active", "02", "fixed", DIBAO, FROM, None, HAND, "")
    assert tax_marks(zhang) == {THIS_YEAR: active, YEAR: active}
    assert tax_marks(li) == {THIS_YEAR: active, YEAR: active}
    assert out.getvalue().splitlines() == [
        f"141002 {THIS_YEAR}: 1 messages to tax",
        f"141002 {YEAR}: 1 messages to tax",
        "2 messages in all",
    ]


def test_given_tags_counting_next_year_when_the_category_is_removed_from_its_policy_then_tax_withdraws_next_years_marks(
    world: World, zhang: Person
):
    # Given: 张三 tagged 低保 by hand (this year and next marked), 李四 on next year's 低保 roster
    li = enrolled("李四", 2)
    services.subsidy_tag_add(person=zhang, category="dibao", source=HAND, valid_from=FROM)
    _next_year_policy_and_run()
    services.subsidy_marks_send(county_code="141002", insurance_year=YEAR)  # as the run's end does
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, li)])))
    assert (tax_marks(zhang)[YEAR][1], tax_marks(li)[YEAR][1]) == ("active", "active")

    # When: the administrator removes the 低保 category from next year's policy
    services.subsidy_category_remove(
        scope=scope_of(world), policy_code="linfen-next", code="dibao", note="取消低保定额资助", actor_id=None
    )

    # Then: tax hears at once that next year's marks of both are withdrawn, in the portal's
    # language; this year's policy still has the category, and 张三's mark for it stands
    reason = f"该资助类别已从{YEAR}年度政策中移除"
    assert tax_marks(zhang) == {
        THIS_YEAR: ("dibao", "active", "02", "fixed", DIBAO, FROM, None, HAND, ""),
        YEAR: ("dibao", "withdrawn", "02", "fixed", DIBAO, FROM, None, HAND, reason),
    }
    assert tax_marks(li)[YEAR][1:3] == ("withdrawn", "02")
    assert tax_marks(li)[YEAR][7:] == (SOURCE, reason)
