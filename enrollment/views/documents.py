"""Printable documents: a household's registration form (参保登记表) and a village's publicity
list (公示名单) with its posting period.

Thin: the scope, the selectors, and the builders of ``enrollment.documents``. The registration
form is the clerk's copy signed by the resident, so identifiers show as the viewer's role
allows (full for clerks and county insurance staff in their area); the publicity list is posted
in public, so its identifiers are always masked, whoever prints it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from accounts import selectors as region_selectors
from accounts.access import ScopedViewMixin
from accounts.days import plausible_day
from accounts.masking import birth_date_for, id_number_for, phone_for, region_path, shows_full_identity
from accounts.models import Agency, AgencyKind, Region, RegionLevel
from accounts.roles import Action
from accounts.scope import Scope

from .. import documents, selectors
from ..models import Enrollment, Household
from .review import log_full_view

VILLAGE_CHOICE_LIMIT = 500
PREVIEW_ROWS = 20
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the registration form ----------------------------------------------------------------------


def _full_name(code: str) -> str:
    return "".join(region.name for region in region_path(code))


def _printed_by(request: HttpRequest) -> str:
    agency = getattr(request.user, "agency", None)
    return agency.name if agency is not None else ""


def _form_data(scope: Scope, household: Household, request: HttpRequest) -> documents.HouseholdFormData:
    members = household.members.order_by(selectors.relation_rank(), "birth_date", "id_number")
    return documents.HouseholdFormData(
        household_number=household.number,
        village=_full_name(household.region_code),
        village_code=household.region_code,
        kind=household.get_kind_display(),
        address=household.address,
        residence_permit_number=household.residence_permit_number,
        printed_on=timezone.localdate(),
        printed_by=_printed_by(request),
        members=[
            documents.FormMember(
                name=person.name,
                relation=person.get_relation_display(),
                sex=person.get_sex_display(),
                ethnicity=person.ethnicity,
                birth_date=birth_date_for(scope, person.birth_date, household.region_code),
                id_kind=person.get_id_kind_display(),
                id_number=id_number_for(scope, person.id_number, household.region_code),
                category=person.get_category_display(),
                phone=phone_for(scope, person.phone, household.region_code),
            )
            for person in members
        ],
    )


def _file_response(content: bytes, *, filename: str, content_type: str, attachment: bool) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(attachment, filename)
    response["Cache-Control"] = "private, no-store"
    return response


class HouseholdFormPdfView(ScopedViewMixin, View):
    """The household's registration form as a PDF, opened in the browser to print."""

    required_action = Action.ENROLLMENT_VIEW

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = selectors.household_detail(scope=self.scope, pk=pk)
        pdf = documents.household_form_pdf(_form_data(self.scope, household, request))
        if shows_full_identity(self.scope, household.region_code):
            for person in household.members.all():  # the printed form is a full record of each
                log_full_view(request, person)
        filename = _("Registration form") + f"-{household.number}.pdf"
        return _file_response(pdf, filename=filename, content_type=PDF, attachment=False)


# --- the publicity list ---------------------------------------------------------------------------


