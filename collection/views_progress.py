"""征收进度: the collection-progress dashboard (tax staff and administrators), its workbooks and
the "refresh now" button. Thin: every figure comes from ``collection.progress`` (the summary)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from openpyxl import Workbook

from accounts.access import ScopedViewMixin
from accounts.charts import Bar, Series, daily_columns, horizontal_bars, percent, progress_ring
from accounts.digits import ascii_digits
from accounts.exports import Sheet, money, xlsx_response
from accounts.money import yuan
from accounts.roles import Action

from . import progress, selectors
from .tasks import refresh_progress


def _year(raw: str | None) -> int | None:
    return int(raw) if raw and ascii_digits(raw) and 2000 <= int(raw) <= 2100 else None


def _dashboard(view: ScopedViewMixin, request: HttpRequest, code: str | None) -> progress.Dashboard:
    return progress.progress_dashboard(
        scope=view.scope,
        code=code,
        year=_year(request.GET.get("year")),
        date_from=selectors.report_day(request.GET.get("from")),
        date_to=selectors.report_day(request.GET.get("to")),
    )


def _url(code: str, suffix: str = "") -> str:
    if code:
        return reverse(f"collection:progress-area{suffix}", args=[code])
    return reverse(f"collection:progress{suffix}")


class ProgressView(ScopedViewMixin, View):
    """The dashboard of the caller's own area (``?year=&from=&to=``)."""

    required_action = Action.COLLECTION_PROGRESS_VIEW
    template_name = "collection/progress.html"

    def area_code(self) -> str | None:
        return self.kwargs.get("code")

    def get(self, request: HttpRequest, **_kwargs: Any) -> HttpResponse:
        board = _dashboard(self, request, self.area_code())
        query = f"?year={board.year or ''}&from={board.date_from}&to={board.date_to}"
        bars = [
            Bar(
                label=child.name,
                value=child.persons_rate,
                note=f"{percent(child.persons_rate)}  ({child.persons_paid:,} / {child.persons_due:,})",
                href=_url(child.code) + query,
            )
            for child in board.children
        ]
        money_bars = [
            Bar(
                label=child.name,
                value=child.money_rate,
                note=f"{percent(child.money_rate)}  (¥{yuan(child.paid_fen)})",
                href=_url(child.code) + query,
            )
            for child in board.children
        ]
        series = [
            Series(label=label, values=[day.by_channel[value][1] / 100 for day in board.days])
            for value, label in board.channels
        ]
        totals = board.channel_totals
        context = {
            "board": board,
            "query": query,
            "here": _url(board.area.code),
            "export_url": _url(board.area.code, "-xlsx") + query,
            "persons_ring": progress_ring(board.area.persons_rate, label=_("Persons paid of persons due")),
            "money_ring": progress_ring(board.area.money_rate, label=_("Money paid of money due")),
            "due_yuan": yuan(board.area.due_fen),
            "paid_yuan": yuan(board.area.paid_fen),
            "children": [
                (child, _url(child.code) + query, yuan(child.due_fen), yuan(child.paid_fen))
                for child in board.children
            ],
            "persons_chart": horizontal_bars(
                bars,
                label=_("Persons paid of persons due, per area"),
                target=1.0,
                target_label=_("Target: 100%"),
            )
            if bars
            else "",
            "money_chart": horizontal_bars(
                money_bars,
                label=_("Money paid of money due, per area"),
                target=1.0,
                target_label=_("Target: 100%"),
            )
            if money_bars
            else "",
            "days_chart": daily_columns(
                [day.day for day in board.days],
                series,
                label=_("Money taken per day and channel (yuan)"),
                unit=_("yuan"),
            )
            if series
            else "",
            "days": [
                (day, [(count, yuan(fen)) for count, fen in day.by_channel.values()], yuan(day.paid_fen))
                for day in board.days
                if day.payments
            ],
            "channel_totals": [(count, yuan(fen)) for count, fen in totals.values()],
            "days_payments": sum(count for count, _fen in totals.values()),
            "days_yuan": yuan(sum(fen for _count, fen in totals.values())),
        }
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, **_kwargs: Any) -> HttpResponse:
        """ "Refresh now": queues the summary's refresh and returns to the area (``area``: its code,
        or empty for the caller's own; 400 without it, 404 outside the caller's area)."""
        # The area in the address is checked first: another area's page answers 404 whatever is posted.
        if self.area_code():
            progress.progress_area(scope=self.scope, code=self.area_code())
        if "area" not in request.POST:
            return HttpResponseBadRequest(_("Say which area to return to."))
        code = request.POST["area"] or None
        progress.progress_area(scope=self.scope, code=code)  # 404 outside the caller's area
        refresh_progress.delay()
        messages.success(request, _("The figures are being brought up to date; reload in a minute."))
        query = request.POST.get("query", "")
        return redirect(_url(code or "") + (f"?{query}" if query else ""))


class ProgressAreaView(ProgressView):
    """The dashboard of one area of the caller's (a county, township or village; 404 outside)."""


class ProgressExportView(ScopedViewMixin, View):
    """The dashboard's two tables as a workbook: the sub-areas, and the days by channel."""

    required_action = Action.COLLECTION_PROGRESS_VIEW

    def get(self, request: HttpRequest, code: str | None = None) -> HttpResponse:
        board = _dashboard(self, request, code)

        def write(book: Workbook) -> None:
            areas = Sheet(book, _("Per area"), widths=(22, 16, 12, 12, 12, 16, 16, 12, 12))
            areas.row([_("Collection progress"), board.area.name, board.year or ""], bold=True)
            areas.row(
                [
                    _("As of"),
                    timezone.localtime(board.as_of).strftime("%Y-%m-%d %H:%M") if board.as_of else "",
                ]
            )
            areas.row(
                [
                    _("Area"),
                    _("Region code"),
                    _("Persons due"),
                    _("Persons paid"),
                    _("Persons (%)"),
                    _("Money due (yuan)"),
                    _("Money paid (yuan)"),
                    _("Money (%)"),
                    _("Not due through tax"),
                ],
                bold=True,
            )
            for row in [*board.children, board.area]:
                areas.row(
                    [
                        row.name if row is not board.area else _("Total"),
                        row.code,
                        row.persons_due,
                        row.persons_paid,
                        round(row.persons_rate * 100, 1),
                        money(row.due_fen),
                        money(row.paid_fen),
                        round(row.money_rate * 100, 1),
                        row.persons_withdrawn,
                    ],
                    bold=row is board.area,
                )
            days = Sheet(book, _("Per day"), widths=(12, *([14] * (2 * len(board.channels) + 2))))
            days.row(
                [_("Collection per day"), board.area.name, str(board.date_from), str(board.date_to)],
                bold=True,
            )
            header: list[Any] = [_("Day")]
            for _value, label in board.channels:
                header += [f"{label} · {_('Payments')}", f"{label} · {_('Amount (yuan)')}"]
            days.row([*header, _("Payments"), _("Amount (yuan)")], bold=True)
            for day in board.days:
                if not day.payments:
                    continue
                cells: list[Any] = [day.day]
                for count, fen in day.by_channel.values():
                    cells += [count, money(fen)]
                days.row([*cells, day.payments, money(day.paid_fen)])

        name = f"{_('collection progress')}-{board.area.name}-{board.year or ''}.xlsx"
        return xlsx_response(write, name)
