"""Insurance's report pages: coverage per area (chart and table), and the follow-up lists of the
unenrolled and the unpaid (催缴), each exportable as xlsx.

Thin: the scope, the query string, ``enrollment.reports``, the template or the workbook.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from openpyxl import Workbook

from accounts.access import ScopedViewMixin
from accounts.charts import Bar, horizontal_bars, percent, progress_ring
from accounts.digits import ascii_digits
from accounts.exports import Sheet, money, xlsx_response
from accounts.money import yuan
from accounts.roles import Action
from accounts.searches import PAGE_NOT_KEPT, PAGES_KEPT, SessionSearches

from .. import exports, reports
from ..reports import CoverageLine, CoverageReport


def _year(request: HttpRequest) -> int:
    return exports.year_of(request.GET.get("year", ""))


RECOUNT_AT_MOST_EVERY = 60


def _coverage_chart(report: CoverageReport) -> str:
    lines = [line for line in report.lines if line.registered]
    if not lines:
        return ""
    bars = [
        Bar(
            label=line.name,
            value=line.coverage_rate or 0.0,
            note=f"{percent(line.coverage_rate)} ({line.registered_enrolled:,} / {line.registered:,})",
            href=_coverage_url(report.year, line.code) if line.level < 5 else "",
        )
        for line in lines
    ]
    return horizontal_bars(
        bars,
        label=_("Coverage rate (enrolled ÷ registered population), %(year)s") % {"year": report.year},
        target=1.0,
        target_label=_("Target: 100%"),
    )


def _coverage_url(year: int, code: str) -> str:
    return f"{reverse('enrollment:report-coverage')}?{urlencode({'year': year, 'area': code})}"


def _line_context(year: int, line: CoverageLine) -> dict[str, Any]:
    return {
        "name": line.name,
        "url": _coverage_url(year, line.code) if line.level < 5 else "",
        "registered": line.registered,
        "registered_enrolled": line.registered_enrolled,
        "coverage": percent(line.coverage_rate),
        "below": line.coverage_rate is not None and line.coverage_rate < 1,
        "registered_paid": line.registered_paid,
        "paid": percent(line.paid_rate),
        "enrolled": line.enrolled,
        "assessed": line.assessed,
        "due": line.due,
        "due_yuan": yuan(line.due_fen),
    }


class CoverageReportView(ScopedViewMixin, View):
    """Coverage of an area and of each of its parts, against the household register."""

    required_action = Action.REPORT_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        year = _year(request)
        report = reports.coverage_report(
            scope=self.scope, insurance_year=year, area_code=request.GET.get("area")
        )
        total = report.total
        context: dict[str, Any] = {
            "report": report,
            "total": total,
            "years": reports.report_years(),
            "year": year,
            "chart": _coverage_chart(report),
            "ring": progress_ring(total.coverage_rate or 0.0, label=_("Coverage rate"))
            if total.registered
            else "",
            "paid_ring": progress_ring(total.paid_rate or 0.0, label=_("Paid rate"))
            if total.registered
            else "",
            "lines": [_line_context(year, line) for line in report.lines],
            "coverage_text": percent(total.coverage_rate),
            "paid_text": percent(total.paid_rate),
            "due_yuan": yuan(total.due_fen),
            "query": urlencode({"year": year, "area": report.area.code}),
            "tab": "coverage",
        }
        return render(request, "enrollment/reports/coverage.html", context)

    def post(self, request: HttpRequest) -> HttpResponse:
        """ "Recount now": a worker recounts the year (at most once a minute), then back to the area."""
        from ..tasks import refresh_coverage

        asked = request.POST.get("year", "")
        if not ascii_digits(asked):
            return HttpResponseBadRequest(_("Say which insurance year to recount."))
        year = int(asked)
        area = reports.area_for(scope=self.scope, code=request.POST.get("area") or None)
        as_of = reports.coverage_as_of(insurance_year=year)
        # Tens of thousands of clerks may press it: one recount a minute is enough for all of them.
        if as_of is not None and timezone.now() - as_of < dt.timedelta(seconds=RECOUNT_AT_MOST_EVERY):
            messages.info(request, _("The figures were counted less than a minute ago."))
        else:
            refresh_coverage.delay(year)
            messages.success(request, _("The figures are being recounted; reload the page in a minute."))
        return redirect(_coverage_url(year, area.code))


def _coverage_rows(report: CoverageReport) -> Iterable[CoverageLine]:
    yield from report.lines
    yield report.total


class CoverageXlsxView(ScopedViewMixin, View):
    required_action = Action.REPORT_VIEW

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        year = _year(request)
        report = reports.coverage_report(
            scope=self.scope, insurance_year=year, area_code=request.GET.get("area")
        )

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Coverage"), widths=(16, 22, 12, 12, 12, 10, 12, 10, 12, 12, 10, 14, 14))
            as_of = timezone.localtime(report.as_of).strftime("%Y-%m-%d %H:%M") if report.as_of else "—"
            sheet.row(
                [_("%(area)s — coverage, insurance year %(year)s (as of %(at)s)")
                 % {"area": report.area.name, "year": year, "at": as_of}],
                bold=True,
            )  # fmt: skip
            sheet.row(
                [
                    _("Code"), _("Area"), _("Registered population"), _("Of them enrolled"), _("Not enrolled"),
                    _("Coverage rate"), _("Of them paid"), _("Paid rate"), _("Enrolled here"), _("Assessed"),
                    _("Due, not paid"), _("Due, not paid (yuan)"), _("Paid (yuan)"),
                ],
                bold=True,
                boxed=True,
            )  # fmt: skip
            for line in _coverage_rows(report):
                sheet.row(
                    [
                        line.code, line.name, line.registered, line.registered_enrolled, line.not_enrolled,
                        percent(line.coverage_rate), line.registered_paid, percent(line.paid_rate), line.enrolled,
                        line.assessed, line.due, money(line.due_fen), money(line.paid_fen),
                    ],
                    boxed=True,
                )  # fmt: skip

        return xlsx_response(write, f"{report.area.name}-{year}-{_('coverage')}.xlsx")


# --- follow-up lists ----------------------------------------------------------------------------


# The lists' keyset cursors name the last row shown (the unenrolled list's: its ID number). The
# address carries a random key to the cursor kept in the session (accounts.searches), never the cursor.
FOLLOW_UP_PAGES = {
    tab: SessionSearches(
        f"enrollment.report.{tab}", kept=PAGES_KEPT, param="after", stale_message=PAGE_NOT_KEPT
    )
    for tab in ("unenrolled", "unpaid")
}


class _FollowUpView(ScopedViewMixin, View, ABC):
    """A follow-up list page; each list says which page of rows it shows (``?after=<key>`` of the
    cursor kept in the session; a key this session does not keep starts again from the first page)."""

    required_action = Action.REPORT_VIEW
    tab = ""
    # The whole list is written in the background (accounts/export_jobs.py, enrollment/exports.py).
    export_kind = ""

    @abstractmethod
    def page(self, request: HttpRequest, year: int, after: str | None) -> reports.FollowUpPage: ...

    def get(self, request: HttpRequest) -> HttpResponse:
        year = _year(request)
        area = reports.area_for(scope=self.scope, code=request.GET.get("area"))
        pages = FOLLOW_UP_PAGES[self.tab]
        cursor = pages.recall(request)
        page = self.page(request, year, cursor.query or None)
        query = {"year": year, "area": area.code}
        context = {
            "tab": self.tab,
            "area": area,
            "year": year,
            "years": reports.report_years(),
            "rows": page.rows,
            "next_url": pages.address(request, request.path, page.next_after, **query)
            if page.next_after
            else "",
            "first_url": f"{request.path}?{urlencode(query)}" if cursor.query else "",
            "notice": cursor.notice,
            "query": urlencode(query),
        }
        context.update(
            export_kind=self.export_kind,
            export_params=[("area", area.code), ("year", year)],
            export_label=_("Export the whole list (xlsx)"),
        )
        return render(request, f"enrollment/reports/{self.tab}.html", context)


class UnenrolledListView(_FollowUpView):
    """Persons on the household register without a normal enrollment: whom to visit."""

    tab = "unenrolled"
    export_kind = exports.UNENROLLED

    def page(self, request: HttpRequest, year: int, after: str | None) -> reports.FollowUpPage:
        return reports.unenrolled_page(scope=self.scope, area_code=request.GET.get("area"), after=after)


class UnpaidListView(_FollowUpView):
    """The year's assessments still due (催缴名单), with the amount to pay."""

    tab = "unpaid"
    export_kind = exports.UNPAID

    def page(self, request: HttpRequest, year: int, after: str | None) -> reports.FollowUpPage:
        return reports.unpaid_page(
            scope=self.scope, area_code=request.GET.get("area"), insurance_year=year, after=after
        )
