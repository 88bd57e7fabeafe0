"""The yearly assessment (核定) pages: runs of the user's counties and starting one, a run with its
live progress and counts, the assessments of a county and year, and a person's assessments (a
section of the person page).

Thin: each view takes the scope, checks a form, calls one service of ``enrollment.assessment`` or
a selector of ``enrollment.selectors_assessment``, renders. Identifiers are masked as the role
requires (``accounts.masking``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.access import ScopedViewMixin
from accounts.days import day_of_month
from accounts.masking import id_number_for
from accounts.models import Region
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import county_names

from .. import assessment, selectors_assessment
from ..models import Assessment, AssessmentRun, AssessmentStatus, Person, RunKind, RunStatus
from ..policies import policy_for_county
from ..rules import engine
from ..rules.policy import Situation
from .rulebook import policy_url, rule_anchor, who

PAGE_SIZE = 50
# Share of the bar each phase of a run fills: gathering facts, deciding classes, writing rows.
PHASE_SPAN = {"facts": (0, 5), "deciding": (5, 85), "writing": (85, 99)}


def default_insurance_year(today: dt.date | None = None) -> int:
    """The year being collected for: from September, next year's collection period is open."""
    today = today or timezone.localdate()
    return today.year + 1 if today.month >= 9 else today.year


def say_situation(value: str) -> str:
    try:
        return engine.say_situation(Situation(value))
    except ValueError:
        return value


def _duration(run: AssessmentRun) -> str:
    if not (run.started_at and run.finished_at):
        return ""
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 60:
        return _("%(seconds).1f s") % {"seconds": seconds}
    return _("%(minutes)d min %(seconds)d s") % {"minutes": seconds // 60, "seconds": seconds % 60}


def run_progress(run: AssessmentRun) -> dict[str, Any]:
    """What the page and its script show while a worker has the run."""
    progress = assessment.progress_of(run.pk) or {}
    phase = progress.get("phase") or ""
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    low, high = PHASE_SPAN.get(phase, (0, 0))
    percent = low + (high - low) * done // total if total else (low if phase else None)
    finished = run.status in (RunStatus.DONE, RunStatus.FAILED)
    return {
        "status": run.status,
        "phase": phase,
        "done": done,
        "total": total,
        "percent": 100 if run.status == RunStatus.DONE else percent,
        "finished": finished,
    }


# --- runs ---------------------------------------------------------------------------------------


class StartForm(forms.Form):
    county_code = forms.ChoiceField(label=gettext_lazy("County"), choices=())
    insurance_year = forms.IntegerField(label=gettext_lazy("Insurance year"), min_value=2000, max_value=2100)

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["county_code"].choices = [
            (county.code[:6], f"{county.name}（{county.code[:6]}）")
            for county in selectors_assessment.county_choices(scope=scope)
        ]


def _start_form(scope: Scope, data: Any = None) -> StartForm:
    return StartForm(data, scope=scope, initial={"insurance_year": default_insurance_year()})


def _run_rows(runs: list[AssessmentRun]) -> list[dict[str, Any]]:
    names = county_names({run.county_code for run in runs})
    return [
        {
            "run": run,
            "county": names.get(run.county_code, run.county_code),
            "payable": yuan(run.payable_fen),
            "duration": _duration(run),
            "by": who(run.started_by),
        }
        for run in runs
    ]


class AssessmentRunsView(ScopedViewMixin, View):
    """Runs of the user's counties, newest first; the form that starts one (for those who may)."""

    required_action = Action.ASSESSMENT_VIEW
    template_name = "enrollment/assessment/runs.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        page = Paginator(selectors_assessment.assessment_run_list(scope=self.scope), 25).get_page(
            request.GET.get("page")
        )
        context = {
            "page": page,
            "rows": _run_rows(list(page)),
            "form": _start_form(self.scope) if self.scope.allows(Action.ASSESSMENT_RUN) else None,
        }
        return render(request, self.template_name, context)


