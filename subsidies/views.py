"""The subsidies pages: roster imports (upload, progress, preview with the administrator's choice of
mode, result, report), the subsidy categories of each policy (read by everyone who reads the
rulebook, edited by administrators through the policy's own versioned save), and the totals for
finance with their xlsx export.

Thin: each view takes the scope, checks a form, calls one service or selector, renders.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.access import ScopedViewMixin
from accounts.exports import xlsx_file_response
from accounts.form_errors import add_service_errors
from accounts.money import yuan
from accounts.roles import Action
from accounts.searches import PAGE_NOT_KEPT, PAGES_KEPT, SessionSearches
from enrollment import imports
from enrollment.policies import policy_can_manage, policy_detail, policy_parse
from enrollment.rules.policy import Scheme
from enrollment.selectors_assessment import policy_saved_said

from . import exports, rosters, selectors, services
from .models import RosterImport, RosterMode, RosterOutcome
from .rosters import ROSTER_COLUMNS


def _default_year() -> int:
    today = timezone.localdate()
    # From September the collection period of next year's contributions runs: rosters are for next year.
    return today.year + 1 if today.month >= 9 else today.year


# --- roster imports: upload ---------------------------------------------------------------------


class RosterUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Roster (.xlsx, .xls or .csv)"))
    source = forms.CharField(
        label=gettext_lazy("Sent by"),
        max_length=100,
        help_text=gettext_lazy(
            "The office that sent the roster, e.g. 临汾市民政局; a new file from it for the same year replaces its previous one."
        ),
        widget=forms.TextInput(attrs={"list": "roster-sources", "autocomplete": "off"}),
    )
    insurance_year = forms.IntegerField(label=gettext_lazy("Insurance year"), min_value=2000, max_value=2100)
    roster_date = forms.DateField(
        label=gettext_lazy("Roster date"),
        help_text=gettext_lazy("Tags that the roster no longer lists end on this day."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class RosterUploadView(ScopedViewMixin, View):
    """Upload a roster: checked by a worker into a preview; nothing changes before it is confirmed."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT
    template_name = "subsidies/roster_upload.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = RosterUploadForm(
            initial={"insurance_year": _default_year(), "roster_date": timezone.localdate()}
        )
        return self._render(request, form)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = RosterUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                roster_import = services.roster_import_create(
                    scope=self.scope,
                    upload=data["file"],
                    source=data["source"],
                    insurance_year=data["insurance_year"],
                    roster_date=data["roster_date"],
                    language=translation.get_language() or "zh-hans",
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return redirect("subsidies:roster-import", pk=roster_import.pk)
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: forms.Form, status: int = 200) -> HttpResponse:
        page = Paginator(selectors.roster_import_list(scope=self.scope), 20).get_page(request.GET.get("page"))
        context = {
            "form": form,
            "page": page,
            "jobs": [{"job": job, "counts": _count_items(job.counts or {})} for job in page],
            "rosters": list(selectors.roster_list(scope=self.scope)[:50]),
            "sources": selectors.roster_sources(scope=self.scope),
            "columns": ROSTER_COLUMNS,
            "max_mb": imports.MAX_UPLOAD_BYTES // 2**20,
            "max_rows": f"{imports.MAX_ROWS:,}",  # 1,000,000: grouped as every count on the page
        }
        return render(request, self.template_name, context, status=status)


