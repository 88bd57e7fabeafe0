"""Bulk work of the enrollment app: duplicate-enrollment cases, and imports of spreadsheets.

- ``DuplicateCase``: two current enrollments that look like one person enrolled twice; one
  pair is one case, ever (unique constraint), so the daily finder can run again and again.
  Its ``DuplicateSide`` rows carry each side's region, so the insurance staff of every county
  involved see the case (``scope_region_lookup`` goes through the sides).
- ``ImportJob``: one uploaded file (employee-insurance list, or households from an old system),
  kept under ``MEDIA_ROOT/imports/`` between the check and the import; ``ImportRow`` is its
  report, one row per outcome worth listing; ``ImportedHousehold`` maps the old system's
  household number to the household created.

Imported at the bottom of ``enrollment/models.py``.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.audit import tracked
from accounts.models import CODE_COLLATION

__all__ = [
    "DuplicateCase",
    "DuplicateMatch",
    "DuplicateSide",
    "DuplicateStatus",
    "ImportJob",
    "ImportKind",
    "ImportOutcome",
    "ImportRow",
    "ImportStatus",
    "ImportedHousehold",
    "KeepBasis",
]

_REGION_CODE = {"max_length": 12, "db_collation": CODE_COLLATION}


# --- duplicate enrollments ----------------------------------------------------------------------


class DuplicateMatch(models.TextChoices):
    SAME_IDENTIFIER = "same_identifier", _("Same identifier")
    SAME_NAME_AND_BIRTH_DATE = (
        "same_name_birth_date",
        _("Same name and birth date, different identifier kinds"),
    )


class DuplicateStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("duplicate case", "Open")
    RESOLVED = "resolved", _("Resolved")
    DISMISSED = "dismissed", _("Not the same person")
    CLOSED = "closed", _("No longer a duplicate")


class KeepBasis(models.TextChoices):
    HABITUAL_RESIDENCE = "habitual_residence", _("Habitual residence")
    WRITTEN_CHOICE = "written_choice", _("The person's written choice")


@tracked()
class DuplicateCase(models.Model):
    """Two current enrollments of (apparently) one person; staff keep one, the other is terminated."""

    # Through the sides: a case is in every involved county's area. Querysets filtered this way
    # may repeat a case whose two sides both lie in the area: use .distinct() (the selectors do).
    scope_region_lookup = "sides__region_code"

    match = models.CharField(_("match"), max_length=24, choices=DuplicateMatch.choices)
    enrollment_a = models.ForeignKey(
        "enrollment.Enrollment", on_delete=models.PROTECT, related_name="+", verbose_name=_("enrollment A")
    )
    enrollment_b = models.ForeignKey(
        "enrollment.Enrollment", on_delete=models.PROTECT, related_name="+", verbose_name=_("enrollment B")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN
    )
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    kept = models.ForeignKey(
        "enrollment.Enrollment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("kept enrollment"),
    )
    basis = models.CharField(_("basis"), max_length=24, choices=KeepBasis.choices, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    # The change that terminated the other enrollment; it holds the signed document, if any.
    termination = models.ForeignKey(
        "enrollment.EnrollmentChange", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        verbose_name = _("duplicate enrollment case")
        verbose_name_plural = _("duplicate enrollment cases")
        ordering = ["found_at", "pk"]
        indexes = [models.Index(fields=["status", "found_at"], name="duplicate_status_found_idx")]
        constraints = [
            # One pair is one case, whatever its status: the finder may run any number of times.
            models.UniqueConstraint(fields=["enrollment_a", "enrollment_b"], name="duplicate_pair_once"),
            models.CheckConstraint(
                name="duplicate_pair_ordered", condition=Q(enrollment_a__lt=F("enrollment_b"))
            ),
            models.CheckConstraint(
                name="duplicate_resolved_keeps_one",
                condition=~Q(status="resolved") | (Q(kept__isnull=False) & ~Q(basis="")),
            ),
            models.CheckConstraint(
                name="duplicate_dismissed_has_note", condition=~Q(status="dismissed") | ~Q(note="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_a_id} ~ {self.enrollment_b_id} · {self.get_status_display()}"


class DuplicateSide(models.Model):
    """One side of a case and where it lies: what lets each involved county's staff see the case."""

    scope_region_lookup = "region_code"

    case = models.ForeignKey(DuplicateCase, on_delete=models.CASCADE, related_name="sides")
    enrollment = models.ForeignKey(
        "enrollment.Enrollment", on_delete=models.PROTECT, related_name="duplicate_sides"
    )
    region_code = models.CharField(_("registered at"), **_REGION_CODE)

    class Meta:
        verbose_name = _("side of a duplicate case")
        verbose_name_plural = _("sides of duplicate cases")
        constraints = [models.UniqueConstraint(fields=["case", "enrollment"], name="duplicate_side_once")]
        indexes = [models.Index(fields=["region_code", "case"], name="duplicate_side_region_idx")]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.enrollment_id}"


# --- imports ------------------------------------------------------------------------------------


