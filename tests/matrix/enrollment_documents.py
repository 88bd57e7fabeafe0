"""Access-matrix objects of the printable documents: households and villages in and out of area."""

from __future__ import annotations

from collections.abc import Callable

from accounts.roles import Role
from tests.conftest import World
from tests.matrix.enrollment_registration import household_pk

YAODU_VILLAGE = "141002100201"  # 屯里村, 尧都区
HONGDONG_VILLAGE = "141024100201"  # 秦壁村, 洪洞县
XIAODIAN_VILLAGE = "140105100201"  # a village of 小店区, 太原市: outside Linfen's administrator's area


def _village_for(user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return YAODU_VILLAGE
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else HONGDONG_VILLAGE


def _ensure_village(world: World, code: str) -> None:
    """The world has no village in 小店区; make one so 'outside the area' is a real village."""
    from accounts import services
    from accounts.models import Region

    if code == XIAODIAN_VILLAGE and not Region.objects.filter(code=code).exists():
        township = services.region_create(code=code[:9], name="测试街道", parent=world.regions["xiaodian"])
        services.region_create(code=code, name="测试社区", parent=township)


def _village_code(world: World, user, own: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    code = _village_for(user, own)
    _ensure_village(world, code)
    return {"code": code}


def _school_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A school in the user's own region (any user's region may hold one), or in another county/city."""
    from accounts.models import Agency, AgencyKind, Region

    if own and user.role == Role.SCHOOL_CLERK:
        # A school's clerk prints their own school's list; another school of the county is not theirs.
        return {"pk": user.agency.pk}
    if own:
        region = user.agency.region
    else:
        region = Region.objects.get(
            code="140105000000" if user.role == Role.ADMINISTRATOR else "141024000000"
        )
    school, _created = Agency.objects.get_or_create(
        name=f"测试学校{region.code}", defaults={"kind": AgencyKind.SCHOOL, "region": region}
    )
    return {"pk": school.pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "enrollment:school-publicity-list-pdf": _school_pk,
    "enrollment:school-publicity-list-xlsx": _school_pk,
    "enrollment:household-form-pdf": household_pk,
    "enrollment:publicity-list-pdf": _village_code,
    "enrollment:publicity-list-xlsx": _village_code,
}
