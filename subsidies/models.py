"""Subsidy tags (资助身份标识) and the rosters they come from.

- ``SubsidyTag``: that a person belongs to a subsidised category for a period. A tag names the
  category by its roster tag code in the region's policy (the policy says what the category
  grants), the roster it came from, and the dates it is valid. Tags are never deleted: a tag
  that no longer holds gets an end date (``valid_to``) and the reason (``end_reason``). At most
  one open tag per person and category (partial unique index) for tags given by hand; a roster's
  tags hold for the roster's insurance year alone (read from ``roster``, never copied: the
  recognition date in ``valid_from`` may lie years back and counts only for a category's
  "recognised by"; ``valid_to`` = the policy's last day of cover, or the day the tag ended) and at
  most one standing tag per roster, person and category. A tag given by hand holds in every
  insurance year its dates reach.
- ``SubsidyRoster``: one roster as the bureaus know it — whose area, which office sent it
  (``source``) and for which insurance year. A new import of the same roster replaces the
  previous one: tags it no longer lists end on its roster date.
- ``RosterImport``: one uploaded file (xlsx, xls or csv) and what became of it (checked → a
  preview, confirmed with an explicit mode, applied by a worker); ``RosterRow`` is its report.
"""

from __future__ import annotations

import uuid
from pathlib import PurePath

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION
from enrollment.models import ImportStatus

_REGION_CODE = {"max_length": 12, "db_collation": CODE_COLLATION}


