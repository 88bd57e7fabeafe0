"""Over-collections caused by tax, end to end through the sharing platform: tax reports one on a
receipt; insurance records it, gathers the county's month into a fund-usage plan and submits it;
finance approves (or rejects) and transfers; insurance pays out and tax hears of every step and
gets the month's refund details."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from accounts.roles import Role
from collection import services as tax
from collection.handlers import apply_overcollection_status
from collection.models import OvercollectionRequest, Payment, RefundPaid
from refunds import services as insurance
from refunds.finance import services as finance
from refunds.finance.models import PlanEvent, ReceivedPlan
from refunds.handlers import record_overcollection_requests
from refunds.models import FundPlan, FundPlanLine, OvercollectionRefund, WorkflowEvent
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from tests.refunds.overcollection_support import (  # noqa: F401 - fixture
    QINBI,
    TUNLI,
    deliver,
    no_nudge,
    scope,
    tax_payment,
    this_month,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_nudge")]


def report(world, payment, amount_fen: int = 12000, reason: str = "charged_twice", note: str = ""):
    return tax.overcollection_request(
        scope=scope(world, Role.TAX_STAFF),
        receipt=payment.receipt,
        amount_fen=amount_fen,
        reason=reason,
        note=note,
    )


def planned(world, *amounts: int) -> FundPlan:
    """Requests of the given amounts reported and delivered, gathered into this month's plan."""
    for amount in amounts:
        report(world, tax_payment(world), amount)
    deliver()
    return insurance.fund_plan_prepare(
        scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
    )


def submitted(world, *amounts: int) -> FundPlan:
    plan = planned(world, *amounts)
    insurance.fund_plan_submit(
        scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk, amount_fen=plan.amount_fen
    )
    deliver()
    return plan


# --- tax reports ------------------------------------------------------------------------------


def test_given_a_receipt_when_tax_reports_an_over_collection_then_insurance_is_sent_the_request(world):
    payment = tax_payment(world)

    request = report(world, payment, 12000, "other", note="柜台多收")

    (message,) = OutboxMessage.objects.filter(topic="refund.overcollection_requested")
    assert (message.version, message.sender, message.receiver) == (2, "tax", "insurance")
    assert message.payload == {
        "request_id": request.pk, "payment_id": payment.pk, "person_id": payment.person_id,
        "region_code": TUNLI, "insurance_year": 2027, "amount_fen": 12000, "reason": "其他（见备注）: 柜台多收",
        "receipt_number": payment.receipt, "reason_code": "other",
        "requested_on": timezone.localdate().isoformat(),
    }  # fmt: skip
    assert (request.status, request.receipt_number, list(request.timeline.values_list("status", flat=True))) == (
        "requested", payment.receipt, ["requested"],
    )  # fmt: skip


def test_given_more_than_the_payment_took_then_the_request_is_refused_with_what_is_left(world):
    payment = tax_payment(world, amount_fen=40000)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        report(world, payment, 40001)

    assert refused.value.message_dict == {
        "amount_fen": ["At most 400.00 yuan can be refunded on this receipt (it took 400.00 yuan)."]
    }
    assert not OvercollectionRequest.objects.exists()


def test_given_an_open_request_on_a_payment_then_a_second_one_is_refused(world):
    payment = tax_payment(world)
    report(world, payment, 100)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        report(world, payment, 100)

    assert refused.value.message_dict["receipt"][0].startswith(
        "This payment already has an open over-collection request (Sent to insurance, "
    )


def test_given_a_reason_other_without_a_note_or_an_amount_of_nothing_then_both_are_refused(world):
    payment = tax_payment(world)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        report(world, payment, 0, "other")

    assert refused.value.message_dict == {
        "note": ["Say what happened."], "amount_fen": ["The amount must be more than nothing."],
    }  # fmt: skip


