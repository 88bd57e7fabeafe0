"""Access-matrix objects of the registration pages: households and persons in and out of area."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from stdnum.cn import ric

from accounts.roles import Role
from tests.conftest import World
from tests.matrix.enrollment_review import own_school, school_region

YAODU_VILLAGE = "141002100201"  # 屯里村, 尧都区
HONGDONG_VILLAGE = "141024100201"  # 秦壁村, 洪洞县
XIAODIAN_VILLAGE = "140105100201"  # in 小店区, 太原市: outside Linfen's administrator's area


def resident_id(area: str, born: dt.date, sequence: int, *, male: bool = True) -> str:
    """A valid 18-digit resident ID number (the 17th digit odd for a man, even for a woman)."""
    seq = f"{sequence % 100:02d}{(sequence % 5) * 2 + (1 if male else 0)}"
    body = f"{area[:6]}{born:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder check digit


def make_household(region_code: str, *, members: int = 1, school=None, created_by=None):  # type: ignore[no-untyped-def]
    """A household of ``members`` persons; with ``school``, a school roster's anchor household
    (created by the school's clerk) and that school's students, members of no household."""
    from enrollment.models import Household, Person, PersonCategory, Relation

    number = f"{region_code}{Household.objects.filter(region_code=region_code).count() + 1:05d}"
    household = Household.objects.create(
        number=number, region_code=region_code, address="测试地址", created_by=created_by
    )
    for i in range(members):
        serial = Person.objects.count() + 1
        born = dt.date(1970 + i, 3, 1)
        Person.objects.create(
            id_kind="resident_id",
            id_number=resident_id(region_code, born, serial),
            name=f"测试{serial}",
            sex="male",
            birth_date=born,
            category=PersonCategory.RURAL,
            household=None if school else household,
            relation="" if school else Relation.HEAD if i == 0 else Relation.CHILD,
            region_code=region_code,
            school=school,
        )
    return household


def _region_for(user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return school_region(user) or YAODU_VILLAGE
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else HONGDONG_VILLAGE


def _own_household(user, own: bool):  # type: ignore[no-untyped-def]
    school = own_school(user, own)
    return make_household(_region_for(user, own), school=school, created_by=user if school else None)


def household_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": _own_household(user, own).pk}


def _person_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from enrollment.models import Person

    school = own_school(user, own)
    household = _own_household(user, own)
    return {"pk": (Person.objects.get(school=school) if school else household.members.get()).pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "enrollment:household-detail": household_pk,
    "enrollment:household-edit": household_pk,
    "enrollment:newborn-new": household_pk,
    "enrollment:person-edit": _person_pk,
    "enrollment:person-move": _person_pk,
}
