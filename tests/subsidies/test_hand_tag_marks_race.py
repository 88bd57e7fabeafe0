"""A roster import and a tag given by hand at the same moment, on real connections (threads, real
commits): tax's ledger ends with the newer state, whichever commits first.

The roster's new file drops 张三 (a withdrawal of his 低保 mark for next year, unless another tag
still holds him) while a clerk tags him 低保 by hand from this year, open-ended (so for next year
too). Both take their marks' revision under the same lock and hold it until they commit.

Played in a fixed order (tests/refunds/race_support.py). The Linfen preset for next year, stored
for 临汾市 (tests/subsidies/support.py): 低保 a fixed 160 yuan off 400."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from collection.models import SubsidyMark
from enrollment.models import Person
from sharing import services as sharing
from subsidies import rosters, services
from subsidies.models import RosterImport
from tests.conftest import World
from tests.refunds.race_support import Held, race
from tests.subsidies.support import (
    HEADER,
    ROSTER_DATE,
    YEAR,
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
HAND_FROM = dt.date(YEAR - 1, 1, 1)  # the hand tag's first day: this year, reaching next year


@pytest.fixture
def zhang(world: World) -> Person:
    """张三 and 李四 of 屯里村 on next year's 低保 roster (next year assessed), tax's ledger up to date."""
    linfen_policy()
    zhang, li = enrolled("张三", 1), enrolled("李四", 3)
    assess("141002")
    confirm(world, check(world, xlsx_bytes([HEADER, row(1, zhang), row(2, li)])))
    sharing.delivery_drain(seconds=30)
    return zhang


def _new_file_confirmed(world: World) -> RosterImport:
    """The roster's new file, listing 李四 alone: checked and confirmed, not yet applied."""
    preview = check(world, xlsx_bytes([HEADER, row(1, Person.objects.get(name="李四"))]), roster_date=LATER)
    assert counts(preview, "unchanged", "removed") == {"unchanged": 1, "removed": 1}
    services.roster_import_confirm(scope=scope_of(world), import_id=preview.pk, mode="valid_rows")
    return preview


def _add_by_hand(zhang: Person) -> str:
    try:
        services.subsidy_tag_add(person=zhang, category="dibao", source="民政局窗口", valid_from=HAND_FROM)
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "added"


def _mark(zhang: Person) -> tuple:
    sharing.delivery_drain(seconds=30)
    mark = SubsidyMark.objects.get(person_id=zhang.id_number, insurance_year=YEAR)
    return mark.status, mark.roster, mark.valid_from, mark.valid_to


def test_given_a_new_file_withdrawing_a_mark_when_a_hand_tag_is_added_meanwhile_then_tax_ends_active(
    world: World, zhang: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: the new file's import held once it has taken its revision and read the withdrawals it
    # sends (张三's: no other tag holds him yet), before it commits
    job = _new_file_confirmed(world)
    held = Held(rosters._check_tag_keys)
    monkeypatch.setattr(rosters, "_check_tag_keys", held)

    # When: 张三 is tagged 低保 by hand meanwhile
    applied, added, waited = race(lambda: import_applied(world, job), lambda: _add_by_hand(zhang), held)

    # Then: the hand add waited for the import; its active mark, newer, is what tax holds
    assert (applied, added, waited) == ("done", "added", True)
    job.refresh_from_db()
    assert counts(job, "untagged") == {"untagged": 1}
    assert _mark(zhang) == ("active", "民政局窗口", HAND_FROM, None)


def test_given_a_hand_tag_being_added_when_a_new_file_drops_the_person_meanwhile_then_tax_ends_active(
    world: World, zhang: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: 张三 being tagged 低保 by hand, held once the tag is in (before its reassessment), with
    # the new file confirmed
    job = _new_file_confirmed(world)
    held = Held(services.assessment_reassess)
    monkeypatch.setattr(services, "assessment_reassess", held)

    # When: the new file is applied meanwhile
    added, applied, waited = race(lambda: _add_by_hand(zhang), lambda: import_applied(world, job), held)

    # Then: the import waited for the hand add and then saw its tag: no withdrawal; tax holds the
    # hand tag's active mark
    assert (added, applied, waited) == ("added", "done", True)
    job.refresh_from_db()
    assert counts(job, "removed", "untagged") == {"removed": 1, "untagged": 0}
    assert _mark(zhang) == ("active", "民政局窗口", HAND_FROM, None)
