"""A roster's rows and tags hold for each person's own year: a student's (or preschool child's)
academic year where the policy has one, the calendar insurance year for everyone else.

Guigang's policy: the insurance year YEAR (1 January – 31 December) and the students' academic
year from 1 September YEAR to 31 August of the next year. The rule engine grants a student a tag
recognised in that academic year's spring; the roster import must accept the row (and the tag must
last to the academic year's end), while an adult's row recognised after 31 December stays refused.

YEAR is two years back, so that every date of the academic year lies in the past and the roster's
date may be any of them (in 2026: the 2024 policy as Guigang gives it, 2024-09-01 to 2025-08-31).
The policy is stored for 临汾市 (141000), so it applies to the persons of 屯里村 (尧都区).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from collection.models import SubsidyMark
from enrollment.models import Person
from enrollment.policies import policy_save
from enrollment.rules.dates import shift_document
from enrollment.rules.presets import load_preset
from sharing import services as sharing
from subsidies import selectors
from subsidies.models import RosterRow, SubsidyTag
from tests.subsidies.support import HEADER, TODAY, check, confirm, counts, enrolled, row, scope_of, xlsx_bytes

pytestmark = pytest.mark.django_db

YEAR = TODAY.year - 2
NEXT = YEAR + 1
CODE = "guigang-like-141000"
DIBAO = "低保对象"  # Guigang's 低保对象 (tag dibao, 60% of the individual part)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def guigang(world) -> None:
    """Guigang's 2024 rules moved to YEAR, stored for 临汾市."""
    document = shift_document(load_preset("guigang-2024").to_document(), YEAR - 2024)
    document.update(code=CODE, region_code="141000", insurance_year=YEAR)
    loaded = policy_save(document=document, note="test")
    assert (
        loaded.rules.coverage.end,
        loaded.rules.student_coverage.start,
        loaded.rules.student_coverage.end,
    ) == (
        dt.date(YEAR, 12, 31),
        dt.date(YEAR, 9, 1),
        dt.date(NEXT, 8, 31),
    )


def _of(name: str, sequence: int, category: str, birth: str) -> Person:
    person = enrolled(name, sequence, birth=birth)
    person.category = category
    person.birth_date = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    person.save()
    return person


def _student(name: str = "学生", sequence: int = 11) -> Person:
    return _of(name, sequence, "student", "20100501")


def _preschool(name: str = "幼儿", sequence: int = 12) -> Person:
    return _of(name, sequence, "preschool", "20200501")


def _adult(name: str = "成人", sequence: int = 13, category: str = "rural") -> Person:
    return _of(name, sequence, category, "19700501")


def _refused(job) -> dict[str, tuple[str, str]]:
    return {
        r.name: (r.outcome, r.message)
        for r in RosterRow.objects.filter(roster_import=job, row_number__isnull=False)
    }


def _late(recognised: dt.date, end: dt.date) -> tuple[str, str]:
    return (
        "error",
        f"Recognised on {recognised.isoformat()}, after the insurance year's cover ends ({end.isoformat()}).",
    )


def _marks(person: Person) -> dict[str, tuple[str, dt.date]]:
    return {
        m.category: (m.status, m.valid_to)
        for m in SubsidyMark.objects.filter(person_id=person.id_number, insurance_year=YEAR)
    }


# --- the row check and the tag ------------------------------------------------------------------


def test_given_a_student_recognised_in_the_academic_years_spring_when_the_roster_is_imported_then_tagged_to_its_end(
    world, guigang
):
    student, adult = _student(), _adult()
    content = xlsx_bytes(
        [HEADER, row(1, student, DIBAO, dt.date(NEXT, 3, 1)), row(2, adult, DIBAO, dt.date(NEXT, 1, 15))]
    )

    job = confirm(world, check(world, content, roster_date=dt.date(NEXT, 3, 15), year=YEAR))
    sharing.delivery_drain(seconds=30)

    assert counts(job, "added", "error") == {"added": 1, "error": 1}
    assert _refused(job) == {"成人": _late(dt.date(NEXT, 1, 15), dt.date(YEAR, 12, 31))}
    tags = {
        (tag.person_id, tag.category, tag.valid_from, tag.valid_to, tag.roster.insurance_year)
        for tag in SubsidyTag.objects.select_related("roster")
    }
    assert tags == {(student.pk, "dibao", dt.date(NEXT, 3, 1), dt.date(NEXT, 8, 31), YEAR)}
    # Tax is told the mark holds to the end of the student's academic year.
    assert _marks(student) == {"dibao": ("active", dt.date(NEXT, 8, 31))}
    assert _marks(adult) == {}


