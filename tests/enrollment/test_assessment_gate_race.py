"""A county's run and a person's reassessment never overlap, on real connections (threads, real
commits).

The run reads its facts (enrollments, persons, tags) and writes seconds to minutes later. A fact
changed in between is reassessed at once for its person; the run, deciding from the older facts,
would then overwrite that reassessment (or write its older decision where the reassessment found
nothing to change). So a reassessment is refused while a part of the county's run is under way,
its fact change with it, and the clerk is told to try again; a run that starts while
reassessments are under way waits for them, then reads what they committed.

Played in a fixed order (tests/refunds/race_support.py). The Linfen preset for next year, stored
for 临汾市 (tests/subsidies/support.py): 400 yuan due, 240 with a dibao tag (160 yuan off)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import translation

from enrollment import assessment
from enrollment.assessment import assessment_reassess_persons, assessment_run_now
from enrollment.models import Assessment, Person
from subsidies import services
from subsidies.models import SubsidyTag
from tests.conftest import World
from tests.refunds.race_support import Held, own_connection, race
from tests.subsidies.support import ROSTER_DATE, YEAR, assess, dibao_added, enrolled, linfen_policy

pytestmark = [pytest.mark.django_db(transaction=True)]

COUNTY = "141002"
REFUSED = (
    "refused: The yearly assessment of county 尧都区（141002） is running; try again when it has finished."
)


@pytest.fixture(autouse=True)
def _one_part_not_nudged(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The county in one part (one held transaction); delivery not nudged."""
    settings.ASSESSMENT_WORKERS = 1
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    yield


@pytest.fixture
def li(world: World) -> Person:
    """李四 of 屯里村, enrolled, next year assessed: 400 yuan due."""
    linfen_policy()
    person = enrolled("李四", 3)
    assess(COUNTY)
    return person


def _added_on_another_connection(person: Person) -> str:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(own_connection(lambda: dibao_added(person))).result(timeout=60)


def _run() -> str:
    return assessment_run_now(county_code=COUNTY, insurance_year=YEAR).status


def _year_of(person: Person) -> tuple[str, int, int]:
    row = Assessment.objects.get(person=person, insurance_year=YEAR)
    return row.status, row.payable_fen, row.revision


@pytest.mark.parametrize(
    "point",
    [
        "_facts_from_row",  # reading its facts
        "_back_payment_applications_cancel",  # about to write
        "_hold_rows_as_read",  # holding the rows it writes
    ],
)
def test_given_the_countys_run_under_way_when_a_tag_is_added_then_it_is_refused_and_nothing_changes(
    li: Person, monkeypatch: pytest.MonkeyPatch, point: str
):
    # Given: the county's run, held at a point between reading its facts and committing
    held = Held(getattr(assessment, point))
    monkeypatch.setattr(assessment, point, held)

    # When: a dibao tag is added to 李四 meanwhile
    run, added, waited = race(_run, lambda: dibao_added(li), held)

    # Then: the add was refused at once with the way forward, no tag was made, and the year is as
    # the run decided it
    assert (run, added, waited) == ("done", REFUSED, False)
    assert SubsidyTag.objects.filter(person=li).count() == 0
    assert _year_of(li) == ("due", 40000, 1)


