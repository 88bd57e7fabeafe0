"""Access-matrix objects of the admin site: for every model the portal registers there, how to make
one row inside the Linfen administrator's area (临汾市) and one outside it (太原市 / 小店区).

``ADMIN_OBJECTS``: model label -> ``f(world, own: bool) -> pk``. tests/test_access_matrix.py walks
every URL of every registered model admin and fails for a model that has no entry here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.utils import timezone

from accounts.roles import Bureau
from tests.conftest import World
from tests.matrix.enrollment_registration import XIAODIAN_VILLAGE
from tests.matrix.enrollment_review import (
    TUNLI,
    make_application,
    make_change_with_evidence,
    make_enrollment,
    make_household,
    make_person,
)

LINFEN_CITY = "141000000000"
TAIYUAN_CITY = "140100000000"


def _village(own: bool) -> str:
    return TUNLI if own else XIAODIAN_VILLAGE


def _city(own: bool) -> str:
    return LINFEN_CITY if own else TAIYUAN_CITY


def _region(world: World, own: bool) -> int:
    return world.regions["yaodu" if own else "xiaodian"].pk


def _agency(world: World, own: bool) -> int:
    return world.agencies["insurance_a" if own else "taiyuan_insurance"].pk


def _user(world: World, own: bool) -> int:
    return world.users["clerk_a" if own else "admin_other"].pk


def _dead_letter(own: bool) -> int:
    from tests.sharing.support import make_dead_letter

    return make_dead_letter(region=_village(own), person=f"ADMIN{int(own)}{timezone.now():%H%M%S%f}")


def _inbox_entry(world: World, own: bool) -> int:
    from sharing.models import InboxEntry

    message_id = _dead_letter(own)
    InboxEntry.objects.create(
        message_id=message_id, topic="assessment.due", receiver=Bureau.TAX, region_code=_village(own),
        amount_fen=40000, sent_at=timezone.now(),
    )  # fmt: skip
    return message_id


def _roster_import(world: World, own: bool) -> int:
    from tests.matrix.subsidies import make_roster_import

    return make_roster_import(user=world.users["admin" if own else "admin_other"], region_code=_city(own)).pk


def _roster(world: World, own: bool) -> int:
    from subsidies.models import SubsidyRoster

    return SubsidyRoster.objects.create(
        region_code=_city(own),
        source=f"民政局{int(own)}",
        insurance_year=2026,
        roster_date=dt.date(2026, 1, 15),
    ).pk


def _tag(world: World, own: bool) -> int:
    from subsidies.models import SubsidyTag

    person = make_person(_village(own))
    return SubsidyTag.objects.create(
        person=person,
        category="dibao",
        region_code=_village(own),
        source="低保名单",
        valid_from=dt.date(2026, 1, 1),
    ).pk


def _due_item(world: World, own: bool) -> int:
    from collection.models import DueItem

    number = DueItem.objects.count() + 900_000
    return DueItem.objects.create(
        person_id=f"ADMIN{number:011d}",
        insurance_year=2027, region_code=_village(own), amount_fen=40000, source_message_id=number, sequence=1,
    ).pk  # fmt: skip


def _export_job(world: World, own: bool) -> int:
    from accounts.models import ExportJob

    user = world.users["clerk_a" if own else "admin_other"]
    return ExportJob.objects.create(
        user=user, kind="collection.daily", language="zh-hans", filename="日报.xlsx"
    ).pk


ADMIN_OBJECTS: dict[str, Callable[[World, bool], int]] = {
    "accounts.region": _region,
    "accounts.exportjob": _export_job,
    "accounts.agency": _agency,
    "accounts.user": _user,
    "sharing.outboxmessage": lambda world, own: _dead_letter(own),
    "sharing.pendingdelivery": lambda world, own: _dead_letter(own),
    "sharing.inboxentry": _inbox_entry,
    "enrollment.household": lambda world, own: make_household(_village(own)).pk,
    "enrollment.person": lambda world, own: make_person(_village(own)).pk,
    "enrollment.enrollment": lambda world, own: make_enrollment(make_person(_village(own))).pk,
    "enrollment.registrationapplication": lambda world, own: (
        make_application(world, _village(own), submitted_by="clerk_a").pk
    ),
    "enrollment.enrollmentchange": lambda world, own: make_change_with_evidence(_village(own)).pk,
    "subsidies.rosterimport": _roster_import,
    "subsidies.subsidyroster": _roster,
    "subsidies.subsidytag": _tag,
    "collection.dueitem": _due_item,
}
