"""Money given back once: what was refunded of a year's payment (by application or as tax's
over-collection) is not refunded again, and approval and payout go ahead only while the year is
still paid by the payment applied for. Linfen 2027 rules (tests/refunds/support.py): 400 yuan paid,
an agency's error always refundable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services as tax_services
from collection.models import RefundPaid
from enrollment.assessment import assessment_record_reversals
from enrollment.models import Assessment, DepositRecord
from refunds import services
from refunds.models import OvercollectionRefund, RefundApplication
from refunds.services import TransitionConflictError
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.overcollection_support import tax_payment
from tests.refunds.support import AMOUNT, YEAR, make_refund, paid_person

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)


def scope_of(world: World, role: str) -> Scope:
    return Scope.for_user(world.user_for(role, "a"))


def apply(world: World, person, reason: str = "agency_error"):  # type: ignore[no-untyped-def]
    return services.refund_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason=reason, event_on=dt.date(2026, 10, 12), today=TODAY,
    )  # fmt: skip


def approve_and_pay(world: World, application: RefundApplication, reference: str = "BANK-1") -> None:
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference=reference)


def overcollection(person, amount_fen: int, request_id: int = 9001) -> OvercollectionRefund:  # type: ignore[no-untyped-def]
    return OvercollectionRefund.objects.create(
        request_id=request_id, payment_id=request_id, person_id=person.id_number,
        region_code=person.region_code, insurance_year=YEAR, amount_fen=amount_fen, receipt_number="R",
        reason="多收", requested_on=TODAY, received_at=timezone.now(), source_message_id=request_id,
        status="received",
    )  # fmt: skip


def test_given_an_agency_error_refund_paid_out_when_the_same_reason_is_applied_again_then_refused(world):
    person = paid_person(TUNLI)
    approve_and_pay(world, apply(world, person))

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        apply(world, person)

    assert refused.value.message_dict == {
        "insurance_year": [
            f"Nothing is left to refund of {person.name}'s contribution for {YEAR}: the 400.00 yuan paid "
            "were already given back or are being given back (earlier refunds, over-collections tax reported)."
        ]
    }
    assert RefundApplication.objects.filter(person=person).count() == 1
    assert OutboxMessage.objects.filter(topic="refund.monthly_details").count() == 1


def test_given_an_over_collection_tax_reported_when_insurance_applies_then_only_the_remainder(world):
    person = paid_person(TUNLI)
    overcollection(person, 10000)

    application = apply(world, person)

    assert (application.amount_fen, application.paid_fen, application.status) == (30000, AMOUNT, "submitted")


def test_given_an_over_collection_of_the_whole_payment_when_insurance_applies_then_refused(world):
    person = paid_person(TUNLI)
    overcollection(person, AMOUNT)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        apply(world, person)

    assert refused.value.messages[0].startswith(
        f"Nothing is left to refund of {person.name}'s contribution for {YEAR}: the 400.00 yuan paid"
    )
    assert not RefundApplication.objects.filter(person=person).exists()


def test_given_an_approved_refund_when_tax_reports_an_over_collection_then_the_payout_is_refused(world):
    person = paid_person(TUNLI)
    application = apply(world, person)
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    overcollection(person, 5000)

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-2")

    assert str(refused.value.args[0]) == (
        "Of this payment only 350.00 yuan are left to refund now, not 400.00: more was given back since "
        "the application (an over-collection tax reported). Reject it."
    )
    assert RefundApplication.objects.get(pk=application.pk).status == "approved"
    assert not OutboxMessage.objects.filter(topic="refund.monthly_details").exists()


def _tax_reverses(person) -> str:  # type: ignore[no-untyped-def]
    """Tax reverses the year's payment: insurance's ledger marks the deposit, the year owes again."""
    receipt = Assessment.objects.get(person=person, insurance_year=YEAR).deposit_reference
    DepositRecord.objects.filter(id_number=person.id_number, insurance_year=YEAR).update(
        receipt_number=receipt, reversed_on=dt.date(2026, 11, 21), reversal_reason="冲正"
    )
    assert assessment_record_reversals(reversals=[(person.id_number, YEAR, "冲正")]) == 1
    return receipt


def test_given_an_approved_refund_when_tax_reverses_the_payment_then_the_payout_is_refused(world):
    person = paid_person(TUNLI)
    application = apply(world, person)
    insurance = scope_of(world, Role.INSURANCE_STAFF)
    services.refund_approve(scope=insurance, application_id=application.pk)
    receipt = _tax_reverses(person)

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_pay_out(scope=insurance, application_id=application.pk, bank_reference="BANK-3")

    assert str(refused.value.args[0]) == (
        f"Tax reversed this payment (receipt {receipt}) on 2026-11-21; the application cannot go ahead: "
        "reject it."
    )
    assert RefundApplication.objects.get(pk=application.pk).status == "approved"
    assert not OutboxMessage.objects.filter(topic="refund.monthly_details").exists()
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "due"


def test_given_a_submitted_refund_when_tax_reverses_the_payment_then_approval_is_refused(world):
    person = paid_person(TUNLI)
    application = apply(world, person)
    _tax_reverses(person)

    with pytest.raises(TransitionConflictError):
        services.refund_approve(scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk)

    assert RefundApplication.objects.get(pk=application.pk).status == "submitted"


def test_given_a_refund_application_when_stored_for_more_than_its_payment_then_the_database_refuses(world):
    application = make_refund(TUNLI, world.users["clerk_a"])

    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        RefundApplication.objects.filter(pk=application.pk).update(amount_fen=AMOUNT + 1)


def test_given_insurance_refunded_a_payment_when_tax_requests_an_over_collection_on_it_then_refused(world):
    payment = tax_payment(world)
    RefundPaid.objects.create(
        kind="application", refund_id=77, person_id=payment.person_id, region_code=payment.region_code,
        month="2026-11", amount_fen=40000, receipt_number=payment.receipt, paid_on=dt.date(2026, 11, 3),
        source_message_id=77,
    )  # fmt: skip

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        tax_services.overcollection_request(
            scope=Scope.for_user(world.user_for(Role.TAX_STAFF, "a")), receipt=payment.receipt,
            amount_fen=10000, reason="wrong_amount",
        )  # fmt: skip

    assert refused.value.message_dict == {
        "receipt": [
            "The medical insurance bureau paid this contribution back on 2026-11-03 (refund 77); "
            "nothing is left to refund as an over-collection."
        ]
    }