def test_given_the_countys_run_finished_when_the_tag_is_added_again_then_it_goes_through(
    li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: a tag refused while the run worked
    held = Held(assessment._back_payment_applications_cancel)
    monkeypatch.setattr(assessment, "_back_payment_applications_cancel", held)
    assert race(_run, lambda: dibao_added(li), held)[1] == REFUSED

    # When: the clerk tries again on another connection, the run having finished
    added = _added_on_another_connection(li)

    # Then: the tag is added and the year reassessed: 240 yuan
    assert added == "added"
    assert _year_of(li) == ("due", 24000, 2)


def test_given_a_part_that_failed_when_a_tag_is_added_then_its_gate_was_released(
    li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: the county's run failing once it holds the rows it writes
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the part breaks")

    monkeypatch.setattr(assessment, "_hold_rows_as_read", broken)
    with pytest.raises(RuntimeError):
        assessment_run_now(county_code=COUNTY, insurance_year=YEAR)
    monkeypatch.undo()

    # When: a tag is added on another connection
    added = _added_on_another_connection(li)

    # Then: it goes through: the failed part left no gate closed behind it
    assert added == "added"
    assert _year_of(li) == ("due", 24000, 2)


def test_given_a_tag_being_added_when_the_countys_run_starts_then_it_waits_and_reads_the_tag(
    li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: a dibao tag being added, held after 李四's reassessment and before its commit
    held = Held(services.assessment_reassess)
    monkeypatch.setattr(services, "assessment_reassess", held)

    # When: the county's run starts meanwhile
    added, run, waited = race(lambda: dibao_added(li), _run, held)

    # Then: the run waited for the tag's commit and read it: the year stays the reassessment's 240
    # yuan, which the run found nothing to change in
    assert (added, run, waited) == ("added", "done", True)
    assert _year_of(li) == ("due", 24000, 2)


def test_given_a_tag_being_added_when_another_person_of_the_county_is_reassessed_then_neither_waits(
    li: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: 王五 of the same village; 赵六 tagged already, in the language used below (so the
    # 240-yuan decision, its reason in that language, is stored, and the two reassessments do not
    # both store it: the second would wait for that); and a dibao tag for 李四 held in its
    # reassessment, before its commit
    wang, zhao = enrolled("王五", 5), enrolled("赵六", 6)
    assessment_reassess_persons_of([wang, zhao])
    with translation.override("en"):
        assert dibao_added(zhao) == "added"
    held = Held(services.assessment_reassess)
    monkeypatch.setattr(services, "assessment_reassess", held)

    # When: 王五 is tagged and reassessed meanwhile, as a roster does (a second tag given by hand
    # would wait for the first's lock on the marks to tax, subsidies.marks, not for the gate)
    first, second, waited = race(lambda: dibao_added(li), lambda: _roster_tags([wang], lambda: None), held)

    # Then: both went through, the second without waiting for the first: the gate is shared
    assert (first, second, waited) == ("added", "tagged", False)
    assert (_year_of(li), _year_of(wang)) == (("due", 24000, 2), ("due", 24000, 2))


def assessment_reassess_persons_of(persons: list[Person]) -> None:
    """The persons' open years assessed (a person enrolled after the county's run)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE gate_persons (person_id bigint) ON COMMIT DROP")
        cursor.execute("INSERT INTO gate_persons SELECT unnest(%s::bigint[])", [[p.pk for p in persons]])
        assessment_reassess_persons(person_table="gate_persons", reason="test")


def _roster_tags(persons: list[Person], then: Callable[[], None]) -> str:
    """As a roster import does: dibao tags for ``persons`` and their listed reassessment, in one
    transaction; ``then`` is called before it commits."""
    try:
        with transaction.atomic():
            SubsidyTag.objects.bulk_create(
                SubsidyTag(
                    person=p,
                    category="dibao",
                    region_code=p.region_code,
                    source="民政",
                    valid_from=ROSTER_DATE,
                )
                for p in persons
            )
            assessment_reassess_persons_of(persons)
            then()
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "tagged"


def test_given_a_roster_reassessing_its_persons_when_the_countys_run_starts_then_it_waits_and_reads_their_tags(
    li: Person,
):
    # Given: a roster's tags and their reassessment, held before its commit
    held = Held(lambda: None)

    # When: the county's run starts meanwhile
    tagged, run, waited = race(lambda: _roster_tags([li], held), _run, held)

    # Then: the run waited for the roster and read its tag
    assert (tagged, run, waited) == ("tagged", "done", True)
    assert _year_of(li) == ("due", 24000, 2)
