"""The village and school clerks' registration pages.

A clerk finds a household again (any member's ID number or name, or the household number),
registers a new one with all its members in one keyboard-only form, adds members and newborns,
corrects a person, moves a person to another household, registers a school roster, and sees
what became of each application (county insurance staff decide elsewhere).

Thin: scope, form, service, template. Every write is a service call; a service's
``ValidationError`` is put back next to the field it is about and the page is shown again
(status 400) with everything that was typed.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext as _
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.audit import full_view_log
from accounts.digits import ascii_digits
from accounts.masking import id_number_for, mask_region_for, phone_for, shows_full_identity
from accounts.models import Region
from accounts.roles import Action, Role
from accounts.scope import Scope, scope_of
from accounts.searches import SessionSearches
from accounts.selectors import region_names

from .. import identifiers, selectors, services
from ..forms import (
    ETHNICITIES,
    HouseholdForm,
    MemberFormSet,
    apply_service_errors,
    default_category,
    member_formset_class,
    villages_in,
)
from ..models import (
    OPEN_APPLICATION_STATUSES,
    ApplicationStatus,
    Household,
    IdKind,
    Person,
    PersonCategory,
    RegistrationApplication,
    Relation,
)

HOUSEHOLD_NUMBER = re.compile(r"^[0-9]{17}$")
RECENT_APPLICATIONS = 20
RELATION_ORDER = {value: i for i, value in enumerate(Relation.values)}
SingleMemberFormSet = member_formset_class(max_num=1)


# --- what the pages show ------------------------------------------------------------------------


def _translate_with_chinese_fallback(msgid: str) -> str:
    """The catalogue's text; in Chinese, the identifiers module's own Chinese text when the
    catalogue has none yet, so the check as typed never speaks English to a Chinese page."""
    text = gettext(msgid)
    if text == msgid and (get_language() or "").startswith("zh"):
        return identifiers.ZH_MESSAGES.get(msgid, msgid)
    return text


def id_check_messages() -> dict[str, str]:
    """The browser's resident-ID check messages by code, with {character} {position} {length}
    {province} {digits} {date} left for static/js/registration.js to fill in."""
    label = identifiers.LABEL_RESIDENT_ID
    templates = {
        "empty": (identifiers.MSG_EMPTY, {}),
        "characters": (
            identifiers.MSG_CHARACTERS_GB11643,
            {"character": "{character}", "position": "{position}"},
        ),
        "length": (identifiers.MSG_LENGTH, {"expected": 18, "length": "{length}"}),
        "province_code": (identifiers.MSG_PROVINCE_CODE, {"province": "{province}"}),
        "birth_date_invalid": (identifiers.MSG_BIRTH_DATE_INVALID, {"digits": "{digits}"}),
        "birth_date_too_early": (identifiers.MSG_BIRTH_DATE_TOO_EARLY, {"date": "{date}"}),
        "birth_date_future": (identifiers.MSG_BIRTH_DATE_FUTURE, {"date": "{date}"}),
        "check_digit": (identifiers.MSG_CHECK_DIGIT, {}),
    }
    return {
        code: identifiers.IdentifierError(code, template, {"label": label, **params}).render(
            _translate_with_chinese_fallback
        )
        for code, (template, params) in templates.items()
    }


def _pdf_url(household: Household) -> str | None:
    try:
        return reverse("enrollment:household-form-pdf", kwargs={"pk": household.pk})
    except NoReverseMatch:
        return None


def _open_statuses_of(person_ids: list[int]) -> dict[int, RegistrationApplication]:
    """Each person's open (or else latest) registration application, for the status column."""
    latest: dict[int, RegistrationApplication] = {}
    through = RegistrationApplication.persons.through
    rows = (
        through.objects.filter(person_id__in=person_ids)
        .select_related("registrationapplication")
        .order_by("registrationapplication__submitted_at")
    )
    for row in rows:
        application = row.registrationapplication
        current = latest.get(row.person_id)
        if current is None or current.status not in OPEN_APPLICATION_STATUSES:
            latest[row.person_id] = application
    return latest


def _member_status(person: Person, application: RegistrationApplication | None) -> dict[str, str]:
    current = getattr(person, "current_enrollments", None)
    if current:
        enrollment = current[0]
        return {
            "code": enrollment.status,
            "label": enrollment.get_status_display(),
            "detail": _("since %(date)s") % {"date": enrollment.enrolled_on.isoformat()},
        }
    if application is not None and application.status != ApplicationStatus.APPROVED:
        return {"code": application.status, "label": application.get_status_display(), "detail": ""}
    return {"code": "none", "label": _("Not enrolled"), "detail": ""}


