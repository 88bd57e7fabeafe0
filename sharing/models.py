"""The sharing platform's tables: outbox, queue, inbox, subjects, lanes, reconciliation reports.

How a message travels:

1. The sender's service calls ``sharing.services.message_send`` inside its own transaction: an
   append-only ``OutboxMessage`` row is written with the next sequence number of its subject
   (the ``Subject`` row stays locked until the sending transaction ends, so one subject's
   messages are numbered in commit order), and a ``PendingDelivery`` row queues it.
2. Workers claim a lane (``Lane`` row, ``FOR UPDATE SKIP LOCKED``): one lane is worked by one
   worker at a time, so one subject's messages are applied in order. The claim is the batch
   transaction itself; a worker that dies loses its connection and PostgreSQL frees the lane.
3. The receiver's handler applies the batch; in the same transaction an ``InboxEntry`` is
   written per message (primary key: the message id) and its ``PendingDelivery`` row deleted.
   A redelivered message finds its inbox entry and changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.roles import Bureau


class MessageStatus(models.IntegerChoices):
    PENDING = 0, _("Pending")
    DELIVERED = 1, _("Delivered")
    DEAD = 2, _("Dead letter")


class Subject(models.Model):
    """What messages are about (one person, one due item…): its lane and last sequence number."""

    key = models.CharField(_("subject"), max_length=160, primary_key=True, db_collation="C")
    lane = models.PositiveSmallIntegerField(_("lane"))
    last_seq = models.PositiveIntegerField(_("last sequence number"))

    class Meta:
        db_table = "sharing_subject"
        verbose_name = _("subject")
        verbose_name_plural = _("subjects")

    def __str__(self) -> str:
        return f"{self.key} #{self.last_seq}"


class Lane(models.Model):
    """A partition of the subjects; a worker holds one lane at a time (row lock, SKIP LOCKED)."""

    number = models.PositiveSmallIntegerField(_("lane"), primary_key=True)
    batches = models.BigIntegerField(_("batches applied"), default=0)
    last_worked_at = models.DateTimeField(_("last worked at"), null=True, blank=True)

    class Meta:
        db_table = "sharing_lane"
        verbose_name = _("lane")
        verbose_name_plural = _("lanes")

    def __str__(self) -> str:
        return str(self.number)


class OutboxMessage(models.Model):
    """A message a bureau sent: written in the sender's transaction, never changed afterwards."""

    scope_region_lookup = "region_code"

    id = models.BigAutoField(primary_key=True)
    topic = models.CharField(_("topic"), max_length=64, db_collation="C")
    version = models.PositiveSmallIntegerField(_("payload version"))
    sender = models.CharField(_("sender"), max_length=16, choices=Bureau.choices)
    receiver = models.CharField(_("receiver"), max_length=16, choices=Bureau.choices)
    subject = models.CharField(_("subject"), max_length=160, db_collation="C")
    seq = models.PositiveIntegerField(_("sequence number in subject"))
    lane = models.PositiveSmallIntegerField(_("lane"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    amount_fen = models.BigIntegerField(_("amount (fen)"), null=True, blank=True)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("sent at"), db_default=models.functions.Now())

    class Meta:
        db_table = "sharing_outbox"
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox messages")
        constraints = [
            models.UniqueConstraint(fields=["subject", "seq"], name="sharing_outbox_subject_seq_unique"),
            models.CheckConstraint(
                name="sharing_outbox_bureaus_differ", condition=~Q(sender=models.F("receiver"))
            ),
            models.CheckConstraint(
                name="sharing_outbox_region_code_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
        ]
        indexes = [
            # Ids and send times grow together: a BRIN index is tiny and costs the writers nothing.
            BrinIndex(fields=["created_at"], name="sharing_outbox_created"),
        ]

    def __str__(self) -> str:
        # Not the subject: it may hold an identity number ("person:<id>"), and titles are not masked.
        return f"{self.topic} #{self.pk}"


class PendingDelivery(models.Model):
    """A message not yet applied by its receiver: the work queue, and the dead letters.

    Written with the outbox row; deleted in the transaction that applies the message (so the
    outbox stays append-only and a delivered message costs one delete, not an update).
    """

    scope_region_lookup = "region_code"

    # No database foreign key: the queue row is written by the same statement as its outbox row
    # and only ever deleted, so the check would only cost a lookup per message at commit.
    message = models.OneToOneField(
        OutboxMessage,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="pending",
        verbose_name=pgettext_lazy("sharing", "message"),
    )
    topic = models.CharField(_("topic"), max_length=64, db_collation="C")
    subject = models.CharField(_("subject"), max_length=160, db_collation="C")
    lane = models.PositiveSmallIntegerField(_("lane"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    sent_at = models.DateTimeField(_("sent at"))
    status = models.PositiveSmallIntegerField(
        _("status"),
        choices=MessageStatus.choices,
        default=MessageStatus.PENDING,
        db_default=MessageStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0, db_default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_default=models.functions.Now())
    dead_at = models.DateTimeField(_("dead since"), null=True, blank=True)
    redrives = models.PositiveSmallIntegerField(_("re-drives"), default=0, db_default=0)
    last_error = models.TextField(_("last error"), blank=True, default="", db_default="")
    last_traceback = models.TextField(_("last traceback"), blank=True, default="", db_default="")

    class Meta:
        db_table = "sharing_pending"
        verbose_name = _("pending delivery")
        verbose_name_plural = _("pending deliveries")
        constraints = [
            models.CheckConstraint(
                name="sharing_pending_status_pending_or_dead", condition=Q(status__in=[0, 2])
            ),
            models.CheckConstraint(
                name="sharing_pending_dead_has_time",
                condition=~Q(status=MessageStatus.DEAD) | Q(dead_at__isnull=False),
            ),
        ]
        indexes = [
            # Workers: the pending messages of one lane in send order.
            models.Index(fields=["lane", "message"], name="sharing_pending_lane", condition=Q(status=0)),
            # Ordering guard: earlier messages of a subject that failed and wait (or are dead). Tiny.
            models.Index(
                fields=["subject", "message"], name="sharing_pending_failed", condition=Q(attempts__gt=0)
            ),
            models.Index(fields=["topic", "message"], name="sharing_pending_dead", condition=Q(status=2)),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.message_id}"


class InboxEntry(models.Model):
    """A message its receiver applied: written in the same transaction as the receiver's effect."""

    scope_region_lookup = "region_code"

    # No foreign key: the receiver's records stand on their own (they are what is reconciled).
    message_id = models.BigIntegerField(pgettext_lazy("sharing", "message"), primary_key=True)
    topic = models.CharField(_("topic"), max_length=64, db_collation="C")
    receiver = models.CharField(_("receiver"), max_length=16, choices=Bureau.choices)
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    # The amount as the receiver read it from the payload, for the daily reconciliation.
    amount_fen = models.BigIntegerField(_("amount (fen)"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"))
    # "applied" as a message is (处理), not as an application is made (申请): the same English words.
    applied_at = models.DateTimeField(
        pgettext_lazy("message", "applied at"), db_default=models.functions.Now()
    )

    class Meta:
        db_table = "sharing_inbox"
        verbose_name = _("inbox entry")
        verbose_name_plural = _("inbox entries")
        indexes = [BrinIndex(fields=["sent_at"], name="sharing_inbox_sent")]

    def __str__(self) -> str:
        return f"{self.topic} #{self.message_id}"


class ReconciliationReport(models.Model):
    """对账: one day's comparison of what the senders sent with what the receivers applied."""

    day = models.DateField(_("day"))
    created_at = models.DateTimeField(_("made at"), auto_now_add=True)
    difference_count = models.PositiveIntegerField(_("differences"), default=0)

    class Meta:
        verbose_name = _("reconciliation report")
        verbose_name_plural = _("reconciliation reports")
        ordering = ["-day", "-created_at"]
        indexes = [models.Index(fields=["-day", "-created_at"], name="sharing_recon_day")]

    def __str__(self) -> str:
        return f"{self.day} ({self.difference_count})"

    @property
    def balanced(self) -> bool:
        return self.difference_count == 0


class ReconciliationLine(models.Model):
    """Counts and sums of one topic on the sender's side and the receiver's side, for one day."""

    report = models.ForeignKey(ReconciliationReport, on_delete=models.CASCADE, related_name="lines")
    topic = models.CharField(_("topic"), max_length=64)
    sender = models.CharField(_("sender"), max_length=16, choices=Bureau.choices)
    receiver = models.CharField(_("receiver"), max_length=16, choices=Bureau.choices)
    sent_count = models.BigIntegerField(_("sent"))
    sent_amount_fen = models.BigIntegerField(_("sent amount (fen)"))
    applied_count = models.BigIntegerField(_("applied"))
    applied_amount_fen = models.BigIntegerField(_("applied amount (fen)"))

    class Meta:
        verbose_name = _("reconciliation line")
        verbose_name_plural = _("reconciliation lines")
        ordering = ["topic"]
        constraints = [models.UniqueConstraint(fields=["report", "topic"], name="sharing_recon_line_unique")]

    def __str__(self) -> str:
        return f"{self.report_id} {self.topic}"

    @property
    def balanced(self) -> bool:
        return self.sent_count == self.applied_count and self.sent_amount_fen == self.applied_amount_fen


class DifferenceKind(models.TextChoices):
    NOT_APPLIED = "not_applied", _("Sent but not applied")
    NOT_SENT = "not_sent", _("Applied but not sent")
    AMOUNT = "amount", _("Amounts differ")


class ReconciliationDifference(models.Model):
    """One message on which the two sides disagree, with both sides' records."""

    scope_region_lookup = "region_code"

    report = models.ForeignKey(ReconciliationReport, on_delete=models.CASCADE, related_name="differences")
    topic = models.CharField(_("topic"), max_length=64)
    kind = models.CharField(_("difference"), max_length=16, choices=DifferenceKind.choices)
    message_id = models.BigIntegerField(pgettext_lazy("sharing", "message"))
    subject = models.CharField(_("subject"), max_length=160)
    region_code = models.CharField(_("region code"), max_length=12, db_collation="C")
    sent_amount_fen = models.BigIntegerField(_("sent amount (fen)"), null=True)
    applied_amount_fen = models.BigIntegerField(_("applied amount (fen)"), null=True)
    status = models.PositiveSmallIntegerField(_("message status"), choices=MessageStatus.choices, null=True)
    last_error = models.TextField(_("last error"), blank=True, default="")

    class Meta:
        verbose_name = _("reconciliation difference")
        verbose_name_plural = _("reconciliation differences")
        ordering = ["topic", "message_id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "message_id"], name="sharing_recon_difference_unique"),
            models.CheckConstraint(
                name="sharing_recon_kind_known", condition=Q(kind__in=DifferenceKind.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} #{self.message_id}: {self.kind}"


class Redrive(models.Model):
    """Who re-drove which dead letters, when: the platform's own audit of administrators' actions."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("user")
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    topic = models.CharField(_("topic"), max_length=64, blank=True)
    criteria = models.CharField(_("criteria"), max_length=200)
    message_count = models.PositiveIntegerField(_("messages"))

    class Meta:
        verbose_name = _("re-drive")
        verbose_name_plural = _("re-drives")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.criteria} ({self.message_count})"
