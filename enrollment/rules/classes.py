"""Equivalence classes of facts, so that a set-based run evaluates the engine once per class.

The engine looks at a birth date only through a few cut-off dates (a category's "born on or
before", an age on a date) and, for newborns, exactly. ``birth_date_classes`` lists those
cut-offs: persons born between two consecutive cut-offs get identical decisions, so the yearly
assessment groups a million persons into a few thousand classes and asks the engine once per class.

A subsidy tag's dates count the same way (``TagClasses``): its recognition date only against the
end of the year paid for (the insurance year, or a student's academic year) and the "recognised
by" dates of the categories that need the tag, and exactly when it is later than one of those (the
reason then names it); its end only against the starts of those years; its roster's insurance
year as it is. Without this, every recognition date of a roster made a class of its own, and
reassessing a 100,000-row roster asked the engine 100,000 times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from .dates import age_on
from .policy import AgeCondition, Policy

if TYPE_CHECKING:
    from .engine import Tag


def latest_birth_date_of_age(condition: AgeCondition) -> date:
    """The last birth date of someone at least ``years`` old on ``on`` (29 Feb births handled by age_on)."""
    year = condition.on.year - condition.years
    candidate = date(
        year,
        condition.on.month,
        28 if (condition.on.month, condition.on.day) == (2, 29) else condition.on.day,
    )
    # Step to the exact boundary: age_on is monotonic in the birth date.
    while age_on(candidate + timedelta(days=1), condition.on) >= condition.years:
        candidate += timedelta(days=1)
    while age_on(candidate, condition.on) < condition.years:
        candidate -= timedelta(days=1)
    return candidate


def birth_date_classes(policy: Policy) -> tuple[list[date], date]:
    """(boundaries, exact_from): the class of a birth date b < exact_from is the number of boundaries ≤ b;
    from ``exact_from`` on (newborns), every birth date is a class of its own."""
    boundaries: set[date] = set()
    for category in policy.subsidy_categories:
        conditions = category.conditions
        if conditions.born_on_or_before:
            boundaries.add(conditions.born_on_or_before + timedelta(days=1))
        for age in (conditions.age_at_least, conditions.age_below):
            if age:
                boundaries.add(latest_birth_date_of_age(age) + timedelta(days=1))
    exact_from = policy.collection.window.start
    return sorted(boundary for boundary in boundaries if boundary < exact_from), exact_from


def representative_birth_date(birth_date: date, boundaries: list[date], exact_from: date) -> date:
    """The birth date that stands for ``birth_date``'s class (the last day of the class)."""
    if birth_date >= exact_from:
        return birth_date
    for boundary in boundaries:
        if birth_date < boundary:
            return boundary - timedelta(days=1)
    return exact_from - timedelta(days=1)


@dataclass(frozen=True)
class TagClasses:
    """How a tag's dates reduce to their class, the same for every person category.

    The engine compares a tag's dates with the year the person pays for: the insurance year, or a
    student's academic year where the policy has one (``Policy.coverage_for``). A class holds
    only dates that every such year treats alike, so the set-based run needs no person category
    to reduce a tag.

    ``cuts``: per tag code, the last recognition date that counts as "in time" for every category
    needing the tag and for every person (the earliest of the years' ends and those categories'
    "recognised by"); ``default_cut`` for codes no category asks about by date. A later
    recognition date is kept as it is. ``ends_from``: an end on or after it counts as no end (the
    latest of the years' starts); ``end_steps``: the other years' starts, latest first — an end on
    or after one of them (and before the previous) stands for that start; an earlier end is kept.
    """

    cuts: dict[str, date]
    default_cut: date
    ends_from: date
    end_steps: tuple[date, ...] = ()

    @classmethod
    def of(cls, policy: Policy) -> TagClasses:
        years = [policy.coverage, *([policy.student_coverage] if policy.student_coverage else [])]
        last_in_time = min(year.end for year in years)
        starts = sorted({year.start for year in years}, reverse=True)
        cuts: dict[str, date] = {}
        for category in policy.subsidy_categories:
            if not category.requires_tag:
                continue
            cut = last_in_time
            if category.conditions.recognised_by:
                cut = min(cut, category.conditions.recognised_by)
            cuts[category.tag_code] = min(cuts.get(category.tag_code, cut), cut)
        return cls(cuts=cuts, default_cut=last_in_time, ends_from=starts[0], end_steps=tuple(starts[1:]))

    def cut(self, code: str) -> date:
        return self.cuts.get(code, self.default_cut)

    def recognised_key(self, code: str, recognised_on: date) -> date:
        """The date standing for ``recognised_on``: the cut when in time, else the date itself."""
        return max(recognised_on, self.cut(code))

    def ended_key(self, ended_on: date | None) -> date | None:
        if ended_on is None or ended_on >= self.ends_from:
            return None
        return next((step for step in self.end_steps if ended_on >= step), ended_on)

    def representative(self, tag: Tag) -> Tag:
        return type(tag)(
            tag.category,
            self.recognised_key(tag.category, tag.recognised_on),
            self.ended_key(tag.ended_on),
            tag.insurance_year,
        )