def test_given_rows_on_each_persons_last_day_and_the_day_after_when_checked_then_each_is_judged_by_its_own_year(
    world, guigang
):
    student, child = _student(), _preschool()
    late_student, late_child = _student("晚学生", 21), _preschool("晚幼儿", 22)
    rural, urban = _adult("农村", 23, "rural"), _adult("城镇", 24, "urban")
    content = xlsx_bytes(
        [
            HEADER,
            row(1, student, DIBAO, dt.date(NEXT, 8, 31)),
            row(2, child, DIBAO, dt.date(NEXT, 8, 31)),
            row(3, late_student, DIBAO, dt.date(NEXT, 9, 1)),
            row(4, late_child, DIBAO, dt.date(NEXT, 9, 1)),
            row(5, rural, DIBAO, dt.date(YEAR, 12, 31)),
            row(6, urban, DIBAO, dt.date(NEXT, 1, 1)),
        ]
    )

    job = check(world, content, roster_date=dt.date(NEXT, 9, 15), year=YEAR)

    assert counts(job, "added", "error") == {"added": 3, "error": 3}
    assert _refused(job) == {
        "晚学生": _late(dt.date(NEXT, 9, 1), dt.date(NEXT, 8, 31)),
        "晚幼儿": _late(dt.date(NEXT, 9, 1), dt.date(NEXT, 8, 31)),
        "城镇": _late(dt.date(NEXT, 1, 1), dt.date(YEAR, 12, 31)),
    }
    job = confirm(world, job)
    valid_to = {tag.person_id: tag.valid_to for tag in SubsidyTag.objects.all()}
    assert valid_to == {
        student.pk: dt.date(NEXT, 8, 31),
        child.pk: dt.date(NEXT, 8, 31),
        rural.pk: dt.date(YEAR, 12, 31),
    }


def test_given_a_person_who_became_a_student_after_the_preview_when_confirmed_then_the_row_is_checked_anew(
    world, guigang
):
    person, student = _adult("转学生", 31), _student()
    content = xlsx_bytes(
        [HEADER, row(1, person, DIBAO, dt.date(NEXT, 3, 1)), row(2, student, DIBAO, dt.date(YEAR, 10, 1))]
    )
    job = check(world, content, roster_date=dt.date(NEXT, 3, 15), year=YEAR)
    assert counts(job, "added", "error") == {"added": 1, "error": 1}
    assert _refused(job) == {"转学生": _late(dt.date(NEXT, 3, 1), dt.date(YEAR, 12, 31))}
    person.category = "student"
    person.save()

    job = confirm(world, job)

    assert counts(job, "added", "error") == {"added": 2, "error": 0}
    assert SubsidyTag.objects.get(person=person).valid_to == dt.date(NEXT, 8, 31)


# --- withdrawals to tax -------------------------------------------------------------------------


def test_given_tags_by_hand_reaching_only_the_academic_year_when_the_roster_drops_a_student_and_an_adult_then_only_the_adult_is_withdrawn(
    world, guigang
):
    student, adult, other = _student(), _adult(), _student("另一学生", 14)
    first = dt.date(NEXT, 3, 15)
    confirm(
        world,
        check(
            world,
            xlsx_bytes(
                [
                    HEADER,
                    row(1, student, DIBAO, dt.date(YEAR, 10, 1)),
                    row(2, adult, DIBAO, dt.date(YEAR, 10, 1)),
                ]
            ),
            roster_date=first,
            year=YEAR,
        ),
    )
    # Given by hand from February to June of the next calendar year: within the student's academic
    # year, after the adult's insurance year.
    for person in (student, adult):
        SubsidyTag.objects.create(
            person=person,
            category="dibao",
            region_code=person.region_code,
            source="手工",
            valid_from=dt.date(NEXT, 2, 1),
            valid_to=dt.date(NEXT, 6, 30),
        )
    later = first + dt.timedelta(days=1)

    job = confirm(
        world,
        check(
            world,
            xlsx_bytes([HEADER, row(1, other, DIBAO, dt.date(NEXT, 3, 1))]),
            roster_date=later,
            year=YEAR,
        ),
    )
    sharing.delivery_drain(seconds=30)

    assert (job.counts["removed"], job.counts["untagged"]) == (2, 1)
    assert _marks(student) == {"dibao": ("active", dt.date(NEXT, 8, 31))}
    # Withdrawn from the day its roster tag ended, the end of its insurance year.
    assert _marks(adult) == {"dibao": ("withdrawn", dt.date(YEAR, 12, 31))}


# --- counts of tagged persons -------------------------------------------------------------------


def test_given_tags_by_hand_around_the_academic_year_when_the_totals_and_categories_are_read_then_each_person_counts_by_their_own_year(
    world, guigang
):
    # The student's dibao tag reaches the academic year only (recognised in its spring); another
    # student's dibao_sanwu tag ended before the academic year began (it reaches the calendar year
    # only); the adult's dibao tag begins after the calendar year.
    student, former, adult = _student(), _student("毕业生", 15), _adult()
    for person, category, start, end in (
        (student, "dibao", dt.date(NEXT, 3, 1), None),
        (former, "dibao_sanwu", dt.date(YEAR - 1, 6, 1), dt.date(YEAR, 8, 31)),
        (adult, "dibao", dt.date(NEXT, 1, 15), None),
    ):
        SubsidyTag.objects.create(
            person=person,
            category=category,
            region_code=person.region_code,
            source="手工",
            valid_from=start,
            valid_to=end,
        )
    scope = scope_of(world)

    totals = selectors.subsidy_totals(scope=scope, year=YEAR)
    (policy,) = [p for p in selectors.category_policies(scope=scope, year=YEAR) if p.policy.code == CODE]

    assert totals.tagged == 1
    assert {(r.county_code, r.category): r.tagged for r in totals.rows} == {("141002", "dibao"): 1}
    tagged = {r.category.code: r.tagged for r in policy.rows}
    assert (tagged["dibao"], tagged["dibao_sanwu"]) == (1, 0)
