"""A refund for paying twice and tax's over-collection on the same second payment, at the same
moment, on real connections (threads, real commits): both lock the year's assessment first and read
what went back of the payment only then, so whichever comes second sees what the first committed.
Exactly one gets through, and what leaves the fund of the second payment never exceeds its 400
yuan. The person paid 2027 twice (tax's payments 901, kept by the year, and 902); the races are
played in a fixed order (tests/refunds/race_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from refunds import services as insurance
from refunds.models import OvercollectionRefund, RefundApplication
from tests.conftest import World
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    SECOND,
    apply_paid_twice,
    given_back_of_second,
    paid_twice,
    record,
    tax_request,
)
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _apply(world: World, person) -> str:  # type: ignore[no-untyped-def]
    try:
        application = apply_paid_twice(world, person)
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return f"{application.status} {application.amount_fen}: {application.rule}"


def _record(message_id: int) -> str:
    record(message_id)
    return "recorded"


def test_given_a_paid_twice_application_holding_the_year_when_tax_request_on_the_second_payment_is_recorded_then_refused(
    transactional_world,
):
    world = transactional_world
    person = paid_twice()
    message_id = tax_request(person, SECOND, 40000)
    held = Held(insurance._paid_assessment)

    with mock.patch.object(insurance, "_paid_assessment", held):
        applying, recording, waited = race(lambda: _apply(world, person), lambda: _record(message_id), held)

    assert (applying, recording, waited) == (
        "submitted 40000: refunds.reasons.paid_twice",
        "recorded",
        True,
    )
    assert OvercollectionRefund.objects.get(payment_id=SECOND).status == "refused"
    assert RefundApplication.objects.get(person=person).given_back_deposit.payment_id == SECOND
    assert given_back_of_second(person) == 40000


def test_given_tax_request_on_the_second_payment_being_recorded_when_paid_twice_is_applied_for_then_closed_by_the_rules(
    transactional_world,
):
    world = transactional_world
    person = paid_twice()
    message_id = tax_request(person, SECOND, 40000)
    held = Held(insurance.overcollection_status_push)

    with mock.patch.object(insurance, "overcollection_status_push", held):
        recording, applying, waited = race(lambda: _record(message_id), lambda: _apply(world, person), held)

    assert (recording, waited) == ("recorded", True)
    assert applying == "rejected 40000: refunds.reasons.paid_twice.given_back"
    assert OvercollectionRefund.objects.get(payment_id=SECOND).status == "received"
    assert RefundApplication.objects.get(person=person).rule_reason == (
        "Not refundable as paid twice: the payments beyond the one the year keeps (receipt 7-2026-000902, "
        "400.00 yuan paid) were already given back or are being given back (0.00 yuan by a refund for "
        "paying twice, 400.00 yuan as over-collections tax reported); no duplicate payment is left to refund"
    )
    assert given_back_of_second(person) == 40000