# A date picker takes and gives ISO dates, whatever the language's own date format.
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PostingForm(forms.Form):
    """The posting period and the objection phone; an empty field takes the seven days from today."""

    # Bounded, so that a week on from the start is always a date (9999-12-30 would overflow).
    start = forms.DateField(
        label=gettext_lazy("Posted from"), required=False, widget=DATE_WIDGET, validators=[plausible_day]
    )
    end = forms.DateField(
        label=gettext_lazy("Posted until"), required=False, widget=DATE_WIDGET, validators=[plausible_day]
    )
    phone = forms.CharField(label=gettext_lazy("Objection phone"), max_length=40, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        default = documents.PostingPeriod.default(timezone.localdate())
        start = data.get("start") or default.start
        end = data.get("end") or start + dt.timedelta(days=documents.MIN_POSTING_DAYS - 1)
        try:
            data["period"] = documents.PostingPeriod(start, end)
        except ValidationError as error:
            self.add_error("end", error)
        return data

    def query(self) -> str:
        period: documents.PostingPeriod = self.cleaned_data["period"]
        params = {"start": period.start.isoformat(), "end": period.end.isoformat()}
        if self.cleaned_data.get("phone"):
            params["phone"] = self.cleaned_data["phone"]
        return urlencode(params)


class PublicityListForm(PostingForm):
    village = forms.ChoiceField(label=gettext_lazy("Village or community"), required=False)
    school = forms.ChoiceField(label=gettext_lazy("or a school"), required=False)
    q = forms.CharField(label=gettext_lazy("Find a village"), max_length=40, required=False)

    field_order = ["q", "village", "school", "start", "end", "phone"]

    def __init__(self, *args: Any, villages: list[Region], schools: list[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["school"].choices = [
            ("", _("No school")),
            *((str(school.pk), school.name) for school in schools),
        ]
        if not schools:
            del self.fields["school"]
        choices: dict[str, list[tuple[str, str]]] = {}
        for village in villages:
            township = village.parent.name if village.parent else ""
            choices.setdefault(township, []).append((village.code, f"{village.name}（{village.code}）"))
        self.fields["village"].choices = [("", _("Choose a village")), *choices.items()]
        if len(villages) == 1 and not self.is_bound:
            self.initial["village"] = villages[0].code


def _villages(scope: Scope, query: str) -> tuple[list[Region], bool]:
    """The villages of the user's area the page offers, narrowed by part of a name or code."""
    villages = region_selectors.region_list(scope=scope, level=RegionLevel.VILLAGE)
    query = query.strip()
    if query:
        villages = villages.filter(Q(name__contains=query) | Q(code__startswith=query))
    chosen = list(villages[: VILLAGE_CHOICE_LIMIT + 1])
    return chosen[:VILLAGE_CHOICE_LIMIT], len(chosen) > VILLAGE_CHOICE_LIMIT


def _schools(scope: Scope) -> list[Agency]:
    """The schools of the user's area: a school's students are listed for the school to post."""
    schools = scope.filter(Agency.objects.filter(kind=AgencyKind.SCHOOL, is_active=True))
    if scope.school_id is not None:
        # A school's clerk posts their own school's list; the county's other schools are not theirs.
        schools = schools.filter(pk=scope.school_id)
    return list(schools.order_by("name")[:VILLAGE_CHOICE_LIMIT])


def _school(scope: Scope, pk: int) -> Agency:
    if scope.school_id is not None and scope.school_id != pk:
        raise Http404(_("No such record in your area."))
    return scope.get_object_or_404(Agency.objects.filter(kind=AgencyKind.SCHOOL), pk=pk)


def _village(scope: Scope, code: str) -> Region:
    region = region_selectors.region_detail(scope=scope, code=code)
    if region.level != RegionLevel.VILLAGE:
        raise Http404(_("Publicity lists are made per village or community."))
    return region


@dataclass(frozen=True)
class _Unit:
    """What a publicity list is posted for: a village, or a school (its students)."""

    name: str
    code: str
    enrollments: QuerySet[Enrollment]
    pdf_url: str
    xlsx_url: str
    is_school: bool = False


def _village_unit(scope: Scope, code: str) -> _Unit:
    village = _village(scope, code)
    return _Unit(
        name=_full_name(village.code),
        code=village.code,
        enrollments=_posted_enrollments(scope, village),
        pdf_url=reverse("enrollment:publicity-list-pdf", kwargs={"code": village.code}),
        xlsx_url=reverse("enrollment:publicity-list-xlsx", kwargs={"code": village.code}),
    )


def _school_unit(scope: Scope, pk: int) -> _Unit:
    school = _school(scope, pk)
    return _Unit(
        name=school.name,
        code=school.region.code,
        enrollments=selectors.school_enrollments(scope=scope, school_id=school.pk),
        pdf_url=reverse("enrollment:school-publicity-list-pdf", kwargs={"pk": school.pk}),
        xlsx_url=reverse("enrollment:school-publicity-list-xlsx", kwargs={"pk": school.pk}),
        is_school=True,
    )


def _posted_enrollments(scope: Scope, village: Region) -> QuerySet[Enrollment]:
    """The village's normal enrollments, household by household, the head first."""
    return selectors.village_enrollments(scope=scope, region_code=village.code)


def _rows(enrollments: QuerySet[Enrollment]) -> Iterator[documents.PublicityRow]:
    for enrollment in enrollments.iterator(chunk_size=2000):
        person = enrollment.person
        yield documents.PublicityRow(
            household_number=person.household.number if person.household_id else "",
            name=person.name,
            sex=person.get_sex_display(),
            id_number=person.id_number,
            relation=person.get_relation_display(),
            category=person.get_category_display(),
            enrolled_on=enrollment.enrolled_on,
        )


def _publicity_data(
    scope: Scope, unit: _Unit, form: PostingForm, request: HttpRequest
) -> documents.PublicityListData:
    enrollments = unit.enrollments
    return documents.PublicityListData(
        village=unit.name,
        village_code=unit.code,
        is_school=unit.is_school,
        period=form.cleaned_data["period"],
        objection_phone=form.cleaned_data.get("phone", ""),
        total=enrollments.count(),
        rows=_rows(enrollments),
        printed_on=timezone.localdate(),
        printed_by=_printed_by(request),
    )


class PublicityListView(ScopedViewMixin, TemplateView):
    """Choose a village and the posting period; see how many are listed; download PDF or xlsx."""

    required_action = Action.ENROLLMENT_VIEW
    template_name = "enrollment/documents/publicity_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        request = self.request
        villages, more = _villages(self.scope, request.GET.get("q", ""))
        # "find" only narrows the village list; anything else with a village field asks for the list.
        bound = "village" in request.GET and "find" not in request.GET
        bound = bound or ("school" in request.GET and "find" not in request.GET)
        schools = _schools(self.scope)
        form = PublicityListForm(request.GET if bound else None, villages=villages, schools=schools)
        if not bound:
            default = documents.PostingPeriod.default(timezone.localdate())
            form.initial.update(start=default.start, end=default.end)
            form.initial.update(
                {key: request.GET[key] for key in ("q", "start", "end", "phone") if request.GET.get(key)}
            )
        context.update(
            form=form,
            more_villages=more,
            # A village clerk has one village: nothing to find.
            show_search=more or len(villages) > 1 or bool(request.GET.get("q")),
            min_days=documents.MIN_POSTING_DAYS,
        )
        school = form.cleaned_data.get("school") if bound and form.is_valid() else None
        if bound and form.is_valid() and (form.cleaned_data["village"] or school):
            unit = (
                _school_unit(self.scope, int(school))
                if school
                else _village_unit(self.scope, form.cleaned_data["village"])
            )
            query = form.query()
            context.update(
                unit=unit,
                period=form.cleaned_data["period"],
                phone=form.cleaned_data.get("phone", ""),
                total=unit.enrollments.count(),
                preview=list(_rows(unit.enrollments[:PREVIEW_ROWS])),
                pdf_url=f"{unit.pdf_url}?{query}",
                xlsx_url=f"{unit.xlsx_url}?{query}",
            )
        elif bound and form.is_valid():
            form.add_error("village", _("Choose a village or a school."))
        return context


class _PublicityDownload(ScopedViewMixin, View, ABC):
    """The publicity list in one format; subclasses choose the format."""

    required_action = Action.ENROLLMENT_VIEW

    def get(self, request: HttpRequest, code: str = "", pk: int = 0) -> HttpResponse:
        unit = _school_unit(self.scope, pk) if pk else _village_unit(self.scope, code)
        form = PostingForm(request.GET)
        if not form.is_valid():
            # Back to the page, which shows the same form's errors beside its fields.
            chosen = {"school": str(pk)} if pk else {"village": unit.code}
            kept = {key: request.GET[key] for key in ("start", "end", "phone") if key in request.GET}
            return redirect(f"{reverse('enrollment:publicity-list')}?{urlencode({**chosen, **kept})}")
        data = _publicity_data(self.scope, unit, form, request)
        return self.respond(
            data, filename=_("Publicity list") + f"-{unit.name}-{data.period.start.isoformat()}"
        )

    @abstractmethod
    def respond(self, data: documents.PublicityListData, *, filename: str) -> HttpResponse: ...


class PublicityListPdfView(_PublicityDownload):
    def respond(self, data: documents.PublicityListData, *, filename: str) -> HttpResponse:
        return _file_response(
            documents.publicity_list_pdf(data), filename=f"{filename}.pdf", content_type=PDF, attachment=False
        )


class PublicityListXlsxView(_PublicityDownload):
    def respond(self, data: documents.PublicityListData, *, filename: str) -> HttpResponse:
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
        documents.publicity_list_xlsx(data, handle)
        handle.seek(0)
        response = FileResponse(handle, as_attachment=True, filename=f"{filename}.xlsx", content_type=XLSX)
        response["Cache-Control"] = "private, no-store"
        return response
