"""Every read of the refunds app, through the caller's scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, QuerySet
from django.utils import timezone

from accounts.roles import Action
from accounts.scope import Scope
from enrollment.models import Assessment, AssessmentStatus, Person

from .models import OPEN_REFUND_STATUSES, RefundApplication, RefundEvidence, WorkflowEvent
from .services import REFUND_WORKFLOW


def _base(scope: Scope) -> QuerySet[RefundApplication]:
    return scope.filter(
        RefundApplication.objects.select_related("person", "applied_by", "decided_by", "paid_out_by")
    )


def refund_list(
    *, scope: Scope, status: str = "", overdue: bool = False, today: dt.date | None = None
) -> QuerySet[RefundApplication]:
    """Applications in the area, newest first; ``overdue`` keeps the late ones, oldest deadline first."""
    scope.require(Action.REFUND_VIEW)
    queryset = _base(scope)
    if overdue:
        return refund_overdue(scope=scope, today=today)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-applied_at", "-pk")


def refund_overdue(*, scope: Scope, today: dt.date | None = None) -> QuerySet[RefundApplication]:
    """Still open after the day it was due: undecided, or approved but not yet paid out — the
    policies say a refundable contribution is *paid back* within the working days, so the
    deadline holds until the payout is recorded."""
    scope.require(Action.REFUND_VIEW)
    today = today or timezone.localdate()
    return _base(scope).filter(status__in=OPEN_REFUND_STATUSES, due_on__lt=today).order_by("due_on", "pk")


def refund_overdue_count(*, scope: Scope, today: dt.date | None = None) -> int | None:
    """The number for the staff's home page; None when the role does not see refunds."""
    if not scope.allows(Action.REFUND_VIEW):
        return None
    return refund_overdue(scope=scope, today=today).count()


def refund_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.REFUND_VIEW)
    rows = (
        scope.filter(RefundApplication.objects.all()).order_by().values_list("status").annotate(n=Count("pk"))
    )
    return dict(rows.values_list("status", "n"))


def refund_detail(*, scope: Scope, pk: int) -> RefundApplication:
    scope.require(Action.REFUND_VIEW)
    return scope.get_object_or_404(
        RefundApplication.objects.select_related(
            "person", "assessment", "applied_by", "decided_by", "paid_out_by", "policy_version__policy"
        ),
        pk=pk,
    )


def refund_timeline(*, application: RefundApplication) -> QuerySet[WorkflowEvent]:
    """Every step of the application, oldest first (the caller has fetched it through the scope)."""
    return REFUND_WORKFLOW.events(application).order_by("at", "pk")


def refund_evidence(*, application: RefundApplication) -> QuerySet[RefundEvidence]:
    return application.evidence.select_related("uploaded_by").order_by("uploaded_at", "pk")


def refund_evidence_detail(*, scope: Scope, pk: int) -> RefundEvidence:
    scope.require(Action.REFUND_VIEW)
    return scope.get_object_or_404(RefundEvidence.objects.select_related("application"), pk=pk)


@dataclass(frozen=True)
class PersonHistory:
    """What the reviewer weighs: the years the person paid and their earlier refund applications."""

    paid: list[Assessment]
    applications: list[RefundApplication]


def person_refund_history(*, scope: Scope, person: Person, exclude_pk: int | None = None) -> PersonHistory:
    scope.require(Action.REFUND_VIEW)
    paid = refundable_years(scope=scope, person=person)
    applications = _base(scope).filter(person=person).order_by("-applied_at", "-pk")
    if exclude_pk is not None:
        applications = applications.exclude(pk=exclude_pk)
    return PersonHistory(paid, list(applications))


def refundable_years(*, scope: Scope, person: Person) -> list[Assessment]:
    """The person's paid contributions in the area, newest year first: what an application can name."""
    return list(
        scope.filter(Assessment.objects.filter(person=person, status=AssessmentStatus.PAID)).order_by(
            "-insurance_year"
        )
    )
