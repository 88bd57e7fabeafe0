"""Equivalence classes of facts, so that a set-based run evaluates the engine once per class.

The engine looks at a birth date only through a few cut-off dates (a category's "born on or
before", an age on a date) and, for newborns, exactly. ``birth_date_classes`` lists those
cut-offs: persons born between two consecutive cut-offs get identical decisions, so the yearly
assessment groups a million persons into a few thousand classes and asks the engine once per class.
"""

from __future__ import annotations

from datetime import date, timedelta

from .dates import age_on
from .policy import AgeCondition, Policy


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
