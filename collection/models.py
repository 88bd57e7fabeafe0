"""Tax bureau's own ledger. Filled only from messages of the sharing platform, never from insurance's tables."""

from __future__ import annotations

import pghistory
from django.conf import settings
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


class PayerStatus(models.TextChoices):
    NORMAL = "normal", _("Enrolled")
    SUSPENDED = "suspended", _("Suspended")
    TERMINATED = "terminated", _("Terminated")


@tracked(level=pghistory.Statement)
class Payer(models.Model):
    """A person enrolled with insurance, as tax knows them (缴费人), from ``enrollment.*`` messages:
    whom the counter can find by identifier or name. Never read from insurance's tables."""

    scope_region_lookup = "region_code"

    person_id = models.CharField(_("person identifier"), max_length=32, unique=True, db_collation="C")
    name = models.CharField(_("name"), max_length=60, db_collation="C")
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    category = models.CharField(_("category"), max_length=32, blank=True, default="")
    enrolled_on = models.DateField(_("enrolled on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=PayerStatus.choices, default=PayerStatus.NORMAL
    )
    # The sharing message last applied and its sequence number in the subject (the person).
    source_message_id = models.BigIntegerField(_("source message"))
    sequence = models.PositiveIntegerField(_("sequence number"))
    updated_at = models.DateTimeField(_("updated at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("payer")
        verbose_name_plural = _("payers")
        constraints = [
            models.CheckConstraint(
                name="collection_payer_status_known", condition=Q(status__in=PayerStatus.values)
            ),
            models.CheckConstraint(
                name="collection_payer_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
        ]
        indexes = [
            # The counter finds a payer by a name prefix within its area.
            models.Index(fields=["name", "region_code"], name="collection_payer_name"),
            models.Index(fields=["region_code"], name="collection_payer_region"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.person_id})"


class Channel(models.TextChoices):
    COUNTER_CASH = "counter_cash", _("Cash at the counter")
    BANK_CARD = "bank_card", _("Bank card")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    BANK_POS = "bank_pos", _("Bank POS")
    VILLAGE = "village", _("Village collection")
    SCHOOL = "school", _("School collection")
    BANK_BATCH = "bank_batch", _("Bank batch debit")


class PaymentStatus(models.TextChoices):
    RECORDED = "recorded", _("Recorded")
    REVERSED = "reversed", _("Reversed")


class ReceiptCounter(models.Model):
    """The last receipt number a collecting agency gave in a year. Taken with an UPDATE that holds
    the row until the payment commits, so numbers have no gap and no duplicate."""

    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, verbose_name=_("agency"))
    year = models.PositiveSmallIntegerField(_("year"))
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("receipt counter")
        verbose_name_plural = _("receipt counters")
        constraints = [
            models.UniqueConstraint(fields=["agency", "year"], name="collection_receipt_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id} {self.year}: {self.last_number}"


def receipt_code(agency_id: int, year: int, number: int) -> str:
    """A receipt's printed number: agency, year and the consecutive number (0004-2026-000001)."""
    return f"{agency_id:04d}-{year}-{number:06d}"


@tracked(level=pghistory.Statement)
class Payment(models.Model):
    """One payment of one due item, recorded by tax (实缴), with its receipt. Never deleted: a
    mistaken payment is reversed (冲正) with a reason, and insurance is told."""

    scope_region_lookup = "region_code"

    due_item = models.ForeignKey(
        DueItem, on_delete=models.PROTECT, related_name="payments", verbose_name=_("due item")
    )
    person_id = models.CharField(_("person identifier"), max_length=32, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    paid_at = models.DateTimeField(_("paid at"))
    paid_by = models.CharField(_("paid by"), max_length=60)
    agency = models.ForeignKey(
        "accounts.Agency",
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("collecting agency"),
    )
    collector = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=_("collector"),
    )
    receipt_year = models.PositiveSmallIntegerField(_("receipt year"))
    receipt_number = models.PositiveIntegerField(_("receipt number"))
    # The client's Idempotency-Key: the same key always answers with the same payment.
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=64, null=True, blank=True, unique=True, db_collation="C"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.RECORDED
    )
    recorded_at = models.DateTimeField(_("recorded at"), db_default=models.functions.Now())
    # A reversal (冲正) keeps the payment and says why, when and who.
    reversal_reason = models.CharField(_("why it was reversed"), max_length=200, blank=True, default="")
    reversed_at = models.DateTimeField(_("reversed at"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_payments",
        verbose_name=_("reversed by"),
    )

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            # A contribution is paid once: one standing payment per due item.
            models.UniqueConstraint(
                fields=["due_item"],
                condition=Q(status="recorded"),
                name="collection_payment_once_per_due_item",
            ),
            models.UniqueConstraint(
                fields=["agency", "receipt_year", "receipt_number"], name="collection_payment_receipt_unique"
            ),
            models.CheckConstraint(name="collection_payment_amount_positive", condition=Q(amount_fen__gt=0)),
            models.CheckConstraint(
                name="collection_payment_channel_known", condition=Q(channel__in=Channel.values)
            ),
            models.CheckConstraint(
                name="collection_payment_status_known", condition=Q(status__in=PaymentStatus.values)
            ),
            # Reversed, and only then, with the reason, the moment and who.
            models.CheckConstraint(
                name="collection_payment_reversal_complete",
                condition=(
                    Q(
                        status="recorded",
                        reversed_at__isnull=True,
                        reversed_by__isnull=True,
                        reversal_reason="",
                    )
                    | (
                        Q(status="reversed", reversed_at__isnull=False, reversed_by__isnull=False)
                        & ~Q(reversal_reason="")
                    )
                ),
            ),
            models.CheckConstraint(
                name="collection_payment_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
        ]
        indexes = [
            models.Index(fields=["region_code", "paid_at"], name="collection_payment_region_day"),
            models.Index(fields=["person_id", "insurance_year"], name="collection_payment_person"),
        ]

    def __str__(self) -> str:
        return f"{self.receipt} {self.person_id} {self.amount_fen}"

    @property
    def receipt(self) -> str:
        return receipt_code(self.agency_id, self.receipt_year, self.receipt_number)


@tracked(level=pghistory.Statement)
class VoidedReceipt(models.Model):
    """A receipt number voided (作废: misprinted, spoiled, lost) and replaced by a new one for the
    same payment. Kept with the reason, never deleted; its number is never given again."""

    scope_region_lookup = "payment__region_code"

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="voided_receipts", verbose_name=_("payment")
    )
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.PROTECT, verbose_name=_("collecting agency")
    )
    receipt_year = models.PositiveSmallIntegerField(_("receipt year"))
    receipt_number = models.PositiveIntegerField(_("receipt number"))
    reason = models.CharField(_("why it was voided"), max_length=200)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("voided by")
    )
    voided_at = models.DateTimeField(_("voided at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("voided receipt")
        verbose_name_plural = _("voided receipts")
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "receipt_year", "receipt_number"], name="collection_voided_receipt_unique"
            ),
            models.CheckConstraint(name="collection_voided_receipt_has_reason", condition=~Q(reason="")),
        ]

    def __str__(self) -> str:
        return receipt_code(self.agency_id, self.receipt_year, self.receipt_number)
