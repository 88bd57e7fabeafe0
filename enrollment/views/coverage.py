"""Is this person covered on this day? Yes or no in big words, the period, the engine's reason and
rule, and the person's enrollments and paid periods as a small timeline.

Thin: the scope, a form, ``enrollment.assessment.coverage_check``, the template. The identifier
is posted (never put in a URL, where logs would keep it). Someone unknown or outside the user's
area is "not found in your area", and nothing about them is shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.masking import id_number_for, mask_region_for, shows_full_identity
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope

from ..assessment import CoverageAnswer, coverage_check
from .assessment_pages import say_situation
from .review import log_full_view


class CoverageForm(forms.Form):
    id_number = forms.CharField(
        label=gettext_lazy("Identifier"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autofocus": True}),
    )
    day = forms.DateField(
        label=gettext_lazy("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean_id_number(self) -> str:
        return self.cleaned_data["id_number"].strip().upper()


@dataclass
class Bar:
    """One bar of the timeline, placed in percent of the axis (SVG attributes, no inline style)."""

    x: float
    width: float
    css: str
    label: str
    title: str


def _between(start: dt.date, end: dt.date, first: dt.date, span: int) -> tuple[float, float]:
    x = max(0.0, (start - first).days / span * 100)
    right = min(100.0, ((end - first).days + 1) / span * 100)
    return round(x, 2), round(max(right - x, 0.4), 2)


def timeline(answer: CoverageAnswer, scope: Scope) -> dict[str, Any] | None:
    """Enrollments (top row) and paid benefit periods (bottom row) on one axis of whole years, with the day asked."""
    day = answer.day
    enrollments = answer.enrollments
    periods = [a for a in answer.assessments if a.benefit_start and a.status in ("paid", "government")]
    if not enrollments and not periods:
        return None
    starts = [e.enrolled_on for e in enrollments] + [a.benefit_start for a in periods] + [day]
    ends = (
        [e.ended_on or day for e in enrollments] + [a.benefit_end or a.benefit_start for a in periods] + [day]
    )
    first = dt.date(min(starts).year, 1, 1)
    last = dt.date(max(ends).year, 12, 31)
    span = (last - first).days + 1
    top = []
    for enrollment in enrollments:
        x, width = _between(enrollment.enrolled_on, enrollment.ended_on or last, first, span)
        top.append(
            Bar(
                x,
                width,
                f"tl-enr tl-enr-{enrollment.status}",
                enrollment.get_status_display(),
                f"{enrollment.get_status_display()} · {mask_region_for(scope, enrollment.region_code)} · "
                f"{enrollment.enrolled_on:%Y-%m-%d} – "
                + (f"{enrollment.ended_on:%Y-%m-%d}" if enrollment.ended_on else "…"),
            )
        )
    bottom = []
    for item in periods:
        end = item.benefit_end or item.benefit_start
        x, width = _between(item.benefit_start, end, first, span)
        bottom.append(
            Bar(
                x,
                width,
                f"tl-paid tl-paid-{item.status}",
                str(item.insurance_year),
                f"{item.insurance_year}: {item.benefit_start:%Y-%m-%d} – {end:%Y-%m-%d}",
            )
        )
    years = [
        {"x": round((dt.date(year, 1, 1) - first).days / span * 100, 2), "label": str(year)}
        for year in range(first.year, last.year + 1)
    ]
    marker = round(((day - first).days + 0.5) / span * 100, 2)
    return {"top": top, "bottom": bottom, "years": years, "marker": marker, "day": day}


class CoverageCheckView(ScopedViewMixin, View):
    """GET: the form. POST ``id_number``, ``day``: the answer."""

    required_action = Action.COVERAGE_VIEW
    template_name = "enrollment/coverage/check.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(CoverageForm(initial={"day": timezone.localdate()}))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CoverageForm(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            answer = coverage_check(
                scope=self.scope, id_number=form.cleaned_data["id_number"], day=form.cleaned_data["day"]
            )
        except Http404:
            form.add_error("id_number", _("Nobody with this identifier in your area."))
            return self._render(form, status=404)
        person = answer.person
        if shows_full_identity(self.scope, person.region_code):
            log_full_view(request, person)
        return self._render(form, answer=answer)

    def _render(
        self, form: CoverageForm, *, answer: CoverageAnswer | None = None, status: int = 200
    ) -> HttpResponse:
        context: dict[str, Any] = {"form": form, "answer": answer}
        if answer is not None:
            scope = self.scope
            person = answer.person
            context.update(
                person=person,
                id_number=id_number_for(scope, person.id_number, person.region_code),
                registered_at=mask_region_for(scope, person.region_code),
                can_open_person=scope.allows(Action.ENROLLMENT_VIEW),
                decision=answer.decision,
                enrollments=[
                    {"enrollment": enrollment, "where": mask_region_for(scope, enrollment.region_code)}
                    for enrollment in answer.enrollments
                ],
                periods=[
                    {
                        "assessment": item,
                        "situation": say_situation(item.situation),
                        "payable": yuan(item.payable_fen),
                        "paid": yuan(item.paid_fen) if item.paid_fen is not None else "",
                    }
                    for item in answer.assessments
                ],
                timeline=timeline(answer, scope),
            )
        return render(self.request, self.template_name, context, status=status)
