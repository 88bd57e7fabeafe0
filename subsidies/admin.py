"""Admin pages of the subsidies app, scoped like every other page; the roster import through
django-import-export (see ``subsidies.resources.RosterResource``).

Nothing here writes a tag by hand: tags change through rosters (the portal page or the admin's
import, one pipeline) and the services, so that tax is told and the persons are reassessed.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV, XLS, XLSX
from import_export.forms import ConfirmImportForm, ImportForm

from accounts.admin_scope import ScopedAdminMixin
from accounts.masking import id_number_for
from accounts.roles import Action
from accounts.scope import Scope, scope_of

from .models import RosterImport, SubsidyRoster, SubsidyTag
from .resources import RosterResource

# The scope of the request being rendered: list columns receive only the object.
_viewer: ContextVar[Scope | None] = ContextVar("subsidies_admin_viewer", default=None)


class _RosterFields(forms.Form):
    source = forms.CharField(label=gettext_lazy("Sent by"), max_length=100)
    insurance_year = forms.IntegerField(label=gettext_lazy("Insurance year"), min_value=2000, max_value=2100)
    roster_date = forms.DateField(
        label=gettext_lazy("Roster date"), widget=forms.DateInput(attrs={"type": "date"})
    )


class RosterImportForm(ImportForm):
    source = _RosterFields.base_fields["source"]
    insurance_year = _RosterFields.base_fields["insurance_year"]
    roster_date = _RosterFields.base_fields["roster_date"]


class RosterConfirmForm(ConfirmImportForm):
    source = forms.CharField(widget=forms.HiddenInput(), max_length=100)
    insurance_year = forms.IntegerField(widget=forms.HiddenInput())
    roster_date = forms.DateField(widget=forms.HiddenInput())


@admin.register(RosterImport)
class RosterImportAdmin(ScopedAdminMixin, ImportMixin, admin.ModelAdmin):
    """Roster imports (read-only) and the import of a roster file through django-import-export."""

    view_action = Action.SUBSIDY_ROSTER_IMPORT
    manage_action = ""
    resource_classes = [RosterResource]
    import_form_class = RosterImportForm
    confirm_form_class = RosterConfirmForm
    formats = [XLSX, XLS, CSV]
    skip_admin_log = True
    list_display = [
        "created_at",
        "source",
        "insurance_year",
        "roster_date",
        "original_name",
        "status",
        "mode",
        "rows_total",
    ]
    list_filter = ["status", "insurance_year"]
    search_fields = ["source", "original_name"]
    readonly_fields = [field.name for field in RosterImport._meta.fields]

    def has_import_permission(self, request: HttpRequest) -> bool:
        return scope_of(request).allows(Action.SUBSIDY_ROSTER_IMPORT)

    def get_import_form_initial(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_import_form_initial(request)
        today = timezone.localdate()
        initial.update(insurance_year=today.year + 1 if today.month >= 9 else today.year, roster_date=today)
        return initial

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            for name in ("source", "insurance_year", "roster_date"):
                initial[name] = import_form.cleaned_data[name]
        return initial

    def get_import_resource_kwargs(self, request: HttpRequest, **kwargs: Any) -> dict[str, Any]:
        found = super().get_import_resource_kwargs(request, **kwargs)
        form = kwargs.get("form")
        data = form.cleaned_data if form is not None and hasattr(form, "cleaned_data") else {}
        return {
            **{key: value for key, value in found.items() if key != "form"},
            "scope": scope_of(request),
            "source": " ".join(str(data.get("source") or "").split()),
            "insurance_year": data.get("insurance_year"),
            "roster_date": data.get("roster_date"),
        }

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors():
            for error in result.base_errors:
                messages.error(
                    request, str(error.error.messages[0] if hasattr(error.error, "messages") else error.error)
                )
            return HttpResponseRedirect(reverse("admin:subsidies_rosterimport_import"))
        job_id = getattr(result, "roster_import_id", None)
        messages.success(
            request,
            _("The roster was imported: %(added)s new tags, %(removed)s ended, %(unchanged)s unchanged.")
            % {
                "added": result.totals["new"],
                "removed": result.totals["delete"],
                "unchanged": result.totals["skip"],
            },
        )
        if job_id is not None:
            return HttpResponseRedirect(reverse("subsidies:roster-import", args=[job_id]))
        return HttpResponseRedirect(reverse("admin:subsidies_rosterimport_changelist"))


@admin.register(SubsidyRoster)
class SubsidyRosterAdmin(ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.SUBSIDY_ROSTER_IMPORT
    list_display = ["source", "insurance_year", "region_code", "roster_date", "current_import", "updated_at"]
    list_filter = ["insurance_year"]
    readonly_fields = [
        "region_code",
        "source",
        "insurance_year",
        "current_import",
        "roster_date",
        "updated_at",
    ]


@admin.register(SubsidyTag)
class SubsidyTagAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Tags are read here; they change through rosters and the services (tax is told, persons reassessed)."""

    view_action = Action.SUBSIDY_ROSTER_IMPORT
    show_full_result_count = False
    list_display = [
        "person_name",
        "identifier",
        "category",
        "region_code",
        "source",
        "valid_from",
        "valid_to",
        "end_reason",
    ]
    list_filter = ["category"]
    list_select_related = ["person"]
    search_fields = ["=person__id_number", "^source"]
    fields = [
        "person_name",
        "identifier",
        "category",
        "region_code",
        "source",
        "roster",
        "valid_from",
        "valid_to",
        "end_reason",
        "created_at",
    ]
    readonly_fields = fields

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        token = _viewer.set(scope_of(request))
        try:
            response = super().changelist_view(request, extra_context)
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer.reset(token)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        token = _viewer.set(scope_of(request))
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer.reset(token)

    @admin.display(description=gettext_lazy("name"))
    def person_name(self, tag: SubsidyTag) -> str:
        return tag.person.name

    @admin.display(description=gettext_lazy("identifier"))
    def identifier(self, tag: SubsidyTag) -> str:
        return id_number_for(_viewer.get() or Scope.nobody(), tag.person.id_number, tag.region_code)
