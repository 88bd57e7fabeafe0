"""Insurance staff's pages: the application queue and decisions, a person's record and timeline,
status changes with evidence, and transfers in from another county (转移接续).

Thin: each view takes the scope, checks a form, calls one service or selector, renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View
from django.views.generic import TemplateView

from accounts import selectors as region_selectors
from accounts.access import ScopedViewMixin, record_key
from accounts.audit import full_view_log
from accounts.form_errors import add_service_errors
from accounts.masking import (
    id_number_for,
    mask_name,
    mask_region_for,
    phone_for,
    shows_full_identity,
)
from accounts.models import RegionLevel
from accounts.roles import Action
from accounts.scope import Scope
from accounts.searches import SessionSearches
from accounts.selectors import counts_by

from .. import selectors, services
from ..evidence import EVIDENCE_MAX_BYTES, evidence_response, validate_evidence
from ..models import (
    SUSPENSION_REASONS,
    TERMINATION_REASONS,
    ApplicationStatus,
    ChangeReason,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    IdKind,
    Person,
    RegistrationApplication,
    Relation,
)
from . import assessment_pages

# --- shared with the API ------------------------------------------------------------------------


def log_full_view(request: HttpRequest, person: Person) -> None:
    """One access-log line per full-record view of a person (who, when, whom, from where)."""
    full_view_log(request, record="person", record_id=person.pk, person_id=person.pk)


class PlaceNames:
    """``mask_region_for`` with one lookup per distinct region code (a timeline repeats them)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.known: dict[str, str] = {}

    def __call__(self, code: str) -> str:
        if code not in self.known:
            self.known[code] = mask_region_for(self.scope, code)
        return self.known[code]


def region_names(scope: Scope, codes: set[str]) -> dict[str, str]:
    """Village names for a set of 12-digit codes, in one query."""
    return dict(region_selectors.region_list(scope=scope).filter(code__in=codes).values_list("code", "name"))


# --- the queue ------------------------------------------------------------------------------------

QUEUE_TABS = [
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.RETURNED,
    ApplicationStatus.APPROVED,
    ApplicationStatus.REJECTED,
]


class ApplicationQueueView(ScopedViewMixin, TemplateView):
    """Registrations waiting for a decision, oldest first, with counts per status."""

    required_action = Action.ENROLLMENT_REVIEW
    template_name = "enrollment/review/queue.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        status = self.request.GET.get("status") or ApplicationStatus.SUBMITTED
        if status not in ApplicationStatus.values:
            status = ApplicationStatus.SUBMITTED
        queue = selectors.application_queue(scope=self.scope, status=status).annotate(
            member_count=Count("persons")
        )
        if status != ApplicationStatus.SUBMITTED:
            queue = queue.order_by("-decided_at", "-submitted_at", "-pk")
        page = Paginator(queue, 50).get_page(self.request.GET.get("page"))
        names = region_names(self.scope, {application.region_code for application in page})
        counts = counts_by(self.scope.filter(RegistrationApplication.objects.all()))
        now = timezone.now()
        rows = [
            {
                "application": application,
                "village": names.get(application.region_code, application.region_code),
                "members": sorted(
                    application.persons.all(), key=lambda p: (p.relation != Relation.HEAD, p.pk)
                ),
                "waiting_days": (now - application.submitted_at).days,
            }
            for application in page
        ]
        context.update(
            page=page,
            rows=rows,
            status=status,
            status_label=ApplicationStatus(status).label,
            tabs=[
                {"value": s, "label": ApplicationStatus(s).label, "count": counts.get(s, 0)}
                for s in QUEUE_TABS
            ],
        )
        return context


# --- one application: decide it -------------------------------------------------------------------


class ApproveForm(forms.Form):
    enrollment_date = forms.DateField(label=gettext_lazy("Enrollment date"))


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )


DECISIONS = ("approve", "return", "reject")


@dataclass
class MemberRow:
    person: Person
    id_number: str
    phone: str
    enrolled_elsewhere: str  # the service's message naming where (masked), or ""
    # The person's way to the transfer-in lookup (a POST of their key: never their identifier in an address).
    transfer: bool


