"""Subsidy fund totals for finance (``subsidy.fund_totals``, version 2): per county and insurance
year, the persons the assessment subsidises and the subsidy money, per subsidy category.

Finance funds the subsidies (资助资金) and never reads insurance's tables; it learns the totals
only from this message. One message per county and year carries the whole year as of a moment
(every category, possibly none), so finance replaces what it held: a category that emptied
disappears, and an older message arriving late changes nothing (``as_of``).

What counts: assessments due, paid or paid in full by the government — the persons the year's
subsidy is spent on — a year paid by the government stays counted after a death, suspension or
transfer out once its cover began. Cancelled assessments (the enrollment ended before payment, or
before the cover a government payment bought began) and refunded
ones (paid, then given back: the year bought no cover) do not. The money is ``subsidy_fen``, the
part of the individual contribution the subsidy pays (the general government share per insured
person, ``government_fen``, is not a subsidy of a category).

Computed set-based: one ``GROUP BY`` over the assessments of the chosen years (and county),
served by the ``(county_code, insurance_year, status)`` index.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from sharing.services import message_send

from .models import AssessmentStatus
from .policies import policy_for_county

TOPIC = "subsidy.fund_totals"
COUNTED = (AssessmentStatus.DUE, AssessmentStatus.PAID, AssessmentStatus.GOVERNMENT)

_TOTALS_SQL = """
SELECT county_code, insurance_year, subsidy_category, count(*) AS persons, coalesce(sum(subsidy_fen), 0) AS fen
FROM enrollment_assessment
WHERE insurance_year = ANY(%(years)s) AND status = ANY(%(counted)s) {county}
GROUP BY county_code, insurance_year, subsidy_category
ORDER BY county_code, insurance_year, subsidy_category
"""


@dataclass
class CategoryTotal:
    category: str
    name: str
    person_count: int
    amount_fen: int


@dataclass
class CountyTotals:
    county_code: str
    insurance_year: int
    categories: list[CategoryTotal] = field(default_factory=list)

    @property
    def person_count(self) -> int:
        return sum(line.person_count for line in self.categories)

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.categories)


def fund_totals(*, years: Iterable[int], county_code: str | None = None) -> list[CountyTotals]:
    """Every county (or the one given) with assessments in ``years``: its subsidised persons and
    money per category (a county whose assessments subsidise nobody has no category)."""
    params: dict[str, object] = {"years": sorted(set(years)), "counted": [str(status) for status in COUNTED]}
    county = ""
    if county_code is not None:
        county, params["county"] = "AND county_code = %(county)s", county_code
    totals: dict[tuple[str, int], CountyTotals] = {}
    names: dict[tuple[str, int], dict[str, str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS_SQL.format(county=county), params)
        rows = cursor.fetchall()
    for county_of, year, category, persons, fen in rows:
        entry = totals.setdefault((county_of, year), CountyTotals(county_code=county_of, insurance_year=year))
        if not category:
            continue
        if (county_of, year) not in names:
            loaded = policy_for_county(county_code=county_of, insurance_year=year)
            categories = loaded.rules.subsidy_categories if loaded is not None else ()
            # By code; a roster tag shared by several categories by the first category holding it.
            by_tag = {c.tag_code: c.name for c in reversed(categories) if c.tag_code}
            names[(county_of, year)] = {**by_tag, **{c.code: c.name for c in categories}}
        entry.categories.append(
            CategoryTotal(
                category=category,
                name=names[(county_of, year)].get(category, category)[:100],
                person_count=int(persons),
                amount_fen=int(fen),
            )
        )
    return list(totals.values())


def fund_totals_send(*, years: Iterable[int], county_code: str | None = None) -> int:
    """Send finance the totals of each county and year (one message each, in one transaction);
    returns the number of messages. Idempotent for finance: the newest ``as_of`` wins."""
    as_of = timezone.now().isoformat()
    sent = 0
    with transaction.atomic():
        for entry in fund_totals(years=years, county_code=county_code):
            message_send(
                topic=TOPIC,
                payload={
                    "region_code": entry.county_code.ljust(12, "0"),
                    "insurance_year": entry.insurance_year,
                    "as_of": as_of,
                    "person_count": entry.person_count,
                    "amount_fen": entry.amount_fen,
                    "categories": [
                        {
                            "category": line.category,
                            "name": line.name,
                            "person_count": line.person_count,
                            "amount_fen": line.amount_fen,
                        }
                        for line in entry.categories
                    ],
                },
            )
            sent += 1
    return sent


def open_years(today: dt.date | None = None) -> list[int]:
    """The years the daily send covers: last year (refunds still settle it), this one and next
    (assessed in the autumn before it starts)."""
    year = (today or timezone.localdate()).year
    return [year - 1, year, year + 1]
