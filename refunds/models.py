"""Refund applications (退费申请), their evidence, and the workflow events of every application kind.

Invariants live in the database:
- one open (submitted or approved) refund application per person and insurance year;
- a rejection carries its reason, a decision its decider and time, a payout its bank reference;
- workflow events are append-only (a trigger refuses updates and deletes).
Applications and evidence are history-tracked by triggers (``accounts.audit.tracked``).
"""

from __future__ import annotations

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
            models.CheckConstraint(name="workflow_event_moves", condition=~Q(from_state=models.F("to_state")))
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


@tracked()
class RefundApplication(models.Model):
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
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    # Where the contribution was assessed (the village or school's region): the scope.
    region_code = models.CharField(_("registered at"), **REGION_CODE)
    reason = models.CharField(_("reason"), max_length=32, choices=RefundReason.choices)
    event_on = models.DateField(_("date of the event"))
    note = models.CharField(_("applicant's note"), max_length=300, blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    # The rule engine's decision at application time, with the policy version that made it.
    refundable = models.BooleanField(_("refundable"))
    rule = models.CharField(_("rule"), max_length=64)
    rule_reason = models.TextField(_("why"))
    policy_version = models.ForeignKey(
        "enrollment.PolicyVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("policy version"),
    )
    status = models.CharField(_("status"), max_length=12, choices=RefundStatus.choices)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("applied by")
    )
    applied_at = models.DateTimeField(_("applied at"))
    due_on = models.DateField(_("decide by"))
    due_note = models.CharField(_("about the deadline"), max_length=300, blank=True)
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


from .models_backpay import *  # noqa: E402,F403
