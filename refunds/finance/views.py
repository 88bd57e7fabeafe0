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
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.money import yuan
from accounts.roles import Action

from . import selectors, services
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
        context = {
            "page": page,
            "rows": [(plan, yuan(plan.amount_fen)) for plan in page],
            "status": status,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in PlanStatus.choices
            ],
        }
        return render(request, "finance/plans.html", context)


STEPS = ("approve", "reject", "transfer")


class PlanDetailView(ScopedViewMixin, View):
    """One plan. POST ``step`` = approve (``note``) / reject (``reason``) / transfer (``voucher``,
    ``transferred_on``)."""

    required_action = Action.FINANCE_PLAN_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(selectors.plan_detail(scope=self.scope, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        plan = selectors.plan_detail(scope=self.scope, pk=pk)
        step = request.POST.get("step", "")
        if step not in STEPS:
            return self._render(plan, error=_("Choose a step."), status=400)
        posted = {
            key: request.POST.get(key, "")
            for key in ("note", "reason", "voucher", "transferred_on", "amount_fen")
        }
        try:
            if step == "approve":
                amount = int(posted["amount_fen"]) if posted["amount_fen"].isdigit() else -1
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
        return redirect("finance:plan", pk=pk)

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