def _member_rows(scope: Scope, members: list[Person]) -> list[dict[str, Any]]:
    members = sorted(members, key=lambda p: (RELATION_ORDER.get(p.relation, 99), p.birth_date, p.pk))
    applications = _open_statuses_of([p.pk for p in members])
    return [
        {
            "person": p,
            "id_number": id_number_for(scope, p.id_number, p.region_code),
            "phone": phone_for(scope, p.phone, p.region_code),
            "status": _member_status(p, applications.get(p.pk)),
            # A member registered through a school elsewhere (a student) is that school's to open.
            "opens": scope.covers_region_code(p.region_code),
        }
        for p in members
    ]


def _application_rows(applications: Any) -> list[dict[str, Any]]:
    rows = []
    for application in applications:
        persons = list(application.persons.all())
        # A school roster's persons are not members of the collective household that carries it.
        is_roster = bool(persons) and all(p.household_id != application.household_id for p in persons)
        edit_url = (
            f"{reverse('enrollment:school-roster')}?application={application.pk}"
            if is_roster
            else reverse("enrollment:household-edit", kwargs={"pk": application.household_id})
        )
        rows.append(
            {"application": application, "persons": persons, "is_roster": is_roster, "edit_url": edit_url}
        )
    return rows


def _household_number_match(scope: Scope, query: str) -> list[Household]:
    if not HOUSEHOLD_NUMBER.match(query.strip()):
        return []
    return list(scope.filter(Household.objects.filter(number=query.strip())))


def _search(scope: Scope, query: str) -> list[dict[str, Any]]:
    households = _household_number_match(scope, query) or selectors.household_search(scope=scope, query=query)
    if households and not hasattr(households[0], "_prefetched_objects_cache"):
        households = [selectors.household_detail(scope=scope, pk=h.pk) for h in households]
    names = region_names({h.region_code for h in households})
    return [
        {
            "household": h,
            "village": names.get(h.region_code, h.region_code),
            "members": _member_rows(scope, list(h.members.all())),
        }
        for h in households
    ]


# --- workspace ----------------------------------------------------------------------------------


# What a clerk types to find a household (an ID number, a name, a household number) is POSTed and
# kept in the session under a random key: the address carries the key (accounts.searches).
WORKSPACE_SEARCHES = SessionSearches("enrollment.workspace")
MOVE_SEARCHES = SessionSearches("enrollment.person_move")
QUERY_MAX = 40


def _typed(request: HttpRequest) -> str:
    return request.POST.get("q", "").strip()[:QUERY_MAX]


