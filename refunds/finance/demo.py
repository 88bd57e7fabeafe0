"""Demo decisions of finance, made through its services as finance staff would (after
demo_refunds): of the plans a county's finance bureau received, the oldest is approved and its
funds transferred; the others wait for finance. Idempotent: a bureau that decided any is left alone."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from accounts.roles import Role
from accounts.scope import Scope
from sharing.services import delivery_drain

from . import services
from .models import PlanStatus, ReceivedPlan


@dataclass
class DemoFinance:
    approved: int = 0
    waiting: int = 0

    def summary(self) -> str:
        return f"demo finance: {self.approved} plans approved and funded, {self.waiting} waiting for finance"


def load_demo_finance() -> DemoFinance:
    counts = DemoFinance()
    delivery_drain(seconds=120)  # insurance's plans reach finance
    for user_id in (
        User.objects.filter(role=Role.FINANCE_STAFF, is_active=True, agency__isnull=False)
        .order_by("username")
        .values_list("pk", flat=True)
    ):
        scope = Scope.for_user_id(user_id)
        # The oldest by its month (plans of different months may arrive in any order).
        plans = scope.filter(ReceivedPlan.objects.all()).order_by("period", "plan_id")
        if plans.exclude(status=PlanStatus.RECEIVED).exists():
            continue
        oldest = plans.first()
        if oldest is not None and plans.count() > 1:
            services.plan_approve(
                scope=scope, plan_id=oldest.pk, amount_fen=oldest.amount_fen, note="同意拨付"
            )
            services.plan_transfer(
                scope=scope,
                plan_id=oldest.pk,
                voucher=f"财拨{oldest.period.replace('-', '')}-{oldest.plan_id:03d}",
            )
            counts.approved += 1
        counts.waiting += plans.filter(status=PlanStatus.RECEIVED).count()
    delivery_drain(seconds=120)  # insurance hears of the decision and the transfer
    return counts
