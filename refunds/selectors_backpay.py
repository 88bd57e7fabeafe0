"""Every read of back-payment applications, through the caller's scope."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import counts_by
from enrollment.back_payments import back_payment_decide
from enrollment.models import Assessment, AssessmentStatus, Person

from .models import RefundApplication, WorkflowEvent
from .models_backpay import BackPaymentApplication, BackPaymentEvidence
from .services_backpay import BACK_PAYMENT_WORKFLOW


def _base(scope: Scope) -> QuerySet[BackPaymentApplication]:
    return scope.filter(BackPaymentApplication.objects.select_related("person", "applied_by", "decided_by"))


def back_payment_list(*, scope: Scope, status: str = "") -> QuerySet[BackPaymentApplication]:
    """Applications in the area, newest first; ``status`` keeps one status."""
    scope.require(Action.BACKPAY_VIEW)
    queryset = _base(scope)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-applied_at", "-pk")


def back_payment_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.BACKPAY_VIEW)
    return counts_by(scope.filter(BackPaymentApplication.objects.all()))


def back_payment_detail(*, scope: Scope, pk: int) -> BackPaymentApplication:
    scope.require(Action.BACKPAY_VIEW)
    return scope.get_object_or_404(
        BackPaymentApplication.objects.select_related(
            "person", "assessment", "applied_by", "decided_by", "policy_version__policy"
        ),
        pk=pk,
    )


def back_payment_timeline(*, application: BackPaymentApplication) -> QuerySet[WorkflowEvent]:
    """Every step of the application, oldest first (the caller has fetched it through the scope)."""
    return BACK_PAYMENT_WORKFLOW.events(application).select_related("actor").order_by("at", "pk")


def back_payment_evidence(*, application: BackPaymentApplication) -> QuerySet[BackPaymentEvidence]:
    return application.evidence.select_related("uploaded_by").order_by("uploaded_at", "pk")


def back_payment_evidence_detail(*, scope: Scope, pk: int) -> BackPaymentEvidence:
    scope.require(Action.BACKPAY_VIEW)
    return scope.get_object_or_404(BackPaymentEvidence.objects.select_related("application"), pk=pk)


@dataclass(frozen=True)
class BackPaymentHistory:
    """What the reviewer weighs (against enrolling only once ill, 带病参保): every assessed year of
    the person with how it was paid, the years in between that were not assessed at all (gaps),
    and their earlier back-payment and refund applications."""

    years: list[Assessment]
    gaps: list[int]
    applications: list[BackPaymentApplication]
    refunds: list[RefundApplication]

    @property
    def paid_years(self) -> list[int]:
        return [a.insurance_year for a in self.years if a.status == AssessmentStatus.PAID]

    @property
    def government_years(self) -> list[int]:
        return [a.insurance_year for a in self.years if a.status == AssessmentStatus.GOVERNMENT]

    @property
    def unpaid_years(self) -> list[int]:
        return [a.insurance_year for a in self.years if a.status == AssessmentStatus.DUE]


def person_back_payment_history(
    *, scope: Scope, person: Person, exclude_pk: int | None = None
) -> BackPaymentHistory:
    scope.require(Action.BACKPAY_VIEW)
    years = list(scope.filter(Assessment.objects.filter(person=person)).order_by("-insurance_year"))
    assessed = {a.insurance_year for a in years}
    gaps = [year for year in range(min(assessed), max(assessed)) if year not in assessed] if assessed else []
    applications = _base(scope).filter(person=person).order_by("-applied_at", "-pk")
    if exclude_pk is not None:
        applications = applications.exclude(pk=exclude_pk)
    refunds = list(
        scope.filter(RefundApplication.objects.filter(person=person).select_related("applied_by")).order_by(
            "-applied_at", "-pk"
        )
    )
    return BackPaymentHistory(years, sorted(gaps, reverse=True), list(applications), refunds)


@dataclass(frozen=True)
class DueYear:
    """An unpaid year and what the rules answer today to a back-payment of it."""

    assessment: Assessment
    allowed: bool
    amount_fen: int
    reason: str


def due_years_answered(*, scope: Scope, person: Person) -> list[DueYear]:
    """``due_years`` with the rule engine's answer for an application made today, so that the
    clerk sees before applying which year may be paid back and why the others may not."""
    today = timezone.localdate()
    answered = []
    for assessment in due_years(scope=scope, person=person):
        decision = back_payment_decide(assessment=assessment, person=person, on=today).decision
        answered.append(DueYear(assessment, decision.allowed, decision.amount_fen or 0, decision.reason))
    return answered


def due_years(*, scope: Scope, person: Person) -> list[Assessment]:
    """The person's unpaid contributions in the area, newest year first: what an application can name."""
    return list(
        scope.filter(Assessment.objects.filter(person=person, status=AssessmentStatus.DUE)).order_by(
            "-insurance_year"
        )
    )