class AssessmentStartView(ScopedViewMixin, View):
    """GET: the form. POST: queue the run (a second start returns the one already queued or running)."""

    required_action = Action.ASSESSMENT_RUN
    template_name = "enrollment/assessment/start.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": _start_form(self.scope)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = _start_form(self.scope, request.POST)
        if form.is_valid():
            try:
                run = assessment.assessment_run_start(
                    scope=self.scope,
                    county_code=form.cleaned_data["county_code"],
                    insurance_year=form.cleaned_data["insurance_year"],
                    actor_id=request.user.pk,
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for name, problems in error.message_dict.items():
                        form.add_error(name if name in form.fields else None, problems)
                else:
                    form.add_error(None, error.messages)
            else:
                return redirect("enrollment:assessment-run", pk=run.pk)
        return render(request, self.template_name, {"form": form}, status=400)


def _run_whose(run: AssessmentRun, county: str) -> str:
    """Whose figures a run's are, in words: the whole county's, a roster's persons', one person's."""
    if run.kind == RunKind.PERSON:
        return _(
            "This run reassessed one person for %(year)s; its figures are that person's alone, not the county's."
        ) % {"year": run.insurance_year}
    if run.kind == RunKind.PERSONS:
        return _(
            "This run reassessed only the persons whose subsidy tags changed (%(count)d in %(county)s) for "
            "%(year)s; its figures are theirs alone, not the county's. A roster reassesses its persons in "
            "every insurance year still open, whatever year the roster is for: a tag counts in every year "
            "its dates reach, and it begins on the recognition date, or on the roster's date when the file "
            "gives none (so a roster dated this year also counts this year, unless a category asks for "
            "recognition by an earlier date). Where the tags change nothing in a year, that year's run "
            "shows no changed assessment."
        ) % {"count": run.enrollments, "county": county, "year": run.insurance_year}
    return _(
        "This run assessed every normal enrollment of %(county)s for %(year)s: its figures were the "
        "county's when it finished."
    ) % {"county": county, "year": run.insurance_year}


class AssessmentRunView(ScopedViewMixin, View):
    """One run: queued or running with a live progress bar; done with its counts; failed with the error."""

    required_action = Action.ASSESSMENT_VIEW
    template_name = "enrollment/assessment/run.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = selectors_assessment.assessment_run_detail(scope=self.scope, pk=pk)
        version = run.policy_version
        county = county_names({run.county_code}).get(run.county_code, run.county_code)
        # The run's figures are of the persons it assessed; the county's, beside them, as they stand now.
        counts = [
            ("enrollments", _("Enrollments assessed"), run.enrollments),
            ("distinct_facts", _("Classes of identical facts"), run.distinct_facts),
            ("created", _("New assessments"), run.created),
            ("changed", _("Changed assessments"), run.changed),
            ("unchanged", _("Unchanged"), run.unchanged),
            ("cancelled", _("Cancelled"), run.cancelled),
            ("government_paid", _("Paid by the government"), run.government_paid),
            ("pushed", _("Sent to tax"), run.pushed),
        ]
        # Shown only when the run withdrew some (rarely): back-payments an extended collection
        # period withdrew, and open applications whose year it cancelled or the government now pays.
        withdrawn = (
            ("back_payments_withdrawn", _("Back-payments withdrawn (period extended)")),
            (
                "back_payment_applications_withdrawn",
                _("Back-payment applications withdrawn (nothing left to pay back)"),
            ),
        )
        counts += [(key, label, getattr(run, key)) for key, label in withdrawn if getattr(run, key)]
        money = [
            ("government_paid_fen", _("Paid by the government (yuan)"), run.government_paid_fen),
            # Money still due when the run ended; payments since lower the county's figure below.
            ("payable", _("Due and unpaid when the run ended (yuan)"), run.payable_fen),
        ]
        figures = selectors_assessment.assessment_county_figures(
            scope=self.scope, county_code=run.county_code, insurance_year=run.insurance_year
        )
        county_counts = [
            ("county_assessed", _("Assessments in force"), figures["assessed"], figures["assessed"]),
            (
                "county_government_paid",
                _("Paid by the government"),
                figures["government_paid"],
                figures["government_paid"],
            ),
            (
                "county_government_paid_fen",
                _("Paid by the government (yuan)"),
                figures["government_paid_fen"],
                yuan(figures["government_paid_fen"]),
            ),
            (
                "county_payable",
                _("Due and unpaid (yuan)"),
                figures["payable_fen"],
                yuan(figures["payable_fen"]),
            ),
        ]
        context = {
            "run": run,
            "county": county,
            "progress": run_progress(run),
            "waiting": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
            "counts": counts,
            "money": [(key, label, value, yuan(value)) for key, label, value in money],
            "county_counts": county_counts,
            "whose": _run_whose(run, county),
            "duration": _duration(run),
            "by": who(run.started_by),
            "version": version,
            "policy_url": policy_url(version.policy.code) if version else "",
            "list_url": reverse(
                "enrollment:assessment-list", kwargs={"county": run.county_code, "year": run.insurance_year}
            ),
        }
        return render(request, self.template_name, context)


@method_decorator(never_cache, name="dispatch")
class AssessmentRunProgressView(ScopedViewMixin, View):
    """The run's progress as JSON, polled by static/js/assessment.js."""

    required_action = Action.ASSESSMENT_VIEW

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        run = selectors_assessment.assessment_run_detail(scope=self.scope, pk=pk)
        return JsonResponse(run_progress(run))


# --- assessments of a county and year -----------------------------------------------------------


def _schedule(assessment_row: Assessment) -> list[dict[str, Any]]:
    lines = []
    for line in assessment_row.schedule or []:
        days = line.get("days_of_month")
        lines.append(
            {
                "start": line.get("from", ""),
                "end": line.get("to", ""),
                "amount": yuan(line.get("amount_fen")),
                "subsidy": yuan(line.get("subsidy_fen")) if line.get("subsidy_fen") else "",
                "days": _("the %(first)s to the %(last)s of each month")
                % {"first": day_of_month(days[0]), "last": day_of_month(days[1])}
                if days
                else "",
                "rule": line.get("rule", ""),
                "anchor": rule_anchor(line.get("rule", "")),
            }
        )
    return lines


def assessment_row(
    scope: Scope, item: Assessment, *, categories: dict[str, str], villages: dict[str, str] | None = None
) -> dict[str, Any]:
    """One assessment as the pages show it: identifier masked as the role requires, amounts in yuan."""
    version = item.policy_version
    return {
        "assessment": item,
        "person": item.person,
        "id_number": id_number_for(scope, item.person.id_number, item.person.region_code),
        "village": (villages or {}).get(item.region_code, item.region_code),
        "situation": say_situation(item.situation),
        "standard": yuan(item.standard_fen),
        "subsidy": yuan(item.subsidy_fen),
        "government": yuan(item.government_fen),
        "payable": yuan(item.payable_fen),
        "paid": yuan(item.paid_fen) if item.paid_fen is not None else "",
        "category": categories.get(item.subsidy_category, item.subsidy_category),
        "schedule": _schedule(item),
        "rule_url": policy_url(version.policy.code, item.rule) if version else "",
        "policy_code": version.policy.code if version else "",
        "version": version.number if version else None,
    }


class StatusFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Payment status"), required=False, choices=[("", "—"), *AssessmentStatus.choices]
    )
    category = forms.ChoiceField(label=gettext_lazy("Subsidy category"), required=False, choices=())

    def __init__(self, *args: Any, categories: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [
            ("", "—"),
            ("-", _("Without a subsidy")),
            *sorted(categories.items(), key=lambda item: item[1]),
        ]


class AssessmentListView(ScopedViewMixin, View):
    """The assessments of one county and insurance year, filtered by payment status and subsidy category."""

    required_action = Action.ASSESSMENT_VIEW
    template_name = "enrollment/assessment/list.html"

    def get(self, request: HttpRequest, county: str, year: int) -> HttpResponse:
        region = selectors_assessment.county_detail(scope=self.scope, code=county)
        loaded = policy_for_county(county_code=county, insurance_year=year)
        categories = (
            {category.code: category.name for category in loaded.rules.subsidy_categories} if loaded else {}
        )
        form = StatusFilterForm(request.GET, categories=categories)
        filters = form.cleaned_data if form.is_valid() else {"status": "", "category": ""}
        assessments = selectors_assessment.assessment_list(
            scope=self.scope,
            county_code=county,
            insurance_year=year,
            status=filters["status"] or None,
            subsidy_category=filters["category"] or None,
        )
        page = Paginator(assessments, PAGE_SIZE).get_page(request.GET.get("page"))
        items = list(page)
        villages = dict(
            Region.objects.filter(code__in={item.region_code for item in items}).values_list("code", "name")
        )
        counts = selectors_assessment.assessment_status_counts(
            scope=self.scope, county_code=county, insurance_year=year
        )
        context = {
            "county": region,
            "county_code": county,
            "year": year,
            "form": form,
            "page": page,
            "rows": [
                assessment_row(self.scope, item, categories=categories, villages=villages) for item in items
            ],
            "tabs": [
                {"value": value, "label": label, "count": counts.get(value, 0)}
                for value, label in AssessmentStatus.choices
            ],
            "total": sum(counts.values()),
            "status": filters["status"],
            "policy": loaded.record if loaded else None,
            "runs": list(
                selectors_assessment.assessment_run_list(scope=self.scope, county_code=county).filter(
                    insurance_year=year
                )[:3]
            ),
        }
        return render(request, self.template_name, context)


# --- the person page's section ------------------------------------------------------------------


def person_assessment_rows(*, scope: Scope, person: Person) -> list[dict[str, Any]] | None:
    """The person's assessments for the person page, or None when the role may not see assessments."""
    found = selectors_assessment.person_assessments(scope=scope, person=person)
    if found is None:
        return None
    items = list(found)
    categories: dict[str, str] = {}
    for item in items:
        loaded = policy_for_county(county_code=item.county_code, insurance_year=item.insurance_year)
        if loaded is not None:
            categories.update({category.code: category.name for category in loaded.rules.subsidy_categories})
    for item in items:
        item.person = person
    return [assessment_row(scope, item, categories=categories) for item in items]
