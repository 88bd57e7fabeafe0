"""Subsidy tags (资助身份标识): that a person belongs to a subsidised category for a period.

A tag names the category by its code in the region's policy (the policy says what the category
grants), the roster it came from, and the dates it is valid. Tags are never deleted: a tag
that no longer holds gets an end date (``valid_to``) and the reason. At most one open tag per
person and category (partial unique index).
"""

from __future__ import annotations

import pghistory
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from accounts.audit import tracked
from accounts.models import CODE_COLLATION


@tracked(level=pghistory.Statement)
class SubsidyTag(models.Model):
    scope_region_lookup = "region_code"

    person = models.ForeignKey(
        "enrollment.Person", on_delete=models.PROTECT, related_name="subsidy_tags", verbose_name=_("person")
    )
    category = models.CharField(_("subsidy category"), max_length=32, db_collation=CODE_COLLATION)
    # Where the person was registered when tagged: the scope of the tag.
    region_code = models.CharField(_("region code"), max_length=12, db_collation=CODE_COLLATION)
    source = models.CharField(_("roster"), max_length=100)
    valid_from = models.DateField(_("recognised on"))
    valid_to = models.DateField(_("valid until"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=models.functions.Now())

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