class ApplicationDetailView(ScopedViewMixin, View):
    """GET: the application, its members and the household's earlier applications.
    POST ``decision`` = approve (``enrollment_date``) / return / reject (``reason``)."""

    required_action = Action.ENROLLMENT_REVIEW
    template_name = "enrollment/review/application_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_detail(scope=self.scope, pk=pk)
        return self._render(application)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = selectors.application_detail(scope=self.scope, pk=pk)
        decision = request.POST.get("decision", "")
        approve_form = ApproveForm(request.POST if decision == "approve" else None)
        reason_form = ReasonForm(request.POST if decision in ("return", "reject") else None)
        if decision not in DECISIONS:
            return self._render(application, error=_("Choose approve, return or reject."), status=400)
        form = approve_form if decision == "approve" else reason_form
        if not form.is_valid():
            return self._render(
                application, approve_form=approve_form, reason_form=reason_form, decision=decision, status=400
            )
        try:
            if decision == "approve":
                services.application_approve(
                    scope=self.scope,
                    application_id=application.pk,
                    enrollment_date=form.cleaned_data["enrollment_date"],
                )
            elif decision == "return":
                services.application_return(
                    scope=self.scope, application_id=application.pk, reason=form.cleaned_data["reason"]
                )
            else:
                services.application_reject(
                    scope=self.scope, application_id=application.pk, reason=form.cleaned_data["reason"]
                )
        except ValidationError as error:
            fresh = selectors.application_detail(scope=self.scope, pk=pk)
            # Someone else decided meanwhile: a conflict, not a mistake in the form.
            status = 409 if fresh.status != ApplicationStatus.SUBMITTED else 400
            return self._render(
                fresh,
                approve_form=approve_form,
                reason_form=reason_form,
                decision=decision,
                error=" ".join(error.messages),
                status=status,
            )
        message = {
            "approve": ngettext(
                "Household %(number)s approved: %(count)s person enrolled from %(date)s.",
                "Household %(number)s approved: %(count)s persons enrolled from %(date)s.",
                application.persons.count(),
            ),
            "return": _("Household %(number)s returned to the clerk for correction."),
            "reject": _("Household %(number)s rejected; the clerk sees the reason."),
        }[decision]
        messages.success(
            request,
            message
            % {
                "number": application.household.number,
                "count": application.persons.count(),
                "date": form.cleaned_data.get("enrollment_date", ""),
            },
        )
        return redirect("enrollment:application-queue")

    def _render(
        self,
        application: RegistrationApplication,
        *,
        approve_form: ApproveForm | None = None,
        reason_form: ReasonForm | None = None,
        decision: str = "",
        error: str = "",
        status: int = 200,
    ) -> HttpResponse:
        scope = self.scope
        rows = []
        for person in sorted(
            application.persons.all(), key=lambda p: (p.relation != Relation.HEAD, p.birth_date)
        ):
            other = selectors.normal_enrollment_of(id_number=person.id_number)
            elsewhere = ""
            if other is not None and other.application_id != application.pk:
                elsewhere = _("Already enrolled in %(where)s since %(date)s.") % {
                    "where": mask_region_for(scope, other.region_code),
                    "date": other.enrolled_on.isoformat(),
                }
            rows.append(
                MemberRow(
                    person=person,
                    id_number=id_number_for(scope, person.id_number, person.region_code),
                    phone=phone_for(scope, person.phone, person.region_code),
                    enrolled_elsewhere=elsewhere,
                    transfer=bool(elsewhere)
                    and other is not None
                    and other.county_code != application.region_code[:6],
                )
            )
            if shows_full_identity(scope, person.region_code):
                log_full_view(self.request, person)
        earlier = selectors.household_applications(household=application.household).exclude(pk=application.pk)
        village = region_names(scope, {application.region_code})
        context = {
            "application": application,
            "household": application.household,
            "village_path": mask_region_for(scope, application.region_code),
            "village_name": village.get(application.region_code, application.region_code),
            "rows": rows,
            "earlier": earlier.order_by("-submitted_at"),
            "decidable": application.status == ApplicationStatus.SUBMITTED,
            "own_submission": application.submitted_by_id == scope.user_id,
            "approve_form": approve_form or ApproveForm(initial={"enrollment_date": timezone.localdate()}),
            "reason_form": reason_form or ReasonForm(),
            "decision": decision,
            "error": error,
            "today": timezone.localdate(),
        }
        return render(self.request, self.template_name, context, status=status)


# --- one person: record, enrollments, timeline ------------------------------------------------------


