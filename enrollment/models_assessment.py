"""The yearly assessment (核定): what each enrolled person owes for an insurance year, and why.

One ``Assessment`` per person and insurance year (unique), written set-based by the yearly
run (``enrollment.assessment``) and by the reassessment of one person, always from the rule
engine's decision. Its payment side (paid, benefit period) is filled from tax's deposit records.
``AssessmentRun`` is one run for a county and year, with its counts.

Imported at the bottom of ``enrollment/models.py``.
"""

from __future__ import annotations

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION

__all__ = [
    "Assessment",
    "AssessmentDecision",
    "AssessmentRun",
    "AssessmentStatus",
    "DepositRecord",
    "RunKind",
    "RunStatus",
]


class AssessmentStatus(models.TextChoices):
    """Payment status (Jilin): due 应缴, paid 实缴; government-paid (全额资助); cancelled before
    payment; refunded after payment (退费)."""

    DUE = "due", _("Due")
    PAID = "paid", _("Paid")
    GOVERNMENT = "government", _("Paid by the government")
    CANCELLED = "cancelled", _("Cancelled")
    # Paid, then given back (death, employee insurance, enrolled elsewhere, emigration before the
    # benefit period began): the year bought no cover. The payment's day and amount are kept.
    REFUNDED = "refunded", _("Refunded")


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RunKind(models.TextChoices):
    """What a run assessed: its figures are those persons', never more."""

    COUNTY = "county", _("The whole county")
    PERSONS = "persons", _("Listed persons")
    PERSON = "person", _("One person")