def test_given_a_receipt_of_another_county_then_tax_cannot_report_on_it(world):
    payment = tax_payment(world, region=QINBI, side="b")

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        report(world, payment)

    assert refused.value.message_dict == {"receipt": ["No payment with this receipt in your area."]}


def test_given_a_voided_receipt_number_then_the_refusal_says_it_was_voided_and_names_the_new_receipt(world):
    payment = tax_payment(world)
    Payment.objects.filter(pk=payment.pk).update(receipt_number=900001)  # apart from the new numbers
    old = Payment.objects.get(pk=payment.pk).receipt
    reissued = tax.receipt_void(scope=scope(world, Role.TAX_STAFF), payment_id=payment.pk, reason="打印错位")
    today = timezone.localdate().isoformat()

    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        tax.payment_by_receipt(scope=scope(world, Role.TAX_STAFF), receipt=old)

    assert reissued.receipt != old
    assert refused.value.message_dict == {
        "receipt": [f"票据 {old} 已于 {today} 作废，这笔缴费现用票据号码 {reissued.receipt}。"]
    }


def test_given_a_request_on_a_payment_then_the_payment_can_no_longer_be_reversed(world):
    payment = tax_payment(world)
    report(world, payment, 100)

    with pytest.raises(tax.PaymentConflictError):
        tax.payment_reverse(scope=scope(world, Role.TAX_STAFF), payment_id=payment.pk, reason="录错")


# --- insurance records ------------------------------------------------------------------------


def test_given_a_request_delivered_twice_then_insurance_records_it_once_and_tells_tax_once(world):
    payment = tax_payment(world)
    request = report(world, payment, 12000)
    message_id = OutboxMessage.objects.get(topic="refund.overcollection_requested").pk

    record_overcollection_requests(Batch(topic="refund.overcollection_requested", ids=[message_id]))
    record_overcollection_requests(Batch(topic="refund.overcollection_requested", ids=[message_id]))

    (refund,) = OvercollectionRefund.objects.all()
    assert (refund.request_id, refund.amount_fen, refund.status, refund.plan_id, refund.receipt_number) == (
        request.pk, 12000, "received", None, payment.receipt,
    )  # fmt: skip
    (push,) = OutboxMessage.objects.filter(topic="refund.overcollection_status")
    assert {k: v for k, v in push.payload.items() if k != "at"} == {
        "request_id": request.pk, "region_code": TUNLI, "status": "received", "amount_fen": 12000,
    }  # fmt: skip


def test_given_insurance_received_it_then_tax_sees_the_request_received(world):
    request = report(world, tax_payment(world))

    deliver()

    request.refresh_from_db()
    assert request.status == "received"
    assert list(request.timeline.values_list("status", flat=True)) == ["requested", "received"]


def test_given_a_status_push_delivered_twice_then_tax_records_one_event(world):
    request = report(world, tax_payment(world))
    deliver()
    push = OutboxMessage.objects.get(topic="refund.overcollection_status").pk

    apply_overcollection_status(Batch(topic="refund.overcollection_status", ids=[push]))

    assert request.timeline.count() == 2


# --- the plan ---------------------------------------------------------------------------------


def test_given_requests_in_two_counties_when_the_month_is_planned_then_only_the_countys_are_gathered(world):
    report(world, tax_payment(world), 12000)
    report(world, tax_payment(world), 3050)
    tax.overcollection_request(
        scope=scope(world, Role.TAX_STAFF, "b"), receipt=tax_payment(world, QINBI, side="b").receipt,
        amount_fen=999, reason="wrong_amount",
    )  # fmt: skip
    deliver()

    plan = insurance.fund_plan_prepare(
        scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
    )

    assert (plan.status, plan.refund_count, plan.amount_fen, plan.region_code) == (
        "draft",
        2,
        15050,
        "141002000000",
    )
    assert sorted(FundPlanLine.objects.filter(plan=plan).values_list("amount_fen", flat=True)) == [
        3050,
        12000,
    ]
    assert (
        OvercollectionRefund.objects.filter(plan__isnull=True).values_list("amount_fen", flat=True).get()
        == 999
    )
    deliver()
    assert sorted(OvercollectionRequest.objects.values_list("status", flat=True)) == [
        "planned",
        "planned",
        "received",
    ]


