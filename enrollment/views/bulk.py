"""Insurance staff's bulk pages: the duplicate-enrollment queue and its cases, and the imports
(employee-insurance list; households from an old system) with preview, progress and report.

Thin: each view takes the scope, checks a form, calls one service or selector, renders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache

from accounts.access import ScopedViewMixin
from accounts.exports import xlsx_file_response
from accounts.form_errors import add_service_errors
from accounts.masking import id_number_for, phone_for, shows_full_identity
from accounts.models import Region
from accounts.roles import Action
from accounts.scope import Scope

from .. import duplicates, imports, services
from ..evidence import validate_evidence
from ..models import (
    DuplicateCase,
    DuplicateMatch,
    DuplicateStatus,
    Enrollment,
    ImportJob,
    ImportKind,
    ImportOutcome,
    ImportStatus,
    KeepBasis,
)


def _where_labels(scope: Scope, codes: set[str]) -> dict[str, str]:
    """Where each region code is, as much as the viewer may know (``mask_region_for``, in one query):
    the full path inside their area, city and county outside it."""

    def path_codes(code: str) -> list[str]:
        return list(dict.fromkeys(code[:n].ljust(12, "0") for n in (2, 4, 6, 9, 12)))

    wanted = {prefix for code in codes for prefix in path_codes(code)}
    regions = {region.code: region for region in Region.objects.filter(code__in=wanted)}
    labels: dict[str, str] = {}
    for code in codes:
        path = [regions[prefix] for prefix in path_codes(code) if prefix in regions]
        if not path:
            labels[code] = _("another region")
        elif scope.covers_region_code(code):
            labels[code] = "".join(region.name for region in path if region.level >= 2)
        else:
            labels[code] = "".join(region.name for region in path if 2 <= region.level <= 3) + _(
                " (outside your area)"
            )
    return labels


# --- imports: upload ----------------------------------------------------------------------------


class ImportUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Spreadsheet (.xlsx or .csv)"))


class _ImportUploadView(ScopedViewMixin, View):
    required_action = Action.ENROLLMENT_IMPORT
    template_name = "enrollment/bulk/import_upload.html"
    kind: str = ""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ImportUploadForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = services.import_job_create(
                    scope=self.scope,
                    kind=self.kind,
                    upload=form.cleaned_data["file"],
                    language=translation.get_language() or "zh-hans",
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return redirect("enrollment:import-detail", pk=job.pk)
        return self._render(request, form, status=400)

    def _render(self, request: HttpRequest, form: forms.Form, status: int = 200) -> HttpResponse:
        jobs = imports.job_list(scope=self.scope, kind=self.kind)
        page = Paginator(jobs, 20).get_page(request.GET.get("page"))
        columns = imports.COLUMNS_BY_KIND[ImportKind(self.kind)]
        context = {
            "form": form,
            "kind": self.kind,
            "kind_label": ImportKind(self.kind).label,
            "page": page,
            "jobs": [_job_summary(job) for job in page],
            "columns": columns,
            "max_mb": imports.MAX_UPLOAD_BYTES // 2**20,
            "max_rows": f"{imports.MAX_ROWS:,}",  # 1,000,000: grouped as every count on the page
        }
        return render(request, self.template_name, context, status=status)


class EmployeeImportView(_ImportUploadView):
    """Upload the employee-insurance list: the persons' resident enrollments end automatically."""

    kind = ImportKind.EMPLOYEE_INSURANCE


class HouseholdImportView(_ImportUploadView):
    """Upload households and persons from an old system: checked first, imported on confirmation."""

    kind = ImportKind.HOUSEHOLDS


class RegisterImportView(_ImportUploadView):
    """Upload public security's household register: it replaces the register of the file's villages."""

    kind = ImportKind.HOUSEHOLD_REGISTER


_UPLOAD_PAGES = {
    ImportKind.EMPLOYEE_INSURANCE: "enrollment:employee-import",
    ImportKind.HOUSEHOLDS: "enrollment:household-import",
    ImportKind.HOUSEHOLD_REGISTER: "enrollment:register-import",
}


def _job_summary(job: ImportJob) -> dict[str, Any]:
    return {
        "job": job,
        "counts": [(imports.count_label(key), value, key) for key, value in imports.counts_for_display(job)],
    }


# --- imports: one job ---------------------------------------------------------------------------

