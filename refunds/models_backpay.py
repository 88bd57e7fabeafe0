"""Back-payment applications (补缴申请) and their evidence.

Someone who missed the collection period applies (at the village office or the county counter);
the rule engine says at once whether a back-payment is possible and for how much; insurance
staff review it with the person's history in view and approve or reject; approval makes the
year's unpaid assessment payable at tax (``enrollment.back_payments``). The steps are the
``BACK_PAYMENT_WORKFLOW``'s (``refunds.services_backpay``), traced in the shared
``WorkflowEvent`` table.

Invariants in the database: one open (submitted or approved) application per person and year;
a rejection has its reason; an approval has its decider, the engine's yes, an amount and a
pay-by day; whoever applied never decides.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked

from .models import ReviewedApplication


class BackPaymentStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved, payable at tax")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_BACK_PAYMENT_STATUSES = (BackPaymentStatus.SUBMITTED, BackPaymentStatus.APPROVED)


@tracked()
class BackPaymentApplication(ReviewedApplication):
    """A request to pay a missed year's contribution late, with the rule engine's decision on it."""

    scope_region_lookup = "region_code"
    workflow_kind = "back_payment"

    person = models.ForeignKey(
        "enrollment.Person",
        on_delete=models.PROTECT,
        related_name="back_payment_applications",
        verbose_name=_("person"),
    )
    assessment = models.ForeignKey(
        "enrollment.Assessment",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("unpaid assessment"),
    )
    reason = models.CharField(_("why the period was missed"), max_length=500)
    # The rule engine's decision: at application, and again on the approval day (the amount and
    # the rule the approval stands on); the history table keeps the application's.
    allowed = models.BooleanField(_("allowed by the rules"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    pay_until = models.DateField(_("payable until"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=BackPaymentStatus.choices)

    class Meta:
        verbose_name = _("back-payment application")
        verbose_name_plural = _("back-payment applications")
        ordering = ["-applied_at", "-pk"]
        indexes = [
            models.Index(fields=["region_code", "status"], name="backpay_region_status"),
            models.Index(fields=["person", "insurance_year"], name="backpay_person_year"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "insurance_year"],
                condition=Q(status__in=["submitted", "approved"]),
                name="backpay_one_open_per_person_year",
            ),
            models.CheckConstraint(
                name="backpay_status_known", condition=Q(status__in=BackPaymentStatus.values)
            ),
            models.CheckConstraint(name="backpay_reason_given", condition=~Q(reason="")),
            models.CheckConstraint(
                name="backpay_amount_when_allowed", condition=Q(allowed=False) | Q(amount_fen__gt=0)
            ),
            models.CheckConstraint(
                name="backpay_rejection_has_reason", condition=~Q(status="rejected") | ~Q(decision_note="")
            ),
            models.CheckConstraint(
                name="backpay_approval_complete",
                condition=~Q(status="approved")
                | Q(
                    decided_by__isnull=False, decided_at__isnull=False, allowed=True, pay_until__isnull=False
                ),
            ),
            models.CheckConstraint(
                name="backpay_decider_is_not_applicant",
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("applied_by")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.insurance_year} · {self.get_status_display()}"


@tracked()
class BackPaymentEvidence(models.Model):
    """A file supporting a back-payment application (proof of the reason the period was missed…)."""

    scope_region_lookup = "application__region_code"

    application = models.ForeignKey(
        BackPaymentApplication,
        on_delete=models.PROTECT,
        related_name="evidence",
        verbose_name=_("application"),
    )
    file = models.FileField(_("file"), upload_to="back-payments/%Y/%m/")
    name = models.CharField(_("file name"), max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("back-payment evidence")
        verbose_name_plural = _("back-payment evidence")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.name