def _count_items(counts: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [
        (rosters.count_label(key), value, key) for key, value in rosters.counts_for_display(counts) if value
    ]


class RosterTemplateView(ScopedViewMixin, View):
    """An empty roster with the right header row and a sheet of instructions."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        return xlsx_file_response(rosters.template_workbook(), f"{_('roster template')}.xlsx")


# --- roster imports: one file -------------------------------------------------------------------


def _progress(job: RosterImport) -> dict[str, Any]:
    progress = rosters.progress_of(job.pk) or {}
    done, total = int(progress.get("done") or 0), progress.get("total")
    percent = min(99, done * 100 // total) if total else None
    if progress.get("phase") in ("writing", "reassessing"):
        percent = 99
    return {
        "status": job.status,
        "phase": progress.get("phase"),
        "done": done,
        "done_text": f"{done:,}",  # as the page shows it, whichever the language (600,006)
        "total": total,
        "percent": percent,
        "finished": not job.waiting,
    }


class DecisionForm(forms.Form):
    mode = forms.ChoiceField(
        label=gettext_lazy("How to import"),
        choices=RosterMode.choices,
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args: Any, blocking: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blocking = blocking


class RosterImportView(ScopedViewMixin, View):
    """One roster file: waiting (live progress), its preview (counts, every row not imported, the choice
    of mode), or its result and report."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT
    template_name = "subsidies/roster_import.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = selectors.roster_import_detail(scope=self.scope, pk=pk)
        return _render_import(
            request, self.scope, job, DecisionForm(blocking=int((job.counts or {}).get("blocking", 0)))
        )


def _render_import(
    request: HttpRequest, scope: Any, job: RosterImport, form: DecisionForm, status: int = 200
) -> HttpResponse:
    counts = job.counts or {}
    preview = selectors.roster_preview(scope=scope, roster_import=job)
    tabs = selectors.outcome_tabs(counts, valid_rows=preview is not None)
    listed = {tab["value"] for tab in tabs}
    reported = any(tab["value"] not in selectors.VALID_OUTCOMES for tab in tabs)
    outcome = request.GET.get("outcome") or ""
    if outcome not in listed:
        outcome = ""
    if not outcome and not reported and tabs:
        outcome = tabs[0]["value"]  # every row is valid: the new tags first
    masker = rosters.masker_for(scope=scope, roster_import=job)
    names = rosters.CategoryNames(job.insurance_year)
    labels = dict(RosterOutcome.choices)
    if preview is not None and outcome in selectors.VALID_OUTCOMES:
        page = Paginator(preview.rows(outcome), 100).get_page(request.GET.get("page"))
        rows = [_valid_row(row, outcome, labels[outcome], masker, names) for row in page]
    else:
        page = Paginator(selectors.roster_rows(roster_import=job, outcome=outcome or None), 100).get_page(
            request.GET.get("page")
        )
        rows = [
            {
                "row_number": row.row_number,
                "outcome": row.outcome,
                "outcome_label": labels.get(row.outcome, row.outcome),
                "message": row.message,
                "name": row.name,
                "category": names.name(row.category, row.region_code or job.region_code),
                "id_number": masker.id_number(row.id_number, row.region_code or job.region_code),
            }
            for row in page
        ]
    context = {
        "job": job,
        "progress": _progress(job),
        "counts": [
            (rosters.count_label(key), value, key) for key, value in rosters.counts_for_display(counts)
        ],
        "effects": [
            (rosters.count_label(key), int(counts[key]), key)
            for key in ("tagged", "untagged", "persons", "pushed", "back_payments_withdrawn")
            # The applications withdrawn only when there were some (rarely): a zero says nothing.
            if key in counts and (key != "back_payments_withdrawn" or counts[key])
        ],
        "blocking": int(counts.get("blocking", 0)),
        "importable": int(counts.get("added", 0)) + int(counts.get("removed", 0)),
        "tabs": tabs,
        "reported": reported,
        "outcome": outcome,
        "page": page,
        "rows": rows,
        "form": form,
        "can_decide": job.status == "checked",
        "modes": RosterMode,
    }
    return render(request, "subsidies/roster_import.html", context, status=status)


def _valid_row(row: Any, outcome: str, label: str, masker: Any, names: Any) -> dict[str, Any]:
    period = {"start": row.valid_from.isoformat(), "end": row.valid_to.isoformat()}
    return {
        "row_number": row.row_number,
        "outcome": outcome,
        "outcome_label": label,
        "message": (
            _("A new tag, valid from %(start)s to %(end)s.") % period
            if outcome == RosterOutcome.ADDED
            else _("The roster already gives this tag; it stays as it is.")
        ),
        "name": row.name,
        "category": names.name(row.category, row.region_code),
        "id_number": masker.id_number(row.id_number, row.region_code),
    }


@method_decorator(never_cache, name="dispatch")
class RosterImportProgressView(ScopedViewMixin, View):
    """The import's progress as JSON, polled by static/js/bulk.js while a worker has it."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        return JsonResponse(_progress(selectors.roster_import_detail(scope=self.scope, pk=pk)))


class RosterImportDecideView(ScopedViewMixin, View):
    """GET: the preview's decision. POST ``decision=confirm`` with ``mode``, or ``decision=discard``."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = selectors.roster_import_detail(scope=self.scope, pk=pk)
        return _render_import(
            request, self.scope, job, DecisionForm(blocking=int((job.counts or {}).get("blocking", 0)))
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = selectors.roster_import_detail(scope=self.scope, pk=pk)
        blocking = int((job.counts or {}).get("blocking", 0))
        form = DecisionForm(request.POST, blocking=blocking)
        decision = request.POST.get("decision")
        if decision not in ("confirm", "discard") or not form.is_valid():
            form.add_error(None, _("Choose how to import the file, or discard it."))
            return _render_import(request, self.scope, job, form, status=400)
        try:
            if decision == "confirm":
                mode = form.cleaned_data["mode"]
                if not mode:
                    form.add_error("mode", _("Choose “all or nothing” or “import the valid rows”."))
                    return _render_import(request, self.scope, job, form, status=400)
                services.roster_import_confirm(scope=self.scope, import_id=job.pk, mode=mode)
                messages.success(request, _("Confirmed. The roster is being imported."))
            else:
                services.roster_import_discard(scope=self.scope, import_id=job.pk)
                messages.success(request, _("The file was discarded; nothing was imported."))
        except ValidationError as error:
            add_service_errors(form, error)
            return _render_import(request, self.scope, job, form, status=400)
        return redirect("subsidies:roster-import", pk=job.pk)


class RosterReportView(ScopedViewMixin, View):
    """The import's report as xlsx: the rows not imported (original cells, outcome, reason) and the tags that end."""

    required_action = Action.SUBSIDY_ROSTER_IMPORT

    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        job = selectors.roster_import_detail(scope=self.scope, pk=pk)
        return xlsx_file_response(
            rosters.report_workbook(scope=self.scope, roster_import=job),
            f"{_('roster import report')}-{job.pk}.xlsx",
        )


# --- categories ---------------------------------------------------------------------------------


# A year asked for in the address: four ASCII digits. str.isdigit() is true for "²" or "٢٠٢٧", and
# int() refuses the first; such a year is answered as any other invalid one.
YEAR_PARAM = re.compile(r"[0-9]{4}")


def year_param(raw: str) -> int | None:
    """The year of a query parameter, or None when it is not four ASCII digits."""
    return int(raw) if YEAR_PARAM.fullmatch(raw) else None


class CategoryListView(ScopedViewMixin, View):
    """The subsidy categories of every policy the user reads: scheme, amount, conditions, marker, tagged persons."""

    required_action = Action.POLICY_VIEW
    template_name = "subsidies/categories.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        year_value = year_param(request.GET.get("year") or "")
        items = selectors.category_policies(scope=self.scope, year=year_value)
        all_years = selectors.policy_years(scope=self.scope)
        context = {
            "items": [
                {
                    "item": item,
                    "rows": [
                        {
                            "row": row,
                            "scheme": selectors.scheme_label(row.category),
                            "amount": yuan(row.amount_fen),
                            "conditions": _conditions(row.category.conditions),
                        }
                        for row in item.rows
                    ],
                }
                for item in items
            ],
            "years": all_years,
            "year": year_value,
        }
        return render(request, self.template_name, context)


def _conditions(conditions: Any) -> list[str]:
    """A category's conditions in words (the rulebook page's wording)."""
    parts = []
    if conditions.paid_by:
        parts.append(_("paid by %(date)s") % {"date": conditions.paid_by.isoformat()})
    if conditions.born_on_or_before:
        parts.append(_("born on or before %(date)s") % {"date": conditions.born_on_or_before.isoformat()})
    if conditions.age_at_least:
        parts.append(
            _("aged %(years)d or over on %(date)s")
            % {"years": conditions.age_at_least.years, "date": conditions.age_at_least.on.isoformat()}
        )
    if conditions.age_below:
        parts.append(
            _("under %(years)d on %(date)s")
            % {"years": conditions.age_below.years, "date": conditions.age_below.on.isoformat()}
        )
    if conditions.hukou_in_region:
        parts.append(_("hukou in the region"))
    if conditions.recognised_by:
        parts.append(_("recognised by %(date)s") % {"date": conditions.recognised_by.isoformat()})
    return parts


class CategoryForm(forms.Form):
    code = forms.RegexField(
        label=gettext_lazy("Code"),
        regex=r"^[A-Za-z0-9_]{1,32}$",
        help_text=gettext_lazy("Letters, digits and underscores, e.g. dibao."),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=60)
    marker = forms.RegexField(
        label=gettext_lazy("City-wide marker"),
        regex=r"^[A-Za-z0-9_-]{1,16}$",
        help_text=gettext_lazy("The unified marker sent to tax with each tag, e.g. 02."),
    )
    scheme = forms.ChoiceField(
        label=gettext_lazy("Scheme"),
        choices=[
            (Scheme.FULL.value, gettext_lazy("Full: the government pays the whole individual part")),
            (Scheme.PERCENT.value, gettext_lazy("A percentage of the individual part")),
            (Scheme.FIXED.value, gettext_lazy("A fixed amount")),
        ],
        widget=forms.RadioSelect,
    )
    percent = forms.IntegerField(label=gettext_lazy("Percentage"), min_value=1, max_value=100, required=False)
    amount = forms.DecimalField(
        label=gettext_lazy("Fixed amount (yuan)"),
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
        required=False,
    )
    requires_tag = forms.BooleanField(
        label=gettext_lazy("Only for persons tagged by a roster"),
        required=False,
        help_text=gettext_lazy(
            "Untick for a category that applies by its conditions alone (e.g. everyone aged 70 and over)."
        ),
    )
    tag = forms.RegexField(
        label=gettext_lazy("Roster tag"),
        regex=r"^[A-Za-z0-9_]{1,32}$",
        required=False,
        help_text=gettext_lazy(
            "Empty: the category's own code. Categories that differ only by their conditions may share one tag."
        ),
    )
    paid_by = forms.DateField(
        label=gettext_lazy("Only if paid by"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    recognised_by = forms.DateField(
        label=gettext_lazy("Only if recognised by"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    born_on_or_before = forms.DateField(
        label=gettext_lazy("Only if born on or before"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    age_at_least = forms.IntegerField(
        label=gettext_lazy("Only if aged at least"), min_value=0, max_value=150, required=False
    )
    age_at_least_on = forms.DateField(
        label=gettext_lazy("on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    age_below = forms.IntegerField(
        label=gettext_lazy("Only if younger than"), min_value=0, max_value=150, required=False
    )
    age_below_on = forms.DateField(
        label=gettext_lazy("on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    hukou_in_region = forms.BooleanField(label=gettext_lazy("Only with hukou in the region"), required=False)
    note = forms.CharField(
        label=gettext_lazy("Note (the policy's own words)"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    why = forms.CharField(
        label=gettext_lazy("Why (kept in the policy's version history)"),
        max_length=300,
        widget=forms.TextInput(attrs={"class": "wide"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        scheme = data.get("scheme")
        if scheme == Scheme.PERCENT and not data.get("percent"):
            self.add_error("percent", _("Give the percentage."))
        if scheme == Scheme.FIXED and not data.get("amount"):
            self.add_error("amount", _("Give the amount."))
        for years, on in (("age_at_least", "age_at_least_on"), ("age_below", "age_below_on")):
            if (data.get(years) is None) != (data.get(on) is None):
                self.add_error(on, _("Give both the age and the day it is counted on."))
        return data

    def document(self) -> dict[str, Any]:
        """The category in the policy document's format (``enrollment/rules/policy.py``)."""
        data = self.cleaned_data
        document: dict[str, Any] = {
            "code": data["code"],
            "name": data["name"].strip(),
            "marker": data["marker"],
            "scheme": data["scheme"],
        }
        if data["scheme"] == Scheme.PERCENT:
            document["percent"] = data["percent"]
        if data["scheme"] == Scheme.FIXED:
            document["amount_fen"] = int(
                (data["amount"] * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
            )
        if not data.get("requires_tag"):
            document["requires_tag"] = False
        if data.get("tag"):
            document["tag"] = data["tag"]
        conditions: dict[str, Any] = {}
        for key in ("paid_by", "recognised_by", "born_on_or_before"):
            if data.get(key):
                conditions[key] = data[key].isoformat()
        for key in ("age_at_least", "age_below"):
            if data.get(key) is not None and data.get(f"{key}_on"):
                conditions[key] = {"years": data[key], "on": data[f"{key}_on"].isoformat()}
        if data.get("hukou_in_region"):
            conditions["hukou_in_region"] = True
        if conditions:
            document["conditions"] = conditions
        if data.get("note"):
            document["note"] = data["note"].strip()
        return document

    @staticmethod
    def initial_from(document: dict[str, Any]) -> dict[str, Any]:
        conditions = document.get("conditions") or {}
        initial: dict[str, Any] = {
            "code": document.get("code", ""),
            "name": document.get("name", ""),
            "marker": document.get("marker", ""),
            "scheme": document.get("scheme", Scheme.FULL.value),
            "percent": document.get("percent"),
            "amount": (Decimal(document["amount_fen"]) / 100).quantize(Decimal("0.01"))
            if document.get("amount_fen") is not None
            else None,
            "requires_tag": document.get("requires_tag", True),
            "tag": document.get("tag", ""),
            "hukou_in_region": bool(conditions.get("hukou_in_region")),
            "note": document.get("note", ""),
        }
        for key in ("paid_by", "recognised_by", "born_on_or_before"):
            if conditions.get(key):
                initial[key] = dt.date.fromisoformat(str(conditions[key]))
        for key in ("age_at_least", "age_below"):
            if conditions.get(key):
                initial[key] = conditions[key]["years"]
                initial[f"{key}_on"] = dt.date.fromisoformat(str(conditions[key]["on"]))
        return initial


class _CategoryMixin(ScopedViewMixin):
    required_action = Action.POLICY_MANAGE
    template_name = "subsidies/category_form.html"

    def managed(self, code: str) -> Any:
        policy = policy_detail(scope=self.scope, code=code)
        if not policy_can_manage(scope=self.scope, policy=policy):
            raise PermissionDenied(_("This policy's region lies outside your area."))
        return policy

    def render_form(
        self, policy: Any, form: forms.Form, *, original: str | None, status: int = 200
    ) -> HttpResponse:
        problems = [str(message) for message in form.non_field_errors()]
        context = {"policy": policy, "form": form, "original": original, "problems": problems}
        return render(self.request, self.template_name, context, status=status)

    def save_posted(
        self, request: HttpRequest, policy: Any, *, original: str | None, message: str
    ) -> HttpResponse:
        """The posted category saved as a new version of the policy (added when ``original`` is None)."""
        form = CategoryForm(request.POST)
        if form.is_valid():
            try:
                loaded = services.subsidy_category_save(
                    scope=self.scope, policy_code=policy.code, original_code=original, category=form.document(),
                    note=form.cleaned_data["why"], actor_id=request.user.pk,
                )  # fmt: skip
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return self.saved(loaded, policy.version, message=message)
        return self.render_form(policy, form, original=original, status=400)

    def saved(self, loaded: Any, previous: int, *, message: str) -> HttpResponse:
        if loaded.record.version == previous:
            messages.info(
                self.request,
                _("Nothing changed: the policy stays at version %(version)d.") % {"version": previous},
            )
        else:
            said = message % {"version": loaded.record.version}
            messages.success(
                self.request, policy_saved_said(policy=loaded.record, today=timezone.localdate(), said=said)
            )
        return redirect(
            reverse("subsidies:categories")
            + f"?year={loaded.record.insurance_year}#policy-{loaded.record.code}"
        )


class CategoryNewView(_CategoryMixin, View):
    """Add a subsidy category to a policy (a new version of the policy)."""

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        return self.render_form(
            policy, CategoryForm(initial={"scheme": Scheme.FULL.value, "requires_tag": True}), original=None
        )

    def post(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        return self.save_posted(
            request,
            policy,
            original=None,
            message=_("Category added; the policy is now version %(version)d."),
        )


class CategoryEditView(_CategoryMixin, View):
    """Change one subsidy category of a policy (a new version of the policy)."""

    def get(self, request: HttpRequest, code: str, category: str) -> HttpResponse:
        policy = self.managed(code)
        document = services.subsidy_category_document(policy=policy, code=category)
        if document is None:
            raise Http404(_("The policy has no such category."))
        return self.render_form(
            policy, CategoryForm(initial=CategoryForm.initial_from(document)), original=category
        )

    def post(self, request: HttpRequest, code: str, category: str) -> HttpResponse:
        policy = self.managed(code)
        if services.subsidy_category_document(policy=policy, code=category) is None:
            raise Http404(_("The policy has no such category."))
        return self.save_posted(
            request,
            policy,
            original=category,
            message=_("Category saved; the policy is now version %(version)d."),
        )


class RemoveForm(forms.Form):
    why = forms.CharField(label=gettext_lazy("Why (kept in the policy's version history)"), max_length=300)


class CategoryRemoveView(_CategoryMixin, View):
    """GET: what removing the category means. POST: remove it (a new version of the policy)."""

    template_name = "subsidies/category_remove.html"

    def get(self, request: HttpRequest, code: str, category: str) -> HttpResponse:
        policy = self.managed(code)
        return self._render(policy, category, RemoveForm())

    def post(self, request: HttpRequest, code: str, category: str) -> HttpResponse:
        policy = self.managed(code)
        form = RemoveForm(request.POST)
        if form.is_valid():
            try:
                loaded = services.subsidy_category_remove(
                    scope=self.scope, policy_code=policy.code, code=category, note=form.cleaned_data["why"],
                    actor_id=request.user.pk,
                )  # fmt: skip
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return self.saved(
                    loaded,
                    policy.version,
                    message=_("Category removed; the policy is now version %(version)d."),
                )
        return self._render(policy, category, form, status=400)

    def _render(self, policy: Any, category: str, form: forms.Form, status: int = 200) -> HttpResponse:
        document = services.subsidy_category_document(policy=policy, code=category)
        if document is None:
            raise Http404(_("The policy has no such category."))
        rules = policy_parse(document=policy.document)
        tag = document.get("tag") or document.get("code")
        shared = [c.name for c in rules.subsidy_categories if c.tag_code == tag and c.code != category]
        context = {"policy": policy, "category": document, "form": form, "shared": shared}
        return render(self.request, self.template_name, context, status=status)


# --- totals -------------------------------------------------------------------------------------


def _year_of(request: HttpRequest, years: list[int]) -> int:
    year = year_param(request.GET.get("year") or "")
    if year is not None and 2000 <= year <= 2100:
        return year
    return years[0] if years else _default_year()


class TotalsView(ScopedViewMixin, View):
    """Subsidy persons and money per category and county for one insurance year, in the user's area."""

    required_action = Action.SUBSIDY_TOTALS
    template_name = "subsidies/totals.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        years = selectors.totals_years(scope=self.scope)
        year = _year_of(request, years)
        totals = selectors.subsidy_totals(scope=self.scope, year=year)
        context = {
            "totals": totals,
            "year": year,
            "years": sorted(set(years) | {year}, reverse=True),
            "rows": [
                {"row": row, "subsidy": yuan(row.subsidy_fen), "settled": yuan(row.settled_fen)}
                for row in totals.rows
            ],
            "total_subsidy": yuan(totals.subsidy_fen),
            "total_settled": yuan(totals.settled_fen),
        }
        return render(request, self.template_name, context)


class TotalsExportView(ScopedViewMixin, View):
    """The same totals as an xlsx file."""

    required_action = Action.SUBSIDY_TOTALS

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        years = selectors.totals_years(scope=self.scope)
        year = _year_of(request, years)
        totals = selectors.subsidy_totals(scope=self.scope, year=year)
        return xlsx_file_response(
            selectors.totals_workbook(totals=totals), f"{_('subsidy totals')}-{year}.xlsx"
        )


# --- follow-up: subsidised persons not enrolled -------------------------------------------------

NOT_ENROLLED_PAGE = 50
# The list's keyset cursor names the last row shown by its ID number: the address carries a random
# key to the cursor kept in the session (accounts.searches), never the cursor.
NOT_ENROLLED_PAGES = SessionSearches(
    "subsidies.not_enrolled", kept=PAGES_KEPT, param="after", stale_message=PAGE_NOT_KEPT
)


class NotEnrolledView(ScopedViewMixin, View):
    """Subsidised persons (monitored, formerly poor, 低保 …) who are not enrolled: all must be."""

    required_action = Action.REPORT_VIEW
    template_name = "subsidies/not_enrolled.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        categories = selectors.subsidised_categories(scope=self.scope)
        category = request.GET.get("category", "")
        cursor = NOT_ENROLLED_PAGES.recall(request)
        after = cursor.query
        rows = list(
            selectors.subsidised_unenrolled(
                scope=self.scope, category=category, after=after, limit=NOT_ENROLLED_PAGE + 1
            )
        )
        names = dict(categories)
        query = {"category": category} if category else {}
        next_after = rows[NOT_ENROLLED_PAGE - 1].key if len(rows) > NOT_ENROLLED_PAGE else ""
        context = {
            "categories": categories,
            "category": category,
            "rows": [
                {"row": row, "category_name": names.get(row.category, row.category)}
                for row in rows[:NOT_ENROLLED_PAGE]
            ],
            "next_url": NOT_ENROLLED_PAGES.address(request, request.path, next_after, **query)
            if next_after
            else "",
            "first_url": f"{request.path}?{urlencode(query)}" if after else "",
            "notice": cursor.notice,
            # The whole list is written in the background (subsidies/exports.py).
            "export_kind": exports.NOT_ENROLLED,
            "export_params": [("category", category)],
            "export_label": _("Export the whole list (xlsx)"),
        }
        return render(request, self.template_name, context)
