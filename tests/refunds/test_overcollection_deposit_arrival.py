"""Tax's over-collection request on a payment whose deposit record (入库) had not reached insurance
yet is checked, when recorded, against the year's payment (insurance cannot tell it apart). When that
deposit arrives and is a second payment of the year, the request counts against it from then on, so
the deposit handler checks it again, under the year's lock: what goes back of a deposit (a refund for
paying twice plus tax's over-collections on it) never exceeds it.

The person paid 400 yuan for 2027 (tax's payment 901, the one the year keeps); tax reports an
over-collection on its payment 902 before 902's deposit message is delivered. Linfen 2027 rules
(tests/refunds/support.py): an agency's error is always refundable."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.roles import Role
from enrollment.models import Assessment, DepositRecord
from refunds import services
from refunds.models import OvercollectionRefund, RefundApplication
from sharing.models import OutboxMessage
from tests.conftest import World
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    KEPT,
    SECOND,
    TODAY,
    deposit_arrives,
    deposit_message,
    given_back_of_second,
    paid_once,
    receipt,
    scope_of,
    tax_reports,
)
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


def arrives(person, amount_fen: int) -> None:  # type: ignore[no-untyped-def]
    """Tax's deposit record of payment 902 reaches insurance."""
    deposit_arrives(deposit_message(person, SECOND, amount_fen))
    assert DepositRecord.objects.get(payment_id=SECOND).amount_fen == amount_fen


def pushed(request_id: int) -> list[tuple[str, str]]:
    """What insurance told tax of the request, in order: (status, note)."""
    return [
        (m.payload["status"], m.payload.get("note", ""))
        for m in OutboxMessage.objects.filter(
            topic="refund.overcollection_status", payload__request_id=request_id
        ).order_by("id")
    ]


def apply_for_agency_error(world: World, person) -> RefundApplication:  # type: ignore[no-untyped-def]
    return services.refund_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="agency_error", event_on=dt.date(2026, 10, 12), today=TODAY,
    )  # fmt: skip


REFUSED_400_OF_250 = (
    "税务部门这笔缴费（票据号7-2026-000902，所缴250.00元）的入库记录在本申请之后才到达医保局：本次申请退还"
    "400.00元，但该笔缴费只剩250.00元可退（已退或正在退还：重复缴费退费0.00元，多征退费0.00元）。"
    "请按不超过可退金额重新申报。"
)


def test_given_400_requested_on_a_payment_not_yet_on_insurances_ledger_when_its_deposit_of_250_arrives_then_refused(
    world,
):
    person = paid_once()
    request = tax_reports(person, SECOND, 40000)
    assert request.status == "received"  # checked against the year's 400 yuan, all of it left

    arrives(person, 25000)

    request.refresh_from_db()
    assert (request.status, request.refusal, request.plan_id) == ("refused", REFUSED_400_OF_250, None)
    assert pushed(7001) == [("received", ""), ("refused", REFUSED_400_OF_250)]
    assert given_back_of_second(person) == 0
    assert Assessment.objects.get(person=person, insurance_year=YEAR).deposit_reference == receipt(KEPT)


def test_given_two_requests_on_the_payment_when_its_deposit_of_250_arrives_then_the_earlier_stays_and_the_later_is_refused(
    world,
):
    person = paid_once()
    first = tax_reports(person, SECOND, 15000, request_id=7001)
    later = tax_reports(person, SECOND, 20000, request_id=7002)
    assert (first.status, later.status) == ("received", "received")

    arrives(person, 25000)

    first.refresh_from_db()
    later.refresh_from_db()
    assert (first.status, first.refusal) == ("received", "")
    assert (later.status, later.refusal) == (
        "refused",
        "税务部门这笔缴费（票据号7-2026-000902，所缴250.00元）的入库记录在本申请之后才到达医保局：本次申请退还"
        "200.00元，但该笔缴费只剩100.00元可退（已退或正在退还：重复缴费退费0.00元，多征退费150.00元）。"
        "请按不超过可退金额重新申报。",
    )
    assert pushed(7001) == [("received", "")]
    assert [status for status, _note in pushed(7002)] == ["received", "refused"]
    assert given_back_of_second(person) == 15000


def test_given_400_requested_on_the_payment_when_its_deposit_of_400_arrives_then_it_stays_and_the_year_is_whole_again(
    world,
):
    person = paid_once()
    request = tax_reports(person, SECOND, 40000)

    arrives(person, 40000)
    application = apply_for_agency_error(world, person)

    request.refresh_from_db()
    assert (request.status, request.refusal) == ("received", "")
    assert pushed(7001) == [("received", "")]
    assert (application.status, application.amount_fen) == ("submitted", 40000)


def test_given_400_requested_and_already_in_a_plan_when_the_deposit_of_250_arrives_then_planned_still_and_150_taken_from_the_year(
    world,
):
    person = paid_once()
    request = tax_reports(person, SECOND, 40000)
    plan = services.fund_plan_prepare(
        scope=scope_of(world, Role.INSURANCE_STAFF), county_code="141002", period="2026-11", today=TODAY
    )

    arrives(person, 25000)
    application = apply_for_agency_error(world, person)

    request.refresh_from_db()
    assert (request.status, request.plan_id, request.refusal) == ("planned", plan.pk, "")
    assert [status for status, _note in pushed(7001)] == ["received", "planned"]
    # 250 yuan of it go back of payment 902, the other 150 of the year's 400: 250 are left of those.
    assert (application.status, application.amount_fen) == ("submitted", 25000)
    assert OvercollectionRefund.objects.filter(status="refused").count() == 0
