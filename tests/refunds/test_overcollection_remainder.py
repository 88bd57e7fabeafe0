"""A payment is given back once, whichever way the money goes: an over-collection tax reports is
recorded only while it fits in what is left of the person's year payment at insurance (the 400
yuan paid, less refund applications open or paid out and over-collections recorded). One that
does not fit is refused whole, with the amounts, never enters a fund-usage plan, and tax sees it
refused with the reason. Linfen 2027 rules (tests/refunds/support.py): 400 yuan paid, an agency's
error always refundable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from accounts.roles import Role
from collection import selectors as tax_selectors
from collection import services as tax
from collection.models import OvercollectionRequest, Payment
from enrollment.models import Person
from refunds import services as insurance
from refunds.handlers import record_overcollection_requests
from refunds.models import FundPlanLine, OvercollectionRefund, RefundApplication
from refunds.selectors import overcollection_pool
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from sharing.services import message_send
from tests.conftest import World
from tests.refunds.overcollection_support import (  # noqa: F401 - fixture
    TUNLI,
    deliver,
    no_nudge,
    scope,
    tax_payment,
    this_month,
)
from tests.refunds.support import YEAR

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]

TODAY = dt.date(2026, 11, 20)


def insured(payment: Payment) -> Person:
    """Insurance's person for tax's payment (``tax_payment`` enrols, assesses and pays the year)."""
    return Person.objects.get(id_number=payment.person_id)


def report(world: World, payment: Payment, amount_fen: int) -> OvercollectionRequest:
    return tax.overcollection_request(
        scope=scope(world, Role.TAX_STAFF),
        receipt=payment.receipt,
        amount_fen=amount_fen,
        reason="wrong_amount",
    )


def apply(world: World, person: Person) -> RefundApplication:
    """A village clerk applies for the person's 2027 contribution (an agency's error: refundable)."""
    return insurance.refund_apply(
        scope=scope(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="agency_error", event_on=dt.date(2026, 10, 12), today=TODAY,
    )  # fmt: skip


def paid_out(world: World, person: Person) -> RefundApplication:
    """Applied for, approved and paid out by insurance; the payout's report to tax not delivered yet."""
    application = apply(world, person)
    staff = scope(world, Role.INSURANCE_STAFF)
    insurance.refund_approve(scope=staff, application_id=application.pk)
    return insurance.refund_pay_out(scope=staff, application_id=application.pk, bank_reference="BANK-1")


def paid_out_directly(world: World, person: Person, amount_fen: int) -> RefundApplication:
    """A refund application of ``amount_fen`` paid out, written straight to the table (the rules
    always apply for the whole remainder; this is a part of it, as an earlier policy might have)."""
    application = apply(world, person)
    RefundApplication.objects.filter(pk=application.pk).update(
        amount_fen=amount_fen, status="paid_out", decided_by=world.users["insurance_a"],
        decided_at=timezone.now(), paid_out_by=world.users["insurance_a"], paid_out_at=timezone.now(),
        bank_reference="BANK-7",
    )  # fmt: skip
    return RefundApplication.objects.get(pk=application.pk)


def refunds_of(payment: Payment) -> list[tuple[int, str, str]]:
    return list(
        OvercollectionRefund.objects.filter(payment_id=payment.pk)
        .order_by("request_id")
        .values_list("amount_fen", "status", "refusal")
    )


def given_back_fen(person: Person) -> int:
    """What left the fund, or is on its way out, for the person's 2027 payment."""
    by_application = sum(
        RefundApplication.objects.filter(
            person=person, status__in=("submitted", "approved", "paid_out")
        ).values_list("amount_fen", flat=True)
    )
    return by_application + sum(
        OvercollectionRefund.objects.filter(person_id=person.id_number)
        .exclude(status="refused")
        .values_list("amount_fen", flat=True)
    )


def refusal(amount: str, left: str, applications: str, overcollections: str = "0.00") -> str:
    return (
        f"本次申请退还{amount}元，但该笔缴费（2027年度所缴400.00元）只剩{left}元可退（已退或正在退还："
        f"退费申请{applications}元，多征退费{overcollections}元）。请按不超过可退金额重新申报。"
    )


# --- (a) the race: insurance paid the year back, tax did not know yet ------------------------