_LISTED_OUTCOMES = {
    ImportKind.EMPLOYEE_INSURANCE: [
        ImportOutcome.TERMINATED, ImportOutcome.NOT_FOUND, ImportOutcome.NOT_ENROLLED, ImportOutcome.NAME_MISMATCH,
        ImportOutcome.OUTSIDE_AREA, ImportOutcome.DATE_CONFLICT, ImportOutcome.ERROR,
    ],
    ImportKind.HOUSEHOLDS: [ImportOutcome.ERROR, ImportOutcome.HOUSEHOLD_ERROR, ImportOutcome.EXISTING],
    ImportKind.HOUSEHOLD_REGISTER: [ImportOutcome.OUTSIDE_AREA, ImportOutcome.ERROR],
}  # fmt: skip


def _progress(job: ImportJob) -> dict[str, Any]:
    progress = imports.progress_of(job.pk) or {}
    done, total = int(progress.get("done") or 0), progress.get("total")
    percent = min(99, done * 100 // total) if total else None
    return {
        "status": job.status,
        "phase": progress.get("phase"),
        "done": done,
        "done_text": f"{done:,}",  # as the page shows it, whichever the language (600,006)
        "total": total,
        "percent": percent,
        "finished": not job.waiting,
    }


class ImportDetailView(ScopedViewMixin, View):
    """A job: waiting (with progress), its preview (households), or its result and report."""

    required_action = Action.ENROLLMENT_IMPORT
    template_name = "enrollment/bulk/import_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = imports.job_detail(scope=self.scope, pk=pk)
        listed = _LISTED_OUTCOMES[ImportKind(job.kind)]
        outcome = request.GET.get("outcome") or ""
        if outcome not in listed:
            outcome = ""
        rows = imports.job_rows(job=job, outcome=outcome or None)
        page = Paginator(rows, 100).get_page(request.GET.get("page"))
        masker = imports.masker_for(scope=self.scope, job=job)
        counts = job.counts or {}
        context = {
            "job": job,
            "progress": _progress(job),
            "counts": [
                (imports.count_label(key), value, key) for key, value in imports.counts_for_display(job)
            ],
            "tabs": [
                {"value": value, "label": ImportOutcome(value).label, "count": counts.get(value, 0)}
                for value in listed
                if counts.get(value)
            ],
            "outcome": outcome,
            "page": page,
            "rows": [
                {
                    "row_number": row.row_number,
                    "outcome": row.outcome,
                    "outcome_label": row.get_outcome_display(),
                    "message": row.message,
                    "household_key": row.household_key,
                    "name": row.name,
                    "id_number": masker.id_number(row.id_number, row.region_code or job.region_code),
                }
                for row in page
            ],
            "households": list(imports.job_households(job=job)[:50])
            if job.status == ImportStatus.DONE
            else [],
            "households_more": max(0, int(counts.get("households_created", 0)) - 50),
            "can_decide": job.kind == ImportKind.HOUSEHOLDS and job.status == ImportStatus.CHECKED,
            "importable": int(counts.get("ok", 0)),
            "upload_url": reverse(_UPLOAD_PAGES[ImportKind(job.kind)]),
        }
        return render(request, self.template_name, context)


@method_decorator(never_cache, name="dispatch")
class ImportProgressView(ScopedViewMixin, View):
    """The job's progress as JSON, polled by static/js/bulk.js while a worker has it."""

    required_action = Action.ENROLLMENT_IMPORT

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        return JsonResponse(_progress(imports.job_detail(scope=self.scope, pk=pk)))


class ImportConfirmView(ScopedViewMixin, View):
    """GET: what confirming would import. POST ``decision=confirm|discard``."""

    required_action = Action.ENROLLMENT_IMPORT
    template_name = "enrollment/bulk/import_confirm.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = imports.job_detail(scope=self.scope, pk=pk)
        return self._render(request, job)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = imports.job_detail(scope=self.scope, pk=pk)
        decision = request.POST.get("decision")
        if decision not in ("confirm", "discard"):
            return self._render(
                request, job, error=_("Choose to import the file or to discard it."), status=400
            )
        try:
            if decision == "confirm":
                services.import_job_confirm(scope=self.scope, job_id=job.pk)
                messages.success(request, _("Confirmed. The households are being imported."))
            else:
                services.import_job_discard(scope=self.scope, job_id=job.pk)
                messages.success(request, _("The file was discarded; nothing was imported."))
        except ValidationError as error:
            return self._render(request, job, error=" ".join(error.messages), status=400)
        return redirect("enrollment:import-detail", pk=job.pk)

    def _render(
        self, request: HttpRequest, job: ImportJob, *, error: str = "", status: int = 200
    ) -> HttpResponse:
        counts = job.counts or {}
        context = {
            "job": job,
            "error": error,
            "can_decide": job.kind == ImportKind.HOUSEHOLDS and job.status == ImportStatus.CHECKED,
            "importable": int(counts.get("ok", 0)),
            "households": int(counts.get("households", 0)),
            "held_back": int(counts.get("error", 0)) + int(counts.get("household_error", 0)),
            "existing": int(counts.get("existing", 0)),
        }
        return render(request, self.template_name, context, status=status)


class ImportReportView(ScopedViewMixin, View):
    """The job's report as xlsx: every listed row, original cells plus outcome and reason (masked per viewer)."""

    required_action = Action.ENROLLMENT_IMPORT

    def get(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        job = imports.job_detail(scope=self.scope, pk=pk)
        return xlsx_file_response(
            imports.report_workbook(scope=self.scope, job=job), f"{_('import report')}-{job.pk}.xlsx"
        )


class ImportTemplateView(ScopedViewMixin, View):
    """An empty file with the right header row (``?kind=households|employee_insurance``)."""

    required_action = Action.ENROLLMENT_IMPORT

    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        kind = request.GET.get("kind")
        kind = kind if kind in ImportKind.values else ImportKind.HOUSEHOLDS
        return xlsx_file_response(
            imports.template_workbook(kind), f"{_('import template')}-{ImportKind(kind).label}.xlsx"
        )


# --- duplicates: the queue ----------------------------------------------------------------------


@dataclass
class Side:
    enrollment: Enrollment
    id_number: str
    phone: str
    full: bool
    where: str
    in_area: bool
    person_url: str
    kept: bool = False
    ended_here: bool = False
    default_end: dt.date | None = None


def _person_url(person_id: int) -> str:
    try:
        return reverse("enrollment:person-detail", args=[person_id])
    except NoReverseMatch:
        return ""


def _sides(scope: Scope, case: DuplicateCase, labels: dict[str, str]) -> list[Side]:
    sides = []
    for enrollment in (case.enrollment_a, case.enrollment_b):
        person = enrollment.person
        in_area = scope.covers_region_code(enrollment.region_code)
        sides.append(
            Side(
                enrollment=enrollment,
                id_number=id_number_for(scope, person.id_number, enrollment.region_code),
                phone=phone_for(scope, person.phone, enrollment.region_code),
                full=shows_full_identity(scope, enrollment.region_code),
                where=labels.get(enrollment.region_code, enrollment.region_code),
                in_area=in_area,
                person_url=_person_url(person.pk) if in_area else "",
                kept=case.kept_id == enrollment.pk,
            )
        )
    return sides


QUEUE_TABS = [
    DuplicateStatus.OPEN,
    DuplicateStatus.RESOLVED,
    DuplicateStatus.DISMISSED,
    DuplicateStatus.CLOSED,
]


class DuplicateQueueView(ScopedViewMixin, View):
    """Duplicate enrollments touching the caller's area, oldest first; POST ``scan=1`` searches now."""

    required_action = Action.ENROLLMENT_CHANGE
    template_name = "enrollment/bulk/duplicate_queue.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request)

    def post(self, request: HttpRequest) -> HttpResponse:
        if request.POST.get("scan") != "1":
            return self._render(
                request, error=_("Nothing to do: use the button to search for duplicates."), status=400
            )
        from ..tasks import find_duplicates

        try:
            find_duplicates.apply_async(kwargs={"user_id": request.user.pk}, retry=False)
        except Exception:
            messages.error(request, _("The background workers could not be reached; try again later."))
        else:
            messages.success(
                request, _("The search has started. New cases appear in this queue within a few minutes.")
            )
        return redirect("enrollment:duplicate-queue")

    def _render(self, request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
        state = request.GET.get("status") or DuplicateStatus.OPEN
        if state not in DuplicateStatus.values:
            state = DuplicateStatus.OPEN
        match = request.GET.get("match") or ""
        if match not in DuplicateMatch.values:
            match = ""
        cases = duplicates.case_queue(scope=self.scope, status=state, match=match or None)
        page = Paginator(cases, 50).get_page(request.GET.get("page"))
        labels = _where_labels(
            self.scope, {e.region_code for case in page for e in (case.enrollment_a, case.enrollment_b)}
        )
        counts = duplicates.case_counts(scope=self.scope)
        context = {
            "page": page,
            "rows": [{"case": case, "sides": _sides(self.scope, case, labels)} for case in page],
            "status": state,
            "status_label": DuplicateStatus(state).label,
            "match": match,
            "matches": DuplicateMatch.choices,
            "tabs": [
                {"value": s, "label": DuplicateStatus(s).label, "count": counts.get(s, 0)} for s in QUEUE_TABS
            ],
            "error": error,
        }
        return render(request, self.template_name, context, status=status)


# --- duplicates: one case -----------------------------------------------------------------------


class ResolveForm(forms.Form):
    keep = forms.TypedChoiceField(label=gettext_lazy("Keep"), coerce=int, choices=())
    basis = forms.ChoiceField(label=gettext_lazy("Why"), choices=KeepBasis.choices, widget=forms.RadioSelect)
    effective_on = forms.DateField(
        label=gettext_lazy("Last day of the other enrollment"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    note = forms.CharField(
        label=gettext_lazy("Note"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    evidence = forms.FileField(label=gettext_lazy("Signed choice (PDF, JPEG or PNG)"), required=False)

    def __init__(self, *args: Any, case: DuplicateCase, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["keep"].choices = [(case.enrollment_a_id, "A"), (case.enrollment_b_id, "B")]

    def clean_evidence(self) -> Any:
        value = self.cleaned_data.get("evidence")
        if value:
            validate_evidence(value)
        return value


class DismissForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Why these are two persons"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class DuplicateDetailView(ScopedViewMixin, View):
    """Both sides of a case; keep one (habitual residence, or the person's written choice) or dismiss it."""

    required_action = Action.ENROLLMENT_CHANGE
    template_name = "enrollment/bulk/duplicate_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = duplicates.case_detail(scope=self.scope, pk=pk)
        return self._render(request, case, ResolveForm(case=case), DismissForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        case = duplicates.case_detail(scope=self.scope, pk=pk)
        decision = request.POST.get("decision")
        resolve, dismiss = ResolveForm(case=case), DismissForm()
        if decision == "keep":
            resolve = ResolveForm(request.POST, request.FILES, case=case)
            if resolve.is_valid():
                data = resolve.cleaned_data
                try:
                    services.duplicate_resolve(
                        scope=self.scope, case_id=case.pk, keep_enrollment_id=data["keep"], basis=data["basis"],
                        note=data["note"], effective_on=data["effective_on"], evidence=data["evidence"],
                    )  # fmt: skip
                except ValidationError as error:
                    add_service_errors(resolve, error)
                else:
                    messages.success(
                        request, _("Resolved: the other enrollment is terminated as duplicate clean-up.")
                    )
                    return redirect("enrollment:duplicate-detail", pk=case.pk)
        elif decision == "dismiss":
            dismiss = DismissForm(request.POST)
            if dismiss.is_valid():
                try:
                    services.duplicate_dismiss(
                        scope=self.scope, case_id=case.pk, note=dismiss.cleaned_data["note"]
                    )
                except ValidationError as error:
                    add_service_errors(dismiss, error)
                else:
                    messages.success(request, _("Closed: these are two different persons."))
                    return redirect("enrollment:duplicate-detail", pk=case.pk)
        else:
            error = _("Choose which enrollment to keep, or that these are two persons.")
            return self._render(request, case, resolve, dismiss, status=400, error=error)
        return self._render(request, case, resolve, dismiss, status=400, chosen=decision or "")

    def _render(
        self, request: HttpRequest, case: DuplicateCase, resolve: ResolveForm, dismiss: DismissForm, *,
        status: int = 200, chosen: str = "", error: str = "",
    ) -> HttpResponse:  # fmt: skip
        labels = _where_labels(self.scope, {case.enrollment_a.region_code, case.enrollment_b.region_code})
        sides = _sides(self.scope, case, labels)
        a, b = sides
        a.default_end = services.duplicate_default_end(kept=b.enrollment, drop=a.enrollment)
        b.default_end = services.duplicate_default_end(kept=a.enrollment, drop=b.enrollment)
        if case.termination_id:
            for side in sides:
                side.ended_here = side.enrollment.pk == case.termination.enrollment_id
        for side in sides:
            if side.full:
                from .review import log_full_view

                log_full_view(request, side.enrollment.person)
        context = {
            "case": case,
            "sides": sides,
            "resolve": resolve,
            "dismiss": dismiss,
            "chosen": chosen,
            "error": error,
            "is_open": case.status == DuplicateStatus.OPEN,
            "any_in_area": any(side.in_area for side in sides),
        }
        return render(request, self.template_name, context, status=status)
