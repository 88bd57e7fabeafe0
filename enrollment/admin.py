"""Read-only admin pages of the enrollment records, scoped like every other page.

No ``manage_action``: households, persons, enrollments and applications change only through the
portal's pages and API, which call the services so that every rule and every message to tax
holds. Identifiers and phone numbers are masked as the viewer's scope requires, and the evidence
of a change links to its scoped download page, never to a public media URL.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import ScopedAdminMixin, ViewerScopeAdminMixin, admin_viewer
from accounts.digits import ascii_digits
from accounts.masking import birth_date_for, id_number_for, phone_for, shows_full_identity
from accounts.roles import Action
from accounts.scope import scope_of

from .models import Enrollment, EnrollmentChange, Household, Person, RegistrationApplication
from .views.review import log_full_view


class _EnrollmentAdmin(ViewerScopeAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.ENROLLMENT_VIEW
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over millions of rows

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # A prefix search on a masked identifier answers digit by digit what the mask hides: viewers
        # who see identifiers masked find a person by the whole number only (and by name prefix).
        fields = list(super().get_search_fields(request))
        if scope_of(request).allows(Action.PERSON_FULL_VIEW):
            return fields
        return [
            "=" + field[1:] if field.startswith("^") and field.endswith("id_number") else field
            for field in fields
        ]


def _masked_id(person: Person) -> str:
    return id_number_for(admin_viewer(), person.id_number, person.region_code)


@admin.register(Household)
class HouseholdAdmin(_EnrollmentAdmin):
    list_display = ["number", "region_code", "kind", "address", "created_at"]
    list_filter = ["kind"]
    search_fields = ["^number", "^region_code"]
    fields = [
        "number",
        "region_code",
        "kind",
        "address",
        "residence_permit_number",
        "created_at",
        "created_by",
    ]
    readonly_fields = fields


@admin.register(Person)
class PersonAdmin(_EnrollmentAdmin):
    list_display = [
        "name",
        "identifier",
        "id_kind",
        "sex",
        "shown_birth_date",
        "category",
        "household",
        "region_code",
    ]
    list_filter = ["category", "id_kind", "sex"]
    search_fields = ["^name", "^id_number"]
    list_select_related = ["household"]
    fields = [
        "name",
        "identifier",
        "id_kind",
        "nationality",
        "sex",
        "shown_birth_date",
        "ethnicity",
        "masked_phone",
        "category",
        "household",
        "relation",
        "school",
        "hukou_region_code",
        "residence_region_code",
        "region_code",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("identifier"), ordering="id_number")
    def identifier(self, person: Person) -> str:
        return _masked_id(person)

    @admin.display(description=_("birth date"))
    def shown_birth_date(self, person: Person) -> str:
        return birth_date_for(admin_viewer(), person.birth_date, person.region_code)

    @admin.display(description=_("phone"))
    def masked_phone(self, person: Person) -> str:
        return phone_for(admin_viewer(), person.phone, person.region_code)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        person = self.get_queryset(request).filter(pk=object_id).first() if ascii_digits(object_id) else None
        if person is not None and shows_full_identity(scope_of(request), person.region_code):
            log_full_view(request, person)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Enrollment)
class EnrollmentAdmin(_EnrollmentAdmin):
    list_display = [
        "person",
        "identifier",
        "county_code",
        "region_code",
        "status",
        "enrolled_on",
        "ended_on",
        "status_reason",
    ]
    list_filter = ["status", "status_reason"]
    search_fields = ["^person__name", "^person__id_number", "^region_code"]
    list_select_related = ["person"]
    fields = [
        "person",
        "county_code",
        "region_code",
        "status",
        "enrolled_on",
        "ended_on",
        "status_reason",
        "status_changed_on",
        "application",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("identifier"))
    def identifier(self, enrollment: Enrollment) -> str:
        return _masked_id(enrollment.person)


@admin.register(RegistrationApplication)
class RegistrationApplicationAdmin(_EnrollmentAdmin):
    list_display = [
        "household",
        "region_code",
        "status",
        "submitted_by",
        "submitted_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status"]
    search_fields = ["^household__number", "^region_code"]
    list_select_related = ["household", "submitted_by", "decided_by"]
    fields = [
        "household",
        "region_code",
        "status",
        "submitted_by",
        "submitted_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "enrollment_date",
    ]
    readonly_fields = fields


@admin.register(EnrollmentChange)
class EnrollmentChangeAdmin(_EnrollmentAdmin):
    list_display = ["enrollment", "kind", "reason", "effective_on", "created_by", "created_at"]
    list_filter = ["kind", "reason"]
    search_fields = ["^enrollment__person__name", "^enrollment__person__id_number"]
    list_select_related = ["enrollment__person", "created_by"]
    fields = [
        "enrollment",
        "kind",
        "reason",
        "effective_on",
        "note",
        "evidence_link",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("evidence"))
    def evidence_link(self, change: EnrollmentChange) -> str:
        if not change.evidence:
            return "—"
        if not admin_viewer().allows(Action.PERSON_FULL_VIEW):
            return str(_("on file"))
        return format_html(
            '<a href="{}">{}</a>', reverse("enrollment:change-evidence", args=[change.pk]), _("Download")
        )
