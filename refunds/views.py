"""Refund pages: apply (find the person, choose the paid year, reason, date, evidence), the
application with the engine's decision, its timeline and the steps the viewer may take, the list
with filters, and the evidence download.

Thin: each view takes the scope, checks a form, calls one service or selector, renders.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.audit import full_view_log
from accounts.digits import ascii_digits
from accounts.masking import id_number_for, shows_full_identity
from accounts.roles import Action
from accounts.searches import SessionSearches
from accounts.selectors import county_names
from enrollment.evidence import evidence_response
from enrollment.models import Person
from enrollment.rules.engine import say_money
from enrollment.selectors import person_search

from . import selectors, services
from .models import (
    OPEN_REFUND_STATUSES,
    FundPlan,
    FundPlanStatus,
    OvercollectionStatus,
    RefundApplication,
    RefundReason,
    RefundStatus,
)
from .workflow import TransitionConflictError

audit_log = logging.getLogger("portal.audit")
# The longest search kept (an identifier, a name prefix).
QUERY_MAX = 60


def yuan(fen: int | None) -> str:
    return say_money(fen) if fen is not None else "—"


# --- the list -------------------------------------------------------------------------------------


class RefundListView(ScopedViewMixin, View):
    """Applications in the area; ``?status=`` one status, ``?overdue=1`` the late ones."""

    required_action = Action.REFUND_VIEW
    template_name = "refunds/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope
        today = timezone.localdate()
        overdue = request.GET.get("overdue") == "1"
        status = request.GET.get("status", "")
        if status not in RefundStatus.values:
            status = ""
        applications = selectors.refund_list(scope=scope, status=status, overdue=overdue, today=today)
        page = Paginator(applications, 50).get_page(request.GET.get("page"))
        counts = selectors.refund_status_counts(scope=scope)
        rows = [
            {
                "application": application,
                "id_number": id_number_for(
                    scope, application.person.id_number, application.person.region_code
                ),
                "amount": yuan(application.amount_fen),
                "overdue": application.status in OPEN_REFUND_STATUSES and application.due_on < today,
            }
            for application in page
        ]
        context = {
            "page": page,
            "rows": rows,
            "status": status,
            "overdue": overdue,
            "overdue_count": selectors.refund_overdue(scope=scope, today=today).count(),
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in RefundStatus.choices
            ],
            "today": today,
            "can_apply": scope.allows(Action.REFUND_APPLY),
        }
        return render(request, self.template_name, context)


# --- apply ----------------------------------------------------------------------------------------


class ApplyForm(forms.Form):
    insurance_year = forms.TypedChoiceField(label=gettext_lazy("Insurance year"), coerce=int, choices=())
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=RefundReason.choices)
    event_on = forms.DateField(label=gettext_lazy("Date of the event"))
    note = forms.CharField(label=gettext_lazy("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, years: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["insurance_year"].choices = [(year, str(year)) for year in years]


class PersonApplyViewMixin(ScopedViewMixin, ABC):
    """An application page: POST ``find`` with ``q`` searches the person and answers with a redirect
    to ``?search=<key>`` (the query kept in the session by ``searches``, so an ID number typed never
    reaches an address), which lists who was found; ``?person=`` chooses them (in the caller's area
    only) and shows the form; POST applies through ``apply``, shows a service's refusal on the
    form, tells the outcome (``tell``) and opens the application (``detail_url``). The view gives
    ``searches``, ``form_class`` (taking the ``years`` one may apply for), ``years``, ``apply``,
    ``tell`` and ``_render``."""

    searches: SessionSearches
    form_class: type[forms.Form]
    detail_url: str

    @abstractmethod
    def years(self, person: Person) -> list[int]:
        """The insurance years the person may apply for."""

    @abstractmethod
    def apply(self, person: Person, data: dict[str, Any], evidence: list[Any]) -> Any:
        """The application made through its service (which may refuse it: ``ValidationError``)."""

    @abstractmethod
    def tell(self, application: Any) -> None:
        """The outcome, as a message for the next page."""

    @abstractmethod
    def _render(self, **kwargs: Any) -> HttpResponse:
        """The page: the ``query`` and the people found (or a ``notice`` about the search), or the
        chosen ``person`` with the ``form``."""

    def get(self, request: HttpRequest) -> HttpResponse:
        search = self.searches.recall(request)
        return self._render(
            query=search.query, notice=search.notice, person=self._person(request.GET.get("person", ""))
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        if "find" in request.POST:
            query = request.POST.get("q", "").strip()[:QUERY_MAX]
            if not query:
                return self._render(notice=_("Type an identifier or a name to search."), status=400)
            return self.searches.redirect(request, request.path, query)
        person = self._person(request.POST.get("person", ""))
        if person is None:
            return self._render(error=_("Find and choose the person first."), status=400)
        form = self.form_class(request.POST, years=self.years(person))  # type: ignore[call-arg]
        if not form.is_valid():
            return self._render(person=person, form=form, status=400)
        try:
            application = self.apply(person, form.cleaned_data, request.FILES.getlist("evidence"))
        except ValidationError as error:
            return self._refused(error, person=person, form=form)
        self.tell(application)
        return redirect(self.detail_url, pk=application.pk)

    def _person(self, raw: str) -> Person | None:
        if not ascii_digits(raw):
            return None
        return self.scope.filter(Person.objects.all()).filter(pk=int(raw)).first()

    def _people_found(self, query: str, person: Person | None) -> list[dict[str, Any]]:
        if not query or person is not None:
            return []
        return [
            {"person": p, "id_number": id_number_for(self.scope, p.id_number, p.region_code)}
            for p in person_search(scope=self.scope, query=query)
        ]

    def _refused(self, error: ValidationError, *, person: Person, form: forms.Form) -> HttpResponse:
        """The service's field errors next to their fields, the rest above the form; 400."""
        if hasattr(error, "error_dict"):
            for field, problems in error.message_dict.items():
                form.add_error(field if field in form.fields else None, problems)
            return self._render(person=person, form=form, status=400)
        return self._render(person=person, form=form, error=" ".join(error.messages), status=400)