def test_given_nothing_in_the_pool_then_no_plan_is_made(world):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        insurance.fund_plan_prepare(
            scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
        )

    assert refused.value.messages == [
        f"No over-collection refund of 尧都区 requested up to {this_month()} is waiting for a plan."
    ]


def test_given_a_live_plan_for_the_month_then_a_second_is_refused(world):
    planned(world, 100)
    report(world, tax_payment(world), 200)
    deliver()

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        insurance.fund_plan_prepare(
            scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
        )

    plan = FundPlan.objects.get()
    assert refused.value.messages == [
        f"尧都区 already has a draft plan for {this_month()} (No. {plan.pk}, prepared on "
        f"{timezone.localdate():%Y-%m-%d}): open it and add the waiting refunds to it."
    ]


def _next_month() -> tuple[str, str]:
    today = timezone.localdate()
    after = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return f"{after:%Y-%m}", f"{after:%Y-%m-%d}"


def test_given_the_months_plan_went_to_finance_when_a_new_request_is_prepared_then_told_which_plan_takes_it(
    world,
):
    plan = submitted(world, 100)
    report(world, tax_payment(world), 3000)
    deliver()
    next_month, first = _next_month()

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        insurance.fund_plan_prepare(
            scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
        )

    assert refused.value.messages == [
        f"尧都区 already has a plan for {this_month()} (No. {plan.pk}, Submitted to finance, prepared on "
        f"{timezone.localdate():%Y-%m-%d}); it takes no more refunds. The waiting refunds go into the plan "
        f"for {next_month}, which can be prepared from {first}."
    ]


def test_given_a_draft_for_the_month_when_a_new_request_arrives_then_it_is_added_to_the_draft(world):
    plan = planned(world, 100)
    report(world, tax_payment(world), 3000)
    deliver()
    stale_total = plan.amount_fen

    insurance.fund_plan_gather(scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk)

    plan.refresh_from_db()
    assert (plan.status, plan.refund_count, plan.amount_fen) == ("draft", 2, 3100)
    assert sorted(FundPlanLine.objects.filter(plan=plan).values_list("amount_fen", flat=True)) == [100, 3000]
    assert set(OvercollectionRefund.objects.values_list("status", "plan_id")) == {("planned", plan.pk)}
    deliver()
    assert sorted(OvercollectionRequest.objects.values_list("status", flat=True)) == ["planned", "planned"]
    # A page that saw the total before the addition cannot submit it.
    with translation.override("en"), pytest.raises(ValidationError):
        insurance.fund_plan_submit(
            scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk, amount_fen=stale_total
        )
    insurance.fund_plan_submit(scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk, amount_fen=3100)
    plan.refresh_from_db()
    assert plan.status == "submitted"


def test_given_a_submitted_plan_when_refunds_are_added_then_refused_with_where_they_go(world):
    plan = submitted(world, 100)
    report(world, tax_payment(world), 3000)
    deliver()
    next_month, first = _next_month()

    with translation.override("en"), pytest.raises(insurance.TransitionConflictError) as refused:
        insurance.fund_plan_gather(scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk)

    assert refused.value.message == (
        f"Plan No. {plan.pk} for {this_month()} is Submitted to finance: only a draft takes more refunds. "
        f"The waiting refunds go into the plan for {next_month}, which can be prepared from {first}."
    )
    assert OvercollectionRefund.objects.filter(plan__isnull=True).count() == 1