class PersonDetailView(ScopedViewMixin, TemplateView):
    """The person's data, current and past enrollments, the timeline of changes and the change forms."""

    required_action = Action.ENROLLMENT_VIEW
    template_name = "enrollment/review/person_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scope = self.scope
        person = selectors.person_detail(scope=scope, pk=kwargs["pk"])
        full = shows_full_identity(scope, person.region_code)
        if full:
            log_full_view(self.request, person)
        can_change = scope.allows(Action.ENROLLMENT_CHANGE)
        can_see_evidence = scope.allows(Action.PERSON_FULL_VIEW)
        # The way back to the person's household, when the viewer may open it.
        context["household"] = (
            scope.filter(Household.objects.filter(pk=person.household_id)).first()
            if person.household_id
            else None
        )
        place = PlaceNames(scope)
        enrollments = []
        for enrollment in selectors.person_enrollments(person=person):
            covered = scope.covers_region_code(enrollment.region_code)
            enrollments.append(
                {
                    "enrollment": enrollment,
                    "where": place(enrollment.region_code),
                    "kinds": _change_kinds(enrollment) if can_change and covered else [],
                }
            )
        timeline = []
        for change in selectors.person_timeline(person=person):
            timeline.append(
                {
                    "change": change,
                    "where": place(change.enrollment.region_code),
                    "evidence_url": reverse("enrollment:change-evidence", args=[change.pk])
                    if change.evidence
                    and can_see_evidence
                    and scope.covers_region_code(change.enrollment.region_code)
                    else "",
                    "by": (change.created_by.full_name or change.created_by.username)
                    if change.created_by
                    else "",
                }
            )
        applications = person.applications.select_related("submitted_by", "decided_by").order_by(
            "-submitted_at"
        )
        hukou_code, residence_code = selectors.person_hukou_and_residence(person=person)
        context.update(
            person=person,
            can_correct_identifier=scope.allows(Action.PERSON_IDENTIFIER_CORRECT)
            and scope.covers_region_code(person.region_code),
            identifier_corrections=[
                {
                    "correction": correction,
                    "old": id_number_for(scope, correction.old_number, person.region_code),
                    "new": id_number_for(scope, correction.new_number, person.region_code),
                    "by": correction.corrected_by.full_name or correction.corrected_by.username,
                }
                for correction in selectors.person_identifier_corrections(person=person)
            ],
            hukou_region=_place_or_code(scope, hukou_code),
            residence_region=_place_or_code(scope, residence_code),
            id_number=id_number_for(scope, person.id_number, person.region_code),
            phone=phone_for(scope, person.phone, person.region_code),
            full=full,
            registered_at=place(person.region_code),
            enrollments=enrollments,
            current=next(
                (
                    e["enrollment"]
                    for e in enrollments
                    if e["enrollment"].status != EnrollmentStatus.TERMINATED
                ),
                None,
            ),
            timeline=timeline,
            applications=applications,
            can_change=can_change,
            assessments=assessment_pages.person_assessment_rows(scope=scope, person=person),
        )
        return context


def _place_or_code(scope: Scope, code: str) -> str:
    """The region's name as the viewer may see it; a code of a region not on this installation (a hukou
    in another province) as given."""
    return mask_region_for(scope, code, unknown=code) if code else ""


def _change_kinds(enrollment: Enrollment) -> list[dict[str, str]]:
    """The status changes the enrollment allows now (the state machine, for the buttons)."""
    if enrollment.status == EnrollmentStatus.NORMAL:
        kinds = [("suspend", _("Suspend")), ("terminate", _("Terminate"))]
    elif enrollment.status == EnrollmentStatus.SUSPENDED:
        kinds = [("resume", _("Resume")), ("terminate", _("Terminate"))]
    else:
        kinds = []
    url = reverse("enrollment:enrollment-change", args=[enrollment.pk])
    return [{"kind": kind, "label": label, "url": f"{url}?kind={kind}"} for kind, label in kinds]


# --- correcting an identifier -------------------------------------------------------------------