def test_given_the_year_refunded_by_application_when_tax_reports_the_whole_payment_then_it_is_refused(world):
    payment = tax_payment(world, amount_fen=40000)
    person = insured(payment)
    paid_out(world, person)  # its report to tax still on the way: tax's own cap does not see it

    request = report(world, payment, 40000)
    deliver()

    reason = refusal("400.00", "0.00", "400.00")
    assert refunds_of(payment) == [(40000, "refused", reason)]
    assert OvercollectionRefund.objects.get(payment_id=payment.pk).plan_id is None
    request.refresh_from_db()
    assert (request.status, request.status_note) == ("refused", reason)
    assert list(request.timeline.values_list("status", "note")) == [("requested", ""), ("refused", reason)]
    assert given_back_fen(person) == 40000


def test_given_a_refused_request_when_the_month_is_planned_then_the_plan_leaves_it_out(world):
    refused_payment = tax_payment(world)
    paid_out(world, insured(refused_payment))
    report(world, refused_payment, 40000)
    report(world, tax_payment(world), 2500)
    deliver()

    pool = overcollection_pool(scope=scope(world, Role.INSURANCE_STAFF))
    plan = insurance.fund_plan_prepare(
        scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
    )

    assert [(p.county_code, p.count, p.amount_fen) for p in pool] == [("141002", 1, 2500)]
    assert (plan.refund_count, plan.amount_fen) == (1, 2500)
    assert list(FundPlanLine.objects.filter(plan=plan).values_list("amount_fen", flat=True)) == [2500]
    assert refunds_of(refused_payment)[0][1] == "refused"
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        insurance.fund_plan_gather(scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk)
    assert refused.value.messages == [
        f"No over-collection refund of this county requested up to {this_month()} is waiting for a plan."
    ]


# --- (b) within what is left: recorded as before ---------------------------------------------


def test_given_400_paid_and_nothing_given_back_when_tax_reports_100_then_it_waits_in_the_pool(world):
    payment = tax_payment(world, amount_fen=40000)

    request = report(world, payment, 10000)
    deliver()

    assert refunds_of(payment) == [(10000, "received", "")]
    request.refresh_from_db()
    assert (request.status, request.status_note) == ("received", "")


# --- (c) part given back: what is left, and no more ------------------------------------------


