"""The rulebook's storage: one policy per region and insurance year, every version kept.

``Policy`` names the region (by code; '' for the nationwide default) and the insurance year,
and holds the current document; ``PolicyVersion`` rows are append-only, one per saved edit or
import, each with who saved it and why. The document is validated by ``enrollment.rules`` before
it is stored (``enrollment.policies.policy_save``), so a stored document always loads.

Imported at the bottom of ``enrollment/models.py``.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION

__all__ = ["Policy", "PolicyVersion", "scope_prefix_of_region_code"]


def scope_prefix_of_region_code(code: str) -> str:
    """The code prefix of a region's subtree: 141000 → 1410 (a city), 220000 → 22, 450703 → 450703."""
    if len(code) == 6:
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
    return code


@tracked()
class Policy(models.Model):
    """A region's rules for one insurance year (the document is in ``enrollment/rules/policy.py``'s format)."""

    # National codes: 6 digits for a province, city or county; '' is the nationwide default.
    region_code = models.CharField(_("region code"), max_length=12, blank=True, db_collation=CODE_COLLATION)
    # The prefix every 12-digit code of the region's subtree starts with (derived from region_code).
    region_prefix = models.CharField(max_length=12, blank=True, db_collation=CODE_COLLATION, editable=False)
    insurance_year = models.PositiveSmallIntegerField(_("insurance year"))
    code = models.CharField(_("code"), max_length=64, unique=True, db_collation=CODE_COLLATION)
    name = models.CharField(_("name"), max_length=120)
    document = models.JSONField(_("document"))
    version = models.PositiveIntegerField(_("version"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        ordering = ["region_prefix", "-insurance_year"]
        constraints = [
            models.UniqueConstraint(
                fields=["region_prefix", "insurance_year"], name="policy_one_per_region_year"
            ),
            models.CheckConstraint(
                name="policy_region_code_digits",
                condition=Q(region_code="") | Q(region_code__regex=r"^[0-9]{6}([0-9]{3})?([0-9]{3})?$"),
            ),
            models.CheckConstraint(
                name="policy_year_plausible", condition=Q(insurance_year__gte=2000, insurance_year__lte=2100)
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyVersion(models.Model):
    """One saved state of a policy: append-only (never updated or deleted)."""

    policy = models.ForeignKey(
        Policy, on_delete=models.PROTECT, related_name="versions", verbose_name=_("policy")
    )
    number = models.PositiveIntegerField(_("version"))
    document = models.JSONField(_("document"))
    note = models.CharField(_("why"), max_length=300)
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("saved by"),
    )
    saved_at = models.DateTimeField(_("saved at"), db_default=models.functions.Now())

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number_unique"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="policy_version_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number}"
