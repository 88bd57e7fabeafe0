"""A second payment is given back once: a refund for paying twice names the deposit it gives back
(the newest one beyond the one the year keeps), and what goes back of that deposit — the refund
plus tax's over-collections on its payment — never exceeds it, whichever comes first.

The person paid 400 yuan for 2027 twice: tax's payments 901 (the one the year keeps) and 902, both
on insurance's ledger as tax's deposit messages left them. Linfen 2027 rules
(tests/refunds/support.py): paying twice is refundable with two deposits."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.roles import Role
from enrollment.models import Assessment
from refunds import services
from refunds.models import OvercollectionRefund, RefundApplication, WorkflowEvent
from refunds.services import TransitionConflictError
from sharing.models import OutboxMessage
from tests.refunds.overcollection_support import no_nudge  # noqa: F401 - fixture
from tests.refunds.paid_twice_support import (
    KEPT,
    SECOND,
    TODAY,
    apply_paid_twice,
    given_back_of_second,
    paid_twice,
    pay_out,
    receipt,
    scope_of,
    tax_reports,
    tax_reverses,
)
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


def test_given_a_paid_twice_application_then_it_names_the_second_payment(world):
    person = paid_twice()

    application = apply_paid_twice(world, person)

    assert (application.status, application.amount_fen) == ("submitted", 40000)
    assert application.given_back_deposit.payment_id == SECOND
    assert application.given_back_deposit.receipt_number == "7-2026-000902"


def test_given_the_second_payment_refunded_as_paid_twice_when_tax_reports_it_over_collected_then_refused(
    world,
):
    person = paid_twice()
    pay_out(world, apply_paid_twice(world, person))

    request = tax_reports(person, SECOND, 40000)

    assert request.status == "refused"
    assert request.refusal == (
        "本次申请退还400.00元，但该笔缴费（票据号7-2026-000902，所缴400.00元）只剩0.00元可退（已退或正在退还："
        "重复缴费退费400.00元，多征退费0.00元）。请按不超过可退金额重新申报。"
    )
    (pushed,) = OutboxMessage.objects.filter(topic="refund.overcollection_status")
    assert (pushed.payload["request_id"], pushed.payload["status"], pushed.payload["note"]) == (
        7001,
        "refused",
        request.refusal,
    )
    assert given_back_of_second(person) == 40000


def test_given_a_paid_twice_application_still_open_when_tax_reports_part_of_it_over_collected_then_refused(
    world,
):
    person = paid_twice()
    apply_paid_twice(world, person)

    request = tax_reports(person, SECOND, 10000)

    assert (request.status, request.refusal) == (
        "refused",
        "本次申请退还100.00元，但该笔缴费（票据号7-2026-000902，所缴400.00元）只剩0.00元可退（已退或正在退还："
        "重复缴费退费400.00元，多征退费0.00元）。请按不超过可退金额重新申报。",
    )
    assert given_back_of_second(person) == 40000


CLOSED_SECOND_OVER_COLLECTED = (
    "不予退费：本年度保留的那笔之外的缴费（票据号7-2026-000902，所缴400.00元）均已退还或正在退还（重复缴费退费"
    "0.00元，多征退费400.00元），没有可退的重复缴费"
)


def test_given_the_second_payment_over_collected_whole_when_paid_twice_is_applied_for_then_recorded_and_closed_by_the_rules(
    world,
):
    person = paid_twice()
    assert tax_reports(person, SECOND, 40000).status == "received"

    application = apply_paid_twice(world, person)

    application.refresh_from_db()
    assert (application.status, application.refundable, application.amount_fen) == ("rejected", False, 40000)
    assert (application.rule, application.given_back_deposit) == (
        "refunds.reasons.paid_twice.given_back",
        None,
    )
    assert (application.rule_reason, application.decision_note, application.decided_by) == (
        CLOSED_SECOND_OVER_COLLECTED,
        CLOSED_SECOND_OVER_COLLECTED,
        None,
    )
    assert list(
        WorkflowEvent.objects.filter(kind="refund", object_id=application.pk)
        .order_by("at", "pk")
        .values_list("action", "to_state", "actor")
    ) == [("apply", "submitted", world.users["clerk_a"].pk), ("rule_reject", "rejected", None)]
    assert given_back_of_second(person) == 40000


def test_given_the_second_payment_over_collected_whole_when_paid_twice_is_posted_to_the_api_then_201_already_rejected(
    world, client
):
    person = paid_twice()
    assert tax_reports(person, SECOND, 40000).status == "received"
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/api/refunds/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "paid_twice", "event_on": "2026-10-12"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )

    body = response.json()
    assert response.status_code == 201
    assert (body["status"], body["refundable"], body["rule"], body["given_back_receipt"]) == (
        "rejected",
        False,
        "refunds.reasons.paid_twice.given_back",
        None,
    )
    assert body["rule_reason"] == (
        "Not refundable as paid twice: the payments beyond the one the year keeps (receipt 7-2026-000902, "
        "400.00 yuan paid) were already given back or are being given back (0.00 yuan by a refund for "
        "paying twice, 400.00 yuan as over-collections tax reported); no duplicate payment is left to refund"
    )
    assert [e["action"] for e in body["timeline"]] == ["apply", "rule_reject"]


def test_given_the_second_payment_over_collected_whole_when_the_clerk_applies_on_the_page_then_the_reason_is_shown_on_the_spot(
    world, client
):
    person = paid_twice()
    assert tax_reports(person, SECOND, 40000).status == "received"
    client.force_login(world.users["clerk_a"])

    response = client.post(
        "/refunds/apply/",
        {"person": person.pk, "insurance_year": YEAR, "reason": "paid_twice", "event_on": "2026-10-12"},
    )

    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert 'data-refundable="no"' in html and 'data-status="rejected"' in html
    assert f"不可退费，申请已办结：{CLOSED_SECOND_OVER_COLLECTED}" in html  # the message on the spot
    assert f'data-testid="engine-reason">{CLOSED_SECOND_OVER_COLLECTED}<' in html
    assert 'data-rule="refunds.reasons.paid_twice.given_back"' in html
    assert ">重复缴费：只退还本年度保留的一笔之外、尚未退还（含税务部门申报的多征退费）的入库缴费<" in html


def test_given_part_of_the_second_payment_over_collected_when_paid_twice_is_applied_for_then_only_the_rest(
    world,
):
    person = paid_twice()
    assert tax_reports(person, SECOND, 15000).status == "received"

    application = apply_paid_twice(world, person)
    pay_out(world, application)

    application.refresh_from_db()
    assert (application.status, application.amount_fen, application.given_back_deposit.payment_id) == (
        "paid_out",
        25000,
        SECOND,
    )
    assert given_back_of_second(person) == 40000


def test_given_an_over_collection_on_the_kept_payment_when_paid_twice_is_applied_for_then_the_second_goes_back_whole(
    world,
):
    person = paid_twice()
    assert tax_reports(person, KEPT, 10000).status == "received"

    application = apply_paid_twice(world, person)
    pay_out(world, application)

    application.refresh_from_db()
    assert (application.status, application.amount_fen, application.given_back_deposit.payment_id) == (
        "paid_out",
        40000,
        SECOND,
    )
    (details,) = OutboxMessage.objects.filter(topic="refund.monthly_details")
    assert (details.payload["amount_fen"], details.payload["receipt_number"]) == (40000, "7-2026-000902")


def test_given_an_application_stored_before_deposits_were_named_when_the_second_was_over_collected_then_approval_is_refused(
    world,
):
    person = paid_twice()
    application = apply_paid_twice(world, person)
    RefundApplication.objects.filter(pk=application.pk).update(given_back_deposit=None)  # as stored before
    OvercollectionRefund.objects.create(  # as recorded before: nothing then tied the two together
        request_id=7002, payment_id=SECOND, person_id=person.id_number, region_code=person.region_code,
        insurance_year=YEAR, amount_fen=40000, receipt_number=receipt(SECOND), reason="重复收费",
        requested_on=TODAY, received_at=application.applied_at, source_message_id=7002, status="received",
    )  # fmt: skip

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_approve(scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk)

    assert str(refused.value.args[0]) == (
        "No payment beyond the one the year keeps is left to give back as paid twice (given back or being "
        "given back since: a refund for paying twice, an over-collection tax reported, or tax reversed it). "
        "Reject it."
    )
    assert RefundApplication.objects.get(pk=application.pk).status == "submitted"


def test_given_a_paid_twice_application_when_tax_reverses_the_second_payment_then_approval_is_refused(world):
    person = paid_twice()
    application = apply_paid_twice(world, person)
    tax_reverses(person, SECOND, reason="重复收费，冲正")

    with translation.override("en"), pytest.raises(TransitionConflictError) as refused:
        services.refund_approve(scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk)

    assert str(refused.value.args[0]) == (
        "Tax reversed the payment this refund gives back (receipt 7-2026-000902) on 2026-11-21; "
        "the application cannot go ahead: reject it."
    )
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "paid"
