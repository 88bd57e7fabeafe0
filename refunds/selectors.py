"""Every read of the refunds app, through the caller's scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import counts_by
from enrollment.models import Assessment, AssessmentStatus, Person
from enrollment.rules import policy as rules
from enrollment.rules.engine import say_refund_reason

from .models import (
    LIVE_FUND_PLAN_STATUSES,
    OPEN_REFUND_STATUSES,
    FundPlan,
    FundPlanLine,
    OvercollectionRefund,
    OvercollectionStatus,
    RefundApplication,
    RefundEvidence,
    WorkflowEvent,
    period_bounds,
)
from .services import FUND_PLAN_WORKFLOW, REFUND_WORKFLOW


def _base(scope: Scope) -> QuerySet[RefundApplication]:
    return scope.filter(
        RefundApplication.objects.select_related(
            "person", "given_back_deposit", "applied_by", "decided_by", "paid_out_by"
        )
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
    return counts_by(scope.filter(RefundApplication.objects.all()))


def refund_detail(*, scope: Scope, pk: int) -> RefundApplication:
    scope.require(Action.REFUND_VIEW)
    return scope.get_object_or_404(
        RefundApplication.objects.select_related(
            "person",
            "assessment",
            "given_back_deposit",
            "applied_by",
            "decided_by",
            "paid_out_by",
            "policy_version__policy",
        ),
        pk=pk,
    )


@dataclass(frozen=True)
class DecisionShown:
    """The engine's decision as a clerk reads it: the reason alone, the rule in words, and the
    policy's general note apart (empty on a refusal, where it would contradict the reason)."""

    reason: str
    rule_words: str
    note: str


_REFUND_WHEN = {
    rules.RefundWhen.ALWAYS: gettext_lazy("always refundable"),
    rules.RefundWhen.BEFORE_BENEFIT_START: gettext_lazy("refundable only before the benefit period starts"),
    rules.RefundWhen.BEFORE_INSURANCE_YEAR: gettext_lazy(
        "refundable only before the insurance year paid for begins"
    ),
    rules.RefundWhen.NEVER: gettext_lazy("not refundable"),
}


def refund_decision_shown(*, application: RefundApplication) -> DecisionShown:
    """Words for the decision stored on ``application``, under the policy version that made it."""
    policy = rules.Policy.from_document(application.policy_version.document)
    reason = application.rule_reason
    # The note of the application's own reason alone: Linfen's on paying twice is not an agency
    # error's (``engine.refund_on``).
    note = policy.refunds.reason_notes.get(application.reason, "")
    # Applications recorded before the engine kept the note apart carry the policy's refund note
    # glued on (Linfen's, now the paid-twice reason's own): cut it off.
    for glued in (policy.refunds.note, note):
        if glued and reason.endswith(f"；{glued}"):
            reason = reason[: -len(glued) - 1]
    return DecisionShown(
        reason=reason,
        rule_words=_say_refund_rule(application.rule, policy),
        note=note if application.refundable else "",
    )


def _say_refund_rule(rule: str, policy: rules.Policy) -> str:
    if rule == "refunds.reasons.paid_twice.deposits":
        return _(
            "Paid twice: refunded only when insurance's deposit records hold a payment beyond the one "
            "the year keeps"
        )
    if rule == "refunds.reasons.paid_twice.given_back":
        return _(
            "Paid twice: only a payment beyond the one the year keeps, as far as it was not given back "
            "yet (over-collections tax reported on it included)"
        )
    reason = rule.removeprefix("refunds.reasons.")
    if reason not in rules.REFUND_REASONS:
        return rule  # a rule this page has no words for: the code is better than nothing
    when = policy.refunds.reasons.get(reason, rules.RefundWhen.NEVER)
    return _("%(reason)s: %(when)s") % {"reason": say_refund_reason(reason), "when": _REFUND_WHEN[when]}


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


# --- over-collection refunds and fund-usage plans -------------------------------------------


def overcollection_refund_list(*, scope: Scope, status: str = "") -> QuerySet[OvercollectionRefund]:
    """Over-collections tax reported in the area, newest first; ``status`` one state."""
    scope.require(Action.FUND_PLAN_VIEW)
    queryset = scope.filter(OvercollectionRefund.objects.select_related("plan"))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-received_at", "-pk")


def overcollection_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.FUND_PLAN_VIEW)
    return counts_by(scope.filter(OvercollectionRefund.objects.all()))


@dataclass(frozen=True)
class Pool:
    """What a county's next plan would gather: the refunds waiting, by county."""

    county_code: str
    count: int
    amount_fen: int


def overcollection_pool(*, scope: Scope) -> list[Pool]:
    """What waits in the pool, per county (a refused request has no plan either, and waits for none)."""
    scope.require(Action.FUND_PLAN_VIEW)
    rows = (
        scope.filter(
            OvercollectionRefund.objects.filter(plan__isnull=True, status=OvercollectionStatus.RECEIVED)
        )
        .annotate(county=Substr("region_code", 1, 6))
        .order_by()
        .values_list("county")
        .annotate(n=Count("pk"), fen=Sum("amount_fen"))
        .order_by("county")
    )
    return [Pool(county, n, fen) for county, n, fen in rows]


def fund_plans_live_of_month(*, scope: Scope, period: str) -> dict[str, FundPlan]:
    """The live plan of each county in the area for ``period`` (at most one each, by the database)."""
    scope.require(Action.FUND_PLAN_VIEW)
    plans = scope.filter(FundPlan.objects.filter(period=period, status__in=LIVE_FUND_PLAN_STATUSES))
    return {plan.county_code: plan for plan in plans}


def overcollection_waiting_for(*, plan: FundPlan) -> Pool:
    """The county's refunds in the pool a draft ``plan`` would take in (requested up to the end of its
    month), as ``fund_plan_gather`` selects them."""
    _first, end = period_bounds(plan.period)
    totals = OvercollectionRefund.objects.filter(
        plan__isnull=True,
        status=OvercollectionStatus.RECEIVED,
        region_code__startswith=plan.county_code,
        requested_on__lt=end,
    ).aggregate(n=Count("pk"), fen=Sum("amount_fen"))
    return Pool(plan.county_code, totals["n"], totals["fen"] or 0)


def fund_plan_list(*, scope: Scope, status: str = "") -> QuerySet[FundPlan]:
    scope.require(Action.FUND_PLAN_VIEW)
    queryset = scope.filter(FundPlan.objects.select_related("prepared_by", "submitted_by", "paid_out_by"))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-prepared_at", "-pk")


def fund_plan_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.FUND_PLAN_VIEW)
    return counts_by(scope.filter(FundPlan.objects.all()))


def fund_plan_detail(*, scope: Scope, pk: int) -> FundPlan:
    scope.require(Action.FUND_PLAN_VIEW)
    return scope.get_object_or_404(
        FundPlan.objects.select_related("prepared_by", "submitted_by", "paid_out_by"), pk=pk
    )


def fund_plan_lines(*, plan: FundPlan) -> QuerySet[FundPlanLine]:
    """Every refund the plan asked for (still there after finance rejected it)."""
    return plan.lines.select_related("refund").order_by("refund__request_id")


def fund_plan_timeline(*, plan: FundPlan) -> QuerySet[WorkflowEvent]:
    return FUND_PLAN_WORKFLOW.events(plan).order_by("at", "pk")