def test_given_300_refunded_of_400_when_tax_reports_150_then_refused_and_100_then_received(world):
    payment = tax_payment(world, amount_fen=40000)
    person = insured(payment)
    paid_out_directly(world, person, 30000)

    first = report(world, payment, 15000)
    deliver()
    second = report(world, payment, 10000)  # tax reports again, with what is left
    deliver()

    assert refunds_of(payment) == [
        (15000, "refused", refusal("150.00", "100.00", "300.00")),
        (10000, "received", ""),
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("refused", "received")
    assert given_back_fen(person) == 40000


def test_given_two_requests_on_one_year_in_one_batch_then_the_earlier_takes_its_share_first(world):
    payment = tax_payment(world, amount_fen=40000)
    ids = [
        message_send(
            topic="refund.overcollection_requested",
            payload={
                "request_id": request_id, "payment_id": payment.pk, "person_id": payment.person_id,
                "region_code": TUNLI, "insurance_year": YEAR, "amount_fen": amount_fen, "reason": "多收",
                "receipt_number": payment.receipt, "reason_code": "wrong_amount", "requested_on": "2026-11-20",
            },
        )
        for request_id, amount_fen in ((9101, 30000), (9102, 20000), (9103, 10000))
    ]  # fmt: skip

    record_overcollection_requests(Batch(topic="refund.overcollection_requested", ids=ids))

    assert refunds_of(payment) == [
        (30000, "received", ""),
        (20000, "refused", refusal("200.00", "100.00", "0.00", "300.00")),
        (10000, "received", ""),
    ]


# --- (e) a redelivery changes nothing ---------------------------------------------------------


def test_given_a_batch_with_a_refused_and_a_received_request_delivered_twice_then_nothing_changes(world):
    refused_payment = tax_payment(world)
    paid_out(world, insured(refused_payment))
    report(world, refused_payment, 40000)
    received_payment = tax_payment(world)
    report(world, received_payment, 500)
    batch = Batch(
        topic="refund.overcollection_requested",
        ids=list(
            OutboxMessage.objects.filter(topic="refund.overcollection_requested").values_list("pk", flat=True)
        ),
    )
    record_overcollection_requests(batch)
    recorded = list(
        OvercollectionRefund.objects.order_by("pk").values_list("pk", "status", "refusal", "received_at")
    )
    pushes = list(
        OutboxMessage.objects.filter(topic="refund.overcollection_status").values_list("pk", flat=True)
    )

    record_overcollection_requests(batch)

    assert [status for _pk, status, _refusal, _at in recorded] == ["refused", "received"]
    assert (
        list(
            OvercollectionRefund.objects.order_by("pk").values_list("pk", "status", "refusal", "received_at")
        )
        == recorded
    )
    assert (
        list(OutboxMessage.objects.filter(topic="refund.overcollection_status").values_list("pk", flat=True))
        == pushes
    )
    assert sorted(
        OutboxMessage.objects.filter(pk__in=pushes).values_list("payload__status", "payload__amount_fen")
    ) == [("received", 500), ("refused", 40000)]


# --- (f) a refused request gave nothing back -------------------------------------------------


def test_given_a_refused_request_when_a_later_application_is_made_then_it_is_for_the_whole_payment(world):
    payment = tax_payment(world, amount_fen=40000)
    person = insured(payment)
    open_one = apply(world, person)  # the year is being given back: no room for tax's request
    report(world, payment, 40000)
    deliver()
    insurance.refund_reject(
        scope=scope(world, Role.INSURANCE_STAFF), application_id=open_one.pk, reason="材料不全"
    )

    later = apply(world, person)

    assert refunds_of(payment) == [(40000, "refused", refusal("400.00", "0.00", "400.00"))]
    assert (later.amount_fen, later.status) == (40000, "submitted")


def test_given_a_refused_request_then_tax_may_report_again_on_the_payment(world):
    payment = tax_payment(world)
    apply(world, insured(payment))
    first = report(world, payment, 40000)
    deliver()

    second = report(world, payment, 40000)

    first.refresh_from_db()
    assert (first.status, second.status) == ("refused", "requested")
    assert list(payment.overcollection_requests.order_by("pk").values_list("status", flat=True)) == [
        "refused",
        "requested",
    ]


def test_given_a_refused_request_then_tax_still_certifies_and_may_reverse_the_whole_payment(world):
    payment = tax_payment(world)
    apply(world, insured(payment))
    report(world, payment, 40000)
    deliver()

    payment = Payment.objects.get(pk=payment.pk)

    assert OvercollectionRequest.objects.get(payment=payment).status == "refused"
    assert (
        tax_selectors.certificate_amount_fen(payment=payment),
        tax_selectors.reversal_refusal(payment=payment),
    ) == (
        40000,
        None,
    )


# --- insurance holds no payment for the year --------------------------------------------------


def test_given_insurance_holds_no_payment_for_the_year_when_tax_reports_then_refused_saying_so(world):
    payment = tax_payment(world, insured=False)

    request = report(world, payment, 10000)
    deliver()

    reason = (
        "医保局没有该参保人2027年度的缴费记录（税务的入库信息尚未到达，或该笔缴费已冲正），无法退费。"
        "请待医保局收到该笔缴费后重新申报。"
    )
    assert refunds_of(payment) == [(10000, "refused", reason)]
    request.refresh_from_db()
    assert (request.status, request.status_note) == ("refused", reason)


# --- the pages --------------------------------------------------------------------------------


def test_given_a_refused_request_then_both_bureaus_pages_show_it_refused_with_why(world, client):
    payment = tax_payment(world)
    paid_out(world, insured(payment))
    report(world, payment, 40000)
    deliver()
    reason = refusal("400.00", "0.00", "400.00")

    client.force_login(world.users["tax_a"])
    tax_page = client.get("/collection/overcollections/?status=refused").content.decode()
    client.force_login(world.users["insurance_a"])
    insurance_page = client.get("/refunds/overcollections/?status=refused").content.decode()

    assert 'data-status="refused"' in tax_page and f'data-testid="status-note">{reason}<' in tax_page
    assert "医保局不予受理（见说明）" in tax_page
    assert 'data-status="refused"' in insurance_page and f'data-testid="refusal">{reason}<' in insurance_page
    assert "不予受理：超出该笔缴费剩余可退金额" in insurance_page