class ImportKind(models.TextChoices):
    EMPLOYEE_INSURANCE = "employee_insurance", _("Employee-insurance list")
    HOUSEHOLDS = "households", _("Households and persons")
    # Public security's household register (户籍人口名册): the base of the coverage rate.
    HOUSEHOLD_REGISTER = "household_register", _("Household register")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be checked")
    CHECKED = "checked", _("Checked, waiting for confirmation")
    CONFIRMED = "confirmed", _("Confirmed, waiting to be imported")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    DISCARDED = "discarded", _("Discarded")


# Statuses in which a worker still has something to do.
IMPORT_WAITING_STATUSES = (ImportStatus.PENDING, ImportStatus.CONFIRMED)


class ImportOutcome(models.TextChoices):
    # any kind
    ERROR = "error", _("Error in the row")
    # households
    HOUSEHOLD_ERROR = "household_error", _("Another row of the household has an error")
    EXISTING = "existing", _("Already in the registry")
    # employee insurance
    TERMINATED = "terminated", _("Resident enrollment terminated")
    NOT_FOUND = "not_found", _("Not found in the registry")
    NOT_ENROLLED = "not_enrolled", _("Already not enrolled")
    NAME_MISMATCH = "name_mismatch", _("Name does not match (not applied)")
    OUTSIDE_AREA = "outside_area", _("Enrolled outside your area (not applied)")
    DATE_CONFLICT = "date_conflict", _("Start date not after the enrollment date (not applied)")
    # household register
    REGISTERED = "registered", _("On the register")
    VILLAGE_ERROR = "village_error", _("Another row of the village has an error (its register kept)")


def _import_upload_to(instance: ImportJob, filename: str) -> str:
    """imports/YYYY/MM/<random>.<ext>: the user's file name is kept in the row, never in the path."""
    suffix = PurePath(filename).suffix.lower()
    suffix = suffix if suffix in (".xlsx", ".csv") else ""
    now = timezone.now()
    return f"imports/{now:%Y}/{now:%m}/{uuid.uuid4().hex}{suffix}"


@tracked()
class ImportJob(models.Model):
    """One uploaded spreadsheet and what became of it."""

    scope_region_lookup = "region_code"

    kind = models.CharField(_("kind"), max_length=24, choices=ImportKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    file = models.FileField(_("file"), upload_to=_import_upload_to, max_length=200)
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4)
    # The uploader's region: who else may see the job (their area's colleagues and superiors).
    region_code = models.CharField(_("region"), **_REGION_CODE)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    # outcome -> rows, and for households: households / persons / applications created.
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    # The header row as read, for the error report.
    columns = models.JSONField(_("columns"), default=list, blank=True)
    # Why the job failed; otherwise what the reader notes about the file (the sheets not read).
    message = models.TextField(_("message"), blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["region_code", "kind", "created_at"], name="import_region_kind_idx")]
        constraints = [
            models.CheckConstraint(
                name="import_region_code_format", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
            models.CheckConstraint(name="import_kind_known", condition=Q(kind__in=ImportKind.values)),
            models.CheckConstraint(
                name="import_confirmed_has_confirmer",
                condition=~Q(status__in=["confirmed"]) | Q(confirmed_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.original_name}"

    @property
    def waiting(self) -> bool:
        return self.status in IMPORT_WAITING_STATUSES


class ImportRow(models.Model):
    """One line of an import's report: the original row, what happened to it, and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(_("row"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ImportOutcome.choices)
    message = models.TextField(_("reason"), blank=True)
    household_key = models.CharField(_("household number in the file"), max_length=64, blank=True)
    id_number = models.CharField(_("identifier"), max_length=32, blank=True, db_collation=CODE_COLLATION)
    name = models.CharField(_("name"), max_length=60, blank=True)
    # Where the person is (or the job's region): decides whether the identifier is masked.
    region_code = models.CharField(_("region"), max_length=12, blank=True, db_collation=CODE_COLLATION)
    person = models.ForeignKey(
        "enrollment.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    values = models.JSONField(_("original row"), default=list, blank=True)

    class Meta:
        verbose_name = _("import report row")
        verbose_name_plural = _("import report rows")
        ordering = ["job", "row_number"]
        indexes = [models.Index(fields=["job", "outcome", "row_number"], name="import_row_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.outcome}"


class ImportedHousehold(models.Model):
    """Which household an import created for an old system's household number (户编号)."""

    scope_region_lookup = "household__region_code"

    job = models.ForeignKey(ImportJob, on_delete=models.PROTECT, related_name="households")
    old_number = models.CharField(_("old household number"), max_length=64)
    household = models.OneToOneField(
        "enrollment.Household",
        on_delete=models.PROTECT,
        related_name="import_origin",
        verbose_name=_("household"),
    )

    class Meta:
        verbose_name = _("imported household")
        verbose_name_plural = _("imported households")
        ordering = ["job", "old_number"]
        constraints = [models.UniqueConstraint(fields=["job", "old_number"], name="imported_household_once")]

    def __str__(self) -> str:
        return f"{self.old_number} → {self.household_id}"