class WorkspaceView(ScopedViewMixin, View):
    """Search box, the clerk's recent applications with their status, and the way to a new household.

    The search is POSTed and answered by a redirect to ``?search=<key>`` (the query kept in the
    session), so an ID number typed here never reaches an address."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/workspace.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        search = WORKSPACE_SEARCHES.recall(request)
        return self._render(request, search.query, notice=search.notice)

    def post(self, request: HttpRequest) -> HttpResponse:
        query = _typed(request)
        if not query:
            return self._render(
                request,
                "",
                notice=_("Type an ID number, a name or a household number to search."),
                status=400,
            )
        return WORKSPACE_SEARCHES.redirect(request, reverse("enrollment:workspace"), query)

    def _render(
        self, request: HttpRequest, query: str, *, notice: str = "", status: int = 200
    ) -> HttpResponse:
        school = services.school_of(self.scope)
        results: list[dict[str, Any]] = []
        students: list[dict[str, Any]] = []
        if query and school is None:
            results = _search(self.scope, query)
        elif query:
            persons = selectors.with_current_enrollments(
                [
                    p
                    for p in selectors.person_search(scope=self.scope, query=query)
                    if p.school_id == school.pk
                ]
            )
            # Whether each student is enrolled yet: the question a school's clerk searches to answer.
            applications = _open_statuses_of([p.pk for p in persons])
            students = [
                {
                    "person": p,
                    "id_number": id_number_for(self.scope, p.id_number, p.region_code),
                    "status": _member_status(p, applications.get(p.pk)),
                }
                for p in persons
            ]
        applications = (
            selectors.application_queue(scope=self.scope, status=None)
            .filter(submitted_by_id=self.scope.user_id)
            .order_by("-submitted_at")[:RECENT_APPLICATIONS]
        )
        rows = _application_rows(applications)
        names = region_names({row["application"].region_code for row in rows})
        for row in rows:
            row["village"] = names.get(row["application"].region_code, "")
        context = {
            "query": query,
            "searched": bool(query),
            "notice": notice,
            "results": results,
            "students": students,
            "school": school,
            "applications": rows,
            "returned_count": sum(1 for r in rows if r["application"].status == ApplicationStatus.RETURNED),
        }
        return render(request, self.template_name, context, status=status)


# --- a new household ----------------------------------------------------------------------------


def _member_page_context(scope: Scope) -> dict[str, Any]:
    return {
        "id_messages": id_check_messages(),
        "ethnicities": ETHNICITIES,
        "foreign_kinds": [IdKind.FOREIGN_PASSPORT.value, IdKind.FOREIGN_PERMANENT_RESIDENCE.value],
    }


class HouseholdCreateView(ScopedViewMixin, View):
    """A household and all its members in one form, keyboard only; submitted for review."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/household_form.html"

    def _villages(self) -> list[Region]:
        return villages_in(self.scope)

    def _render(
        self, request: HttpRequest, form: HouseholdForm, formset: Any, errors: list[str], status: int = 200
    ) -> HttpResponse:
        context = {
            **_member_page_context(self.scope),
            "form": form,
            "formset": formset,
            "errors": errors,
            "mode": "new",
            "can_add_rows": True,
        }
        return render(request, self.template_name, context, status=status)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if scope_of(request).school_id is not None:
            # A school registers students, not households: its own page.
            return redirect("enrollment:school-roster")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        villages = self._villages()
        category = default_category(villages[0] if len(villages) == 1 else None)
        formset = MemberFormSet(initial=[{"relation": Relation.HEAD, "category": category}])
        return self._render(request, HouseholdForm(villages=villages), formset, [])

    def post(self, request: HttpRequest) -> HttpResponse:
        form = HouseholdForm(request.POST, villages=self._villages())
        formset = MemberFormSet(request.POST)
        if not (form.is_valid() and formset.is_valid()):
            return self._render(request, form, formset, _management_errors(formset), status=400)
        rows, index_map = formset.row_inputs()
        try:
            application = services.household_register(
                scope=self.scope,
                region_code=form.cleaned_data["region_code"],
                members=[row.member for row in rows],
                kind=form.cleaned_data["kind"],
                address=form.cleaned_data["address"],
                residence_permit_number=form.cleaned_data["residence_permit_number"],
            )
        except ValidationError as error:
            loose = apply_service_errors(error, formset=formset, index_map=index_map, form=form)
            return self._render(request, form, formset, loose, status=400)
        _submitted_message(request, application)
        return redirect("enrollment:household-detail", pk=application.household_id)


def _management_errors(formset: Any) -> list[str]:
    errors = list(formset.non_form_errors())
    if not formset.is_bound or formset.management_form.is_valid():
        return errors
    return errors or [_("The form was incomplete; please fill it in again.")]


def _submitted_message(request: HttpRequest, application: RegistrationApplication) -> None:
    count = application.persons.count()
    messages.success(
        request,
        ngettext(
            "Application submitted for %(count)s person; county insurance staff will review it.",
            "Application submitted for %(count)s persons; county insurance staff will review it.",
            count,
        )
        % {"count": count},
    )


# --- a household --------------------------------------------------------------------------------


class HouseholdDetailView(ScopedViewMixin, View):
    """Members with their enrollment status, the household's applications, and what can be done next."""

    required_action = Action.ENROLLMENT_VIEW
    template_name = "enrollment/registration/household_detail.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = selectors.household_detail(scope=self.scope, pk=pk)
        applications = _application_rows(selectors.household_applications(household=household))
        open_application = next(
            (
                row["application"]
                for row in applications
                if row["application"].status in OPEN_APPLICATION_STATUSES
            ),
            None,
        )
        village = Region.objects.filter(code=household.region_code).first()
        members = list(household.members.all())
        if shows_full_identity(self.scope, household.region_code):
            for person in members:
                full_view_log(request, record="person", record_id=person.pk, person_id=person.pk)
        context = {
            "household": household,
            "village": village.name if village else household.region_code,
            "where": mask_region_for(self.scope, household.region_code),
            "members": _member_rows(self.scope, members),
            "applications": applications,
            "open_application": open_application,
            "can_register": self.scope.allows(Action.ENROLLMENT_REGISTER),
            "pdf_url": _pdf_url(household),
            "full_identity": shows_full_identity(self.scope, household.region_code),
        }
        return render(request, self.template_name, context)