def test_given_a_draft_and_nothing_waiting_when_refunds_are_added_then_refused(world):
    plan = planned(world, 100)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        insurance.fund_plan_gather(scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk)

    assert refused.value.messages == [
        f"No over-collection refund of this county requested up to {this_month()} is waiting for a plan."
    ]
    plan.refresh_from_db()
    assert (plan.refund_count, plan.amount_fen) == (1, 100)


def test_given_a_draft_when_submitted_then_finance_receives_it_with_its_lines(world):
    plan = planned(world, 12000, 3050)

    insurance.fund_plan_submit(
        scope=scope(world, Role.INSURANCE_STAFF), plan_id=plan.pk, amount_fen=plan.amount_fen
    )

    (message,) = OutboxMessage.objects.filter(topic="refund.fund_plan_submitted")
    assert (message.version, message.receiver, message.payload["refund_count"], message.payload["amount_fen"]) == (
        2, "finance", 2, 15050,
    )  # fmt: skip
    assert [line["amount_fen"] for line in message.payload["lines"]] == [12000, 3050]
    assert message.payload["lines"][0]["person_id"].count("*") > 0  # finance sees masked identifiers
    deliver()
    received = ReceivedPlan.objects.get()
    assert (received.plan_id, received.status, received.amount_fen, len(received.lines)) == (
        plan.pk,
        "received",
        15050,
        2,
    )
    assert list(PlanEvent.objects.values_list("action", "to_state")) == [("receive", "received")]


def test_given_a_submitted_plan_then_insurance_cannot_submit_it_again_nor_record_a_payout(world):
    plan = submitted(world, 100)
    insurance_scope = scope(world, Role.INSURANCE_STAFF)

    with translation.override("en"):
        with pytest.raises(insurance.TransitionConflictError) as again:
            insurance.fund_plan_submit(scope=insurance_scope, plan_id=plan.pk, amount_fen=plan.amount_fen)
        with pytest.raises(insurance.TransitionConflictError) as payout:
            insurance.fund_plan_pay_out(scope=insurance_scope, plan_id=plan.pk, bank_reference="B-1")

    assert "“Submit to finance” is not possible now" in again.value.message
    assert "“Record the payout” is not possible now" in payout.value.message


# --- finance ----------------------------------------------------------------------------------


def test_given_finance_rejects_then_the_requests_go_back_to_the_pool_and_tax_sees_the_reason(world):
    plan = submitted(world, 12000, 3050)
    received = ReceivedPlan.objects.get(plan_id=plan.pk)

    finance.plan_reject(scope=scope(world, Role.FINANCE_STAFF), plan_id=received.pk, reason="预算科目不符")
    deliver()

    plan.refresh_from_db()
    assert (plan.status, plan.finance_reason) == ("rejected", "预算科目不符")
    assert set(OvercollectionRefund.objects.values_list("status", "plan_id")) == {("received", None)}
    assert (
        FundPlanLine.objects.filter(plan=plan).count() == 2
    )  # the rejected plan still shows what it asked for
    assert set(OvercollectionRequest.objects.values_list("status", "status_note")) == {
        ("rejected", "预算科目不符")
    }
    # the next plan of the month takes them again
    again = insurance.fund_plan_prepare(
        scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
    )
    assert (again.refund_count, again.amount_fen) == (2, 15050)


def test_given_a_rejection_without_a_reason_then_it_is_refused(world):
    plan = submitted(world, 100)
    received = ReceivedPlan.objects.get(plan_id=plan.pk)

    with translation.override("en"), pytest.raises(ValidationError) as refused:
        finance.plan_reject(scope=scope(world, Role.FINANCE_STAFF), plan_id=received.pk, reason="  ")

    assert refused.value.message_dict == {"reason": ["Give the reason; insurance and tax will see it."]}


def test_given_an_undecided_plan_then_finance_cannot_record_a_transfer(world):
    plan = submitted(world, 100)
    received = ReceivedPlan.objects.get(plan_id=plan.pk)

    with translation.override("en"), pytest.raises(finance.PlanConflictError) as refused:
        finance.plan_transfer(scope=scope(world, Role.FINANCE_STAFF), plan_id=received.pk, voucher="V-1")

    assert (
        refused.value.message
        == "This plan is Waiting for a decision, so “Record the transfer” is not possible."
    )


