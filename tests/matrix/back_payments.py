"""Access-matrix objects of the back-payment pages and API.

``own=True``: an application in 屯里村 (inside every 尧都区 user's area and the Linfen
administrator's); ``own=False``: one in 秦壁村 (洪洞县), or in a village of 小店区 (太原市) for the
Linfen administrator. The empty POST the matrix sends must be refused as invalid (400) for a role
that holds the action: approve picks an application the caller applied for themselves (four-eyes
refuses it), withdraw one someone else applied for (only the applicant withdraws).
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.roles import Role
from tests.conftest import World
from tests.matrix.enrollment_review import QINBI, TUNLI, XIAODIAN_VILLAGE
from tests.refunds.backpay_support import make_back_payment


def _region(world: World, user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return TUNLI
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else QINBI


def _applied_by_caller(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": make_back_payment(_region(world, user, own), user).pk}


def _applied_by_someone_else(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    other = world.users["clerk_a" if user.username != "clerk_a" else "insurance_a"]
    return {"pk": make_back_payment(_region(world, user, own), other).pk}


def _evidence_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from django.core.files.base import ContentFile

    from refunds.models import BackPaymentEvidence
    from tests.matrix.enrollment_review import PDF_BYTES

    application = make_back_payment(_region(world, user, own), world.users["clerk_a"])
    item = BackPaymentEvidence(
        application=application, name="务工证明.pdf", uploaded_by=world.users["clerk_a"]
    )
    item.file.save("work.pdf", ContentFile(PDF_BYTES), save=False)
    item.save()
    return {"pk": item.pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "refunds:backpay-detail": _applied_by_caller,
    "refunds:backpay-evidence": _evidence_pk,
    "back-payment-detail": _applied_by_caller,
    "back-payment-approve": _applied_by_caller,
    "back-payment-reject": _applied_by_caller,
    "back-payment-withdraw": _applied_by_someone_else,
}
