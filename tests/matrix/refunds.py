"""Access-matrix objects of the refund pages and API.

``own=True``: an application in 屯里村 (inside every 尧都区 user's area and the Linfen
administrator's); ``own=False``: one in 秦壁村 (洪洞县), or in a village of 小店区 (太原市) for the
Linfen administrator. The empty POST the matrix sends must be refused as invalid (400) for a role
that holds the action: approve and pay-out pick an application the caller applied for themselves
(four-eyes refuses it), withdraw one someone else applied for (only the applicant withdraws).
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.roles import Role
from tests.conftest import World
from tests.matrix.enrollment_review import QINBI, TUNLI, XIAODIAN_VILLAGE
from tests.refunds.support import make_refund


def _region(world: World, user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return TUNLI
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else QINBI


def _applied_by_caller(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": make_refund(_region(world, user, own), user).pk}


def _applied_by_someone_else(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    other = world.users["clerk_a" if user.username != "clerk_a" else "insurance_a"]
    return {"pk": make_refund(_region(world, user, own), other).pk}


def _evidence_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from django.core.files.base import ContentFile

    from refunds.models import RefundEvidence
    from tests.matrix.enrollment_review import PDF_BYTES

    application = make_refund(_region(world, user, own), world.users["clerk_a"])
    item = RefundEvidence(
        application=application, name="second-receipt.pdf", uploaded_by=world.users["clerk_a"]
    )
    item.file.save("second-receipt.pdf", ContentFile(PDF_BYTES), save=False)
    item.save()
    return {"pk": item.pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "refunds:detail": _applied_by_caller,
    "refunds:evidence": _evidence_pk,
    "refund-detail": _applied_by_caller,
    "refund-approve": _applied_by_caller,
    "refund-reject": _applied_by_caller,
    "refund-withdraw": _applied_by_someone_else,
    "refund-pay-out": _applied_by_caller,
}
