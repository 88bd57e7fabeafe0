"""A roster's tag ended by hand while a new file of the roster is applied, on real connections
(threads, real commits).

The import reads the roster's standing tags that the new file no longer lists (the preview's
comparison, checked anew by the worker) and ends them some statements later, on the new file's
date. An end given by hand (``subsidy_tag_end``: the bureau learnt the person left 低保, say)
committed in between must stand, with its own day and reason: the day decides whether the tag
still reaches the year's cover, so the year's subsidy.

Played in a fixed order (tests/refunds/race_support.py). The Linfen preset for next year, stored
for 临汾市 (tests/subsidies/support.py): 低保 a fixed 160 yuan off 400."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from enrollment.models import Person
from subsidies import rosters, services
from subsidies.models import RosterImport, RosterRow, SubsidyTag
from tests.conftest import World
from tests.refunds.race_support import Held, race
from tests.subsidies.support import (
    HEADER,
    ROSTER_DATE,
    assess,
    check,
    confirm,
    counts,
    enrolled,
    import_applied,
    linfen_policy,
    row,
    scope_of,
    xlsx_bytes,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

LATER = ROSTER_DATE + dt.timedelta(days=20)  # the new file's date
LEFT_ON = ROSTER_DATE + dt.timedelta(days=5)  # the day the bureau ends 李四's tag by hand


@pytest.fixture
def li(world: World) -> Person:
    """张三 and 李四 of 屯里村 on the 低保 roster in force (next year assessed); the new file of the
    roster, dated 20 days later, lists 张三 alone, checked and confirmed, not yet applied."""
    linfen_policy()
    zhang, li = enrolled("张三", 1), enrolled("李四", 3)
    assess("141002")
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))
    return li


def _new_file_confirmed(world: World, li: Person) -> RosterImport:
    preview = check(world, xlsx_bytes([HEADER, row(1, Person.objects.get(name="张三"))]), roster_date=LATER)
    assert counts(preview, "unchanged", "removed") == {"unchanged": 1, "removed": 1}
    services.roster_import_confirm(scope=scope_of(world), import_id=preview.pk, mode="valid_rows")
    return preview


def _end_by_hand(li: Person) -> str:
    try:
        services.subsidy_tag_end(
            tag=SubsidyTag.objects.get(person=li, end_reason=""), valid_to=LEFT_ON, reason="退出低保"
        )
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "ended"


def test_given_a_new_file_about_to_end_a_tag_when_it_is_ended_by_hand_first_then_the_hand_end_stands(
    world: World, li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: the new file's import held once it has read the tags it ends (its report written),
    # before it holds them
    job = _new_file_confirmed(world, li)
    held = Held(rosters.write_report)
    monkeypatch.setattr(rosters, "write_report", held)

    # When: 李四's tag is ended by hand on LEFT_ON meanwhile (committed at once), then the import goes on
    applied, ended, waited = race(lambda: import_applied(world, job), lambda: _end_by_hand(li), held)

    # Then: the end given by hand stands, with its day and reason; the import ended nothing, says
    # so in its counts and report, and told tax of no withdrawal
    assert (applied, ended, waited) == ("done", "ended", False)
    tag = SubsidyTag.objects.get(person=li)
    assert (tag.valid_to, tag.end_reason) == (LEFT_ON, "退出低保")
    job.refresh_from_db()
    assert counts(job, "unchanged", "removed") == {"unchanged": 1, "removed": 0}
    assert counts(job, "untagged") == {"untagged": 0}
    assert not RosterRow.objects.filter(roster_import=job, outcome="removed").exists()


def test_given_a_new_file_holding_the_tags_it_ends_when_one_is_ended_by_hand_then_it_waits_and_is_refused(
    world: World, li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: the new file's import held once it holds the tags it ends
    job = _new_file_confirmed(world, li)
    held = Held(rosters._hold_removed_as_read)
    monkeypatch.setattr(rosters, "_hold_removed_as_read", held)

    # When: 李四's tag is ended by hand meanwhile
    applied, ended, waited = race(lambda: import_applied(world, job), lambda: _end_by_hand(li), held)

    # Then: the hand end waited for the import and was refused: the tag ends on the new file's day
    assert (applied, ended, waited) == ("done", "refused: This tag has already ended.", True)
    tag = SubsidyTag.objects.get(person=li)
    assert (tag.valid_to, tag.end_reason) == (
        LATER,
        f"未列入{LATER.isoformat()}的名单（导入编号{job.pk}）。",
    )
    job.refresh_from_db()
    assert counts(job, "removed", "untagged") == {"removed": 1, "untagged": 1}