@tracked(level=pghistory.Statement)
class SubsidyTag(models.Model):
    scope_region_lookup = "region_code"

    # No index of its own: the (person, category) index below serves every lookup by person, and
    # each index more is written for every tag a roster import inserts.
    person = models.ForeignKey(
        "enrollment.Person",
        on_delete=models.PROTECT,
        related_name="subsidy_tags",
        verbose_name=_("person"),
        db_index=False,
    )
    category = models.CharField(_("subsidy category"), max_length=32, db_collation=CODE_COLLATION)
    # Where the person was registered when tagged: the scope of the tag.
    region_code = models.CharField(_("region code"), max_length=12, db_collation=CODE_COLLATION)
    source = models.CharField(_("roster"), max_length=100)
    valid_from = models.DateField(_("recognised on"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=models.functions.Now())
    # The roster that vouches for the tag (none for a tag given by hand).
    roster = models.ForeignKey(
        "subsidies.SubsidyRoster",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tags",
        verbose_name=_("roster"),
    )

    class Meta:
        verbose_name = _("subsidy tag")
        verbose_name_plural = _("subsidy tags")
        ordering = ["person_id", "category", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "category"],
                condition=Q(valid_to__isnull=True),
                name="subsidy_tag_one_open_per_category",
            ),
            # A roster lists a person once per category; a tag it no longer lists has an end reason.
            models.UniqueConstraint(
                fields=["roster", "person", "category"],
                condition=Q(roster__isnull=False, end_reason=""),
                name="subsidy_tag_one_standing_per_roster",
            ),
            models.CheckConstraint(
                name="subsidy_tag_roster_has_period",
                condition=Q(roster__isnull=True) | Q(valid_to__isnull=False),
            ),
            models.CheckConstraint(
                name="subsidy_tag_period_ordered",
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=F("valid_from")),
            ),
            models.CheckConstraint(
                name="subsidy_tag_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
        ]
        indexes = [
            models.Index(fields=["person", "category"], name="subsidy_tag_person_category"),
            models.Index(fields=["region_code", "category"], name="subsidy_tag_region_category"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.category} {self.valid_from}"


# --- rosters ------------------------------------------------------------------------------------


@tracked()
class SubsidyRoster(models.Model):
    """A roster of subsidised persons from one office for one insurance year, in one administrator's area."""

    scope_region_lookup = "region_code"

    # The area of the administrators who import it (their agency's region).
    region_code = models.CharField(_("region"), **_REGION_CODE)
    source = models.CharField(_("sent by"), max_length=100)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    # The import whose file is the roster now, and its date.
    current_import = models.ForeignKey(
        "subsidies.RosterImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current file"),
    )
    roster_date = models.DateField(_("roster date"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("subsidy roster")
        verbose_name_plural = _("subsidy rosters")
        ordering = ["-insurance_year", "source"]
        constraints = [
            models.UniqueConstraint(
                fields=["region_code", "source", "insurance_year"], name="subsidy_roster_one_per_source_year"
            ),
            models.CheckConstraint(
                name="subsidy_roster_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
            models.CheckConstraint(name="subsidy_roster_source_given", condition=~Q(source="")),
            models.CheckConstraint(
                name="subsidy_roster_year_plausible",
                condition=Q(insurance_year__gte=2000, insurance_year__lte=2100),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} · {self.insurance_year}"


class RosterMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", _("All or nothing")
    VALID_ROWS = "valid_rows", _("Import the valid rows")


class RosterOutcome(models.TextChoices):
    ADDED = "added", _("New tag")
    UNCHANGED = "unchanged", _("Already tagged by this roster")
    REMOVED = "removed", _("No longer on the roster: tag ends")
    ERROR = "error", _("Error in the row")
    NOT_FOUND = "not_found", _("Not in the registry")
    NAME_MISMATCH = "name_mismatch", _("Name does not match the registry")
    OUTSIDE_AREA = "outside_area", _("Registered outside your area")


# Outcomes of file rows that cannot be imported: "all or nothing" refuses a file with any of them.
BLOCKING_OUTCOMES = (
    RosterOutcome.ERROR,
    RosterOutcome.NOT_FOUND,
    RosterOutcome.NAME_MISMATCH,
    RosterOutcome.OUTSIDE_AREA,
)
ROSTER_FORMATS = ("xlsx", "xls", "csv")


def _roster_upload_to(instance: RosterImport, filename: str) -> str:
    """rosters/YYYY/MM/<random>.<ext>: the user's file name is kept in the row, never in the path."""
    suffix = PurePath(filename).suffix.lower()
    suffix = suffix if suffix in (".xlsx", ".xls", ".csv") else ""
    now = timezone.now()
    return f"rosters/{now:%Y}/{now:%m}/{uuid.uuid4().hex}{suffix}"


@tracked()
class RosterImport(models.Model):
    """One uploaded roster file: checked into a preview, confirmed with a mode, applied by a worker."""

    scope_region_lookup = "region_code"

    source = models.CharField(_("sent by"), max_length=100)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    roster_date = models.DateField(_("roster date"))
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    mode = models.CharField(_("mode"), max_length=16, choices=RosterMode.choices, blank=True)
    file = models.FileField(_("file"), upload_to=_roster_upload_to, max_length=200)
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4)
    region_code = models.CharField(_("region"), **_REGION_CODE)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    # The roster it applies to (set when applied) and the roster's file when the preview was made:
    # if another file of the same roster is applied in between, the preview no longer holds.
    roster = models.ForeignKey(
        SubsidyRoster, on_delete=models.PROTECT, null=True, blank=True, related_name="imports"
    )
    based_on = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("replaces")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    # outcome -> rows, and: removed, blocking, tagged / untagged messages, persons reassessed.
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    sheet_name = models.CharField(_("sheet"), max_length=100, blank=True)
    # What the reader noticed about the file as a whole (sheets not read), for the preview.
    notes = models.JSONField(_("notes"), default=list, blank=True)
    message = models.TextField(_("message"), blank=True)
    # What the preview's verdicts rest on besides the persons (the importer's area, a digest of each
    # county's categories): the confirmation checks anew only what moved since (``rosters.restage``).
    check_basis = models.JSONField(_("check basis"), default=dict, blank=True)

    class Meta:
        verbose_name = _("roster import")
        verbose_name_plural = _("roster imports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["region_code", "created_at"], name="roster_import_region_idx")]
        constraints = [
            models.CheckConstraint(
                name="roster_import_region_12_digits", condition=Q(region_code__regex=r"^[0-9]{12}$")
            ),
            models.CheckConstraint(name="roster_import_source_given", condition=~Q(source="")),
            models.CheckConstraint(
                name="roster_import_format_known", condition=Q(file_format__in=ROSTER_FORMATS)
            ),
            models.CheckConstraint(
                name="roster_import_year_plausible",
                condition=Q(insurance_year__gte=2000, insurance_year__lte=2100),
            ),
            # Confirmed (and everything after it) names who confirmed and the mode they chose.
            models.CheckConstraint(
                name="roster_import_confirmed_has_mode",
                condition=Q(confirmed_by__isnull=True) | (Q(confirmed_at__isnull=False) & ~Q(mode="")),
            ),
            models.CheckConstraint(
                name="roster_import_confirmed_has_confirmer",
                condition=~Q(status="confirmed") | Q(confirmed_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} · {self.insurance_year} · {self.original_name}"

    @property
    def waiting(self) -> bool:
        return self.status in (ImportStatus.PENDING, ImportStatus.CONFIRMED)


class RosterRow(models.Model):
    """One line of a roster import's report: a file row that was not imported (and why), or a tag that ends."""

    roster_import = models.ForeignKey(RosterImport, on_delete=models.CASCADE, related_name="rows")
    # None for a tag that ends because the new file no longer lists the person.
    row_number = models.PositiveIntegerField(_("row"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=RosterOutcome.choices)
    message = models.TextField(_("reason"), blank=True)
    id_number = models.CharField(_("identifier"), max_length=32, blank=True, db_collation=CODE_COLLATION)
    name = models.CharField(_("name"), max_length=60, blank=True)
    category = models.CharField(_("subsidy category"), max_length=60, blank=True)
    # Where the person is registered (or the import's region): decides whether the identifier is masked.
    region_code = models.CharField(_("region"), max_length=12, blank=True, db_collation=CODE_COLLATION)
    person = models.ForeignKey(
        "enrollment.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    values = models.JSONField(_("original row"), default=list, blank=True)

    class Meta:
        verbose_name = _("roster report row")
        verbose_name_plural = _("roster report rows")
        ordering = ["roster_import", "row_number"]
        indexes = [
            models.Index(fields=["roster_import", "outcome", "row_number"], name="roster_row_outcome_idx")
        ]
        constraints = [
            models.CheckConstraint(
                name="roster_row_outcome_known", condition=Q(outcome__in=RosterOutcome.values)
            ),
            models.CheckConstraint(
                name="roster_row_file_row_numbered",
                condition=Q(outcome="removed") | Q(row_number__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.roster_import_id}:{self.row_number} {self.outcome}"
