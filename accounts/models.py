"""Regions (national division codes), agencies and users, with their invariants in the database."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .audit import tracked
from .roles import AgencyKind, Role
from .scope import SCHOOL_WIDE


class RegionLevel(models.IntegerChoices):
    PROVINCE = 1, _("Province")
    CITY = 2, _("City")
    COUNTY = 3, _("County")
    TOWNSHIP = 4, _("Township")
    VILLAGE = 5, _("Village")


# Significant digits of the 12-digit statistical code at each level: a region's subtree is
# exactly the set of codes that start with its prefix.
PREFIX_LENGTH: dict[int, int] = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
# The shape of a code at each level: its own part non-zero, everything after it zero.
CODE_PATTERN: dict[int, str] = {
    1: r"^([1-9][0-9]|[0-9][1-9])0{10}$",
    2: r"^[0-9]{2}([1-9][0-9]|[0-9][1-9])0{8}$",
    3: r"^[0-9]{4}([1-9][0-9]|[0-9][1-9])0{6}$",
    4: r"^[0-9]{6}([1-9][0-9]{2}|[0-9][1-9][0-9]|[0-9]{2}[1-9])0{3}$",
    5: r"^[0-9]{9}([1-9][0-9]{2}|[0-9][1-9][0-9]|[0-9]{2}[1-9])$",
}
# Codes are compared byte-wise so that prefix searches (LIKE 'prefix%') use the btree index.
CODE_COLLATION = "C"


def region_prefix(code: str, level: int) -> str:
    return code[: PREFIX_LENGTH[level]]


@tracked()
class Region(models.Model):
    """A division: province, city, county (GB/T 2260), township and village (statistical codes)."""

    scope_region_lookup = "code"
    scope_school_lookup = SCHOOL_WIDE

    code = models.CharField(_("code"), max_length=12, unique=True, db_collation=CODE_COLLATION)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=RegionLevel.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )

    class Meta:
        verbose_name = _("region")
        verbose_name_plural = _("regions")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="region_code_matches_level",
                condition=Q(level=1, code__regex=CODE_PATTERN[1])
                | Q(level=2, code__regex=CODE_PATTERN[2])
                | Q(level=3, code__regex=CODE_PATTERN[3])
                | Q(level=4, code__regex=CODE_PATTERN[4])
                | Q(level=5, code__regex=CODE_PATTERN[5]),
            ),
            models.CheckConstraint(
                name="region_only_provinces_have_no_parent",
                condition=Q(level=1, parent__isnull=True) | Q(level__gt=1, parent__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.national_code}）"

    @property
    def prefix(self) -> str:
        return region_prefix(self.code, self.level)

    @property
    def national_code(self) -> str:
        """6 digits down to county (GB/T 2260), 9 for a township, 12 for a village."""
        return self.code[:6] if self.level <= RegionLevel.COUNTY else self.prefix


@tracked()
class Agency(models.Model):
    """An organisation in a region: a bureau's office, a village committee, a school, a roster source."""

    scope_region_lookup = "region__code"
    scope_school_lookup = SCHOOL_WIDE

    name = models.CharField(_("name"), max_length=150)
    kind = models.CharField(_("kind"), max_length=32, choices=AgencyKind.choices)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, related_name="agencies", verbose_name=_("region")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["region__code", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["region", "name"], name="agency_name_unique_in_region"),
            models.CheckConstraint(name="agency_kind_known", condition=Q(kind__in=AgencyKind.values)),
        ]

    def __str__(self) -> str:
        return self.name


class PortalUserManager(UserManager):
    pass


@tracked(exclude=["password", "last_login"])
class User(AbstractUser):
    """A person who signs in: belongs to one agency, holds one role."""

    scope_region_lookup = "agency__region__code"
    scope_school_lookup = "agency_id"

    full_name = models.CharField(_("full name"), max_length=60, blank=True)
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("agency"),
    )
    # NULL, not "", marks the technical superuser without a role (see the check constraint).
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, null=True, blank=True)  # noqa: DJ001

    objects = PortalUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]
        constraints = [
            # Every working user has an agency and a role; only a technical superuser has neither.
            models.CheckConstraint(
                name="user_has_agency_and_role_unless_superuser",
                condition=Q(agency__isnull=False, role__isnull=False)
                | Q(agency__isnull=True, role__isnull=True, is_superuser=True),
            ),
            models.CheckConstraint(
                name="user_role_known", condition=Q(role__isnull=True) | Q(role__in=Role.values)
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.username


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    # The file was removed after EXPORT_KEEP_DAYS; the row stays, for the audit.
    EXPIRED = "expired", _("Expired")


class ExportJob(models.Model):
    """A spreadsheet a user asked for, built by a worker (accounts/export_jobs.py); its file kept a
    week, the row for good.

    Only the user who asked sees it: the file is read back through a view that checks the owner,
    never from a public address. Administrators see, in the admin, who exported what and when
    (the parameters and row counts, never the file): exports carry personal data, so the row
    outlives the file."""

    scope_region_lookup = "user__agency__region__code"

    user = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="export_jobs", verbose_name=_("user")
    )
    kind = models.CharField(_("export"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict)
    # The language of the page the export was asked from: the workbook speaks it too.
    language = models.CharField(_("language"), max_length=16)
    filename = models.CharField(_("file name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    rows_written = models.PositiveIntegerField(_("rows written"), default=0)
    rows_expected = models.PositiveIntegerField(_("rows expected"), null=True, blank=True)
    file = models.FileField(_("file"), max_length=255, blank=True)
    error = models.TextField(_("error message"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expired_at = models.DateTimeField(_("file removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="exportjob_user_newest"),
            # What the hourly expiry looks for: the rows kept for good stay out of it.
            models.Index(
                fields=["created_at"],
                name="exportjob_created_unexpired",
                condition=Q(status__in=["queued", "running", "done"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="exportjob_status_known", condition=Q(status__in=ExportStatus.values)
            ),
        ]

    def __str__(self) -> str:
        return self.filename

    @property
    def waiting(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)
