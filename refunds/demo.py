"""Demo refund applications, made through the services as a village clerk and insurance staff would.

In each demo village with paid 2027 contributions: one application waiting for insurance's
decision (an agency's error), one the rules close on the spot (paid twice, while insurance's
deposit records hold the one deposit that paid the year), and one approved by insurance staff and
waiting for its payout (an agency's error). Idempotent: a person who already has an application
for the year is left alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.scope import Scope
from enrollment.models import Assessment, AssessmentStatus
from sharing.services import delivery_drain

from . import services
from .models import FundPlan, RefundApplication

YEAR = 2027
# (reason, whether insurance staff approve it straight away, the applicant's note)
PLAN = [
    ("agency_error", False, "村委会代收时把金额记错，多收了一次"),
    ("paid_twice", False, "本人说在村里和手机上各缴了一次"),
    ("agency_error", True, "经办机构核定有误，已核对票据"),
]


@dataclass
class DemoRefunds:
    applied: int = 0
    approved: int = 0

    def summary(self) -> str:
        return f"demo refunds: {self.applied} applications, {self.approved} approved"


def load_demo_refunds() -> DemoRefunds:
    counts = DemoRefunds()
    clerks = User.objects.filter(role=Role.VILLAGE_CLERK, agency__isnull=False).select_related(
        "agency__region"
    )
    insurance_staff = list(
        User.objects.filter(role=Role.INSURANCE_STAFF, is_active=True)
        .order_by("username")
        .values_list("pk", flat=True)
    )
    for clerk in clerks.order_by("username"):
        clerk_scope = Scope.for_user_id(clerk.pk)
        # An insurance clerk whose area holds the village decides (never the applicant).
        reviewer = next(
            (
                scope
                for scope in map(Scope.for_user_id, insurance_staff)
                if scope.covers_region_code(clerk.agency.region.code.ljust(12, "0"))
            ),
            None,
        )
        paid = clerk_scope.filter(
            Assessment.objects.filter(
                insurance_year=YEAR, status=AssessmentStatus.PAID, paid_on__isnull=False
            )
        ).order_by("person__id_number")[: len(PLAN)]
        for assessment, (reason, approve, note) in zip(paid, PLAN, strict=False):
            if RefundApplication.objects.filter(person_id=assessment.person_id, insurance_year=YEAR).exists():
                continue
            event_on = assessment.paid_on
            application = services.refund_apply(
                scope=clerk_scope,
                person_id=assessment.person_id,
                insurance_year=YEAR,
                reason=reason,
                event_on=min(event_on, timezone.localdate()),
                note=note,
            )
            counts.applied += 1
            if approve and reviewer is not None and application.status == "submitted":
                services.refund_approve(scope=reviewer, application_id=application.pk)
                counts.approved += 1
    return counts


@dataclass
class DemoFundPlans:
    prepared: int = 0
    submitted: int = 0

    def summary(self) -> str:
        return f"demo fund-usage plans: {self.prepared} prepared, {self.submitted} submitted to finance"


def load_demo_fund_plans() -> DemoFundPlans:
    """Each county's over-collections tax reported (demo_payments), gathered by its insurance staff:
    last month's into one plan and this month's into another, both submitted to finance (whose demo
    approves and funds the older one). Idempotent: a county with a plan is left alone."""
    counts = DemoFundPlans()
    delivery_drain(seconds=120)  # tax's requests reach insurance's pool
    today = timezone.localdate()
    last_month = f"{today.replace(day=1) - dt.timedelta(days=1):%Y-%m}"
    for user_id in (
        User.objects.filter(role=Role.INSURANCE_STAFF, is_active=True, agency__isnull=False)
        .order_by("username")
        .values_list("pk", flat=True)
    ):
        scope = Scope.for_user_id(user_id)
        county = (scope.region_code or "")[:6]
        if len((scope.region_code or "").rstrip("0")) > 6 or scope.filter(FundPlan.objects.all()).exists():
            continue
        for period in (last_month, f"{today:%Y-%m}"):
            try:
                plan = services.fund_plan_prepare(scope=scope, county_code=county, period=period, today=today)
            except ValidationError:  # nothing waiting up to that month
                continue
            counts.prepared += 1
            services.fund_plan_submit(scope=scope, plan_id=plan.pk, amount_fen=plan.amount_fen, note="演示")
            counts.submitted += 1
    delivery_drain(seconds=120)  # the plans reach finance
    return counts


# --- back-payments (补缴) ----------------------------------------------------------------------

BACK_PAYMENT_YEARS = (2027, 2026)
BACK_PAYMENT_REASONS = ["外出务工，错过了集中征缴期", "在外地住院陪护家人，未能按时缴费"]


@dataclass
class DemoBackPayments:
    applied: int = 0
    approved: int = 0
    refused: int = 0

    def summary(self) -> str:
        return (
            f"demo back-payments: {self.applied} applications, {self.approved} approved, "
            f"{self.refused} closed by the rules"
        )


def load_demo_back_payments(*, today: dt.date | None = None) -> DemoBackPayments:
    """In each demo village, for the first year whose back-payments are open ``today`` (the demo
    2026 policy takes them from 26 December 2025 while the cover they buy starts within 2026, the
    2027 one from 26 December 2026): one application waiting for insurance's decision and one
    approved (payable at tax); and one for a year the rules do not take, closed on the spot with
    their reason (from October to December, every one: that is the rule). Through the services, as a village clerk
    applies and insurance staff decide. Idempotent: a village with applications is left alone."""
    from enrollment.back_payments import back_payment_decide

    from . import services_backpay
    from .models_backpay import BackPaymentApplication

    today = today or timezone.localdate()
    counts = DemoBackPayments()
    insurance_staff = list(
        User.objects.filter(role=Role.INSURANCE_STAFF, is_active=True)
        .order_by("username")
        .values_list("pk", flat=True)
    )
    clerks = User.objects.filter(role=Role.VILLAGE_CLERK, agency__isnull=False).select_related(
        "agency__region"
    )
    for clerk in clerks.order_by("username"):
        village = clerk.agency.region.code.ljust(12, "0")
        if BackPaymentApplication.objects.filter(region_code=village).exists():
            continue
        clerk_scope = Scope.for_user_id(clerk.pk)
        reviewer = next(
            (scope for scope in map(Scope.for_user_id, insurance_staff) if scope.covers_region_code(village)),
            None,
        )
        due = {
            year: list(
                clerk_scope.filter(
                    Assessment.objects.filter(insurance_year=year, status=AssessmentStatus.DUE)
                )
                .select_related("person")
                .order_by("person__id_number")
            )
            for year in BACK_PAYMENT_YEARS
        }
        open_year = next(
            (
                year
                for year in BACK_PAYMENT_YEARS
                if due[year]
                and back_payment_decide(
                    assessment=due[year][0], person=due[year][0].person, on=today
                ).decision.allowed
            ),
            None,
        )
        if open_year is not None:
            for assessment, approve in zip(due[open_year][:2], (False, True), strict=False):
                application = services_backpay.back_payment_apply(
                    scope=clerk_scope,
                    person_id=assessment.person_id,
                    insurance_year=open_year,
                    reason=BACK_PAYMENT_REASONS[approve],
                    today=today,
                )
                counts.applied += 1
                if approve and reviewer is not None and application.status == "submitted":
                    services_backpay.back_payment_approve(
                        scope=reviewer, application_id=application.pk, note="已核实未带病参保", today=today
                    )
                    counts.approved += 1
        # A year the rules do not take today: the application is closed on the spot, with their words.
        for year in BACK_PAYMENT_YEARS:
            if year == open_year:
                continue
            taken = {a.person_id for a in due.get(open_year or 0, [])[:2]}
            candidate = next((a for a in due[year] if a.person_id not in taken), None)
            if candidate is None:
                continue
            application = services_backpay.back_payment_apply(
                scope=clerk_scope,
                person_id=candidate.person_id,
                insurance_year=year,
                reason="错过缴费期，申请补缴",
                today=today,
            )
            counts.applied += 1
            counts.refused += application.status == "rejected"
            break
    return counts
