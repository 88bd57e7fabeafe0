"""Refund applications (退费申请), their evidence, and the workflow events of every application kind.

Invariants live in the database:
- one open (submitted or approved) refund application per person and insurance year;
- a rejection carries its reason, a decision its decider and time, a payout its bank reference;
- workflow events are append-only (a trigger refuses updates and deletes).
Applications and evidence are history-tracked by triggers (``accounts.audit.tracked``).
"""

from __future__ import annotations

import datetime as dt

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION
from enrollment.rules.policy import REFUND_REASONS

REGION_CODE = {"max_length": 12, "db_collation": CODE_COLLATION}


class WorkflowEvent(models.Model):
    """One transition of one application of any kind: who moved it from which state to which, and why.

    Shared by every workflow (refunds now; back-payments and fund-usage plans later), keyed by
    ``kind`` + ``object_id``; ``region_code`` is copied from the application so the timeline is
    scoped like the application itself. Written by ``refunds.workflow`` in the transaction of the
    change, never changed afterwards.
    """

    scope_region_lookup = "region_code"

    kind = models.CharField(_("kind"), max_length=32)
    object_id = models.BigIntegerField(_("application"))
    region_code = models.CharField(_("region"), **REGION_CODE)
    action = models.CharField(_("action"), max_length=32)
    from_state = models.CharField(_("from"), max_length=16, blank=True)
    to_state = models.CharField(_("to"), max_length=16)
    # NULL: the system acted (the rule engine closed an application that is not refundable).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("workflow event")
        verbose_name_plural = _("workflow events")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["kind", "object_id", "at"], name="workflow_event_object_idx")]
        constraints = [
            # Every event moves the state, but for a draft plan taking the refunds that reached the
            # pool after it was prepared (``fund_plan_gather``), which the timeline shows too.
            models.CheckConstraint(
                name="workflow_event_moves",
                condition=~Q(from_state=models.F("to_state")) | Q(kind="fund_plan", action="gather"),
            )
        ]
        triggers = [
            pgtrigger.Protect(
                name="workflow_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.object_id} {self.from_state or '∅'}→{self.to_state}"


class RefundReason(models.TextChoices):
    PAID_TWICE = "paid_twice", _("Paid twice")
    DEATH = "death", _("Death")
    EMPLOYEE_INSURANCE = "employee_insurance", _("Joined employee insurance")
    ENROLLED_ELSEWHERE = "enrolled_elsewhere", _("Enrolled elsewhere")
    EMIGRATION = "emigration", _("Emigration")
    AGENCY_ERROR = "agency_error", _("An agency's error")


assert set(RefundReason.values) == set(REFUND_REASONS), "the rule engine's reasons and the choices differ"


class RefundStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved, awaiting payout")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    PAID_OUT = "paid_out", _("Paid out")


OPEN_REFUND_STATUSES = (RefundStatus.SUBMITTED, RefundStatus.APPROVED)


class ReviewedApplication(models.Model):
    """What every application insurance staff review has: the year and where, the rule engine's
    decision with the policy version that made it, who applied and when, who decided, when and why."""

    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    # Where the contribution was assessed (the village or school's region): the scope.
    region_code = models.CharField(_("registered at"), **REGION_CODE)
    rule = models.CharField(_("rule"), max_length=64)
    rule_reason = models.TextField(_("why"))
    policy_version = models.ForeignKey(
        "enrollment.PolicyVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("policy version"),
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("applied by")
    )
    applied_at = models.DateTimeField(_("applied at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("reason for the decision"), max_length=500, blank=True)

    class Meta:
        abstract = True


@tracked()
class RefundApplication(ReviewedApplication):
    """A payer's request to have a contribution refunded, with the rule engine's decision on it."""

    scope_region_lookup = "region_code"
    workflow_kind = "refund"

    person = models.ForeignKey(
        "enrollment.Person",
        on_delete=models.PROTECT,
        related_name="refund_applications",
        verbose_name=_("person"),
    )
    assessment = models.ForeignKey(
        "enrollment.Assessment", on_delete=models.PROTECT, related_name="+", verbose_name=_("paid assessment")
    )
    reason = models.CharField(_("reason"), max_length=32, choices=RefundReason.choices)
    event_on = models.DateField(_("date of the event"))
    note = models.CharField(_("applicant's note"), max_length=300, blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    # The year's payment as it stood when applied for: approval and payout go ahead only while
    # the assessment is still paid by this same payment (tax may reverse it meanwhile).
    paid_fen = models.BigIntegerField(_("payment (fen)"))
    deposit_reference = models.CharField(_("payment's receipt"), max_length=64, blank=True)
    # "Paid twice" gives back a deposit other than the one the year keeps: which one, named at
    # application (``refunds.services.refund_apply``), so that the same deposit is not given back
    # again, neither by another "paid twice" refund nor as tax's over-collection on its payment.
    # NULL for every other reason (and for "paid twice" applications stored before 2026-12: named
    # at their approval or payout).
    given_back_deposit = models.ForeignKey(
        "enrollment.DepositRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deposit given back"),
    )
    # The rule engine's decision at application time, with the policy version that made it.
    refundable = models.BooleanField(_("refundable"))
    status = models.CharField(_("status"), max_length=12, choices=RefundStatus.choices)
    due_on = models.DateField(_("decide by"))
    due_note = models.CharField(_("about the deadline"), max_length=300, blank=True)
    paid_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paid out by"),
    )
    paid_out_at = models.DateTimeField(_("paid out at"), null=True, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("refund application")
        verbose_name_plural = _("refund applications")
        ordering = ["-applied_at", "-pk"]
        indexes = [
            models.Index(fields=["region_code", "status", "due_on"], name="refund_region_status_due"),
            models.Index(fields=["person", "insurance_year"], name="refund_person_year"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "insurance_year"],
                condition=Q(status__in=["submitted", "approved"]),
                name="refund_one_open_per_person_year",
            ),
            models.CheckConstraint(name="refund_status_known", condition=Q(status__in=RefundStatus.values)),
            models.CheckConstraint(name="refund_reason_known", condition=Q(reason__in=RefundReason.values)),
            models.CheckConstraint(name="refund_amount_positive", condition=Q(amount_fen__gt=0)),
            # Never more than the payment it gives back (what is left of it: refund_apply).
            models.CheckConstraint(
                name="refund_amount_within_payment", condition=Q(amount_fen__lte=models.F("paid_fen"))
            ),
            # Only paying twice gives back a deposit of its own; a deposit is given back that way once.
            models.CheckConstraint(
                name="refund_deposit_only_when_paid_twice",
                condition=Q(given_back_deposit__isnull=True) | Q(reason="paid_twice"),
            ),
            models.UniqueConstraint(
                fields=["given_back_deposit"],
                condition=Q(status__in=["submitted", "approved", "paid_out"]),
                name="refund_deposit_given_back_once",
            ),
            models.CheckConstraint(
                name="refund_rejection_has_reason", condition=~Q(status="rejected") | ~Q(decision_note="")
            ),
            # Approved and paid out: someone decided (a person; the engine only ever rejects).
            models.CheckConstraint(
                name="refund_approval_has_decider",
                condition=~Q(status__in=["approved", "paid_out"])
                | Q(decided_by__isnull=False, decided_at__isnull=False, refundable=True),
            ),
            # Four-eyes in the database too: whoever applied never decides nor pays out.
            models.CheckConstraint(
                name="refund_decider_is_not_applicant",
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("applied_by")),
            ),
            models.CheckConstraint(
                name="refund_payer_is_not_applicant",
                condition=Q(paid_out_by__isnull=True) | ~Q(paid_out_by=models.F("applied_by")),
            ),
            models.CheckConstraint(
                name="refund_payout_recorded",
                condition=~Q(status="paid_out")
                | Q(paid_out_by__isnull=False, paid_out_at__isnull=False) & ~Q(bank_reference=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance_year} {self.get_reason_display()} · {self.get_status_display()}"


@tracked()
class RefundEvidence(models.Model):
    """A file supporting a refund application (a death certificate, the second receipt…)."""

    scope_region_lookup = "application__region_code"

    application = models.ForeignKey(
        RefundApplication, on_delete=models.PROTECT, related_name="evidence", verbose_name=_("application")
    )
    file = models.FileField(_("file"), upload_to="refunds/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund evidence")
        verbose_name_plural = _("refund evidence")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.name


# --- over-collections caused by tax, and the fund-usage plans (用款计划) that fund them ----------


class OvercollectionStatus(models.TextChoices):
    RECEIVED = "received", _("Received, waiting for a plan")
    PLANNED = "planned", _("In a fund-usage plan")
    APPROVED = "approved", _("Approved by finance")
    FUNDED = "funded", _("Funded by finance")
    PAID_OUT = "paid_out", _("Paid out")
    # More than is left of the year's payment or of its deposit, when recorded
    # (``refunds.services.overcollection_requests_record``) or, still in the pool, when its
    # payment's deposit arrived after it (``overcollection_deposits_recheck``): never in the pool
    # nor a plan (again); tax reports again with the right amount.
    REFUSED = "refused", _("Refused: more than is left of the payment")


@tracked()
class OvercollectionRefund(models.Model):
    """An over-collection tax caused and reported for refund (``refund.overcollection_requested``).

    Recorded once per tax request (``request_id`` unique: a redelivered message changes nothing).
    It waits in the pool (``received``, no plan) until a fund-usage plan gathers it; a plan finance
    rejects puts it back in the pool for the next plan. A request for more than is left of the
    year's payment is recorded ``refused``, with why, and never enters the pool; one in the pool is
    refused so when its payment's deposit arrives after it and it does not fit that deposit.
    """

    scope_region_lookup = "region_code"

    request_id = models.BigIntegerField(_("tax's request"), unique=True)
    payment_id = models.BigIntegerField(_("tax's payment"))
    person_id = models.CharField(_("person identifier"), max_length=32, db_collation=CODE_COLLATION)
    region_code = models.CharField(_("region"), **REGION_CODE)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    receipt_number = models.CharField(_("receipt"), max_length=64, blank=True)
    reason = models.CharField(_("reason"), max_length=200)
    requested_on = models.DateField(_("requested on"))
    received_at = models.DateTimeField(_("received at"))
    source_message_id = models.BigIntegerField(_("source message"))
    status = models.CharField(_("status"), max_length=12, choices=OvercollectionStatus.choices)
    # The plan it is in now; NULL while it waits in the pool. FundPlanLine keeps every plan it was in.
    plan = models.ForeignKey(
        "FundPlan",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("fund-usage plan"),
    )
    paid_out_at = models.DateTimeField(_("paid out at"), null=True, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)
    # Why insurance refused it, with the amounts, as tax is told (in the portal's language).
    refusal = models.CharField(_("why refused"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("over-collection refund")
        verbose_name_plural = _("over-collection refunds")
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(
                fields=["region_code", "received_at"],
                name="overcollection_pool",
                condition=Q(plan__isnull=True),
            ),
            # What went back of a payment is read by its id, also for every batch of tax's deposit
            # records (``overcollection_deposits_recheck``).
            models.Index(fields=["payment_id"], name="overcollection_payment"),
        ]
        constraints = [
            models.CheckConstraint(name="overcollection_amount_positive", condition=Q(amount_fen__gt=0)),
            models.CheckConstraint(
                name="overcollection_status_known", condition=Q(status__in=OvercollectionStatus.values)
            ),
            # In the pool exactly when received; in a plan in every later state; refused: in neither.
            models.CheckConstraint(
                name="overcollection_pool_has_no_plan",
                condition=Q(status__in=["received", "refused"], plan__isnull=True)
                | Q(~Q(status__in=["received", "refused"]), plan__isnull=False),
            ),
            models.CheckConstraint(
                name="overcollection_refusal_has_reason",
                condition=Q(status="refused", refusal__gt="") | Q(~Q(status="refused"), refusal=""),
            ),
            models.CheckConstraint(
                name="overcollection_payout_recorded",
                condition=~Q(status="paid_out") | Q(paid_out_at__isnull=False) & ~Q(bank_reference=""),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.request_id} {self.person_id} {self.amount_fen}"


class FundPlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted to finance")
    APPROVED = "approved", _("Approved by finance")
    REJECTED = "rejected", _("Rejected by finance")
    FUNDED = "funded", _("Funded")
    PAID_OUT = "paid_out", _("Paid out")
    DISCARDED = "discarded", _("Discarded")


# A county has one plan a period unless finance rejected it or insurance discarded the draft.
LIVE_FUND_PLAN_STATUSES = ("draft", "submitted", "approved", "funded", "paid_out")


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """A plan's month ("2026-11"): its first day and the first day of the next month."""
    first = dt.date(int(period[:4]), int(period[5:7]), 1)
    return first, (first + dt.timedelta(days=32)).replace(day=1)


@tracked()
class FundPlan(models.Model):
    """A fund-usage plan (用款计划): a county's over-collection refunds of a period, for finance."""

    scope_region_lookup = "region_code"
    workflow_kind = "fund_plan"

    county_code = models.CharField(_("county"), max_length=6, db_collation=CODE_COLLATION)
    # The county's 12-digit code: the scope, and the region of its messages.
    region_code = models.CharField(_("region"), **REGION_CODE)
    period = models.CharField(_("period"), max_length=7)
    refund_count = models.PositiveIntegerField(_("refunds"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=12, choices=FundPlanStatus.choices)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("prepared by")
    )
    prepared_at = models.DateTimeField(_("prepared at"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    # What finance said, as its messages carried it.
    decided_on = models.DateField(_("decided by finance on"), null=True, blank=True)
    finance_reason = models.CharField(_("finance's reason"), max_length=500, blank=True)
    transferred_on = models.DateField(_("funds transferred on"), null=True, blank=True)
    voucher = models.CharField(_("finance's voucher"), max_length=64, blank=True)
    paid_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paid out by"),
    )
    paid_out_at = models.DateTimeField(_("paid out at"), null=True, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("fund-usage plan")
        verbose_name_plural = _("fund-usage plans")
        ordering = ["-prepared_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["county_code", "period"],
                condition=Q(status__in=LIVE_FUND_PLAN_STATUSES),
                name="fund_plan_one_live_per_county_period",
            ),
            models.CheckConstraint(
                name="fund_plan_status_known", condition=Q(status__in=FundPlanStatus.values)
            ),
            models.CheckConstraint(
                name="fund_plan_period_month", condition=Q(period__regex=r"^[0-9]{4}-[0-9]{2}$")
            ),
            models.CheckConstraint(
                name="fund_plan_amount_positive", condition=Q(amount_fen__gt=0, refund_count__gt=0)
            ),
            models.CheckConstraint(
                name="fund_plan_submission_recorded",
                condition=Q(status__in=["draft", "discarded"])
                | Q(submitted_by__isnull=False, submitted_at__isnull=False),
            ),
            models.CheckConstraint(
                name="fund_plan_rejection_has_reason", condition=~Q(status="rejected") | ~Q(finance_reason="")
            ),
            models.CheckConstraint(
                name="fund_plan_transfer_recorded",
                condition=~Q(status__in=["funded", "paid_out"])
                | Q(transferred_on__isnull=False) & ~Q(voucher=""),
            ),
            models.CheckConstraint(
                name="fund_plan_payout_recorded",
                condition=~Q(status="paid_out")
                | Q(paid_out_by__isnull=False, paid_out_at__isnull=False) & ~Q(bank_reference=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.county_code} {self.period} · {self.get_status_display()}"


class FundPlanLine(models.Model):
    """One refund as it was put into one plan; kept when finance rejects the plan (the refund then
    goes back to the pool, and the rejected plan still shows what it asked for)."""

    scope_region_lookup = "plan__region_code"

    plan = models.ForeignKey(FundPlan, on_delete=models.PROTECT, related_name="lines", verbose_name=_("plan"))
    refund = models.ForeignKey(
        OvercollectionRefund, on_delete=models.PROTECT, related_name="plan_lines", verbose_name=_("refund")
    )
    amount_fen = models.BigIntegerField(_("amount (fen)"))

    class Meta:
        verbose_name = _("fund-usage plan line")
        verbose_name_plural = _("fund-usage plan lines")
        ordering = ["plan", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "refund"], name="fund_plan_line_once"),
            models.CheckConstraint(name="fund_plan_line_amount_positive", condition=Q(amount_fen__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}/{self.refund_id}"


from .models_backpay import *  # noqa: E402,F403