def _person_initial(person: Person) -> dict[str, Any]:
    return {
        "person_id": person.pk,
        "revision": person.revision,
        "name": person.name,
        "id_kind": person.id_kind,
        "id_number": person.id_number,
        "nationality": person.nationality,
        "sex": person.sex,
        "birth_date": person.birth_date,
        "relation": person.relation,
        "category": person.category,
        "ethnicity": person.ethnicity,
        "phone": person.phone,
    }


class HouseholdEditView(ScopedViewMixin, View):
    """Correct and resubmit a returned application, or submit new members of a registered household."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/household_form.html"

    def _household(self, pk: int) -> Household:
        household = selectors.household_detail(scope=self.scope, pk=pk)
        if household.members.count() == 0 and household.applications.exists():
            raise Http404(_("This is a school roster; correct it on the school roster page."))
        return household

    def _context(self, household: Household) -> dict[str, Any]:
        applications = list(selectors.household_applications(household=household))
        open_application = next((a for a in applications if a.status in OPEN_APPLICATION_STATUSES), None)
        return {
            **_member_page_context(self.scope),
            "household": household,
            "open_application": open_application,
            "mode": "resubmit"
            if open_application and open_application.status == ApplicationStatus.RETURNED
            else "add",
            "waiting": open_application is not None
            and open_application.status == ApplicationStatus.SUBMITTED,
            "registered": [
                row
                for row in _member_rows(self.scope, list(household.members.all()))
                if row["status"]["code"] != "none"
                and not (open_application and row["person"] in list(open_application.persons.all()))
            ],
            "can_add_rows": True,
        }

    def _render(
        self,
        request: HttpRequest,
        household: Household,
        form: HouseholdForm,
        formset: Any,
        errors: list[str],
        status: int = 200,
    ) -> HttpResponse:
        context = {**self._context(household), "form": form, "formset": formset, "errors": errors}
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = self._household(pk)
        context = self._context(household)
        if context["mode"] == "resubmit":
            persons = list(context["open_application"].persons.all())
            initial = [
                _person_initial(p)
                for p in sorted(persons, key=lambda p: (RELATION_ORDER.get(p.relation, 99), p.birth_date))
            ]
        else:
            never = [
                row["person"]
                for row in _member_rows(self.scope, list(household.members.all()))
                if row["status"]["code"] in ("none", ApplicationStatus.REJECTED)
            ]
            initial = [_person_initial(p) for p in never] or [
                {
                    "relation": Relation.CHILD,
                    "category": default_category(Region.objects.filter(code=household.region_code).first()),
                }
            ]
        form = HouseholdForm(
            initial={
                "kind": household.kind,
                "address": household.address,
                "residence_permit_number": household.residence_permit_number,
                "revision": household.revision,
            },
            fixed_region=True,
        )
        return self._render(request, household, form, MemberFormSet(initial=initial), [])

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = self._household(pk)
        form = HouseholdForm(request.POST, fixed_region=True)
        formset = MemberFormSet(request.POST)
        if not (form.is_valid() and formset.is_valid()):
            return self._render(request, household, form, formset, _management_errors(formset), status=400)
        opened_at = form.cleaned_data.get("revision")
        if opened_at is None:
            errors = [_("This form is out of date; open it again.")]
            return self._render(request, household, form, formset, errors, status=400)
        rows, index_map = formset.row_inputs()
        try:
            application = services.household_members_submit(
                scope=self.scope,
                household_id=household.pk,
                rows=rows,
                kind=form.cleaned_data["kind"],
                address=form.cleaned_data["address"],
                residence_permit_number=form.cleaned_data["residence_permit_number"],
                household_revision=opened_at,
            )
        except services.EditConflictError as conflict:
            # The entries stay, at the revisions opened: saving again is refused until the form is reopened.
            return self._render(request, household, form, formset, [conflict.message], status=409)
        except ValidationError as error:
            loose = apply_service_errors(error, formset=formset, index_map=index_map, form=form)
            return self._render(request, household, form, formset, loose, status=400)
        _submitted_message(request, application)
        return redirect("enrollment:household-detail", pk=household.pk)


# --- a newborn ----------------------------------------------------------------------------------


class NewbornCreateView(ScopedViewMixin, View):
    """A newborn added to its household and submitted for enrollment."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/newborn_form.html"

    def _render(
        self, request: HttpRequest, household: Household, formset: Any, errors: list[str], status: int = 200
    ) -> HttpResponse:
        open_application = household.applications.filter(status__in=OPEN_APPLICATION_STATUSES).first()
        context = {
            **_member_page_context(self.scope),
            "household": household,
            "formset": formset,
            "errors": errors,
            "open_application": open_application,
            "can_add_rows": False,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = selectors.household_detail(scope=self.scope, pk=pk)
        formset = SingleMemberFormSet(
            initial=[{"relation": Relation.CHILD, "category": PersonCategory.NEWBORN}]
        )
        return self._render(request, household, formset, [])

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        household = selectors.household_detail(scope=self.scope, pk=pk)
        formset = SingleMemberFormSet(request.POST)
        if not formset.is_valid() or not formset.filled():
            errors = _management_errors(formset) or [_("Enter the newborn's name and ID number.")]
            return self._render(request, household, formset, errors, status=400)
        if household.applications.filter(status=ApplicationStatus.RETURNED).exists():
            # newborn_add would resubmit the returned application with the newborn alone
            errors = [_("This household has a returned application; add the newborn there and resubmit it.")]
            return self._render(request, household, formset, errors, status=400)
        rows, index_map = formset.row_inputs(category=PersonCategory.NEWBORN)
        try:
            application = services.newborn_add(
                scope=self.scope, household_id=household.pk, member=rows[0].member
            )
        except ValidationError as error:
            loose = apply_service_errors(error, formset=formset, index_map=index_map)
            return self._render(request, household, formset, loose, status=400)
        _submitted_message(request, application)
        return redirect("enrollment:household-detail", pk=household.pk)


# --- a person -----------------------------------------------------------------------------------


class PersonEditView(ScopedViewMixin, View):
    """Correct a person's data (the ID number too: it is checked again)."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/person_form.html"

    def _render(
        self,
        request: HttpRequest,
        person: Person,
        formset: Any,
        errors: list[str],
        status: int = 200,
        revision: int | str | None = None,
    ) -> HttpResponse:
        context = {
            **_member_page_context(self.scope),
            "person": person,
            "formset": formset,
            "errors": errors,
            "can_add_rows": False,
            # The revision the form was opened at: a save is refused if the person changed since.
            "revision": person.revision if revision is None else revision,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = selectors.person_detail(scope=self.scope, pk=pk)
        return self._render(request, person, SingleMemberFormSet(initial=[_person_initial(person)]), [])

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = selectors.person_detail(scope=self.scope, pk=pk)
        formset = SingleMemberFormSet(request.POST)
        opened_at = request.POST.get("revision", "")
        if not formset.is_valid() or not formset.filled():
            errors = _management_errors(formset) or [_("Enter the person's name and ID number.")]
            return self._render(request, person, formset, errors, status=400, revision=opened_at)
        if not ascii_digits(opened_at):
            errors = [_("This form is out of date; open the person again.")]
            return self._render(request, person, formset, errors, status=400, revision=opened_at)
        relation = None if person.household_id else ""
        rows, index_map = formset.row_inputs(**({} if relation is None else {"relation": Relation.OTHER}))
        try:
            services.person_update(
                scope=self.scope, person_id=person.pk, member=rows[0].member, revision=int(opened_at)
            )
        except services.EditConflictError as conflict:
            # The user's entries stay on the form, still at the revision they opened: saving again
            # is refused until they open the person afresh and see the other change.
            return self._render(request, person, formset, [conflict.message], status=409, revision=opened_at)
        except ValidationError as error:
            loose = apply_service_errors(error, formset=formset, index_map=index_map)
            return self._render(request, person, formset, loose, status=400, revision=opened_at)
        messages.success(request, _("%(name)s's data were saved.") % {"name": rows[0].member.name.strip()})
        if person.household_id:
            return redirect("enrollment:household-detail", pk=person.household_id)
        return redirect("enrollment:school-roster")


class PersonMoveView(ScopedViewMixin, View):
    """Move a person into another household, found by household number, any member's ID number or name.

    The search (POST ``find``) is answered by a redirect to ``?search=<key>``, like the workspace's;
    POST ``household`` and ``relation`` move the person."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/person_move.html"

    def _render(
        self,
        request: HttpRequest,
        person: Person,
        query: str,
        errors: list[str],
        chosen: str = "",
        relation: str = "",
        notice: str = "",
        status: int = 200,
    ) -> HttpResponse:
        candidates = (
            [row for row in _search(self.scope, query) if row["household"].pk != person.household_id]
            if query
            else []
        )
        context = {
            "person": person,
            "person_id_number": id_number_for(self.scope, person.id_number, person.region_code),
            "query": query,
            "candidates": candidates,
            "errors": errors,
            "chosen": chosen,
            "relation": relation or Relation.OTHER,
            "relations": Relation.choices,
            "notice": notice,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = selectors.person_detail(scope=self.scope, pk=pk)
        search = MOVE_SEARCHES.recall(request)
        return self._render(request, person, search.query, [], notice=search.notice)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = selectors.person_detail(scope=self.scope, pk=pk)
        query = _typed(request)
        if "find" in request.POST:
            if not query:
                notice = _("Type an ID number, a name or a household number to search.")
                return self._render(request, person, "", [], notice=notice, status=400)
            return MOVE_SEARCHES.redirect(request, reverse("enrollment:person-move", args=[person.pk]), query)
        target, relation = request.POST.get("household", ""), request.POST.get("relation", "")
        if not ascii_digits(target):
            return self._render(
                request, person, query, [_("Choose the household to move to.")], relation=relation, status=400
            )
        if relation not in Relation.values:  # person_move takes any string; the database would refuse ""
            return self._render(
                request,
                person,
                query,
                [_("Choose the relation to the head of household.")],
                chosen=target,
                status=400,
            )
        try:
            services.person_move(
                scope=self.scope, person_id=person.pk, household_id=int(target), relation=relation
            )
        except ValidationError as error:
            return self._render(
                request, person, query, list(error.messages), chosen=target, relation=relation, status=400
            )
        messages.success(request, _("%(name)s was moved to this household.") % {"name": person.name})
        return redirect("enrollment:household-detail", pk=int(target))


# --- school rosters -----------------------------------------------------------------------------


class SchoolRosterView(ScopedViewMixin, View):
    """A school clerk registers students as a roster (no households); returned rosters are corrected here."""

    required_action = Action.ENROLLMENT_REGISTER
    template_name = "enrollment/registration/school_roster.html"

    def _returned(self, request: HttpRequest) -> RegistrationApplication | None:
        raw = request.GET.get("application") or request.POST.get("application") or ""
        if not raw:
            return None
        if not ascii_digits(raw):
            raise Http404
        return selectors.application_detail(scope=self.scope, pk=int(raw))

    def _render(
        self,
        request: HttpRequest,
        formset: Any,
        errors: list[str],
        application: RegistrationApplication | None,
        label: str = "",
        status: int = 200,
    ) -> HttpResponse:
        school = services.school_of(self.scope)
        rosters: list[dict[str, Any]] = []
        if school is not None:
            region_code = services.school_region_code(school)
            queryset = (
                selectors.application_queue(scope=self.scope, status=None)
                .filter(region_code=region_code, persons__school=school)
                .distinct()
                .order_by("-submitted_at")[:RECENT_APPLICATIONS]
            )
            rosters = _application_rows(queryset)
        context = {
            **_member_page_context(self.scope),
            "school": school,
            "formset": formset,
            "errors": errors,
            "rosters": rosters,
            "application": application,
            "label": label,
            "can_add_rows": True,
            "is_school_clerk": self.scope.role == Role.SCHOOL_CLERK,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        application = self._returned(request)
        if application is not None and application.status == ApplicationStatus.RETURNED:
            initial = [_person_initial(p) for p in application.persons.order_by("name")]
        else:
            application = None
            initial = [{"category": PersonCategory.STUDENT, "relation": ""}]
        return self._render(request, MemberFormSet(initial=initial), [], application)

    def post(self, request: HttpRequest) -> HttpResponse:
        application = self._returned(request)
        label = request.POST.get("label", "").strip()[:60]
        formset = MemberFormSet(request.POST)
        if services.school_of(self.scope) is None:
            return self._render(
                request, formset, [_("Only a school's clerk registers a school roster.")], None, status=400
            )
        if not formset.is_valid():
            return self._render(request, formset, _management_errors(formset), application, label, status=400)
        rows, index_map = formset.row_inputs(relation="")
        try:
            registered = services.school_roster_register(
                scope=self.scope,
                students=rows,
                label=label,
                application_id=application.pk if application is not None else None,
            )
        except services.EditConflictError as conflict:
            return self._render(request, formset, [conflict.message], application, label, status=409)
        except ValidationError as error:
            loose = apply_service_errors(error, formset=formset, index_map=index_map)
            return self._render(request, formset, loose, application, label, status=400)
        _submitted_message(request, registered)
        return redirect("enrollment:school-roster")
