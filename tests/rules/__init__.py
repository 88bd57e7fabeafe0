"""Specifications of the rulebook: every rule and worked number of docs' policies.md, preset by preset.

Database-free and fast: the presets are read once (``preset``) and the engine is plain Python.
Reasons are read aloud by clerks; they come from gettext with English msgids, so the tests assert
the values (amounts, dates, rule paths) and that a reason carries the policy's own Chinese words.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from enrollment.rules.engine import PersonFacts, Tag
from enrollment.rules.policy import Policy
from enrollment.rules.presets import load_preset


@cache
def preset(code: str) -> Policy:
    return load_preset(code)


def yuan(amount: int) -> int:
    """Whole yuan in fen."""
    return amount * 100


def tag(
    category: str,
    recognised_on: date = date(2000, 1, 1),
    ended_on: date | None = None,
    *,
    roster_year: int | None = None,
) -> Tag:
    """A tag given by hand, or (``roster_year``) a tag of that insurance year's roster."""
    return Tag(category, recognised_on, ended_on, roster_year)


def person(
    born: date = date(1980, 6, 15),
    *,
    last_paid: int | None = None,
    category: str = "rural",
    tags: tuple[Tag, ...] | list[Tag] = (),
    hukou: bool = True,
    paid_back: int = 0,
    transfer: bool = False,
) -> PersonFacts:
    return PersonFacts(
        birth_date=born,
        person_category=category,
        hukou_in_region=hukou,
        tags=tuple(tags),
        last_paid_year=last_paid,
        years_paid_back=paid_back,
        transfer=transfer,
    )


def continuous(year: int, **kwargs: object) -> PersonFacts:
    """Someone who paid for the insurance year before ``year``."""
    return person(last_paid=year - 1, **kwargs)  # type: ignore[arg-type]
