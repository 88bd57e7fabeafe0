"""Tax's deposit record of a second payment and tax's over-collection request on it reach insurance
at the same moment, on real connections (threads, real commits): the deposit handler locks the
year's assessment before it writes anything, as the request's recording does, so whichever comes
second sees what the first committed. What goes back of the 250 yuan of payment 902 never exceeds
them. The person paid 2027 once before (tax's payment 901, kept by the year); the races are played
in a fixed order (tests/refunds/race_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from django.utils import translation

from enrollment import handlers as insurance_handlers
from refunds import services as insurance
from refunds.models import OvercollectionRefund
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    SECOND,
    deposit_arrives,
    deposit_message,
    given_back_of_second,
    paid_once,
    record,
    tax_request,
)
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _record(message_id: int) -> str:
    record(message_id)
    return "recorded"


def _deposit(message_id: int) -> str:
    deposit_arrives(message_id)
    return "deposited"


def test_given_tax_request_being_recorded_against_the_year_when_the_payments_deposit_arrives_then_it_waits_and_refuses_it(
    transactional_world,
):
    person = paid_once()
    request_message = tax_request(person, SECOND, 40000)
    deposit = deposit_message(person, SECOND, 25000)
    held = Held(insurance.overcollection_status_push)

    with mock.patch.object(insurance, "overcollection_status_push", held):
        recording, depositing, waited = race(
            lambda: _record(request_message), lambda: _deposit(deposit), held
        )

    assert (recording, depositing, waited) == ("recorded", "deposited", True)
    request = OvercollectionRefund.objects.get(payment_id=SECOND)
    assert request.status == "refused"
    assert request.refusal.startswith(
        "税务部门这笔缴费（票据号7-2026-000902，所缴250.00元）的入库记录在本申请之后"
    )
    assert given_back_of_second(person) == 0


def test_given_the_payments_deposit_being_recorded_when_tax_request_on_it_arrives_then_it_waits_and_is_checked_against_the_deposit(
    transactional_world,
):
    person = paid_once()
    deposit = deposit_message(person, SECOND, 25000)
    request_message = tax_request(person, SECOND, 40000)
    held = Held(insurance_handlers.assessment_record_deposits)

    with mock.patch.object(insurance_handlers, "assessment_record_deposits", held):
        depositing, recording, waited = race(
            lambda: _deposit(deposit), lambda: _record(request_message), held
        )

    assert (depositing, recording, waited) == ("deposited", "recorded", True)
    request = OvercollectionRefund.objects.get(payment_id=SECOND)
    assert (request.status, request.refusal) == (
        "refused",
        "本次申请退还400.00元，但该笔缴费（票据号7-2026-000902，所缴250.00元）只剩250.00元可退（已退或正在退还："
        "重复缴费退费0.00元，多征退费0.00元）。请按不超过可退金额重新申报。",
    )
    assert given_back_of_second(person) == 0