class IdentifierCorrectionForm(forms.Form):
    id_kind = forms.ChoiceField(label=gettext_lazy("Identifier kind"), choices=IdKind.choices)
    new_identifier = forms.CharField(label=gettext_lazy("New identifier"), max_length=40)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 3})
    )
    # The person's revision as the form was opened: a change made since refuses the correction.
    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class PersonIdentifierCorrectView(ScopedViewMixin, View):
    """Correct a person's mistyped identifier (after assessment too), together with tax.

    GET: the form. POST ``step=check``: the service's checks, then a confirmation page showing the
    old and the new identifier (masked as the person's page masks them). POST ``step=confirm``:
    the correction (``services.person_identifier_correct``), then back to the person's page."""

    required_action = Action.PERSON_IDENTIFIER_CORRECT
    template_name = "enrollment/review/identifier_correct.html"

    def _person(self, pk: int) -> Person:
        person = selectors.person_detail(scope=self.scope, pk=pk)
        if not self.scope.covers_region_code(person.region_code):
            raise Http404(_("No such record in your area."))
        return person

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self._person(pk)
        form = IdentifierCorrectionForm(initial={"id_kind": person.id_kind, "revision": person.revision})
        return self._render(person, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = self._person(pk)
        form = IdentifierCorrectionForm(request.POST)
        if not form.is_valid():
            return self._render(person, form, status=400)
        data = form.cleaned_data
        arguments = {
            "scope": self.scope,
            "person_id": person.pk,
            "id_kind": data["id_kind"],
            "new_identifier": data["new_identifier"],
            "reason": data["reason"],
        }
        try:
            if request.POST.get("step") != "confirm":
                preview = services.person_identifier_correction_preview(**arguments)
                return self._render(person, form, preview=preview)
            services.person_identifier_correct(revision=data["revision"], **arguments)
        except services.EditConflictError as error:
            form.add_error(None, error.message)
            return self._render(person, form, status=409)
        except ValidationError as error:
            add_service_errors(form, error)
            return self._render(person, form, status=400)
        messages.success(
            request,
            _(
                "%(name)s's identifier corrected; tax is told and moves the payer, amounts due and payments to it."
            )
            % {"name": person.name},
        )
        return redirect("enrollment:person-detail", pk=person.pk)

    def _render(
        self,
        person: Person,
        form: IdentifierCorrectionForm,
        *,
        preview: services.IdentifierCorrectionPreview | None = None,
        status: int = 200,
    ) -> HttpResponse:
        shown = {}
        if preview is not None:
            shown = {
                "old": id_number_for(self.scope, preview.old_number, person.region_code),
                "new": id_number_for(self.scope, preview.new_number, person.region_code),
                "old_kind": IdKind(preview.old_kind).label,
                "new_kind": IdKind(preview.new_kind).label,
            }
        context = {
            "person": person,
            "id_number": id_number_for(self.scope, person.id_number, person.region_code),
            "form": form,
            "preview": preview,
            "shown": shown,
        }
        return render(self.request, self.template_name, context, status=status)


# --- status changes -------------------------------------------------------------------------------

CHANGE_KINDS = ("suspend", "resume", "terminate")


def _reason_choices(kind: str) -> list[tuple[str, str]]:
    allowed = {"suspend": SUSPENSION_REASONS, "terminate": TERMINATION_REASONS}.get(kind, frozenset())
    # Transfers out are made from the receiving county's transfer page, never by hand here.
    return [
        (value, label)
        for value, label in ChangeReason.choices
        if value in allowed and value != ChangeReason.TRANSFER_OUT
    ]


class EvidenceField(forms.FileField):
    def validate(self, value: Any) -> None:
        super().validate(value)
        if value:
            validate_evidence(value)


class ChangeForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, k) for k in CHANGE_KINDS], widget=forms.HiddenInput)
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), required=False, choices=())
    effective_on = forms.DateField(label=gettext_lazy("Effective date"))
    note = forms.CharField(
        label=gettext_lazy("Note"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    evidence = EvidenceField(
        label=gettext_lazy("Evidence"),
        required=False,
        widget=forms.ClearableFileInput(
            attrs={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"}
        ),
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [("", "—"), *_reason_choices(kind)]
        self.fields["reason"].required = kind != "resume"


class EnrollmentChangeView(ScopedViewMixin, View):
    """GET ``?kind=suspend|resume|terminate``: the form. POST: the change, with reason, date and evidence."""

    required_action = Action.ENROLLMENT_CHANGE
    template_name = "enrollment/review/enrollment_change.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        enrollment = selectors.enrollment_detail(scope=self.scope, pk=pk)
        kind = request.GET.get("kind") or (
            "resume" if enrollment.status == EnrollmentStatus.SUSPENDED else "suspend"
        )
        if kind not in CHANGE_KINDS:
            kind = "suspend"
        form = ChangeForm(kind=kind, initial={"kind": kind, "effective_on": timezone.localdate()})
        return self._render(enrollment, form, kind)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        enrollment = selectors.enrollment_detail(scope=self.scope, pk=pk)
        kind = request.POST.get("kind", "")
        if kind not in CHANGE_KINDS:
            form = ChangeForm(request.POST, request.FILES, kind="suspend")
            form.is_valid()
            return self._render(enrollment, form, "suspend", status=400)
        form = ChangeForm(request.POST, request.FILES, kind=kind)
        if not form.is_valid():
            return self._render(enrollment, form, kind, status=400)
        data = form.cleaned_data
        arguments = {
            "scope": self.scope,
            "enrollment_id": enrollment.pk,
            "effective_on": data["effective_on"],
            "note": data["note"],
            "evidence": data["evidence"] or None,
        }
        try:
            if kind == "suspend":
                services.enrollment_suspend(reason=data["reason"], **arguments)
            elif kind == "resume":
                services.enrollment_resume(**arguments)
            else:
                services.enrollment_terminate(reason=data["reason"], **arguments)
        except ValidationError as error:
            add_service_errors(form, error)
            return self._render(selectors.enrollment_detail(scope=self.scope, pk=pk), form, kind, status=400)
        done = {
            "suspend": _("Enrollment suspended from %(date)s; tax is told."),
            "resume": _("Enrollment resumed from %(date)s; tax is told."),
            "terminate": _("Enrollment terminated on %(date)s; tax is told."),
        }[kind]
        messages.success(request, done % {"date": data["effective_on"].isoformat()})
        return redirect("enrollment:person-detail", pk=enrollment.person_id)

    def _render(
        self, enrollment: Enrollment, form: ChangeForm, kind: str, *, status: int = 200
    ) -> HttpResponse:
        person = enrollment.person
        allowed = [k["kind"] for k in _change_kinds(enrollment)]
        url = reverse("enrollment:enrollment-change", args=[enrollment.pk])
        context = {
            "enrollment": enrollment,
            "person": person,
            "id_number": id_number_for(self.scope, person.id_number, person.region_code),
            "where": mask_region_for(self.scope, enrollment.region_code),
            "form": form,
            "kind": kind,
            "allowed": kind in allowed,
            "tabs": [
                {
                    "kind": k,
                    "label": label,
                    "url": f"{url}?kind={k}",
                    "current": k == kind,
                    "enabled": k in allowed,
                }
                for k, label in (
                    ("suspend", _("Suspend")),
                    ("resume", _("Resume")),
                    ("terminate", _("Terminate")),
                )
            ],
            "max_mb": EVIDENCE_MAX_BYTES // (1024 * 1024),
        }
        return render(self.request, self.template_name, context, status=status)


class EvidenceView(ScopedViewMixin, View):
    """The evidence of one change, downloaded through the scope (never a public media URL)."""

    required_action = Action.PERSON_FULL_VIEW

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        change = self.scope.get_object_or_404(
            EnrollmentChange.objects.select_related("enrollment__person"), pk=pk
        )
        if not change.evidence:
            raise Http404(_("This change has no evidence."))
        return evidence_response(
            change.evidence,
            filename_stem=f"evidence-{change.pk}",
            audit={
                "event": "enrollment.evidence_download",
                "user_id": request.user.pk,
                "person_id": change.enrollment.person_id,
                "change_id": change.pk,
                "path": request.path,
            },
        )


# --- transfer in (转移接续) --------------------------------------------------------------------------


class TransferForm(forms.Form):
    id_number = forms.CharField(label=gettext_lazy("Identifier"), max_length=32)
    to_region_code = forms.ChoiceField(label=gettext_lazy("Village or community"), choices=())
    household_number = forms.CharField(label=gettext_lazy("Household number"), max_length=17, required=False)
    relation = forms.ChoiceField(label=gettext_lazy("Relation to head"), required=False, choices=())
    effective_on = forms.DateField(label=gettext_lazy("Transfer date"))
    note = forms.CharField(
        label=gettext_lazy("Note"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    evidence = EvidenceField(
        label=gettext_lazy("Evidence"),
        required=False,
        widget=forms.ClearableFileInput(
            attrs={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"}
        ),
    )

    def __init__(self, *args: Any, villages: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_region_code"].choices = [("", "—"), *villages]
        self.fields["relation"].choices = [("", "—"), *Relation.choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("household_number") and not data.get("relation"):
            self.add_error("relation", _("Choose the relation to the head of the household joined."))
        return data


# The transfer-in lookup by identifier, kept in the session by a random key (accounts.searches).
TRANSFER_LOOKUPS = SessionSearches("enrollment.transfer_in")


class TransferInView(ScopedViewMixin, View):
    """The receiving county takes a person over: the old enrollment ends the day before, the new one starts.

    Step 1 looks the identifier up wherever the person is enrolled (outside the caller's area too,
    shown masked). The lookup is POSTed — ``lookup`` (what was typed) or ``person`` (a person of the
    caller's area, from their page or an application: their key, found through the scope, so the
    page never holds their identifier in an address) — and answered by a redirect to
    ``?search=<random key>``, the identifier kept in the session. POST of the form transfers."""

    required_action = Action.ENROLLMENT_CHANGE
    template_name = "enrollment/review/transfer_in.html"

    def _villages(self) -> list[tuple[str, str]]:
        villages = region_selectors.region_list(scope=self.scope, level=RegionLevel.VILLAGE).select_related(
            "parent"
        )
        return [
            (v.code, f"{v.parent.name if v.parent else ''} {v.name} ({v.code})".strip()) for v in villages
        ]

    def _blank(self, id_number: str = "") -> TransferForm:
        initial = {"effective_on": timezone.localdate(), "id_number": id_number}
        return TransferForm(initial=initial, villages=self._villages())

    def get(self, request: HttpRequest) -> HttpResponse:
        search = TRANSFER_LOOKUPS.recall(request)
        return self._render(self._blank(search.query), lookup=search.query, notice=search.notice)

    def post(self, request: HttpRequest) -> HttpResponse:
        if "lookup" in request.POST or "person" in request.POST:
            return self._look_up(request)
        form = TransferForm(request.POST, request.FILES, villages=self._villages())
        if not form.is_valid():
            return self._render(form, lookup=request.POST.get("id_number", ""), status=400)
        data = form.cleaned_data
        household_id = None
        if data["household_number"]:
            household = (
                self.scope.filter(Household.objects.all())
                .filter(number=data["household_number"].strip(), region_code=data["to_region_code"])
                .first()
            )
            if household is None:
                form.add_error("household_number", _("No household with this number in the chosen village."))
                return self._render(form, lookup=data["id_number"], status=400)
            household_id = household.pk
        try:
            enrollment = services.enrollment_transfer(
                scope=self.scope,
                id_number=data["id_number"],
                to_region_code=data["to_region_code"],
                household_id=household_id,
                relation=data["relation"] or "",
                effective_on=data["effective_on"],
                note=data["note"],
                evidence=data["evidence"] or None,
            )
        except ValidationError as error:
            add_service_errors(form, error)
            return self._render(form, lookup=data["id_number"], status=400)
        messages.success(
            request,
            _("%(name)s transferred in from %(date)s; the previous enrollment ended the day before.")
            % {"name": enrollment.person.name, "date": enrollment.enrolled_on.isoformat()},
        )
        return redirect("enrollment:person-detail", pk=enrollment.person_id)

    def _look_up(self, request: HttpRequest) -> HttpResponse:
        raw = request.POST.get("person", "")
        if raw:
            key = record_key(raw)
            if key is None:
                raise Http404(_("No such record in your area."))
            typed = selectors.person_detail(scope=self.scope, pk=key).id_number
        else:
            typed = request.POST.get("lookup", "").strip().upper()[:32]
        if not typed:
            notice = _("Type the identifier to look up.")
            return self._render(self._blank(), lookup="", notice=notice, status=400)
        return TRANSFER_LOOKUPS.redirect(request, reverse("enrollment:transfer-in"), typed)

    def _render(
        self, form: TransferForm, *, lookup: str, notice: str = "", status: int = 200
    ) -> HttpResponse:
        found = None
        lookup = lookup.strip().upper()
        if lookup:
            current = (
                Enrollment.objects.select_related("person")
                .filter(person__id_number=lookup)
                .exclude(status=EnrollmentStatus.TERMINATED)
                .first()
            )
            if current is not None:
                found = {
                    "name": current.person.name
                    if self.scope.covers_region_code(current.region_code)
                    else mask_name(current.person.name),
                    "where": mask_region_for(self.scope, current.region_code),
                    "status": current.get_status_display(),
                    "since": current.enrolled_on,
                    "inside": self.scope.covers_region_code(current.region_code),
                }
        context = {
            "form": form,
            "lookup": lookup,
            "found": found,
            "looked_up": bool(lookup),
            "notice": notice,
            "max_mb": EVIDENCE_MAX_BYTES // (1024 * 1024),
        }
        return render(self.request, self.template_name, context, status=status)
