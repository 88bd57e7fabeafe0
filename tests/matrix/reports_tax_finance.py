"""Access-matrix areas of tax's collection-progress dashboard (the drill-down takes an area's code):
``own=True`` the caller's own region, ``own=False`` another county (太原市 for an administrator of
临汾市). Finance's report pages take no object: the matrix checks them by role alone."""

from __future__ import annotations

from collections.abc import Callable

from accounts.roles import Role
from tests.conftest import World


def _area(world: World, user, own: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if own:
        return {"code": user.agency.region.code}
    if user.role == Role.ADMINISTRATOR:
        return {"code": world.regions["taiyuan"].code}
    other = "hongdong" if user.agency.region.code.startswith("141002") else "yaodu"
    return {"code": world.regions[other].code}


OBJECT_KWARGS: dict[str, Callable] = {
    "collection:progress-area": _area,
    "collection:progress-area-xlsx": _area,
}
