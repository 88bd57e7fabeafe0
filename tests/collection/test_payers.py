"""Tax's ledger of payers, filled only from insurance's enrollment messages."""

from __future__ import annotations

import pytest
from django.db import transaction

from collection.handlers import (
    apply_enrollment_changed,
    apply_enrollment_registered,
    apply_enrollment_terminated,
    apply_refund_monthly_details,
)
from collection.models import Payer, RefundPaid
from sharing import services
from sharing.handlers import Batch

pytestmark = pytest.mark.django_db

PERSON = "141002198001010011"
FIELDS = {
    "person_id": PERSON,
    "region_code": "141002100201",
    "enrollment_id": 7,
    "person_name": "张三",
    "category": "adult",
}


def send(topic: str, **extra) -> int:
    with transaction.atomic():
        return services.message_send(topic=topic, payload={**FIELDS, **extra})


def test_given_a_registration_when_applied_then_the_person_is_a_payer():
    message = send("enrollment.registered", enrolled_on="2026-09-01")

    apply_enrollment_registered(Batch(topic="enrollment.registered", ids=[message]))

    payer = Payer.objects.get()
    assert (payer.person_id, payer.name, payer.region_code, payer.status, payer.enrolled_on.isoformat()) == (
        PERSON, "张三", "141002100201", "normal", "2026-09-01",
    )  # fmt: skip


def test_given_a_suspension_then_a_termination_then_the_payer_ends_terminated_and_keeps_the_enrollment_date():
    registered = send("enrollment.registered", enrolled_on="2026-09-01")
    changed = send("enrollment.changed", status="suspended", changed_on="2026-10-01")
    terminated = send("enrollment.terminated", terminated_on="2026-11-01", reason="死亡")

    apply_enrollment_registered(Batch(topic="enrollment.registered", ids=[registered]))
    apply_enrollment_changed(Batch(topic="enrollment.changed", ids=[changed]))
    apply_enrollment_terminated(Batch(topic="enrollment.terminated", ids=[terminated]))

    payer = Payer.objects.get()
    assert (payer.status, payer.enrolled_on.isoformat()) == ("terminated", "2026-09-01")


def test_given_an_older_message_applied_late_then_it_changes_nothing():
    registered = send("enrollment.registered", enrolled_on="2026-09-01")
    changed = send("enrollment.changed", status="suspended", changed_on="2026-10-01", person_name="张叁")
    apply_enrollment_changed(Batch(topic="enrollment.changed", ids=[changed]))

    apply_enrollment_registered(Batch(topic="enrollment.registered", ids=[registered]))

    payer = Payer.objects.get()
    assert (payer.status, payer.name) == ("suspended", "张叁")


def test_given_a_refund_reported_twice_when_applied_then_tax_records_it_once():
    payload = {
        "refund_id": 41, "person_id": PERSON, "region_code": "141002100201", "month": "2026-11",
        "amount_fen": 40000, "receipt_number": "0004-2026-000001", "paid_on": "2026-11-27", "kind": "application",
    }  # fmt: skip
    with transaction.atomic():
        first = services.message_send(topic="refund.monthly_details", payload=payload)
        again = services.message_send(topic="refund.monthly_details", payload=payload)

    apply_refund_monthly_details(Batch(topic="refund.monthly_details", ids=[first, again]))

    (refund,) = RefundPaid.objects.all()
    assert (refund.refund_id, refund.person_id, refund.amount_fen, refund.receipt_number, str(refund.paid_on)) == (
        41, PERSON, 40000, "0004-2026-000001", "2026-11-27",
    )  # fmt: skip
