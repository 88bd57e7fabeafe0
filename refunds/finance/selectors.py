"""Finance's reads of the plans it received, through the caller's scope."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import counts_by

from .models import PlanEvent, PlanStatus, ReceivedPlan


def plan_list(*, scope: Scope, status: str = "") -> QuerySet[ReceivedPlan]:
    scope.require(Action.FINANCE_PLAN_VIEW)
    queryset = scope.filter(ReceivedPlan.objects.select_related("decided_by", "transferred_by"))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-received_at", "-pk")


def plan_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.FINANCE_PLAN_VIEW)
    return counts_by(scope.filter(ReceivedPlan.objects.all()))


def plans_waiting_count(*, scope: Scope) -> int | None:
    """Plans waiting for a decision or a transfer; None when the role does not see plans."""
    if not scope.allows(Action.FINANCE_PLAN_VIEW):
        return None
    return scope.filter(
        ReceivedPlan.objects.filter(status__in=[PlanStatus.RECEIVED, PlanStatus.APPROVED])
    ).count()


def plan_detail(*, scope: Scope, pk: int) -> ReceivedPlan:
    scope.require(Action.FINANCE_PLAN_VIEW)
    return scope.get_object_or_404(ReceivedPlan.objects.select_related("decided_by", "transferred_by"), pk=pk)


def plan_by_number(*, scope: Scope, number: int) -> ReceivedPlan:
    """The plan by insurance's plan number: the number both bureaus call it by (its page's address)."""
    scope.require(Action.FINANCE_PLAN_VIEW)
    return scope.get_object_or_404(
        ReceivedPlan.objects.select_related("decided_by", "transferred_by"), plan_id=number
    )


def plan_timeline(*, plan: ReceivedPlan) -> QuerySet[PlanEvent]:
    return plan.timeline.select_related("actor").order_by("at", "pk")
