"""Finance's reports, from finance's own tables only (never insurance's or tax's):

- **subsidy funds** (资助资金): persons and money per subsidy category and county for a year, as
  insurance last reported them (``subsidy.fund_totals``, kept in ``SubsidyFunds``);
- **transfers per month** (拨付): the fund-usage plans whose funds finance transferred, per month
  of the transfer and county: plans, refunds in them, money. This is what finance paid to
  insurance's refund account; whether and when insurance paid each refund out to the person after
  the transfer finance is not told (no message carries it), so this report does not claim it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Sum
from django.db.models.functions import ExtractMonth, ExtractYear, Left

from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import county_names

from .models import PlanStatus, ReceivedPlan, SubsidyFunds, SubsidyFundsLine

# --- subsidy funds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FundsLine:
    county_code: str
    county_name: str
    category: str
    name: str
    person_count: int
    amount_fen: int


@dataclass
class FundsCounty:
    county_code: str
    county_name: str
    as_of: dt.datetime
    person_count: int
    amount_fen: int
    lines: list[FundsLine] = field(default_factory=list)


@dataclass
class Funds:
    year: int | None
    counties: list[FundsCounty]

    @property
    def person_count(self) -> int:
        return sum(county.person_count for county in self.counties)

    @property
    def amount_fen(self) -> int:
        return sum(county.amount_fen for county in self.counties)

    def per_category(self) -> list[tuple[str, str, int, int]]:
        """(category, name, persons, fen) summed over the counties, in category order."""
        sums: dict[str, list] = {}
        for county in self.counties:
            for line in county.lines:
                entry = sums.setdefault(line.category, [line.name, 0, 0])
                entry[1] += line.person_count
                entry[2] += line.amount_fen
        return [(code, name, persons, fen) for code, (name, persons, fen) in sorted(sums.items())]


def subsidy_fund_years(*, scope: Scope) -> list[int]:
    scope.require(Action.FINANCE_REPORT_VIEW)
    years = scope.filter(SubsidyFunds.objects.all()).values_list("insurance_year", flat=True)
    return sorted(set(years), reverse=True)


def subsidy_funds(*, scope: Scope, year: int | None) -> Funds:
    """The counties of the caller's area with insurance's latest totals for ``year``, each with its
    categories."""
    scope.require(Action.FINANCE_REPORT_VIEW)
    reports = list(
        scope.filter(SubsidyFunds.objects.filter(insurance_year=year or 0)).order_by("region_code")
    )
    names = county_names({report.region_code[:6] for report in reports})
    counties = {
        report.pk: FundsCounty(
            county_code=report.region_code[:6],
            county_name=names.get(report.region_code[:6], report.region_code[:6]),
            as_of=report.as_of,
            person_count=report.person_count,
            amount_fen=report.amount_fen,
        )
        for report in reports
    }
    lines = scope.filter(SubsidyFundsLine.objects.filter(report_id__in=list(counties))).order_by(
        "report__region_code", "category"
    )
    for line in lines:
        county = counties[line.report_id]
        county.lines.append(
            FundsLine(
                county_code=county.county_code,
                county_name=county.county_name,
                category=line.category,
                name=line.name,
                person_count=line.person_count,
                amount_fen=line.amount_fen,
            )
        )
    return Funds(year=year, counties=list(counties.values()))


# --- transfers per month -----------------------------------------------------------------------


@dataclass(frozen=True)
class TransferMonth:
    month: dt.date  # the first of the month
    county_code: str
    county_name: str
    plans: int
    refunds: int
    amount_fen: int


def transfer_years(*, scope: Scope) -> list[int]:
    scope.require(Action.FINANCE_REPORT_VIEW)
    transferred = scope.filter(ReceivedPlan.objects.filter(status=PlanStatus.TRANSFERRED))
    years = transferred.annotate(y=ExtractYear("transferred_on")).values_list("y", flat=True).distinct()
    return sorted(set(years), reverse=True)


def transfers_per_month(*, scope: Scope, year: int | None) -> list[TransferMonth]:
    """Per month of the transfer (in ``year``) and county: plans transferred, the refunds they hold
    and the money, from finance's own record of the plans."""
    scope.require(Action.FINANCE_REPORT_VIEW)
    if year is None:
        return []
    rows = (
        scope.filter(ReceivedPlan.objects.filter(status=PlanStatus.TRANSFERRED, transferred_on__year=year))
        .annotate(m=ExtractMonth("transferred_on"), county=Left("region_code", 6))
        .values("m", "county")
        .annotate(plans=Count("id"), refunds=Sum("refund_count"), fen=Sum("amount_fen"))
        .order_by("m", "county")
    )
    found = list(rows)
    names = county_names({row["county"] for row in found})
    return [
        TransferMonth(
            month=dt.date(year, row["m"], 1),
            county_code=row["county"],
            county_name=names.get(row["county"], row["county"]),
            plans=row["plans"],
            refunds=int(row["refunds"] or 0),
            amount_fen=int(row["fen"] or 0),
        )
        for row in found
    ]