def test_given_an_approved_plan_then_a_second_decision_is_told_who_decided_when(world):
    plan = submitted(world, 100)
    received = ReceivedPlan.objects.get(plan_id=plan.pk)
    finance_scope = scope(world, Role.FINANCE_STAFF)
    finance.plan_approve(scope=finance_scope, plan_id=received.pk, amount_fen=received.amount_fen)

    with translation.override("en"), pytest.raises(finance.PlanConflictError) as refused:
        finance.plan_reject(scope=finance_scope, plan_id=received.pk, reason="晚了")

    assert refused.value.message.startswith(
        "This plan is already Approved, waiting for the transfer: 财政a chose “Approve” at "
    )
    assert refused.value.message.endswith(", so “Reject” is not possible now.")


def test_given_finance_of_another_county_then_it_does_not_see_the_plan(world):
    plan = submitted(world, 100)
    received = ReceivedPlan.objects.get(plan_id=plan.pk)

    from django.http import Http404

    with pytest.raises(Http404):
        finance.plan_approve(scope=scope(world, Role.FINANCE_STAFF, "b"), plan_id=received.pk, amount_fen=100)


# --- the whole way ------------------------------------------------------------------------------


def test_given_an_approved_and_funded_plan_when_paid_out_then_tax_gets_each_refund_once_and_sees_it_paid(
    world,
):
    payment = tax_payment(world)
    request = report(world, payment, 12000)
    report(world, tax_payment(world), 3050)
    deliver()
    insurance_scope = scope(world, Role.INSURANCE_STAFF)
    plan = insurance.fund_plan_prepare(scope=insurance_scope, county_code="141002", period=this_month())
    insurance.fund_plan_submit(scope=insurance_scope, plan_id=plan.pk, amount_fen=plan.amount_fen)
    deliver()
    received = ReceivedPlan.objects.get(plan_id=plan.pk)
    finance_scope = scope(world, Role.FINANCE_STAFF)
    finance.plan_approve(scope=finance_scope, plan_id=received.pk, amount_fen=15050, note="同意")
    finance.plan_transfer(scope=finance_scope, plan_id=received.pk, voucher="财拨-2026-001")
    deliver()
    plan.refresh_from_db()
    assert (plan.status, plan.voucher, plan.transferred_on) == (
        "funded",
        "财拨-2026-001",
        timezone.localdate(),
    )

    insurance.fund_plan_pay_out(scope=insurance_scope, plan_id=plan.pk, bank_reference="BATCH-77")
    deliver()

    today = timezone.localdate()
    details = OutboxMessage.objects.filter(topic="refund.monthly_details").order_by("id")
    assert [m.subject for m in details] == [
        f"refund:overcollection:{request.pk}",
        f"refund:overcollection:{request.pk + 1}",
    ]
    assert details[0].payload == {
        "refund_id": request.pk, "person_id": payment.person_id, "region_code": TUNLI,
        "month": f"{today:%Y-%m}", "amount_fen": 12000, "receipt_number": payment.receipt,
        "paid_on": today.isoformat(), "kind": "overcollection",
    }  # fmt: skip
    assert list(RefundPaid.objects.order_by("refund_id").values_list("kind", "refund_id", "amount_fen")) == [
        ("overcollection", request.pk, 12000), ("overcollection", request.pk + 1, 3050),
    ]  # fmt: skip
    request.refresh_from_db()
    assert (request.status, request.paid_on, request.bank_reference, request.plan_id) == (
        "paid_out", today, "BATCH-77", plan.pk,
    )  # fmt: skip
    assert list(request.timeline.values_list("status", flat=True)) == [
        "requested", "received", "planned", "approved", "funded", "paid_out",
    ]  # fmt: skip
    assert list(
        WorkflowEvent.objects.filter(kind="fund_plan", object_id=plan.pk).values_list("action", "to_state")
    ) == [
        ("apply", "draft"), ("submit", "submitted"), ("finance_approve", "approved"),
        ("funds_transferred", "funded"), ("pay_out", "paid_out"),
    ]  # fmt: skip
    assert list(PlanEvent.objects.filter(plan=received).values_list("action", flat=True)) == [
        "receive", "approve", "transfer",
    ]  # fmt: skip
    # A second refund on the same receipt may now be asked for, up to what is left.
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        report(world, payment, 28001)
    assert refused.value.message_dict == {
        "amount_fen": ["At most 280.00 yuan can be refunded on this receipt (it took 400.00 yuan)."]
    }


