"""Finance's record of the fund-usage plans insurance submitted, and what finance did with them.

Invariants in the database: a plan is recorded once (insurance's plan id unique); a rejection has
its reason, a decision its decider, a transfer its voucher, date and who; the events are
append-only (a trigger refuses updates and deletes).
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked


class PlanStatus(models.TextChoices):
    RECEIVED = "received", _("Waiting for a decision")
    APPROVED = "approved", _("Approved, waiting for the transfer")
    REJECTED = "rejected", _("Rejected")
    TRANSFERRED = "transferred", _("Funds transferred")


@tracked()
class ReceivedPlan(models.Model):
    """A fund-usage plan (用款计划) as insurance submitted it (``refund.fund_plan_submitted``)."""

    scope_region_lookup = "region_code"

    plan_id = models.BigIntegerField(_("insurance's plan"), unique=True)
    region_code = models.CharField(_("region"), max_length=12, db_collation="C")
    period = models.CharField(_("period"), max_length=16)
    refund_count = models.PositiveIntegerField(_("refunds"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    # The plan's lines as sent (masked identifiers, receipt, reason, amount); empty for version 1.
    lines = models.JSONField(_("lines"), default=list, blank=True)
    submitted_on = models.DateField(_("submitted on"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"))
    source_message_id = models.BigIntegerField(_("source message"))
    status = models.CharField(_("status"), max_length=12, choices=PlanStatus.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("reason"), max_length=200, blank=True)
    transferred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("transfer recorded by"),
    )
    transferred_at = models.DateTimeField(_("transfer recorded at"), null=True, blank=True)
    transferred_on = models.DateField(_("transferred on"), null=True, blank=True)
    voucher = models.CharField(_("voucher number"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("received fund-usage plan")
        verbose_name_plural = _("received fund-usage plans")
        ordering = ["-received_at", "-pk"]
        indexes = [models.Index(fields=["region_code", "status"], name="finance_plan_region_status")]
        constraints = [
            models.CheckConstraint(
                name="finance_plan_status_known", condition=Q(status__in=PlanStatus.values)
            ),
            models.CheckConstraint(name="finance_plan_amount_positive", condition=Q(amount_fen__gt=0)),
            models.CheckConstraint(
                name="finance_plan_decision_recorded",
                condition=Q(status="received") | Q(decided_by__isnull=False, decided_at__isnull=False),
            ),
            models.CheckConstraint(
                name="finance_plan_rejection_has_reason",
                condition=~Q(status="rejected") | ~Q(decision_reason=""),
            ),
            models.CheckConstraint(
                name="finance_plan_transfer_recorded",
                condition=~Q(status="transferred")
                | Q(transferred_by__isnull=False, transferred_at__isnull=False, transferred_on__isnull=False)
                & ~Q(voucher=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.period} · {self.get_status_display()}"


class PlanEvent(models.Model):
    """One step of a received plan: received (actor NULL: insurance's message), approved, rejected,
    transferred. Finance's own timeline; it never writes insurance's."""

    scope_region_lookup = "plan__region_code"

    plan = models.ForeignKey(
        ReceivedPlan, on_delete=models.PROTECT, related_name="timeline", verbose_name=_("plan")
    )
    action = models.CharField(_("action"), max_length=16)
    from_state = models.CharField(_("from"), max_length=12, blank=True)
    to_state = models.CharField(_("to"), max_length=12)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    at = models.DateTimeField(_("at"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("plan event")
        verbose_name_plural = _("plan events")
        ordering = ["at", "pk"]
        constraints = [
            models.CheckConstraint(name="finance_event_moves", condition=~Q(from_state=models.F("to_state")))
        ]
        triggers = [
            pgtrigger.Protect(
                name="finance_plan_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} {self.from_state or '∅'}→{self.to_state}"


class SubsidyFunds(models.Model):
    """A county's subsidy totals for one insurance year as insurance last reported them
    (``subsidy.fund_totals``): the newest report (``as_of``) replaces the older, lines and all."""

    scope_region_lookup = "region_code"

    region_code = models.CharField(_("county"), max_length=12, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    as_of = models.DateTimeField(_("as of"))
    person_count = models.PositiveIntegerField(_("persons"))
    amount_fen = models.BigIntegerField(_("subsidy (fen)"))
    source_message_id = models.BigIntegerField(_("source message"))
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        verbose_name = _("subsidy funds of a county")
        verbose_name_plural = _("subsidy funds of counties")
        constraints = [
            models.UniqueConstraint(
                fields=["region_code", "insurance_year"], name="finance_funds_county_year"
            ),
            models.CheckConstraint(name="finance_funds_amount_not_negative", condition=Q(amount_fen__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.region_code} {self.insurance_year}: {self.person_count}"


class SubsidyFundsLine(models.Model):
    """One subsidy category of a county's report: persons and money."""

    scope_region_lookup = "report__region_code"

    report = models.ForeignKey(
        SubsidyFunds, on_delete=models.CASCADE, related_name="lines", verbose_name=_("report")
    )
    category = models.CharField(_("subsidy category"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    person_count = models.PositiveIntegerField(_("persons"))
    amount_fen = models.BigIntegerField(_("subsidy (fen)"))

    class Meta:
        verbose_name = _("subsidy funds of a category")
        verbose_name_plural = _("subsidy funds of categories")
        constraints = [
            models.UniqueConstraint(fields=["report", "category"], name="finance_funds_line_category"),
            models.CheckConstraint(name="finance_funds_line_not_negative", condition=Q(amount_fen__gte=0)),
        ]

    def __str__(self) -> str:
        return f"{self.category}: {self.person_count}"
