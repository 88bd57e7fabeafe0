"""Finance's pages: the fund-usage plans insurance submitted, and one plan with its lines, its
timeline and the steps (approve, reject with the reason, record the transfer). Thin."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from openpyxl import Workbook

from accounts.access import ScopedViewMixin
from accounts.charts import Bar, Series, daily_columns, horizontal_bars
from accounts.digits import ascii_digits
from accounts.exports import Sheet, money, xlsx_response
from accounts.models import Region
from accounts.money import yuan
from accounts.roles import Action

from . import reports, selectors, services
from .models import PlanStatus, ReceivedPlan


class PlanListView(ScopedViewMixin, View):
    """The plans of the area, with tabs by status; those waiting for finance first in mind."""

    required_action = Action.FINANCE_PLAN_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope
        status = request.GET.get("status", "")
        if status not in PlanStatus.values:
            status = ""
        page = Paginator(selectors.plan_list(scope=scope, status=status), 50).get_page(
            request.GET.get("page")
        )
        counts = selectors.plan_status_counts(scope=scope)
        names = _region_names({plan.region_code for plan in page})
        context = {
            "page": page,
            "rows": [
                (plan, yuan(plan.amount_fen), names.get(plan.region_code, plan.region_code)) for plan in page
            ],
            "status": status,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in PlanStatus.choices
            ],
        }
        return render(request, "finance/plans.html", context)


def _region_names(codes: set[str]) -> dict[str, str]:
    """Region names for codes (shared reference data, not another bureau's records), in one query."""
    return dict(Region.objects.filter(code__in=codes).values_list("code", "name"))


STEPS = ("approve", "reject", "transfer")


class PlanDetailView(ScopedViewMixin, View):
    """One plan, addressed by insurance's plan number (the number its title and both bureaus' lists
    show). POST ``step`` = approve (``note``) / reject (``reason``) / transfer (``voucher``,
    ``transferred_on``)."""

    required_action = Action.FINANCE_PLAN_VIEW

    def get(self, request: HttpRequest, number: int) -> HttpResponse:
        return self._render(selectors.plan_by_number(scope=self.scope, number=number))

    def post(self, request: HttpRequest, number: int) -> HttpResponse:
        plan = selectors.plan_by_number(scope=self.scope, number=number)
        pk = plan.pk
        step = request.POST.get("step", "")
        if step not in STEPS:
            return self._render(plan, error=_("Choose a step."), status=400)
        posted = {
            key: request.POST.get(key, "")
            for key in ("note", "reason", "voucher", "transferred_on", "amount_fen")
        }
        try:
            if step == "approve":
                amount = int(posted["amount_fen"]) if ascii_digits(posted["amount_fen"]) else -1
                services.plan_approve(scope=self.scope, plan_id=pk, amount_fen=amount, note=posted["note"])
            elif step == "reject":
                services.plan_reject(scope=self.scope, plan_id=pk, reason=posted["reason"])
            else:
                try:
                    day = (
                        dt.date.fromisoformat(posted["transferred_on"]) if posted["transferred_on"] else None
                    )
                except ValueError:
                    raise ValidationError({"transferred_on": _("Enter the day as YYYY-MM-DD.")}) from None
                services.plan_transfer(
                    scope=self.scope, plan_id=pk, voucher=posted["voucher"], transferred_on=day
                )
        except services.PlanConflictError as conflict:
            fresh = selectors.plan_detail(scope=self.scope, pk=pk)
            return self._render(fresh, error=conflict.message, step=step, posted=posted, status=409)
        except ValidationError as error:
            return self._render(plan, error=" ".join(error.messages), step=step, posted=posted, status=400)
        done = {
            "approve": _("Approved; insurance is told. Record the transfer once the funds are sent."),
            "reject": _("Rejected; insurance and tax see the reason."),
            "transfer": _("The transfer is recorded; insurance is told."),
        }[step]
        messages.success(request, done)
        return redirect("finance:plan", number=number)

    def _render(
        self,
        plan: ReceivedPlan,
        *,
        error: str = "",
        step: str = "",
        posted: dict[str, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        events = [
            (event, services.LABELS.get(event.action, event.action), PlanStatus(event.to_state).label)
            for event in selectors.plan_timeline(plan=plan)
        ]
        context = {
            "plan": plan,
            "region_name": _region_names({plan.region_code}).get(plan.region_code, plan.region_code),
            "amount": yuan(plan.amount_fen),
            "lines": [(line, yuan(line.get("amount_fen", 0))) for line in plan.lines],
            "events": events,
            "steps": set(services.steps_for(plan, self.scope)),
            "today": timezone.localdate(),
            "error": error,
            "step": step,
            "posted": posted or {},
        }
        return render(self.request, "finance/plan.html", context, status=status)


# --- reports: subsidy funds, transfers per month ------------------------------------------------


def _year_from(request: HttpRequest, years: list[int]) -> int | None:
    raw = request.GET.get("year", "")
    if ascii_digits(raw) and int(raw) in years:
        return int(raw)
    return years[0] if years else None


def _yuan_figure(value: float) -> str:
    return f"¥{value:,.0f}"


def _persons(count: int) -> str:
    # "1 person", not "1 persons": a category or county with one subsidised person is common.
    return ngettext("%(count)s person", "%(count)s persons", count) % {"count": f"{count:,}"}


class SubsidyFundsView(ScopedViewMixin, View):
    """资助资金: persons and money per subsidy category and county, as insurance reported them."""

    required_action = Action.FINANCE_REPORT_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        years = reports.subsidy_fund_years(scope=self.scope)
        year = _year_from(request, years)
        funds = reports.subsidy_funds(scope=self.scope, year=year)
        per_category = funds.per_category()
        category_chart = horizontal_bars(
            [
                Bar(
                    label=name,
                    value=fen / 100,
                    note=f"¥{yuan(fen)} · " + _persons(persons),
                )
                for _code, name, persons, fen in per_category
            ],
            label=_("Subsidy money per category (yuan)"),
            value_format=_yuan_figure,
        )
        county_chart = horizontal_bars(
            [
                Bar(
                    label=county.county_name,
                    value=county.amount_fen / 100,
                    note=f"¥{yuan(county.amount_fen)} · " + _persons(county.person_count),
                )
                for county in funds.counties
            ],
            label=_("Subsidy money per county (yuan)"),
            value_format=_yuan_figure,
        )
        context = {
            "years": years,
            "year": year,
            "funds": funds,
            "counties": [
                (county, yuan(county.amount_fen), [(line, yuan(line.amount_fen)) for line in county.lines])
                for county in funds.counties
            ],
            "per_category": [(code, name, persons, yuan(fen)) for code, name, persons, fen in per_category],
            "total_yuan": yuan(funds.amount_fen),
            "category_chart": category_chart if per_category else "",
            "county_chart": county_chart if funds.counties else "",
        }
        return render(request, "finance/subsidy_funds.html", context)


class SubsidyFundsExportView(ScopedViewMixin, View):
    """The same figures as a workbook: one row per county and category, and the totals."""

    required_action = Action.FINANCE_REPORT_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        years = reports.subsidy_fund_years(scope=self.scope)
        year = _year_from(request, years)
        funds = reports.subsidy_funds(scope=self.scope, year=year)

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Subsidy funds"), widths=(12, 16, 14, 22, 12, 16, 18))
            sheet.row([_("Subsidy funds"), year or ""], bold=True)
            sheet.row(
                [
                    _("County code"),
                    _("County"),
                    _("Category code"),
                    _("Subsidy category"),
                    _("Persons"),
                    _("Subsidy (yuan)"),
                    _("As of"),
                ],
                bold=True,
            )
            for county in funds.counties:
                as_of = timezone.localtime(county.as_of).strftime("%Y-%m-%d %H:%M")
                for line in county.lines:
                    sheet.row(
                        [
                            county.county_code,
                            county.county_name,
                            line.category,
                            line.name,
                            line.person_count,
                            money(line.amount_fen),
                            as_of,
                        ]
                    )
            sheet.row(["", _("Total"), "", "", funds.person_count, money(funds.amount_fen), ""], bold=True)

        return xlsx_response(write, f"{_('subsidy funds')}-{year or ''}.xlsx")


class TransfersView(ScopedViewMixin, View):
    """拨付: per month and county, the plans whose funds finance transferred, their refunds, the money."""

    required_action = Action.FINANCE_REPORT_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        years = reports.transfer_years(scope=self.scope)
        year = _year_from(request, years)
        rows = reports.transfers_per_month(scope=self.scope, year=year)
        months = [dt.date(year, month, 1) for month in range(1, 13)] if year else []
        counties = sorted({(row.county_code, row.county_name) for row in rows})
        series = [
            Series(
                label=name,
                values=[
                    sum(r.amount_fen for r in rows if r.county_code == code and r.month == month) / 100
                    for month in months
                ],
            )
            for code, name in counties
        ]
        context = {
            "years": years,
            "year": year,
            "rows": [(row, yuan(row.amount_fen)) for row in rows],
            "plans": sum(row.plans for row in rows),
            "refunds": sum(row.refunds for row in rows),
            "total_yuan": yuan(sum(row.amount_fen for row in rows)),
            "chart": daily_columns(
                months,
                series,
                label=_("Money transferred per month (yuan)"),
                unit=_("yuan"),
                day_format="Y-m",
            )
            if rows
            else "",
        }
        return render(request, "finance/transfers.html", context)


class TransfersExportView(ScopedViewMixin, View):
    """The same table as a workbook."""

    required_action = Action.FINANCE_REPORT_VIEW

    def get(self, request: HttpRequest) -> HttpResponse:
        years = reports.transfer_years(scope=self.scope)
        year = _year_from(request, years)
        rows = reports.transfers_per_month(scope=self.scope, year=year)

        def write(book: Workbook) -> None:
            sheet = Sheet(book, _("Transfers per month"), widths=(10, 12, 16, 10, 10, 16))
            sheet.row([_("Transfers per month"), year or ""], bold=True)
            sheet.row(
                [_("Month"), _("County code"), _("County"), _("Plans"), _("Refunds"), _("Amount (yuan)")],
                bold=True,
            )
            for row in rows:
                sheet.row(
                    [
                        row.month.strftime("%Y-%m"),
                        row.county_code,
                        row.county_name,
                        row.plans,
                        row.refunds,
                        money(row.amount_fen),
                    ]
                )
            sheet.row(
                [
                    _("Total"),
                    "",
                    "",
                    sum(r.plans for r in rows),
                    sum(r.refunds for r in rows),
                    money(sum(r.amount_fen for r in rows)),
                ],
                bold=True,
            )

        return xlsx_response(write, f"{_('transfers')}-{year or ''}.xlsx")
