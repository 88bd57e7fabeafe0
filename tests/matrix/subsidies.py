"""Access-matrix objects of the subsidy pages: roster imports, categories of a policy.

``own=True`` gives a roster import of the caller's region and a category of 临汾市's policy (readable
by every 尧都区 user, managed by the Linfen administrator); ``own=False`` an import of another area
(太原市 for the Linfen administrator, 洪洞县 for county users) and a category of 太原市's policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from accounts.roles import Role
from subsidies.models import RosterImport
from tests.conftest import World
from tests.matrix.enrollment_rulebook import ensure_policy


def make_roster_import(*, user, region_code: str, status: str = "pending") -> RosterImport:  # type: ignore[no-untyped-def]
    return RosterImport.objects.create(
        source="临汾市民政局",
        insurance_year=2026,
        roster_date=dt.date(2026, 1, 15),
        status=status,
        file="",
        original_name="低保名单.xlsx",
        file_format="xlsx",
        region_code=region_code,
        created_by=user,
    )


def _import_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    if own:
        region = user.agency.region.code
    elif user.role == Role.ADMINISTRATOR:
        region = world.regions["taiyuan"].code
    else:
        region = world.regions["hongdong" if user.agency.region.code.startswith("141002") else "yaodu"].code
    return {"pk": make_roster_import(user=user, region_code=region).pk}


def _policy(own: bool) -> str:
    if own:
        return ensure_policy(code="matrix-linfen", region_code="141000").code
    return ensure_policy(code="matrix-taiyuan", region_code="140100").code


def _policy_code(world: World, user, own: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"code": _policy(own)}


def _category(world: World, user, own: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"code": _policy(own), "category": "dibao"}


OBJECT_KWARGS: dict[str, Callable] = {
    "subsidies:roster-import": _import_pk,
    "subsidies:roster-import-progress": _import_pk,
    "subsidies:roster-import-decide": _import_pk,
    "subsidies:roster-report": _import_pk,
    "subsidies:category-new": _policy_code,
    "subsidies:category-edit": _category,
    "subsidies:category-remove": _category,
}
