"""Access-matrix objects of the bulk pages (duplicates, imports), and the factories their tests share."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

from stdnum.iso7064 import mod_11_2

from accounts.roles import Role
from enrollment.identifiers import generate_identifier
from enrollment.models import (
    ChangeReason,
    DuplicateCase,
    DuplicateMatch,
    DuplicateSide,
    Enrollment,
    EnrollmentStatus,
    Household,
    IdKind,
    ImportJob,
    ImportKind,
    ImportStatus,
    Person,
    PersonCategory,
    Relation,
)
from tests.conftest import World

YAODU_VILLAGE = "141002100201"  # 屯里村, county A
HONGDONG_VILLAGE = "141024100201"  # 秦壁村, county B
XIAODIAN_VILLAGE = "140105100201"  # 小店区, another city (no Region row needed for enrollments)

_sequence = itertools.count(1)


def resident_id(
    birth: dt.date, *, male: bool = True, county: str = "141002", sequence: int | None = None
) -> str:
    """A valid 18-digit resident ID number for a birth date and sex."""
    number = sequence if sequence is not None else next(_sequence)
    seq = (number % 499) * 2 + (1 if male else 2)
    body = f"{county}{birth:%Y%m%d}{seq:03d}"
    return body + mod_11_2.calc_check_digit(body)


def make_person(
    *,
    region_code: str = YAODU_VILLAGE,
    name: str = "张三",
    birth: dt.date | None = None,
    id_kind: str = IdKind.RESIDENT_ID,
    id_number: str | None = None,
    male: bool = True,
    household: Household | None = None,
) -> Person:
    n = next(_sequence)
    birth = birth or dt.date(1950, 1, 1) + dt.timedelta(days=n)
    if id_number is None:
        if id_kind == IdKind.GENERATED:
            id_number = generate_identifier(region_code, n % 99999 + 1)
        elif id_kind == IdKind.HK_MACAO_PERMIT:
            id_number = f"H{n:08d}"
        else:
            id_number = resident_id(birth, male=male, county=region_code[:6], sequence=n)
    return Person.objects.create(
        id_kind=id_kind,
        id_number=id_number,
        name=name,
        sex="male" if male else "female",
        birth_date=birth,
        category=PersonCategory.RURAL,
        household=household,
        relation=Relation.HEAD if household else "",
        region_code=region_code,
    )


def make_enrollment(
    person: Person,
    *,
    region_code: str | None = None,
    status: str = EnrollmentStatus.NORMAL,
    enrolled_on: dt.date = dt.date(2024, 1, 1),
    ended_on: dt.date | None = None,
) -> Enrollment:
    region_code = region_code or person.region_code
    reason = {
        EnrollmentStatus.NORMAL: ChangeReason.NEW_REGISTRATION,
        EnrollmentStatus.SUSPENDED: ChangeReason.EMPLOYMENT,
        EnrollmentStatus.TERMINATED: ChangeReason.DEATH,
    }[status]
    if status == EnrollmentStatus.TERMINATED and ended_on is None:
        ended_on = enrolled_on
    return Enrollment.objects.create(
        person=person,
        county_code=region_code[:6],
        region_code=region_code,
        status=status,
        enrolled_on=enrolled_on,
        ended_on=ended_on,
        status_reason=reason,
        status_changed_on=enrolled_on,
    )


def make_case(*, region_a: str, region_b: str) -> DuplicateCase:
    """Two persons, one name and birth date, a resident ID and a generated number, both enrolled."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=next(_sequence))
    first = make_enrollment(make_person(region_code=region_a, name="李四", birth=birth))
    second = make_enrollment(
        make_person(region_code=region_b, name="李四", birth=birth, id_kind=IdKind.GENERATED)
    )
    a, b = sorted([first, second], key=lambda e: e.pk)
    case = DuplicateCase.objects.create(
        match=DuplicateMatch.SAME_NAME_AND_BIRTH_DATE, enrollment_a=a, enrollment_b=b
    )
    DuplicateSide.objects.bulk_create(
        [DuplicateSide(case=case, enrollment=e, region_code=e.region_code) for e in (a, b)]
    )
    return case


def make_job(
    *, user, region_code: str, kind: str = ImportKind.HOUSEHOLDS, status: str = ImportStatus.PENDING
) -> ImportJob:  # type: ignore[no-untyped-def]
    return ImportJob.objects.create(
        kind=kind,
        status=status,
        file="",
        original_name="名单.xlsx",
        file_format="xlsx",
        region_code=region_code,
        created_by=user,
        confirmed_by=user if status == ImportStatus.CONFIRMED else None,
    )


def _outside(world: World, user) -> str:  # type: ignore[no-untyped-def]
    if user.role == Role.ADMINISTRATOR:
        return XIAODIAN_VILLAGE
    return HONGDONG_VILLAGE if user.agency.region.code.startswith("141002") else YAODU_VILLAGE


def _inside(user) -> str:  # type: ignore[no-untyped-def]
    code = user.agency.region.code
    if code.startswith("141024"):
        return HONGDONG_VILLAGE
    return XIAODIAN_VILLAGE if code.startswith("1401") else YAODU_VILLAGE


def _case_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    outside = _outside(world, user)
    if own:  # one side in the caller's area, the other outside it: a cross-county case
        return {"pk": make_case(region_a=_inside(user), region_b=outside).pk}
    return {"pk": make_case(region_a=outside, region_b=outside).pk}


def _job_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    region = user.agency.region.code if own else _outside(world, user)[:6].ljust(12, "0")
    return {"pk": make_job(user=user, region_code=region).pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "enrollment:duplicate-detail": _case_pk,
    "enrollment:import-detail": _job_pk,
    "enrollment:import-confirm": _job_pk,
    "enrollment:import-errors": _job_pk,
    "enrollment:import-progress": _job_pk,
}
