"""Access-matrix objects of tax's pages and API: a due item (with its payer), a payment, a
payment with its certificate, and a reversed payment.

``own=True`` puts them in the caller's region, ``own=False`` in another county (太原市 for an
administrator of 临汾市).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import count

from django.utils import timezone

from accounts.roles import Role
from collection.codes import code_new
from collection.models import DueItem, Payer, Payment, PaymentBatch, PaymentCertificate, PaymentStatus
from tests.conftest import World

_numbers = count(1)


def _region(world: World, user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return user.agency.region.code.ljust(12, "0")
    if user.role == Role.ADMINISTRATOR:
        return world.regions["taiyuan"].code.ljust(12, "0")
    other = "hongdong" if user.agency.region.code.startswith("141002") else "yaodu"
    return world.regions[other].code.ljust(12, "0")


def _due_item(world: World, user, own: bool) -> DueItem:  # type: ignore[no-untyped-def]
    number = next(_numbers)
    person_id = f"MATRIX{number:010d}"
    region = _region(world, user, own)
    Payer.objects.create(
        person_id=person_id, name="矩阵", region_code=region, source_message_id=number, sequence=1
    )
    return DueItem.objects.create(
        person_id=person_id, insurance_year=2027, region_code=region, amount_fen=40000,
        source_message_id=number, sequence=1,
    )  # fmt: skip


def _due_item_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": _due_item(world, user, own).pk}


def _payment_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    item = _due_item(world, user, own)
    tax = world.user_for(Role.TAX_STAFF)
    payment = Payment.objects.create(
        due_item=item, person_id=item.person_id, insurance_year=item.insurance_year, region_code=item.region_code,
        amount_fen=item.amount_fen, channel="counter_cash", paid_at=timezone.make_aware(dt.datetime(2026, 11, 20)),
        paid_by="矩阵", agency=tax.agency, collector=tax, receipt_year=2026,
        receipt_number=500_000 + next(_numbers),  # apart from the other factories' receipt numbers
    )  # fmt: skip
    return {"pk": payment.pk}


def _certified_payment_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    kwargs = _payment_pk(world, user, own)
    PaymentCertificate.objects.create(
        payment_id=kwargs["pk"], code=code_new(), masked_name="矩*", issued_by=world.user_for(Role.TAX_STAFF)
    )
    return kwargs


def _reversed_payment_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Issuing a certificate takes nothing but the payment: a reversed one is refused (400), which is
    what the matrix's empty POST expects of a granted role; GET shows the receipt."""
    kwargs = _payment_pk(world, user, own)
    tax = world.user_for(Role.TAX_STAFF)
    Payment.objects.filter(pk=kwargs["pk"]).update(
        status=PaymentStatus.REVERSED, reversal_reason="矩阵", reversed_at=timezone.now(), reversed_by=tax
    )
    return kwargs


OBJECT_KWARGS: dict[str, Callable] = {
    "collection:pay": _due_item_pk,
    "collection:receipt": _payment_pk,
    "collection:reverse": _payment_pk,
    "collection:void-receipt": _payment_pk,
    "collection:certificate-issue": _reversed_payment_pk,
    "collection:certificate": _certified_payment_pk,
    "collection-payment-detail": _payment_pk,
    "collection-payment-reverse": _payment_pk,
    "collection-payment-void-receipt": _payment_pk,
}


def _batch_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    tax = world.user_for(Role.TAX_STAFF)
    batch = PaymentBatch.objects.create(
        kind="village", agency=tax.agency, region_code=_region(world, user, own), unit_name="矩阵村",
        paid_by="矩阵", created_by=tax,
    )  # fmt: skip
    return {"pk": batch.pk}


OBJECT_KWARGS.update(
    {
        "collection:batch": _batch_pk,
        "collection:batch-ledger": _batch_pk,
        "collection:batch-progress": _batch_pk,
        "collection:batch-problems": _batch_pk,
    }
)
