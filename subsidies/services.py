"""Writes of subsidy tags. Each tag change reassesses the person's open years in the same transaction."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from enrollment.assessment import assessment_reassess
from enrollment.models import Person

from .models import SubsidyTag


@transaction.atomic
def subsidy_tag_add(
    *, person: Person, category: str, source: str, valid_from: dt.date, actor_id: int | None = None
) -> SubsidyTag:
    """Tag a person (one open tag per category); the person is reassessed and the adjustment goes to tax."""
    if (
        SubsidyTag.objects.select_for_update()
        .filter(person=person, category=category, valid_to__isnull=True)
        .exists()
    ):
        raise ValidationError(
            _("%(name)s already holds an open %(category)s tag.")
            % {"name": person.name, "category": category}
        )
    tag = SubsidyTag.objects.create(
        person=person,
        category=category,
        region_code=person.region_code,
        source=source[:100],
        valid_from=valid_from,
    )
    assessment_reassess(person_id=person.pk, reason=f"subsidy tag added: {category}", actor_id=actor_id)
    return tag


@transaction.atomic
def subsidy_tag_end(
    *, tag: SubsidyTag, valid_to: dt.date, reason: str, actor_id: int | None = None
) -> SubsidyTag:
    """End a tag on a date (never deleted); the person is reassessed."""
    tag = SubsidyTag.objects.select_for_update().get(pk=tag.pk)
    if tag.valid_to is not None:
        raise ValidationError(_("This tag has already ended."))
    if valid_to < tag.valid_from:
        raise ValidationError(_("A tag cannot end before it started."))
    tag.valid_to = valid_to
    tag.end_reason = reason[:200]
    tag.save(update_fields=["valid_to", "end_reason"])
    assessment_reassess(
        person_id=tag.person_id, reason=f"subsidy tag ended: {tag.category}", actor_id=actor_id
    )
    return tag