class AssessmentRun(models.Model):
    """One yearly assessment of a county (or of one person, when ``person_id`` is set, or of the
    persons a roster listed, ``kind`` "persons"). Its counts and amounts are those of the persons
    it assessed."""

    scope_region_lookup = "county_code"

    county_code = models.CharField(_("county"), max_length=6, db_collation=CODE_COLLATION)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    person = models.ForeignKey(
        "enrollment.Person",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    status = models.CharField(_("status"), max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    kind = models.CharField(
        _("what it assessed"), max_length=8, choices=RunKind.choices, default=RunKind.COUNTY
    )
    policy_version = models.ForeignKey(
        "enrollment.PolicyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("policy version"),
    )
    reason = models.CharField(_("why"), max_length=200, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created at"), db_default=models.functions.Now())
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # When the run was taken up again after its executor died (the last time, if more than once).
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    # A county run asked for again while this one was running (a policy changed after it read
    # the policy: an extended collection period): why, and by whom. The run's end (done or failed)
    # queues the follow-up, ``rerun``, which reads the policy as it then stands.
    rerun_reason = models.CharField(_("to be run again because"), max_length=200, blank=True)
    rerun_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run again at the request of"),
    )
    rerun = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("run again as"),
    )
    enrollments = models.PositiveIntegerField(_("enrollments"), default=0)
    distinct_facts = models.PositiveIntegerField(_("distinct sets of facts"), default=0)
    created = models.PositiveIntegerField(_("new assessments"), default=0)
    changed = models.PositiveIntegerField(_("changed assessments"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    government_paid = models.PositiveIntegerField(_("paid by the government"), default=0)
    # What the government pays for those persons (their subsidy: the whole individual part).
    government_paid_fen = models.BigIntegerField(_("paid by the government (fen)"), default=0)
    pushed = models.PositiveIntegerField(_("sent to tax"), default=0)
    # Approved, unpaid back-payments the run withdrew because an extended collection period runs
    # (``assessment._withdraw_back_payments``): those persons pay the normal contribution.
    # A database default too: the previous release, inserting runs during a rolling deploy, names no such column.
    back_payments_withdrawn = models.PositiveIntegerField(
        _("back-payments withdrawn"), default=0, db_default=0
    )
    # Open back-payment applications (submitted, or approved and unpaid) the run withdrew because
    # nothing is left to pay back: their year was cancelled, or the government now pays it in full.
    back_payment_applications_withdrawn = models.PositiveIntegerField(
        _("back-payment applications withdrawn (nothing left to pay back)"), default=0, db_default=0
    )
    payable_fen = models.BigIntegerField(_("payable (fen)"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("assessment run")
        verbose_name_plural = _("assessment runs")
        ordering = ["-created_at"]
        constraints = [
            # One county-wide run at a time per county and year (two clicks start one run).
            models.UniqueConstraint(
                fields=["county_code", "insurance_year"],
                condition=Q(status__in=["queued", "running"], person__isnull=True),
                name="assessment_run_one_active_per_county_year",
            ),
            models.CheckConstraint(
                name="assessment_run_status_known", condition=Q(status__in=RunStatus.values)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.county_code} {self.insurance_year} {self.get_status_display()}"


class AssessmentDecision(models.Model):
    """The rule engine's decision for one class of facts under one policy version, with its reason.

    A county of a million persons falls into a few hundred classes of facts (birth-date class,
    category, subsidy tags, last paid year…); the decision and its long texts (rule, reason, the
    payment schedule) are stored once per class and shared by every assessment of that class.
    Append-only: an assessment points at the decision it was made from, so a decision never changes.
    """

    policy_version = models.ForeignKey(
        "enrollment.PolicyVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("policy version"),
    )
    # sha256 of the decision's content: the same class under the same version is stored once.
    digest = models.CharField(_("digest"), max_length=64)
    situation = models.CharField(_("situation"), max_length=16)
    standard_fen = models.BigIntegerField(_("individual standard (fen)"))
    subsidy_fen = models.BigIntegerField(_("subsidy (fen)"))
    government_fen = models.BigIntegerField(_("government share (fen)"))
    payable_fen = models.BigIntegerField(_("payable by the person (fen)"))
    subsidy_category = models.CharField(_("subsidy category"), max_length=32, blank=True)
    subsidy_marker = models.CharField(_("subsidy marker"), max_length=16, blank=True)
    government_pays_all = models.BooleanField(_("paid in full by the government"))
    rule = models.CharField(_("rule"), max_length=64)
    reason = models.TextField(_("reason"))
    # When a payment is accepted and at what amount (the engine's schedule), as sent to tax.
    schedule = models.JSONField(_("payment schedule"))
    # For a government-paid class: the benefit period that payment on the first collection day buys.
    benefit_start = models.DateField(_("benefit starts"), null=True, blank=True)
    benefit_end = models.DateField(_("benefit ends"), null=True, blank=True)
    benefit_reason = models.TextField(_("benefit period reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("assessment decision")
        verbose_name_plural = _("assessment decisions")
        constraints = [
            models.UniqueConstraint(fields=["policy_version", "digest"], name="assessment_decision_unique"),
            models.CheckConstraint(
                name="assessment_decision_amounts_add_up",
                condition=Q(
                    standard_fen__gte=0,
                    subsidy_fen__gte=0,
                    subsidy_fen__lte=F("standard_fen"),
                    payable_fen__gte=0,
                    government_fen__gte=0,
                ),
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="assessment_decision_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.payable_fen}"


# Statement-level history: the yearly run writes a million rows in a few statements. The history
# rows keep what changes (status, amounts, situation, payment, decision id as a plain column) and
# leave out what does not or what follows from the decision, so they carry no extra indexes.
@tracked(level=pghistory.Statement, exclude=["benefit_reason", "person", "enrollment", "decision"])
class Assessment(models.Model):
    """What one person owes for one insurance year, with the breakdown and the decision it came from."""

    scope_region_lookup = "region_code"
    scope_school_lookup = "person__school_id"

    # person and enrollment are checked together by one composite foreign key
    # (assessment_enrollment_of_person, migration 0006): the enrollment exists and is this
    # person's. One check per row instead of two, on a table the yearly run fills by the million;
    # the unique (person, insurance_year) index serves lookups by person.
    person = models.ForeignKey(
        "enrollment.Person",
        on_delete=models.PROTECT,
        related_name="assessments",
        verbose_name=_("person"),
        db_constraint=False,
        db_index=False,
    )
    enrollment = models.ForeignKey(
        "enrollment.Enrollment",
        on_delete=models.PROTECT,
        related_name="assessments",
        verbose_name=_("enrollment"),
        db_constraint=False,
        db_index=False,
    )
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    county_code = models.CharField(_("county"), max_length=6, db_collation=CODE_COLLATION)
    region_code = models.CharField(_("registered at"), max_length=12, db_collation=CODE_COLLATION)
    # Decisions are append-only (a trigger refuses updates and deletes) and written by the same
    # statement sequence that points rows at them, so the reference cannot dangle; a constraint
    # would add a million lookups of the same few hundred rows to every yearly run.
    decision = models.ForeignKey(
        AssessmentDecision,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decision"),
        db_constraint=False,
        db_index=False,
    )
    situation = models.CharField(_("situation"), max_length=16)
    standard_fen = models.BigIntegerField(_("individual standard (fen)"))
    subsidy_fen = models.BigIntegerField(_("subsidy (fen)"))
    government_fen = models.BigIntegerField(_("government share (fen)"))
    payable_fen = models.BigIntegerField(_("payable by the person (fen)"))
    subsidy_category = models.CharField(_("subsidy category"), max_length=32, blank=True)
    subsidy_marker = models.CharField(_("subsidy marker"), max_length=16, blank=True)
    status = models.CharField(_("payment status"), max_length=12, choices=AssessmentStatus.choices)
    revision = models.PositiveIntegerField(_("revision"), default=1)
    assessed_at = models.DateTimeField(_("assessed at"))
    # Payment side, from tax's deposit record (入库), and the benefit period it bought.
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    paid_fen = models.BigIntegerField(_("paid (fen)"), null=True, blank=True)
    deposit_reference = models.CharField(_("deposit reference"), max_length=64, blank=True)
    benefit_start = models.DateField(_("benefit starts"), null=True, blank=True)
    benefit_end = models.DateField(_("benefit ends"), null=True, blank=True)
    benefit_reason = models.TextField(_("benefit period reason"), blank=True)
    # An approved back-payment (补缴, refunds.BackPaymentApplication): the amount the rules set on
    # the approval day, and until when tax accepts it. A deposit then buys the back-payment's
    # benefit period (the region's waiting period) instead of the on-time one.
    back_payment_fen = models.BigIntegerField(_("back-payment (fen)"), null=True, blank=True)
    back_payment_approved_on = models.DateField(_("back-payment approved on"), null=True, blank=True)
    back_payment_pay_until = models.DateField(_("back-payment payable until"), null=True, blank=True)

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["-insurance_year", "person_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "insurance_year"], name="assessment_one_per_person_year"
            ),
            models.CheckConstraint(
                name="assessment_amounts_not_negative",
                condition=Q(
                    standard_fen__gte=0, subsidy_fen__gte=0, government_fen__gte=0, payable_fen__gte=0
                ),
            ),
            models.CheckConstraint(
                name="assessment_subsidy_within_standard", condition=Q(subsidy_fen__lte=F("standard_fen"))
            ),
            models.CheckConstraint(
                name="assessment_status_known", condition=Q(status__in=AssessmentStatus.values)
            ),
            models.CheckConstraint(
                name="assessment_government_paid_owes_nothing",
                condition=~Q(status="government") | Q(payable_fen=0),
            ),
            models.CheckConstraint(
                name="assessment_paid_has_payment",
                condition=~Q(status="paid") | Q(paid_on__isnull=False, paid_fen__isnull=False),
            ),
            models.CheckConstraint(
                name="assessment_benefit_period_ordered",
                condition=Q(benefit_start__isnull=True) | Q(benefit_end__gte=F("benefit_start")),
            ),
            models.CheckConstraint(
                name="assessment_back_payment_complete",
                condition=Q(
                    back_payment_fen__isnull=True,
                    back_payment_approved_on__isnull=True,
                    back_payment_pay_until__isnull=True,
                )
                | Q(back_payment_fen__gt=0, back_payment_pay_until__gte=F("back_payment_approved_on")),
            ),
            models.CheckConstraint(
                name="assessment_county_prefixes_region",
                condition=Q(region_code__startswith=F("county_code")),
            ),
        ]
        indexes = [
            models.Index(
                fields=["county_code", "insurance_year", "status"], name="assessment_county_year_status"
            ),
            models.Index(fields=["region_code", "insurance_year"], name="assessment_region_year"),
            # The follow-up list of the unpaid (催缴), read a page at a time in this order.
            models.Index(
                fields=["insurance_year", "region_code", "person"],
                name="assessment_due_follow_up",
                condition=Q(status="due"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance_year}: {self.payable_fen}"

    # The decision's texts, read through the row (select_related("decision") in the selectors).
    @property
    def rule(self) -> str:
        return self.decision.rule

    @property
    def reason(self) -> str:
        if self.status == AssessmentStatus.CANCELLED:
            return gettext("Cancelled: the enrollment is no longer normal")
        return self.decision.reason

    @property
    def schedule(self) -> list[dict]:
        return self.decision.schedule

    @property
    def policy_version(self) -> models.Model:
        return self.decision.policy_version


@tracked(level=pghistory.Statement)
class DepositRecord(models.Model):
    """A deposit record (入库) as tax sent it over the sharing platform (``payment.deposited``):
    insurance's own ledger of the money tax took, one row per payment of tax's, kept whether or
    not it matched an assessment. The assessment holds the one payment matched; a second deposit
    for a person and year stays here, which is what a refund for paying twice (重复缴费) is
    verified against (``refunds.services.refund_apply``). A reversal (``payment.reversed``) marks
    the row; nothing is deleted. Never read from tax's tables."""

    scope_region_lookup = "region_code"

    # Tax's payment id, as the message carried it: a deposit is recorded once whatever redelivers it.
    # NULL (and no source message): a deposit carried over from a paid assessment when the ledger
    # began (migration 0014), whose message was applied before there was a ledger to keep it.
    payment_id = models.BigIntegerField(_("tax's payment"), unique=True, null=True, blank=True)
    id_number = models.CharField(_("person identifier"), max_length=32, db_collation=CODE_COLLATION)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    region_code = models.CharField(_("region code"), max_length=12, db_collation=CODE_COLLATION)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    channel = models.CharField(_("channel"), max_length=32, blank=True)
    receipt_number = models.CharField(_("receipt number"), max_length=64)
    paid_on = models.DateField(_("paid on"))
    source_message_id = models.BigIntegerField(_("source message"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), db_default=models.functions.Now())
    reversed_on = models.DateField(_("reversed on"), null=True, blank=True)
    reversal_reason = models.CharField(_("reversal reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("deposit record")
        verbose_name_plural = _("deposit records")
        constraints = [
            models.CheckConstraint(name="deposit_record_amount_positive", condition=Q(amount_fen__gt=0)),
            models.CheckConstraint(
                name="deposit_record_from_a_message_or_carried_over",
                condition=Q(payment_id__isnull=False, source_message_id__isnull=False)
                | Q(payment_id__isnull=True, source_message_id__isnull=True),
            ),
            models.CheckConstraint(
                name="deposit_record_reversal_has_reason",
                condition=Q(reversed_on__isnull=True, reversal_reason="")
                | Q(reversed_on__isnull=False) & ~Q(reversal_reason=""),
            ),
        ]
        indexes = [
            models.Index(fields=["id_number", "insurance_year"], name="deposit_record_person_year"),
        ]

    def __str__(self) -> str:
        return f"{self.id_number} {self.insurance_year}: {self.amount_fen} ({self.receipt_number})"
