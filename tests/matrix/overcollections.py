"""Access-matrix objects of the over-collection pages and API of the three bureaus: tax's request,
insurance's refund and fund-usage plan, finance's received plan.

``own=True``: in 屯里村 / 尧都区 (inside every 尧都区 user's area and the Linfen administrator's);
``own=False``: in 秦壁村 / 洪洞县, or in 小店区 (太原市) for the Linfen administrator. The empty POST the
matrix sends is refused as invalid (400) by a role that holds the action: a submission and an
approval must confirm the plan's total, a discard and a rejection need their reason, a payout its
bank reference, a transfer its voucher.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count

from django.utils import timezone

from accounts.roles import Role
from collection.models import OvercollectionRequest
from refunds.finance.models import ReceivedPlan
from refunds.models import FundPlan, FundPlanLine, OvercollectionRefund
from tests.conftest import World
from tests.refunds.overcollection_support import tax_payment

_numbers = count(900_001)
XIAODIAN_VILLAGE = "140105001001"


def _village(user, own: bool) -> str:  # type: ignore[no-untyped-def]
    if own:
        return "141002100201"
    return XIAODIAN_VILLAGE if user.role == Role.ADMINISTRATOR else "141024100201"


def _request_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    region = _village(user, own)
    payment = tax_payment(world, region=region, side="a")
    now = timezone.now()
    request = OvercollectionRequest.objects.create(
        payment=payment, person_id=payment.person_id, insurance_year=2027, region_code=region,
        receipt_number=payment.receipt, amount_fen=100, reason="charged_twice",
        requested_by=world.users["tax_a"], requested_at=now, status_at=now,
    )  # fmt: skip
    return {"pk": request.pk}


def _refund(region: str) -> OvercollectionRefund:
    number = next(_numbers)
    return OvercollectionRefund.objects.create(
        request_id=number, payment_id=number, person_id=f"1410021980010{number:05d}", region_code=region,
        insurance_year=2027, amount_fen=100, receipt_number="0001-2026-000001", reason="重复扣款",
        requested_on=timezone.localdate(), received_at=timezone.now(), source_message_id=number, status="received",
    )  # fmt: skip


def _refund_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"pk": _refund(_village(user, own)).pk}


def _plan_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A draft plan of one refund (prepared by insurance staff of its county)."""
    region = _village(user, own)
    refund = _refund(region)
    plan = FundPlan.objects.create(
        county_code=region[:6], region_code=region[:6].ljust(12, "0"), period=f"{next(_numbers) % 9000 + 1000}-01",
        refund_count=1, amount_fen=100, status="draft", prepared_by=world.users["insurance_a"],
        prepared_at=timezone.now(),
    )  # fmt: skip
    FundPlanLine.objects.create(plan=plan, refund=refund, amount_fen=100)
    OvercollectionRefund.objects.filter(pk=refund.pk).update(plan=plan, status="planned")
    return {"pk": plan.pk}


def _funded_plan_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    kwargs = _plan_pk(world, user, own)
    FundPlan.objects.filter(pk=kwargs["pk"]).update(
        status="funded", submitted_by=world.users["insurance_a"], submitted_at=timezone.now(),
        transferred_on=timezone.localdate(), voucher="V-1",
    )  # fmt: skip
    return kwargs


def _received_plan_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    region = _village(user, own)[:6].ljust(12, "0")
    number = next(_numbers)
    plan = ReceivedPlan.objects.create(
        plan_id=number, region_code=region, period="2026-11", refund_count=1, amount_fen=100,
        received_at=timezone.now(), source_message_id=number, status="received",
    )  # fmt: skip
    return {"pk": plan.pk}


def _received_plan_number(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    pk = _received_plan_pk(world, user, own)["pk"]
    return {"number": ReceivedPlan.objects.get(pk=pk).plan_id}


def _approved_plan_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    kwargs = _received_plan_pk(world, user, own)
    ReceivedPlan.objects.filter(pk=kwargs["pk"]).update(
        status="approved", decided_by=world.users["finance_a"], decided_at=timezone.now()
    )
    return kwargs


OBJECT_KWARGS: dict[str, Callable] = {
    "collection:overcollection": _request_pk,
    "collection-overcollection-detail": _request_pk,
    "overcollection-detail": _refund_pk,
    "refunds:plan": _plan_pk,
    "fund-plan-detail": _plan_pk,
    "fund-plan-gather": _plan_pk,
    "fund-plan-submit": _plan_pk,
    "fund-plan-discard": _plan_pk,
    "fund-plan-pay-out": _funded_plan_pk,
    "finance:plan": _received_plan_number,
    "finance-plan-detail": _received_plan_pk,
    "finance-plan-approve": _received_plan_pk,
    "finance-plan-reject": _received_plan_pk,
    "finance-plan-transfer": _approved_plan_pk,
}
