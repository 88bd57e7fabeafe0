"""Insurance's long exports, built in the background (accounts/export_jobs.py): the follow-up lists
of the unenrolled and the unpaid (催缴), whole, for an area of up to a city's millions of persons."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from openpyxl import Workbook

from accounts.digits import ascii_digits
from accounts.export_jobs import ExportKind, Progress, register
from accounts.exports import Sheet, money
from accounts.roles import Action
from accounts.scope import Scope

from . import reports
from .models_reports import CoverageStat
from .reports import FollowUpRow

UNENROLLED = "enrollment.unenrolled"
UNPAID = "enrollment.unpaid"


def year_of(asked: str) -> int:
    """The insurance year asked for if there are figures for it, else the current one (as the pages)."""
    years = reports.report_years()
    if ascii_digits(asked) and int(asked) in years:
        return int(asked)
    current = reports.current_insurance_year()
    return current if current in years or not years else years[0]


def follow_up_sheet(
    book: Workbook,
    title: str,
    heading: str,
    rows: Iterable[FollowUpRow],
    *,
    amounts: bool,
    progress: Progress,
) -> None:
    headers = [
        _("Village"),
        pgettext("person", "Name"),
        _("Identifier"),
        _("Phone"),
        _("Household"),
        _("Note"),
    ]
    if amounts:
        headers.insert(5, _("Amount due (yuan)"))
    sheet = Sheet(book, title, widths=(20, 12, 22, 15, 18, 14, 30))
    sheet.row([heading], bold=True)
    sheet.row(headers, bold=True, boxed=True)
    sheet.print_titles("2:2")
    for written, row in enumerate(rows, start=1):
        values: list[Any] = [row.village, row.name, row.id_number, row.phone, row.household, row.note]
        if amounts:
            values.insert(5, money(row.amount_fen or 0))
        sheet.row(values, boxed=True)
        progress(written)


def _area_params(scope: Scope, data: Mapping[str, str]) -> dict[str, Any]:
    return {"area": reports.area_for(scope=scope, code=data.get("area") or None).code}


def _unpaid_params(scope: Scope, data: Mapping[str, str]) -> dict[str, Any]:
    return {**_area_params(scope, data), "year": year_of(data.get("year", ""))}


def _stats(scope: Scope, area: str, year: int) -> Any:
    prefix = reports.area_prefix(reports.area_for(scope=scope, code=area))
    return CoverageStat.objects.filter(insurance_year=year, region_code__startswith=prefix)


def write_unenrolled(scope: Scope, params: dict[str, Any], book: Workbook, progress: Progress) -> str:
    area = reports.area_for(scope=scope, code=params["area"])
    rows = reports.unenrolled_all(scope=scope, area_code=area.code)
    heading = _("%(area)s — persons on the household register not enrolled (printed %(day)s)") % {
        "area": area.name,
        "day": timezone.localdate().isoformat(),
    }
    follow_up_sheet(book, _("Not enrolled"), heading, rows, amounts=False, progress=progress)
    return f"{area.name}-{_('not enrolled')}.xlsx"


def expected_unenrolled(scope: Scope, params: dict[str, Any]) -> int | None:
    """From the pre-aggregated coverage figures of the current year (they may lag by minutes)."""
    stats = _stats(scope, params["area"], reports.current_insurance_year())
    total = stats.aggregate(n=Sum(F("registered") - F("registered_enrolled")))["n"]
    return int(total) if total else None


def write_unpaid(scope: Scope, params: dict[str, Any], book: Workbook, progress: Progress) -> str:
    year = int(params["year"])
    area = reports.area_for(scope=scope, code=params["area"])
    rows = reports.unpaid_all(scope=scope, area_code=area.code, insurance_year=year)
    heading = _("%(area)s — due but not paid for %(year)s (催缴名单, printed %(day)s)") % {
        "area": area.name,
        "year": year,
        "day": timezone.localdate().isoformat(),
    }
    follow_up_sheet(book, _("Unpaid"), heading, rows, amounts=True, progress=progress)
    return f"{area.name}-{year}-{_('unpaid')}.xlsx"


def expected_unpaid(scope: Scope, params: dict[str, Any]) -> int | None:
    total = _stats(scope, params["area"], int(params["year"])).aggregate(n=Sum("due"))["n"]
    return int(total) if total else None


def register_exports() -> None:
    register(
        ExportKind(
            key=UNENROLLED,
            label=gettext_lazy("Persons on the household register not enrolled"),
            action=Action.REPORT_VIEW,
            params=_area_params,
            write=write_unenrolled,
            expected=expected_unenrolled,
        )
    )
    register(
        ExportKind(
            key=UNPAID,
            label=gettext_lazy("Due but not paid (催缴名单)"),
            action=Action.REPORT_VIEW,
            params=_unpaid_params,
            write=write_unpaid,
            expected=expected_unpaid,
        )
    )
