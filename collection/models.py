"""Tax bureau's own ledger. Filled only from messages of the sharing platform, never from insurance's tables."""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked


class DueStatus(models.TextChoices):
    DUE = "due", _("Due")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


# Statement-level history: one trigger call per batch statement, not one per row.
@tracked(level=pghistory.Statement)
class DueItem(models.Model):
    """What one person owes for one insurance year, as tax knows it (应缴), from ``assessment.due``."""

    scope_region_lookup = "region_code"

    person_id = models.CharField(_("person identifier"), max_length=32, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    amount_fen = models.BigIntegerField(_("amount due (fen)"))
    subsidy_fen = models.BigIntegerField(_("subsidy (fen)"), default=0)
    subsidy_marker = models.CharField(_("subsidy marker"), max_length=16, blank=True, default="")
    # When a payment is accepted and at what amount, as insurance's rule engine decided it:
    # [{"from", "to", "amount_fen", "subsidy_fen", "rule", "days_of_month"?}, ...].
    schedule = models.JSONField(_("payment schedule"), default=list)
    status = models.CharField(_("status"), max_length=16, choices=DueStatus.choices, default=DueStatus.DUE)
    # The sharing message last applied, and its sequence number within the due item's subject:
    # a message is applied only when it is newer than what the ledger already holds.
    source_message_id = models.BigIntegerField(_("source message"))
    sequence = models.PositiveIntegerField(_("sequence number"))
    # The assessment's revision this item holds (0: from a message without one): a message is
    # applied only when it carries a newer revision, whatever subject or batch it came in.
    revision = models.PositiveIntegerField(_("assessment revision"), default=0)
    updated_at = models.DateTimeField(_("updated at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("due item")
        verbose_name_plural = _("due items")
        constraints = [
            models.UniqueConstraint(
                fields=["person_id", "insurance_year"], name="collection_due_person_year_unique"
            ),
            models.CheckConstraint(name="collection_due_amount_not_negative", condition=Q(amount_fen__gte=0)),
            models.CheckConstraint(
                name="collection_due_status_known", condition=Q(status__in=DueStatus.values)
            ),
            models.CheckConstraint(
                name="collection_due_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
        ]
        indexes = [models.Index(fields=["region_code", "insurance_year"], name="collection_due_region_year")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance_year}: {self.amount_fen}"


class SubsidyMarkStatus(models.TextChoices):
    ACTIVE = "active", _("Subsidised")
    WITHDRAWN = "withdrawn", _("Withdrawn")


@tracked(level=pghistory.Statement)
class SubsidyMark(models.Model):
    """That insurance told tax a person is subsidised in a category for an insurance year, or that
    the tag was withdrawn (an item of ``subsidy.marks_batch``); with the city-wide marker, the kind
    of subsidy and the amount the government pays."""

    scope_region_lookup = "region_code"

    person_id = models.CharField(_("person identifier"), max_length=32, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    category = models.CharField(_("subsidy category"), max_length=32, db_collation="C")
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    marker = models.CharField(_("subsidy marker"), max_length=16, blank=True, default="")
    subsidy_kind = models.CharField(_("kind of subsidy"), max_length=8, blank=True, default="")
    subsidy_fen = models.BigIntegerField(_("subsidy (fen)"), default=0)
    roster = models.CharField(_("roster"), max_length=64, blank=True, default="")
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=SubsidyMarkStatus.choices, default=SubsidyMarkStatus.ACTIVE
    )
    reason = models.CharField(_("why it was withdrawn"), max_length=200, blank=True, default="")
    # The sharing message last applied and its sequence number within its subject.
    source_message_id = models.BigIntegerField(_("source message"))
    sequence = models.PositiveIntegerField(_("sequence number"))
    # Insurance's revision of the marks (one per roster import, in the order they committed): a
    # message is applied only when it carries a newer one, whatever batch it came in.
    revision = models.BigIntegerField(_("revision"), default=0)
    updated_at = models.DateTimeField(_("updated at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("subsidy mark")
        verbose_name_plural = _("subsidy marks")
        constraints = [
            models.UniqueConstraint(
                fields=["person_id", "insurance_year", "category"], name="collection_subsidy_mark_unique"
            ),
            models.CheckConstraint(
                name="collection_subsidy_mark_status_known", condition=Q(status__in=SubsidyMarkStatus.values)
            ),
            models.CheckConstraint(
                name="collection_subsidy_mark_amount_not_negative", condition=Q(subsidy_fen__gte=0)
            ),
            models.CheckConstraint(
                name="collection_subsidy_mark_region_12_digits",
                condition=Q(region_code__regex=r"^[0-9]{12}$"),
            ),
        ]
        indexes = [models.Index(fields=["region_code", "insurance_year"], name="collection_mark_region_year")]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance_year} {self.category}: {self.status}"