class RefundApplyView(PersonApplyViewMixin, View):
    """POST ``find`` finds the person (``?search=<key>``); ``?person=`` shows their paid years and the
    form. POST applies."""

    required_action = Action.REFUND_APPLY
    searches = SessionSearches("refunds.apply")
    template_name = "refunds/apply.html"
    form_class = ApplyForm
    detail_url = "refunds:detail"

    def years(self, person: Person) -> list[int]:
        return [a.insurance_year for a in selectors.refundable_years(scope=self.scope, person=person)]

    def apply(self, person: Person, data: dict[str, Any], evidence: list[Any]) -> RefundApplication:
        return services.refund_apply(
            scope=self.scope,
            person_id=person.pk,
            insurance_year=data["insurance_year"],
            reason=data["reason"],
            event_on=data["event_on"],
            note=data["note"],
            evidence=evidence,
        )

    def tell(self, application: RefundApplication) -> None:
        if application.refundable:
            messages.success(
                self.request,
                _("The application is recorded; insurance decides by %(date)s.")
                % {"date": application.due_on.isoformat()},
            )
        else:
            messages.error(
                self.request,
                _("Not refundable, so the application is closed: %(why)s") % {"why": application.rule_reason},
            )

    def _render(
        self,
        *,
        query: str = "",
        notice: str = "",
        person: Person | None = None,
        form: ApplyForm | None = None,
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        scope = self.scope
        found = self._people_found(query, person)
        paid = []
        history = None
        if person is not None:
            history = selectors.person_refund_history(scope=scope, person=person)
            paid = history.paid
            if form is None:
                form = ApplyForm(
                    years=[a.insurance_year for a in paid],
                    initial={
                        "event_on": timezone.localdate(),
                        "insurance_year": paid[0].insurance_year if paid else None,
                    },
                )
        context = {
            "query": query,
            "notice": notice,
            "found": found,
            "person": person,
            "person_id_number": id_number_for(scope, person.id_number, person.region_code) if person else "",
            "paid": [{"assessment": a, "amount": yuan(a.paid_fen)} for a in paid],
            "history": history,
            "form": form,
            "error": error,
            "today": timezone.localdate(),
        }
        return render(self.request, self.template_name, context, status=status)


# --- one application --------------------------------------------------------------------------------


class WorkflowStepsView(ScopedViewMixin, View, ABC):
    """One application's page. GET shows it; POST ``step`` takes one of ``steps`` (the service and
    the posted field it takes) and comes back with ``done[step]``. A conflict (409) shows the
    application as it is now, a refusal (400) as it was, each with the viewer's entries kept. The
    view gives ``application`` and ``_render``."""

    steps: dict[str, tuple[Callable[..., Any], str]]
    done: dict[str, Any]
    detail_url: str

    @abstractmethod
    def application(self, pk: int) -> Any:
        """The application ``pk`` in the viewer's area (404 outside it)."""

    @abstractmethod
    def _render(self, application: Any, **kwargs: Any) -> HttpResponse:
        """The application's page, with an ``error``, the ``step`` tried and what was ``posted``."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(self.application(pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self.application(pk)
        step = request.POST.get("step", "")
        if step not in self.steps:
            return self._render(application, error=_("Choose a step."), status=400)
        posted = {field: request.POST.get(field, "") for _service, field in self.steps.values()}
        service, field = self.steps[step]
        try:
            service(scope=self.scope, application_id=pk, **{field: posted[field]})
        except TransitionConflictError as conflict:
            fresh = self.application(pk)
            return self._render(fresh, error=conflict.message, step=step, posted=posted, status=409)
        except ValidationError as error:
            return self._render(
                application, error=" ".join(error.messages), step=step, posted=posted, status=400
            )
        messages.success(request, self.done[step])
        return redirect(self.detail_url, pk=pk)


class EvidenceDownloadView(ScopedViewMixin, View):
    """One evidence file of an application, downloaded through the scope (never a public media URL)."""

    evidence_detail: Callable[..., Any]
    filename_stem: str
    audit_event: str

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        item = self.evidence_detail(scope=self.scope, pk=pk)
        return evidence_response(
            item.file,
            filename_stem=f"{self.filename_stem}-{item.pk}",
            audit={
                "event": self.audit_event,
                "user_id": request.user.pk,
                "application_id": item.application_id,
                "evidence_id": item.pk,
                "path": request.path,
            },
        )


class RefundDetailView(WorkflowStepsView):
    """GET: the application, the engine's decision, the timeline, the person's history, the steps the
    viewer may take. POST ``step`` = approve / reject (``reason``) / withdraw / pay_out (``bank_reference``)."""

    required_action = Action.REFUND_VIEW
    template_name = "refunds/detail.html"
    steps = {
        "approve": (services.refund_approve, "note"),
        "reject": (services.refund_reject, "reason"),
        "withdraw": (services.refund_withdraw, "note"),
        "pay_out": (services.refund_pay_out, "bank_reference"),
    }
    done = {
        "approve": gettext_lazy("Approved. Record the payout once the money is transferred."),
        "reject": gettext_lazy("Rejected; the applicant sees the reason."),
        "withdraw": gettext_lazy("Withdrawn."),
        "pay_out": gettext_lazy("The payout is recorded."),
    }
    detail_url = "refunds:detail"

    def application(self, pk: int) -> RefundApplication:
        return selectors.refund_detail(scope=self.scope, pk=pk)

    def _render(
        self,
        application: RefundApplication,
        *,
        error: str = "",
        step: str = "",
        posted: dict[str, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        scope = self.scope
        workflow = services.REFUND_WORKFLOW
        today = timezone.localdate()
        events = workflow.timeline(selectors.refund_timeline(application=application))
        steps = {t.action for t in workflow.actions_for(application, scope)}
        # Why a reviewer sees no decision buttons on their own application (four-eyes).
        blocked = (
            workflow.refusal(application, scope, "approve") if scope.allows(Action.REFUND_REVIEW) else ""
        )
        person = application.person
        if shows_full_identity(scope, person.region_code):
            full_view_log(self.request, record="refund", record_id=application.pk, person_id=person.pk)
        context = {
            "application": application,
            "person": person,
            "id_number": id_number_for(scope, person.id_number, person.region_code),
            "amount": yuan(application.amount_fen),
            "paid_amount": yuan(application.assessment.paid_fen),
            "given_back_amount": (
                yuan(application.given_back_deposit.amount_fen) if application.given_back_deposit else ""
            ),
            "decision": selectors.refund_decision_shown(application=application),
            "events": events,
            "evidence": selectors.refund_evidence(application=application),
            "history": selectors.person_refund_history(scope=scope, person=person, exclude_pk=application.pk),
            "steps": steps,
            "blocked": blocked if application.status == RefundStatus.SUBMITTED else "",
            "overdue": application.status in OPEN_REFUND_STATUSES and application.due_on < today,
            "error": error,
            "step": step,
            "posted": posted or {},
        }
        return render(self.request, self.template_name, context, status=status)


class RefundEvidenceView(EvidenceDownloadView):
    required_action = Action.REFUND_VIEW
    evidence_detail = staticmethod(selectors.refund_evidence_detail)
    filename_stem = "refund-evidence"
    audit_event = "refunds.evidence_download"


# --- over-collection refunds and fund-usage plans (用款计划) -------------------------------------


class OvercollectionRefundListView(ScopedViewMixin, View):
    """The over-collections tax reported in the area, by state; the pool waits for the next plan."""

    required_action = Action.FUND_PLAN_VIEW
    template_name = "refunds/overcollections.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope
        status = request.GET.get("status", "")
        if status not in OvercollectionStatus.values:
            status = ""
        page = Paginator(selectors.overcollection_refund_list(scope=scope, status=status), 50).get_page(
            request.GET.get("page")
        )
        counts = selectors.overcollection_status_counts(scope=scope)
        context = {
            "page": page,
            "rows": [(r, id_number_for(scope, r.person_id, r.region_code), yuan(r.amount_fen)) for r in page],
            "status": status,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in OvercollectionStatus.choices
            ],
        }
        return render(request, self.template_name, context)


class FundPlanListView(ScopedViewMixin, View):
    """The county's plans, the pool waiting for the next one; POST prepares a plan (``county``,
    ``period``) from the pool."""

    required_action = Action.FUND_PLAN_VIEW
    template_name = "refunds/plans.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render()

    def post(self, request: HttpRequest) -> HttpResponse:
        self.scope.require(Action.FUND_PLAN_PREPARE)
        posted = {key: request.POST.get(key, "").strip() for key in ("county", "period")}
        try:
            plan = services.fund_plan_prepare(
                scope=self.scope, county_code=posted["county"], period=posted["period"]
            )
        except ValidationError as error:
            return self._render(error=" ".join(error.messages), posted=posted, status=400)
        messages.success(request, _("The draft plan is ready: check its lines, then submit it to finance."))
        return redirect("refunds:plan", pk=plan.pk)

    def _render(
        self, *, error: str = "", posted: dict[str, str] | None = None, status: int = 200
    ) -> HttpResponse:
        scope = self.scope
        wanted = self.request.GET.get("status", "")
        if wanted not in FundPlanStatus.values:
            wanted = ""
        page = Paginator(selectors.fund_plan_list(scope=scope, status=wanted), 50).get_page(
            self.request.GET.get("page")
        )
        counts = selectors.fund_plan_status_counts(scope=scope)
        pool = selectors.overcollection_pool(scope=scope)
        this_month = f"{timezone.localdate():%Y-%m}"
        # The month's plan decides what a county's waiting refunds can do now: go into a new plan,
        # join the month's draft, or wait for next month's plan (the month has one plan).
        month_plans = selectors.fund_plans_live_of_month(scope=scope, period=this_month)
        names = county_names({p.county_code for p in pool} | {plan.county_code for plan in page})
        context = {
            "page": page,
            "rows": [
                (plan, yuan(plan.amount_fen), names.get(plan.county_code, plan.county_code)) for plan in page
            ],
            "status": wanted,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in FundPlanStatus.choices
            ],
            "pool": [
                {
                    "county": p.county_code,
                    "name": names.get(p.county_code, p.county_code),
                    "count": p.count,
                    "amount": yuan(p.amount_fen),
                    "plan": month_plans.get(p.county_code),
                    "closed_note": (
                        services.fund_plan_closed_note(month_plans[p.county_code])
                        if p.county_code in month_plans
                        and month_plans[p.county_code].status != FundPlanStatus.DRAFT
                        else ""
                    ),
                }
                for p in pool
            ],
            "can_prepare": scope.allows(Action.FUND_PLAN_PREPARE),
            "this_month": this_month,
            "error": error,
            "posted": posted or {},
        }
        return render(self.request, self.template_name, context, status=status)


PLAN_STEPS = ("gather", "submit", "discard", "pay_out")


class FundPlanDetailView(ScopedViewMixin, View):
    """One plan: its lines, what finance said, the timeline and the steps the viewer may take.
    POST ``step`` = submit / discard / pay_out (``bank_reference``)."""

    required_action = Action.FUND_PLAN_VIEW
    template_name = "refunds/plan.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(selectors.fund_plan_detail(scope=self.scope, pk=pk))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        plan = selectors.fund_plan_detail(scope=self.scope, pk=pk)
        step = request.POST.get("step", "")
        if step not in PLAN_STEPS:
            return self._render(plan, error=_("Choose a step."), status=400)
        posted = {
            key: request.POST.get(key, "") for key in ("bank_reference", "note", "reason", "amount_fen")
        }
        try:
            if step == "gather":
                before = plan.refund_count
                gathered = services.fund_plan_gather(scope=self.scope, plan_id=pk)
            elif step == "submit":
                amount = int(posted["amount_fen"]) if ascii_digits(posted["amount_fen"]) else -1
                services.fund_plan_submit(
                    scope=self.scope, plan_id=pk, amount_fen=amount, note=posted["note"]
                )
            elif step == "discard":
                services.fund_plan_discard(scope=self.scope, plan_id=pk, reason=posted["reason"])
            else:
                services.fund_plan_pay_out(
                    scope=self.scope, plan_id=pk, bank_reference=posted["bank_reference"]
                )
        except services.TransitionConflictError as conflict:
            fresh = selectors.fund_plan_detail(scope=self.scope, pk=pk)
            return self._render(fresh, error=conflict.message, step=step, posted=posted, status=409)
        except ValidationError as error:
            return self._render(plan, error=" ".join(error.messages), step=step, posted=posted, status=400)
        if step == "gather":
            messages.success(
                request,
                ngettext(
                    "%(n)d refund added; the plan now asks for %(amount)s. Check its lines, then submit it.",
                    "%(n)d refunds added; the plan now asks for %(amount)s. Check its lines, then submit it.",
                    gathered.refund_count - before,
                )
                % {"n": gathered.refund_count - before, "amount": yuan(gathered.amount_fen)},
            )
            return redirect("refunds:plan", pk=pk)
        done = {
            "submit": _("Submitted to finance. Its decision arrives here."),
            "discard": _("Discarded; its refunds are back in the pool."),
            "pay_out": _("The payout is recorded; tax receives the refund details."),
        }[step]
        messages.success(request, done)
        return redirect("refunds:plan", pk=pk)

    def _render(
        self,
        plan: FundPlan,
        *,
        error: str = "",
        step: str = "",
        posted: dict[str, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        scope = self.scope
        workflow = services.FUND_PLAN_WORKFLOW
        events = workflow.timeline(selectors.fund_plan_timeline(plan=plan))
        context = {
            "plan": plan,
            "county_name": county_names({plan.county_code}).get(plan.county_code, plan.county_code),
            "amount": yuan(plan.amount_fen),
            "lines": [
                (
                    line,
                    id_number_for(scope, line.refund.person_id, line.refund.region_code),
                    yuan(line.amount_fen),
                )
                for line in selectors.fund_plan_lines(plan=plan)
            ],
            "events": events,
            "steps": {t.action for t in workflow.actions_for(plan, scope)},
            # Refunds that reached the pool after the draft was prepared, for its "add" step.
            "waiting": (
                selectors.overcollection_waiting_for(plan=plan)
                if plan.status == FundPlanStatus.DRAFT and scope.allows(Action.FUND_PLAN_PREPARE)
                else None
            ),
            "error": error,
            "step": step,
            "posted": posted or {},
        }
        return render(self.request, self.template_name, context, status=status)
