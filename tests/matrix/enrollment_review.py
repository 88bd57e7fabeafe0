"""Access-matrix objects of the insurance review pages and the enrollment API, and the small
plain-ORM factories the enrollment tests share.

``own=True`` gives an object in 屯里村 (inside every 尧都区 user's area and the Linfen
administrator's); ``own=False`` one in 秦壁村 (洪洞县) for 尧都区 users, or in 小店区 (太原市) for
the Linfen administrator.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable

from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.roles import Role
from enrollment.models import (
    ApplicationStatus,
    ChangeKind,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    IdKind,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
    Sex,
)
from tests.conftest import World

TUNLI = "141002100201"  # 屯里村, 尧都区
QINBI = "141024100201"  # 秦壁村, 洪洞县
XIAODIAN_VILLAGE = "140105001001"  # a community in 小店区, 太原市 (no Region row needed)

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"

_numbers = itertools.count(1)


def unique_number(prefix: str = "T") -> str:
    """An identifier no other test object uses (plain ORM objects skip the identifier check)."""
    return f"{prefix}{timezone.now():%H%M%S%f}{next(_numbers):05d}"


def make_household(region_code: str = TUNLI, *, created_by=None) -> Household:  # type: ignore[no-untyped-def]
    return Household.objects.create(
        number=f"{region_code}{90000 + next(_numbers) % 10000:05d}",
        region_code=region_code,
        created_by=created_by,
    )


def make_person(
    region_code: str = TUNLI,
    *,
    household: Household | None = None,
    name: str = "王小明",
    id_number: str | None = None,
    relation: str = Relation.HEAD,
    phone: str = "13912345678",
    school=None,  # type: ignore[no-untyped-def]
) -> Person:
    return Person.objects.create(
        id_kind=IdKind.RESIDENT_ID,
        id_number=id_number or unique_number(),
        name=name,
        sex=Sex.MALE,
        birth_date=dt.date(1980, 1, 1),
        category=PersonCategory.RURAL,
        phone=phone,
        household=household,
        relation=relation if household else "",
        region_code=region_code,
        school=school,
    )


def make_enrollment(
    person: Person,
    *,
    status: str = EnrollmentStatus.NORMAL,
    enrolled_on: dt.date = dt.date(2024, 1, 1),
    ended_on: dt.date | None = None,
    region_code: str | None = None,
) -> Enrollment:
    region = region_code or person.region_code
    reason = {
        EnrollmentStatus.NORMAL: ChangeReason.NEW_REGISTRATION,
        EnrollmentStatus.SUSPENDED: ChangeReason.EMPLOYMENT,
        EnrollmentStatus.TERMINATED: ChangeReason.DEATH,
    }[status]
    enrollment = Enrollment.objects.create(
        person=person,
        county_code=region[:6],
        region_code=region,
        status=status,
        enrolled_on=enrolled_on,
        ended_on=ended_on if ended_on or status != EnrollmentStatus.TERMINATED else enrolled_on,
        status_reason=reason,
        status_changed_on=enrolled_on,
    )
    EnrollmentChange.objects.create(
        enrollment=enrollment,
        kind=ChangeKind.REGISTERED,
        reason=ChangeReason.NEW_REGISTRATION,
        effective_on=enrolled_on,
    )
    return enrollment


def make_application(
    world: World,
    region_code: str = TUNLI,
    *,
    members: int = 2,
    submitted_by: str | None = None,
    school=None,  # type: ignore[no-untyped-def]
) -> RegistrationApplication:
    """A submitted application; with ``school``, a roster of that school's students (anchored to a
    household its clerk created, the students members of none)."""
    clerk = submitted_by or ("clerk_a" if region_code.startswith("141002") else "clerk_b")
    household = make_household(region_code, created_by=world.users[clerk] if school else None)
    persons = [
        make_person(
            region_code, household=None if school else household, name=name, relation=relation, school=school
        )
        for name, relation in [
            ("王大山", Relation.HEAD),
            ("李秀英", Relation.SPOUSE),
            ("王小宝", Relation.CHILD),
        ][:members]
    ]
    application = RegistrationApplication.objects.create(
        household=household,
        region_code=region_code,
        status=ApplicationStatus.SUBMITTED,
        submitted_by=world.users[clerk],
        submitted_at=timezone.now() - dt.timedelta(days=2),
    )
    application.persons.set(persons)
    return application


def make_change_with_evidence(region_code: str = TUNLI, *, school=None) -> EnrollmentChange:  # type: ignore[no-untyped-def]
    person = make_person(region_code, school=school)
    enrollment = make_enrollment(person, status=EnrollmentStatus.SUSPENDED)
    change = EnrollmentChange(
        enrollment=enrollment,
        kind=ChangeKind.SUSPENDED,
        reason=ChangeReason.EMPLOYMENT,
        effective_on=dt.date(2024, 1, 1),
    )
    change.evidence.save("contract.png", ContentFile(PNG_BYTES), save=False)
    change.save()
    return change


# --- pickers ------------------------------------------------------------------------------------


def _region(user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return school_region(user) or TUNLI
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else QINBI


def school_region(user) -> str | None:  # type: ignore[no-untyped-def]
    """Where a school clerk's students are registered (the school's region, 12 digits); else None."""
    return user.agency.region.code.ljust(12, "0") if user.role == Role.SCHOOL_CLERK else None


def own_school(user, own: bool):  # type: ignore[no-untyped-def]
    """A school clerk's own objects are their school's students and rosters."""
    return user.agency if own and user.role == Role.SCHOOL_CLERK else None


def _application_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    region = _region(user, own)
    school = own_school(user, own)
    submitted_by = ("school_a" if school else "clerk_a") if own else "clerk_b"
    return {"pk": make_application(world, region, submitted_by=submitted_by, school=school).pk}


def _person_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    person = make_person(_region(user, own), school=own_school(user, own))
    make_enrollment(person)
    return {"pk": person.pk}


def _household_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    school = own_school(user, own)
    household = make_household(_region(user, own), created_by=user if school else None)
    make_person(household.region_code, household=household, school=school)
    return {"pk": household.pk}


def _enrollment_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": make_enrollment(make_person(_region(user, own), school=own_school(user, own))).pk}


def _change_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": make_change_with_evidence(_region(user, own), school=own_school(user, own)).pk}


OBJECT_KWARGS: dict[str, Callable] = {
    # pages
    "enrollment:application-detail": _application_pk,
    "enrollment:person-detail": _person_pk,
    "enrollment:person-identifier-correct": _person_pk,
    "enrollment:enrollment-change": _enrollment_pk,
    "enrollment:change-evidence": _change_pk,
    # API
    "household-detail": _household_pk,
    "person-detail": _person_pk,
    "person-correct-identifier": _person_pk,
    "enrollment-detail": _enrollment_pk,
    "enrollment-suspend": _enrollment_pk,
    "enrollment-resume": _enrollment_pk,
    "enrollment-terminate": _enrollment_pk,
    "application-detail": _application_pk,
    "application-approve": _application_pk,
    "application-reject": _application_pk,
    "application-return": _application_pk,
}
