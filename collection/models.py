"""Tax bureau's own ledger. Filled only from messages of the sharing platform, never from insurance's tables."""

from __future__ import annotations

import uuid

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.masking import mask_id_number
from accounts.money import yuan


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
        # Masked: the admin puts this in titles and breadcrumbs, which its masked columns do not cover.
        return f"{mask_id_number(self.person_id)} {self.insurance_year}: {self.amount_fen}"


@tracked(level=pghistory.Statement)
class BackPaymentWindow(models.Model):
    """When a policy takes back-payment applications for an insurance year, as insurance sent it
    (``policy.back_payment_window``): the counter's way forward after the collection period."""

    policy_code = models.CharField(_("policy"), max_length=64, unique=True)
    policy_version = models.PositiveIntegerField(_("policy version"))
    region_prefix = models.CharField(_("region prefix"), max_length=12, blank=True, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    back_payment = models.BooleanField(_("takes back-payments"))
    apply_from = models.DateField(_("applications from"), null=True, blank=True)
    apply_until = models.DateField(_("applications until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("back-payment window")
        verbose_name_plural = _("back-payment windows")
        constraints = [
            models.CheckConstraint(
                name="collection_backpay_window_dates",
                condition=Q(back_payment=False)
                | Q(apply_from__isnull=False, apply_until__isnull=False, apply_from__lte=F("apply_until")),
            ),
        ]
        indexes = [
            models.Index(fields=["insurance_year", "region_prefix"], name="collection_backpay_window_year")
        ]

    def __str__(self) -> str:
        return f"{self.policy_code} {self.insurance_year}"


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
    # Insurance's revision of the marks (one per roster import or change of a tag by hand, in the
    # order they committed): a message is applied only when it carries a newer one, whatever batch
    # it came in.
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


@tracked(level=pghistory.Statement)
class IdentifierCorrection(models.Model):
    """Insurance corrected a person's identifier (``person.identifier_corrected``): tax's ledger was
    re-keyed from the old identifier to the new one in the transaction that wrote this row, with
    the counts of what moved. Kept: a message sent before ``corrected_at`` that still names the old
    identifier (a due item, a subsidy mark, a refund) is read as naming ``current_person_id``."""

    old_person_id = models.CharField(_("old identifier"), max_length=32, db_collation="C")
    new_person_id = models.CharField(_("new identifier"), max_length=32, db_collation="C")
    # Where the old identifier's records are now: the new one, or a later correction's (A → B → C).
    current_person_id = models.CharField(_("current identifier"), max_length=32, db_collation="C")
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    corrected_at = models.DateTimeField(_("corrected at"))
    reason = models.CharField(_("reason"), max_length=200)
    source_message_id = models.BigIntegerField(_("source message"), unique=True)
    applied_at = models.DateTimeField(_("applied at"), db_default=models.functions.Now())
    # What moved: {"payers": 1, "due_items": 2, "payments": 1, ...}, and what was merged.
    moved = models.JSONField(_("records moved"), default=dict)

    class Meta:
        verbose_name = _("identifier correction")
        verbose_name_plural = _("identifier corrections")
        indexes = [
            models.Index(fields=["old_person_id", "corrected_at"], name="collection_correction_old"),
            models.Index(fields=["current_person_id"], name="collection_correction_current"),
        ]

    def __str__(self) -> str:
        return f"{mask_id_number(self.old_person_id)} → {mask_id_number(self.new_person_id)}"


class Channel(models.TextChoices):
    COUNTER_CASH = "counter_cash", _("Cash at the counter")
    BANK_CARD = "bank_card", _("Bank card")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    BANK_POS = "bank_pos", _("Bank POS")
    VILLAGE = "village", _("Village collection")
    SCHOOL = "school", _("School collection")
    BANK_BATCH = "bank_batch", _("Bank batch debit")


# The channels of a single payment (the counter's form, the API): the payer in person or their own
# card or wallet. The others are a batch's (``BATCH_CHANNEL``): only a village's or a school's
# collective payment, or a bank's debit file, records them.
SINGLE_PAYMENT_CHANNELS = (
    Channel.COUNTER_CASH,
    Channel.BANK_CARD,
    Channel.WECHAT,
    Channel.ALIPAY,
    Channel.BANK_POS,
)


class PaymentStatus(models.TextChoices):
    RECORDED = "recorded", _("Recorded")
    REVERSED = "reversed", _("Reversed")


class ReceiptCounter(models.Model):
    """The last receipt number a collecting agency gave in a year. Taken with an UPDATE that holds
    the row until the payment commits, so numbers have no gap and no duplicate."""

    # Indexed by the unique (agency, year), which leads with it.
    agency = models.ForeignKey(
        "accounts.Agency", on_delete=models.PROTECT, db_index=False, verbose_name=_("agency")
    )
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


def receipt_code_sql(agency_id: str, year: str, number: str) -> str:
    """``receipt_code`` as a SQL expression over three integer SQL expressions, for a statement
    that numbers a receipt and writes it in the same breath (zero-padded, never cut: as ``:04d``).
    ``tests/collection/test_receipt_code.py`` holds the two to the same text."""

    def padded(value: str, width: int) -> str:
        return f"(repeat('0', {width} - length(({value})::text)) || ({value})::text)"

    return f"({padded(agency_id, 4)} || '-' || ({year})::text || '-' || {padded(number, 6)})"


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
    # False when the source gave the day only (a bank's debit file without times): ``paid_at`` is
    # then the day's start, which dates and prices the payment, and is printed as the day alone.
    paid_time_known = models.BooleanField(_("time of payment known"), default=True, db_default=True)
    paid_by = models.CharField(_("paid by"), max_length=60)
    # Indexed by the receipt's unique (agency, year, number), which leads with it.
    agency = models.ForeignKey(
        "accounts.Agency",
        on_delete=models.PROTECT,
        db_index=False,
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
    # Unique by a constraint below, not unique=True: that would add a second index, for LIKE
    # searches, which no one makes on a key. NULL, not '': many payments have no key.
    idempotency_key = models.CharField(  # noqa: DJ001
        _("idempotency key"), max_length=64, null=True, blank=True, db_collation="C"
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
        db_index=False,  # indexed where set (below): almost every payment has none
        related_name="reversed_payments",
        verbose_name=_("reversed by"),
    )
    # The collective payment or bank debit file the payment came in with, if any.
    batch = models.ForeignKey(
        "PaymentBatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # indexed where set (below): most payments are single
        related_name="payments",
        verbose_name=_("batch"),
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
            models.UniqueConstraint(
                fields=["idempotency_key"], name="collection_payment_idempotency_key_unique"
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
            # Only a bank's debit file can leave the time out: every other channel is dated now or
            # at the moment its notice gives.
            models.CheckConstraint(
                name="collection_payment_date_only_bank_debit",
                condition=Q(paid_time_known=True) | Q(channel="bank_batch"),
            ),
        ]
        indexes = [
            models.Index(fields=["batch"], name="collection_payment_batch", condition=Q(batch__isnull=False)),
            models.Index(
                fields=["reversed_by"],
                name="collection_payment_reversed_by",
                condition=Q(reversed_by__isnull=False),
            ),
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
        return self.receipt_code

    @property
    def receipt_code(self) -> str:
        return receipt_code(self.agency_id, self.receipt_year, self.receipt_number)


class BatchKind(models.TextChoices):
    VILLAGE = "village", _("Village collection")
    SCHOOL = "school", _("School collection")
    BANK_DEBIT = "bank_debit", _("Bank batch debit")


class BatchStatus(models.TextChoices):
    QUEUED = "queued", _("Being matched")
    DONE = "done", _("Recorded")
    FAILED = "failed", _("Not imported")


def _bank_file_upload_to(instance: PaymentBatch, filename: str) -> str:
    """bank-debits/YYYY/MM/<random>.csv: the bank's file name is kept in the row, never in the path."""
    now = timezone.now()
    return f"bank-debits/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.csv"


# The channel every payment of a batch of that kind is recorded with.
BATCH_CHANNEL = {
    BatchKind.VILLAGE: Channel.VILLAGE,
    BatchKind.SCHOOL: Channel.SCHOOL,
    BatchKind.BANK_DEBIT: Channel.BANK_BATCH,
}


@tracked(level=pghistory.Statement)
class PaymentBatch(models.Model):
    """Many payments recorded at once: a village's or a school's collective payment (集体代缴),
    handed over by one person with one list, or a bank's batch-debit result file (批量扣款).

    Its payments are ordinary payments (one per due item, each with its receipt); the batch keeps
    who handed over the money, the totals, and — for a bank file — the lines that matched nothing.
    """

    scope_region_lookup = "region_code"

    kind = models.CharField(_("kind"), max_length=12, choices=BatchKind.choices)
    agency = models.ForeignKey(
        "accounts.Agency",
        on_delete=models.PROTECT,
        related_name="payment_batches",
        verbose_name=_("collecting agency"),
    )
    # The village, or for a school or a bank file the collecting agency's area: who may see it.
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    # The village's, school's or bank's name as printed on the ledger.
    unit_name = models.CharField(_("paid through"), max_length=100)
    # Who handed over the money (the village's accountant, the school's bursar) or the bank.
    paid_by = models.CharField(_("handed over by"), max_length=60)
    file_name = models.CharField(_("file"), max_length=200, blank=True, default="")
    # A bank file is taken once: its SHA-256 per agency.
    file_sha256 = models.CharField(
        _("file checksum"), max_length=64, blank=True, default="", db_collation="C"
    )
    # A bank file is matched by a worker: queued → done, or failed with the message (nothing
    # recorded); the worker holds the row while it matches, so a second delivery skips it. A collective payment is done when it is created.
    status = models.CharField(
        _("status"), max_length=8, choices=BatchStatus.choices, default=BatchStatus.DONE
    )
    message = models.CharField(_("message"), max_length=300, blank=True, default="")
    file = models.FileField(_("stored file"), upload_to=_bank_file_upload_to, max_length=200, blank=True)
    payment_count = models.PositiveIntegerField(_("payments"), default=0)
    total_fen = models.BigIntegerField(_("total (fen)"), default=0)
    problem_count = models.PositiveIntegerField(_("lines not matched"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("recorded at"), db_default=models.functions.Now())
    # The form's key: the same collective payment submitted twice is recorded once.
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=64, null=True, blank=True, unique=True, db_collation="C"
    )

    class Meta:
        verbose_name = _("payment batch")
        verbose_name_plural = _("payment batches")
        constraints = [
            models.CheckConstraint(
                name="collection_batch_kind_known", condition=Q(kind__in=BatchKind.values)
            ),
            models.CheckConstraint(name="collection_batch_total_not_negative", condition=Q(total_fen__gte=0)),
            models.CheckConstraint(
                name="collection_batch_region_digits", condition=Q(region_code__regex=r"^[0-9]{6,12}$")
            ),
            models.UniqueConstraint(
                fields=["agency", "file_sha256"],
                condition=~Q(file_sha256=""),
                name="collection_batch_file_once",
            ),
        ]
        indexes = [models.Index(fields=["region_code", "created_at"], name="collection_batch_region_day")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.unit_name} {self.created_at:%Y-%m-%d}"

    @property
    def total(self) -> str:
        """The total in yuan, as printed."""
        return yuan(self.total_fen)


class BatchProblem(models.Model):
    """A line of a batch that was not paid, and why: for a bank file, money the bank took that
    matches no due item (to be refunded or cleared by hand) or a debit that failed."""

    batch = models.ForeignKey(
        PaymentBatch, on_delete=models.PROTECT, related_name="problems", verbose_name=_("batch")
    )
    line_number = models.PositiveIntegerField(_("line"))
    person_id = models.CharField(_("person identifier"), max_length=32, blank=True, default="")
    name = models.CharField(_("name"), max_length=60, blank=True, default="")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"), null=True, blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"), null=True, blank=True)
    reference = models.CharField(_("bank reference"), max_length=64, blank=True, default="")
    # True when the bank did take the money: it must be paid back or cleared.
    money_taken = models.BooleanField(_("money taken"), default=False)
    reason = models.CharField(_("reason"), max_length=300)

    class Meta:
        verbose_name = _("unmatched line")
        verbose_name_plural = _("unmatched lines")
        ordering = ["batch", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "line_number"], name="collection_batch_problem_line_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line_number} {self.reason}"


@tracked(level=pghistory.Statement)
class PaymentCertificate(models.Model):
    """A payment certificate (缴费证明) issued for a payment, with the code anyone can check on
    the public page. Issued once per payment; printing it again shows the same code. The holder's
    name is kept masked: the public page shows nothing more."""

    scope_region_lookup = "payment__region_code"

    payment = models.OneToOneField(
        Payment, on_delete=models.PROTECT, related_name="certificate", verbose_name=_("payment")
    )
    # Random, unguessable (80 bits), in groups for reading aloud: XXXX-XXXX-XXXX-XXXX.
    code = models.CharField(_("verification code"), max_length=24, unique=True, db_collation="C")
    masked_name = models.CharField(_("masked name"), max_length=60)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("issued by")
    )
    issued_at = models.DateTimeField(_("issued at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("payment certificate")
        verbose_name_plural = _("payment certificates")

    def __str__(self) -> str:
        return self.code


class RefundKind(models.TextChoices):
    APPLICATION = "application", _("Refund application")
    OVERCOLLECTION = "overcollection", _("Over-collection by tax")


class RefundPaid(models.Model):
    """A contribution insurance paid back to the payer (退费), as insurance reported it in the
    month's refund details (``refund.monthly_details``): tax's record of money that left the fund,
    linked to its receipt by the receipt number. Written once per refund, never changed."""

    scope_region_lookup = "region_code"

    # An application's refund (insurance numbers it) or an over-collection tax reported (tax's own
    # request number): two id spaces, so a refund is known by its kind and number together.
    kind = models.CharField(
        _("kind"), max_length=16, choices=RefundKind.choices, default=RefundKind.APPLICATION
    )
    refund_id = models.BigIntegerField(_("refund number"))
    person_id = models.CharField(_("person identifier"), max_length=32, db_collation="C")
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    month = models.CharField(_("month"), max_length=7)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    receipt_number = models.CharField(_("receipt"), max_length=64, blank=True, default="", db_collation="C")
    paid_on = models.DateField(_("paid back on"))
    source_message_id = models.BigIntegerField(_("source message"))
    received_at = models.DateTimeField(_("received at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("refund paid")
        verbose_name_plural = _("refunds paid")
        constraints = [
            models.UniqueConstraint(fields=["kind", "refund_id"], name="collection_refund_paid_once"),
            models.CheckConstraint(
                name="collection_refund_paid_kind_known", condition=Q(kind__in=RefundKind.values)
            ),
            models.CheckConstraint(
                name="collection_refund_paid_amount_positive", condition=Q(amount_fen__gt=0)
            ),
        ]
        indexes = [
            models.Index(fields=["receipt_number"], name="collection_refund_receipt"),
            models.Index(fields=["region_code", "month"], name="collection_refund_region_month"),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.person_id} {self.amount_fen}"


# --- over-collections tax caused, reported to insurance for refund -----------------------------


class OvercollectionReason(models.TextChoices):
    CHARGED_TWICE = "charged_twice", _("Charged twice")
    WRONG_AMOUNT = "wrong_amount", _("Wrong amount charged")
    BANK_DEBITED_TWICE = "bank_debited_twice", _("Bank debited twice")
    OTHER = "other", _("Other (see the note)")


class OvercollectionStatus(models.TextChoices):
    """Where the request stands, as insurance's pushes (``refund.overcollection_status``) say."""

    REQUESTED = "requested", _("Sent to insurance")
    RECEIVED = "received", _("Received by insurance, waiting for a plan")
    PLANNED = "planned", _("In a fund-usage plan")
    APPROVED = "approved", _("Approved by finance")
    REJECTED = "rejected", _("Plan rejected by finance, waiting for the next plan")
    FUNDED = "funded", _("Funded by finance")
    PAID_OUT = "paid_out", _("Paid out")
    # Insurance found more asked than is left of the payment (its note says how much is left):
    # nothing goes back on this request; tax may report again with the right amount.
    REFUSED = "refused", _("Refused by insurance (see its note)")


@tracked(level=pghistory.Statement)
class OvercollectionRequest(models.Model):
    """An over-collection tax caused on a payment (退费 of 多征), reported to insurance for refund.

    At most one open request per payment (a partial unique index: paid out and refused ones are
    closed); the amounts requested for a payment, but refused ones, never exceed what it took
    (checked under the payment's row lock). The status mirrors insurance's pushes; each one is an
    ``OvercollectionEvent`` on the request's timeline.
    """

    scope_region_lookup = "region_code"

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="overcollection_requests", verbose_name=_("payment")
    )
    person_id = models.CharField(_("person identifier"), max_length=32, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    receipt_number = models.CharField(_("receipt"), max_length=64, db_collation="C")
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=24, choices=OvercollectionReason.choices)
    note = models.CharField(_("note"), max_length=150, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=OvercollectionStatus.choices,
        default=OvercollectionStatus.REQUESTED,
    )
    status_at = models.DateTimeField(_("status since"))
    status_note = models.CharField(_("about the status"), max_length=500, blank=True)
    # The sequence number of the last push applied: an older one never overwrites a newer one.
    status_sequence = models.PositiveIntegerField(_("last push"), default=0)
    plan_id = models.BigIntegerField(_("insurance's fund-usage plan"), null=True, blank=True)
    period = models.CharField(_("plan period"), max_length=16, blank=True)
    paid_on = models.DateField(_("paid out on"), null=True, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("over-collection request")
        verbose_name_plural = _("over-collection requests")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["region_code", "status"], name="collection_overcollect_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["payment"],
                condition=~Q(status__in=["paid_out", "refused"]),
                name="collection_overcollection_one_open_per_payment",
            ),
            models.CheckConstraint(
                name="collection_overcollection_amount_positive", condition=Q(amount_fen__gt=0)
            ),
            models.CheckConstraint(
                name="collection_overcollection_status_known",
                condition=Q(status__in=OvercollectionStatus.values),
            ),
            models.CheckConstraint(
                name="collection_overcollection_reason_known",
                condition=Q(reason__in=OvercollectionReason.values),
            ),
            models.CheckConstraint(
                name="collection_overcollection_other_has_note", condition=~Q(reason="other") | ~Q(note="")
            ),
            models.CheckConstraint(
                name="collection_overcollection_paid_out_dated",
                condition=~Q(status="paid_out") | Q(paid_on__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_number} {self.amount_fen} · {self.get_status_display()}"


class OvercollectionEvent(models.Model):
    """One step of an over-collection request: the tax clerk's request, then each push from
    insurance (``source_message_id``: one event per message, however often it is delivered)."""

    scope_region_lookup = "request__region_code"

    request = models.ForeignKey(
        OvercollectionRequest, on_delete=models.PROTECT, related_name="timeline", verbose_name=_("request")
    )
    status = models.CharField(_("status"), max_length=12, choices=OvercollectionStatus.choices)
    at = models.DateTimeField(_("at"))
    note = models.CharField(_("note"), max_length=500, blank=True)
    plan_id = models.BigIntegerField(_("insurance's fund-usage plan"), null=True, blank=True)
    # NULL: the tax clerk's own request; else insurance's message.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source_message_id = models.BigIntegerField(_("source message"), null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("over-collection event")
        verbose_name_plural = _("over-collection events")
        ordering = ["at", "pk"]
        triggers = [
            pgtrigger.Protect(
                name="collection_overcollection_event_append_only",
                operation=pgtrigger.Update | pgtrigger.Delete,
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.status}"


# --- the collection-progress dashboard's summary (collection/progress.py) -----------------------
# Derived from the ledger above by ``progress_refresh`` (set-based, idempotent), read by the
# dashboard instead of the ledger, so a page reads a few hundred rows whatever the population.
# Not tracked by history: every row is recomputed from tracked tables.


class ProgressArea(models.Model):
    """One area (province, city, county, township or village; the 12-digit code of a region at
    ``level``) in one insurance year: the persons and money due through tax and what was paid."""

    scope_region_lookup = "area_code"

    level = models.PositiveSmallIntegerField(_("level"))
    area_code = models.CharField(_("area"), max_length=12, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    # Items with something to pay through tax (due or paid, amount above zero).
    persons_due = models.PositiveIntegerField(_("persons due"))
    due_fen = models.BigIntegerField(_("money due (fen)"))
    # Standing payments (reversed ones are not counted) of the year's items.
    persons_paid = models.PositiveIntegerField(_("persons paid"))
    paid_fen = models.BigIntegerField(_("money paid (fen)"))
    # Items withdrawn (the government pays in full, or the enrollment ended) or with nothing to pay.
    persons_withdrawn = models.PositiveIntegerField(_("persons withdrawn"))

    class Meta:
        verbose_name = _("collection progress of an area")
        verbose_name_plural = _("collection progress of areas")
        constraints = [
            models.UniqueConstraint(
                fields=["insurance_year", "level", "area_code"], name="collection_progress_area_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area_code} {self.insurance_year}: {self.persons_paid}/{self.persons_due}"


class ProgressDay(models.Model):
    """One area's standing payments of one insurance year taken on one day through one channel."""

    scope_region_lookup = "area_code"

    level = models.PositiveSmallIntegerField(_("level"))
    area_code = models.CharField(_("area"), max_length=12, db_collation="C")
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    day = models.DateField(_("day"))
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    payments = models.PositiveIntegerField(_("payments"))
    paid_fen = models.BigIntegerField(_("money paid (fen)"))

    class Meta:
        verbose_name = _("collection of a day")
        verbose_name_plural = _("collection per day")
        constraints = [
            # Also the index the dashboard reads: one area's days of a year, in order.
            models.UniqueConstraint(
                fields=["insurance_year", "level", "area_code", "day", "channel"],
                name="collection_progress_day_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area_code} {self.day} {self.channel}: {self.payments}"


class ProgressRefresh(models.Model):
    """When the summary above was last computed (one row), for the page's "as of"."""

    refreshed_at = models.DateTimeField(_("as of"))
    seconds = models.FloatField(_("seconds"))
    area_rows = models.PositiveIntegerField(_("area rows"))
    day_rows = models.PositiveIntegerField(_("day rows"))

    class Meta:
        verbose_name = _("collection progress refresh")
        verbose_name_plural = _("collection progress refreshes")

    def __str__(self) -> str:
        return f"{self.refreshed_at:%Y-%m-%d %H:%M}"
