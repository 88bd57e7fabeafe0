"""A refund by application and tax's over-collection on the same year, at the same moment, on real
connections (threads, real commits): both lock the year's assessment first and read what went back
only then, so whichever comes second sees what the first committed. Exactly one gets through, and
what leaves the fund never exceeds the 400 yuan paid.

Each race is played in a fixed order: the first transaction is held, with the lock, at a point
inside it; the second is started and seen waiting for the lock in PostgreSQL; then the first goes
on. Linfen 2027 rules (tests/refunds/support.py): an agency's error is always refundable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.roles import Role
from collection import services as tax
from enrollment.models import Person
from refunds import services as insurance
from refunds.models import OvercollectionRefund, RefundApplication
from refunds.services import TransitionConflictError
from tests.conftest import World
from tests.refunds.overcollection_support import deliver, no_nudge, scope, tax_payment  # noqa: F401
from tests.refunds.race_support import Held, race
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]

PAID_FEN = 40000


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _person(payment) -> Person:  # type: ignore[no-untyped-def]
    return Person.objects.get(id_number=payment.person_id)


def _apply(world: World, person: Person) -> str:
    try:
        application = insurance.refund_apply(
            scope=scope(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
            reason="agency_error", event_on=dt.date(2026, 10, 12), today=dt.date(2026, 11, 20),
        )  # fmt: skip
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return f"applied {application.amount_fen}"


def _pay_out(world: World, application_id: int) -> str:
    try:
        insurance.refund_pay_out(
            scope=scope(world, Role.INSURANCE_STAFF), application_id=application_id, bank_reference="BANK-1"
        )
    except TransitionConflictError as refused:
        return f"refused: {refused.args[0]}"
    return "paid out"


def _record() -> str:
    deliver()  # the insurance handler records tax's request, in the delivery's transaction
    return "delivered"


def _given_back_fen(person: Person) -> int:
    """What left the fund, or is on its way out, for the person's 2027 payment."""
    applications = RefundApplication.objects.filter(
        person=person, status__in=("submitted", "approved", "paid_out")
    ).values_list("amount_fen", flat=True)
    overcollections = (
        OvercollectionRefund.objects.filter(person_id=person.id_number)
        .exclude(status="refused")
        .values_list("amount_fen", flat=True)
    )
    return sum(applications) + sum(overcollections)


def _approved(world: World, person: Person) -> RefundApplication:
    """The whole payment applied for and approved: waiting for its payout."""
    assert _apply(world, person) == f"applied {PAID_FEN}"
    application = RefundApplication.objects.get(person=person)
    insurance.refund_approve(scope=scope(world, Role.INSURANCE_STAFF), application_id=application.pk)
    return application


def _reported(world: World, payment) -> None:  # type: ignore[no-untyped-def]
    """Tax reports the whole payment as over-collected (it has not heard of insurance's refund)."""
    tax.overcollection_request(
        scope=scope(world, Role.TAX_STAFF),
        receipt=payment.receipt,
        amount_fen=PAID_FEN,
        reason="wrong_amount",
    )


def test_given_a_payout_holding_the_year_when_tax_request_is_recorded_then_it_waits_and_is_refused(
    transactional_world,
):
    world = transactional_world
    payment = tax_payment(world)
    person = _person(payment)
    application = _approved(world, person)
    _reported(world, payment)
    held = Held(insurance._report_to_tax)

    with mock.patch.object(insurance, "_report_to_tax", held):
        paying, recording, waited = race(lambda: _pay_out(world, application.pk), _record, held)

    assert _given_back_fen(person) == PAID_FEN
    assert (paying, recording, waited) == ("paid out", "delivered", True)
    assert OvercollectionRefund.objects.get(payment_id=payment.pk).status == "refused"


def test_given_tax_request_being_recorded_when_the_payout_comes_then_it_waits_and_only_one_gets_through(
    transactional_world,
):
    world = transactional_world
    payment = tax_payment(world)
    person = _person(payment)
    application = _approved(world, person)
    _reported(world, payment)
    held = Held(insurance.overcollection_status_push)

    with mock.patch.object(insurance, "overcollection_status_push", held):
        recording, paying, waited = race(_record, lambda: _pay_out(world, application.pk), held)

    assert _given_back_fen(person) == PAID_FEN
    refund = OvercollectionRefund.objects.get(payment_id=payment.pk)
    assert (recording, paying, waited) == ("delivered", "paid out", True)
    assert (refund.status, RefundApplication.objects.get(pk=application.pk).status) == ("refused", "paid_out")


def test_given_tax_request_being_recorded_when_a_refund_is_applied_for_then_it_waits_and_finds_nothing_left(
    transactional_world,
):
    world = transactional_world
    payment = tax_payment(world)
    person = _person(payment)
    _reported(world, payment)
    held = Held(insurance.overcollection_status_push)

    with mock.patch.object(insurance, "overcollection_status_push", held):
        recording, applying, waited = race(_record, lambda: _apply(world, person), held)

    assert _given_back_fen(person) == PAID_FEN
    assert (recording, waited) == ("delivered", True)
    assert applying == (
        f"refused: Nothing is left to refund of {person.name}'s contribution for {YEAR}: the 400.00 yuan paid "
        "were already given back or are being given back (earlier refunds, over-collections tax reported)."
    )
    assert OvercollectionRefund.objects.get(payment_id=payment.pk).status == "received"
    assert not RefundApplication.objects.filter(person=person).exists()


def test_given_an_application_holding_the_year_when_tax_request_is_recorded_then_it_waits_and_is_refused(
    transactional_world,
):
    world = transactional_world
    payment = tax_payment(world)
    person = _person(payment)
    _reported(world, payment)
    held = Held(insurance._paid_assessment)

    with mock.patch.object(insurance, "_paid_assessment", held):
        applying, recording, waited = race(lambda: _apply(world, person), _record, held)

    assert _given_back_fen(person) == PAID_FEN
    assert (applying, recording, waited) == (f"applied {PAID_FEN}", "delivered", True)
    assert OvercollectionRefund.objects.get(payment_id=payment.pk).status == "refused"
