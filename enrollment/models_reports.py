"""What insurance's reports read besides the registry itself.

- ``RegisteredResident``: the household register (户籍人口名册) as imported from public security's
  roster, one row per person on a village's register. Coverage is measured against it (参保率以
  户籍人口为基数) and its persons without an enrollment are the follow-up list of the unenrolled.
  An import replaces the register of every village it contains.
- ``CoverageStat``: per village and insurance year, the counts the dashboards show, rebuilt
  set-based by ``enrollment.reports.coverage_stats_refresh`` (a beat task, and on demand), so a
  dashboard page reads a few thousand rows however many million persons there are.

Imported at the bottom of ``enrollment/models.py``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.models import CODE_COLLATION

__all__ = ["CoverageStat", "RegisteredResident"]

_REGION_CODE = {"max_length": 12, "db_collation": CODE_COLLATION}


class RegisteredResident(models.Model):
    """One person on a village's household register (户籍), from the register roster import."""

    scope_region_lookup = "region_code"

    id_number = models.CharField(_("identifier"), max_length=32, unique=True, db_collation=CODE_COLLATION)
    name = models.CharField(_("name"), max_length=60)
    region_code = models.CharField(_("village of the household register"), **_REGION_CODE)
    register_household = models.CharField(_("register household number"), max_length=40, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    job = models.ForeignKey(
        "enrollment.ImportJob", on_delete=models.PROTECT, related_name="+", verbose_name=_("import")
    )

    class Meta:
        verbose_name = _("registered resident")
        verbose_name_plural = _("registered residents")
        indexes = [models.Index(fields=["region_code", "id_number"], name="register_region_id_idx")]
        constraints = [
            models.CheckConstraint(
                name="register_village_code", condition=Q(region_code__regex=r"^[0-9]{9}[0-9]{3}$")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_code} {self.name}"


class CoverageStat(models.Model):
    """One village's counts for one insurance year, as of ``refreshed_at``."""

    scope_region_lookup = "region_code"

    region_code = models.CharField(_("village"), **_REGION_CODE)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    # Persons on the village's household register, and of them: enrolled anywhere (a normal
    # resident enrollment), and paid for the year (paid, or paid in full by the government).
    registered = models.PositiveIntegerField(_("registered population"), default=0)
    registered_enrolled = models.PositiveIntegerField(_("of them enrolled"), default=0)
    registered_paid = models.PositiveIntegerField(_("of them paid"), default=0)
    # Persons enrolled at the village (whatever their register), and the year's assessments there.
    enrolled = models.PositiveIntegerField(_("enrolled here"), default=0)
    assessed = models.PositiveIntegerField(_("assessed"), default=0)
    paid = models.PositiveIntegerField(_("paid"), default=0)
    government_paid = models.PositiveIntegerField(_("paid by the government"), default=0)
    due = models.PositiveIntegerField(_("due, not paid"), default=0)
    due_fen = models.BigIntegerField(_("due, not paid (fen)"), default=0)
    paid_fen = models.BigIntegerField(_("paid (fen)"), default=0)
    refreshed_at = models.DateTimeField(_("as of"))

    class Meta:
        verbose_name = _("coverage figure")
        verbose_name_plural = _("coverage figures")
        constraints = [
            models.UniqueConstraint(
                fields=["insurance_year", "region_code"], name="coverage_stat_one_per_village"
            ),
            models.CheckConstraint(
                name="coverage_stat_parts_within_whole",
                condition=Q(
                    registered_enrolled__lte=F("registered"), registered_paid__lte=F("registered_enrolled")
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.insurance_year} {self.region_code}"
