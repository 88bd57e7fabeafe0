"""Back-payment pages: the list with status tabs, apply (find the person, choose the unpaid year,
say why, attach evidence), the application with the engine's decision, the person's history,
the evidence, the timeline and the steps the viewer may take, and the evidence download.

Thin: each view takes the scope, checks a form, calls one service or selector, renders.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.audit import full_view_log
from accounts.masking import id_number_for, shows_full_identity
from accounts.roles import Action
from accounts.searches import SessionSearches
from enrollment.models import Person

from . import selectors_backpay as selectors
from . import services_backpay as services
from .models_backpay import OPEN_BACK_PAYMENT_STATUSES, BackPaymentApplication, BackPaymentStatus
from .views import EvidenceDownloadView, PersonApplyViewMixin, WorkflowStepsView, yuan


class BackPaymentListView(ScopedViewMixin, View):
    """Applications in the area; ``?status=`` one status."""

    required_action = Action.BACKPAY_VIEW
    template_name = "refunds/backpay_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        scope = self.scope
        status = request.GET.get("status", "")
        if status not in BackPaymentStatus.values:
            status = ""
        page = Paginator(selectors.back_payment_list(scope=scope, status=status), 50).get_page(
            request.GET.get("page")
        )
        counts = selectors.back_payment_status_counts(scope=scope)
        rows = [
            {
                "application": application,
                "id_number": id_number_for(
                    scope, application.person.id_number, application.person.region_code
                ),
                "amount": yuan(application.amount_fen) if application.allowed else "—",
            }
            for application in page
        ]
        context = {
            "page": page,
            "rows": rows,
            "status": status,
            "all_count": sum(counts.values()),
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in BackPaymentStatus.choices
            ],
            "can_apply": scope.allows(Action.BACKPAY_APPLY),
        }
        return render(request, self.template_name, context)


class ApplyForm(forms.Form):
    insurance_year = forms.TypedChoiceField(label=gettext_lazy("Insurance year"), coerce=int, choices=())
    reason = forms.CharField(
        label=gettext_lazy("Why the collection period was missed"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(
        self, *args: Any, years: list[int], labels: dict[int, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        labels = labels or {}
        self.fields["insurance_year"].choices = [(year, labels.get(year, str(year))) for year in years]


class BackPaymentApplyView(PersonApplyViewMixin, View):
    """POST ``find`` finds the person (``?search=<key>``); ``?person=`` shows their history and the
    form. POST applies."""

    required_action = Action.BACKPAY_APPLY
    searches = SessionSearches("refunds.backpay_apply")
    template_name = "refunds/backpay_apply.html"
    form_class = ApplyForm
    detail_url = "refunds:backpay-detail"

    def years(self, person: Person) -> list[int]:
        return [a.insurance_year for a in selectors.due_years(scope=self.scope, person=person)]

    def apply(self, person: Person, data: dict[str, Any], evidence: list[Any]) -> BackPaymentApplication:
        return services.back_payment_apply(
            scope=self.scope,
            person_id=person.pk,
            insurance_year=data["insurance_year"],
            reason=data["reason"],
            evidence=evidence,
        )

    def tell(self, application: BackPaymentApplication) -> None:
        if application.allowed:
            messages.success(self.request, _("The application is recorded; insurance staff review it."))
        else:
            messages.error(
                self.request,
                _("The rules do not allow this back-payment, so the application is closed: %(why)s")
                % {"why": application.rule_reason},
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
        due = []
        history = None
        if person is not None:
            history = selectors.person_back_payment_history(scope=scope, person=person)
            answered = selectors.due_years_answered(scope=scope, person=person)
            due = [year.assessment for year in answered]
            if form is None:
                # Each year with the rules' answer today; the first year they take is chosen.
                open_year = next(
                    (year for year in answered if year.allowed), answered[0] if answered else None
                )
                form = ApplyForm(
                    years=[a.insurance_year for a in due],
                    labels={
                        year.assessment.insurance_year: (
                            _("%(year)s — may be paid back: %(amount)s")
                            % {"year": year.assessment.insurance_year, "amount": yuan(year.amount_fen)}
                            if year.allowed
                            else f"{year.assessment.insurance_year} — {year.reason}"
                        )
                        for year in answered
                    },
                    initial={"insurance_year": open_year.assessment.insurance_year if open_year else None},
                )
        context = {
            "query": query,
            "notice": notice,
            "found": found,
            "person": person,
            "person_id_number": id_number_for(scope, person.id_number, person.region_code) if person else "",
            "due": [{"assessment": a, "amount": yuan(a.payable_fen)} for a in due],
            "history": history,
            "form": form,
            "error": error,
        }
        return render(self.request, self.template_name, context, status=status)


class BackPaymentDetailView(WorkflowStepsView):
    """GET: the application, the engine's decision (and, while it waits, the engine's answer for
    today, which an approval would stand on), the person's history, the evidence, the timeline and
    the viewer's steps. POST ``step`` = approve / reject (``reason``) / withdraw."""

    required_action = Action.BACKPAY_VIEW
    template_name = "refunds/backpay_detail.html"
    steps = {
        "approve": (services.back_payment_approve, "note"),
        "reject": (services.back_payment_reject, "reason"),
        "withdraw": (services.back_payment_withdraw, "note"),
    }
    done = {
        "approve": gettext_lazy(
            "Approved. Tax accepts the payment at the amount the rules set, until the pay-by day."
        ),
        "reject": gettext_lazy("Rejected; the applicant sees the reason."),
        "withdraw": gettext_lazy("Withdrawn."),
    }
    detail_url = "refunds:backpay-detail"

    def application(self, pk: int) -> BackPaymentApplication:
        return selectors.back_payment_detail(scope=self.scope, pk=pk)

    def _render(
        self,
        application: BackPaymentApplication,
        *,
        error: str = "",
        step: str = "",
        posted: dict[str, str] | None = None,
        status: int = 200,
    ) -> HttpResponse:
        scope = self.scope
        workflow = services.BACK_PAYMENT_WORKFLOW
        events = workflow.timeline(selectors.back_payment_timeline(application=application))
        steps = {t.action for t in workflow.actions_for(application, scope)}
        blocked = (
            workflow.refusal(application, scope, "approve") if scope.allows(Action.BACKPAY_REVIEW) else ""
        )
        # What an approval today would stand on: the engine asked for today, shown to the reviewer.
        today_answer = None
        if "approve" in steps:
            try:
                today_answer = services.back_payment_decide(
                    assessment=application.assessment, person=application.person, on=timezone.localdate()
                )
            except ValidationError:
                today_answer = None
        person = application.person
        if shows_full_identity(scope, person.region_code):
            full_view_log(self.request, record="back_payment", record_id=application.pk, person_id=person.pk)
        context = {
            "application": application,
            "person": person,
            "id_number": id_number_for(scope, person.id_number, person.region_code),
            # Refused by the rules: no amount, and the page says so in words (not a lone dash).
            "amount": yuan(application.amount_fen) if application.allowed else "",
            "due_amount": yuan(application.assessment.payable_fen),
            "today_answer": today_answer,
            "today_amount": yuan(today_answer.decision.amount_fen) if today_answer else "",
            "events": events,
            # Withdrawn by the rules (an extension of the collection period, the year's contribution
            # cancelled, or paid in full by the government): said at the top, with why.
            "withdrawal": next(
                (row["event"] for row in events if row["event"].action in services.WITHDRAWALS_BY_THE_RULES),
                None,
            ),
            "evidence": selectors.back_payment_evidence(application=application),
            "history": selectors.person_back_payment_history(
                scope=scope, person=person, exclude_pk=application.pk
            ),
            # Waiting or approved: a pay-by day still means something.
            "still_open": application.status in OPEN_BACK_PAYMENT_STATUSES,
            "steps": steps,
            "blocked": blocked if application.status == BackPaymentStatus.SUBMITTED else "",
            "error": error,
            "step": step,
            "posted": posted or {},
        }
        return render(self.request, self.template_name, context, status=status)


class BackPaymentEvidenceView(EvidenceDownloadView):
    required_action = Action.BACKPAY_VIEW
    evidence_detail = staticmethod(selectors.back_payment_evidence_detail)
    filename_stem = "back-payment-evidence"
    audit_event = "refunds.back_payment_evidence_download"