def test_given_an_application_refund_and_an_over_collection_with_the_same_number_then_tax_keeps_both(world):
    from django.db import transaction

    from sharing import services as sharing

    base = {
        "refund_id": 7, "person_id": "141002198001010011", "region_code": TUNLI, "month": "2026-11",
        "amount_fen": 100, "receipt_number": "0001-2026-000001", "paid_on": "2026-11-27",
    }  # fmt: skip
    with transaction.atomic():
        sharing.message_send(topic="refund.monthly_details", payload=base, version=1)
        sharing.message_send(topic="refund.monthly_details", payload={**base, "kind": "overcollection"})
    deliver()

    assert sorted(RefundPaid.objects.values_list("kind", "refund_id")) == [
        ("application", 7),
        ("overcollection", 7),
    ]


def test_given_a_total_other_than_the_plans_then_neither_submission_nor_approval_goes_through(world):
    plan = planned(world, 12000)
    insurance_scope = scope(world, Role.INSURANCE_STAFF)

    with translation.override("en"), pytest.raises(ValidationError) as submit:
        insurance.fund_plan_submit(scope=insurance_scope, plan_id=plan.pk, amount_fen=11999)
    insurance.fund_plan_submit(scope=insurance_scope, plan_id=plan.pk, amount_fen=12000)
    deliver()
    received = ReceivedPlan.objects.get(plan_id=plan.pk)
    with translation.override("en"), pytest.raises(ValidationError) as approve:
        finance.plan_approve(scope=scope(world, Role.FINANCE_STAFF), plan_id=received.pk, amount_fen=1)

    assert submit.value.message_dict == {"amount_fen": ["The plan's total is 120.00 yuan, not 119.99 yuan."]}
    assert approve.value.message_dict == {"amount_fen": ["The plan's total is 120.00 yuan, not 0.01 yuan."]}
    received.refresh_from_db()
    assert (received.status, PlanEvent.objects.filter(plan=received).count()) == ("received", 1)


def test_given_a_draft_discarded_with_its_reason_then_its_refunds_are_back_in_the_pool(world):
    plan = planned(world, 12000)
    insurance_scope = scope(world, Role.INSURANCE_STAFF)
    with translation.override("en"), pytest.raises(ValidationError):
        insurance.fund_plan_discard(scope=insurance_scope, plan_id=plan.pk, reason="")

    # The officer's pages are in English; tax's timeline keeps the portal's language.
    with translation.override("en"):
        insurance.fund_plan_discard(scope=insurance_scope, plan_id=plan.pk, reason="月份选错")
    deliver()

    plan.refresh_from_db()
    assert plan.status == "discarded"
    assert set(OvercollectionRefund.objects.values_list("status", "plan_id")) == {("received", None)}
    assert list(OvercollectionRequest.objects.get().timeline.values_list("status", flat=True)) == [
        "requested", "received", "planned", "received",
    ]  # fmt: skip
    assert (
        OvercollectionRequest.objects.get().timeline.order_by("id").last().note
        == "草稿计划已作废，待纳入下一计划。"
    )
