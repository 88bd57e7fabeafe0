"""Admin pages of the subsidies app, scoped like every other page; the roster import through
django-import-export (see ``subsidies.resources.RosterResource``): import-export's forms and pages,
the portal's services behind them. The upload is never read by import-export nor copied whole into
its temporary storage: it goes to the resource as a ``RosterFile``, and the confirmation form
carries the id of the roster import the dry run checked.

The admin's import works as the portal's page does: the administrator chooses the mode explicitly
at the confirmation, a worker applies the roster, and the admin is taken to the import's portal page
for the progress bar, the result and the report (a file too large to check in the request is
checked by a worker too, and followed there from the start).

Nothing here writes a tag by hand: tags change through rosters (the portal page or the admin's
import, one pipeline) and the services, so that tax is told and the persons are reassessed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.admin import ImportMixin
from import_export.forms import ConfirmImportForm, ImportForm

from accounts.admin_scope import ScopedAdminMixin, ViewerScopeAdminMixin, admin_viewer
from accounts.digits import ascii_digits
from accounts.masking import id_number_for
from accounts.roles import Action
from accounts.scope import scope_of
from enrollment import imports

from .models import RosterImport, RosterMode, SubsidyRoster, SubsidyTag
from .resources import IN_REQUEST_BYTES, RosterFile, RosterFileFormat, RosterResource


class _RosterFields(forms.Form):
    source = forms.CharField(label=gettext_lazy("Sent by"), max_length=100)
    insurance_year = forms.IntegerField(label=gettext_lazy("Insurance year"), min_value=2000, max_value=2100)
    roster_date = forms.DateField(
        label=gettext_lazy("Roster date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )


class RosterImportForm(ImportForm):
    # An empty file reaches the service, which refuses it with the portal's words.
    import_file = forms.FileField(label=gettext_lazy("File to import"), allow_empty_file=True)
    source = _RosterFields.base_fields["source"]
    insurance_year = _RosterFields.base_fields["insurance_year"]
    roster_date = _RosterFields.base_fields["roster_date"]


class RosterConfirmForm(ConfirmImportForm):
    # No default: the administrator says which, as on the portal's page.
    mode = forms.ChoiceField(
        label=gettext_lazy("How to import"), choices=RosterMode.choices, widget=forms.RadioSelect
    )


class RosterFileStorage:
    """import-export's temporary storage, replaced: nothing is copied into it. The dry run's upload is
    kept by ``services.roster_import_create`` as the portal keeps it (streamed to MEDIA_ROOT/rosters/);
    the confirmation's ``import_file_name`` is the id of the roster import the dry run checked."""

    def __init__(self, name: str | None = None, upload: Any = None, **kwargs: Any) -> None:
        self.name = name or ""
        digits = self.name if ascii_digits(self.name) else ""
        self.file = RosterFile(upload=upload, import_id=int(digits) if digits else None)

    def read(self) -> RosterFile:
        return self.file

    def remove(self) -> None:
        """The stored upload belongs to its roster import (deleted with it, as on the portal)."""


@admin.register(RosterImport)
class RosterImportAdmin(ScopedAdminMixin, ImportMixin, admin.ModelAdmin):
    """Roster imports (read-only) and the import of a roster file through django-import-export."""

    view_action = Action.SUBSIDY_ROSTER_IMPORT
    manage_action = ""
    resource_classes = [RosterResource]
    import_form_class = RosterImportForm
    confirm_form_class = RosterConfirmForm
    formats = [RosterFileFormat]
    tmp_storage_class = RosterFileStorage
    import_template_name = "subsidies/admin_roster_import.html"
    skip_admin_log = True
    skip_import_confirm = False
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

    def get_import_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_import_context_data(**kwargs),
            "max_mb": imports.MAX_UPLOAD_BYTES // 2**20,
            "max_rows": f"{imports.MAX_ROWS:,}",
            "in_request_mb": f"{IN_REQUEST_BYTES / 2**20:g}",
        }

    def get_import_form_initial(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_import_form_initial(request)
        today = timezone.localdate()
        initial.update(insurance_year=today.year + 1 if today.month >= 9 else today.year, roster_date=today)
        return initial

    def import_action(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        result = context.get("result")
        if result is None or result.has_errors():
            return response
        queued = getattr(result, "queued_import_id", None)
        if queued is not None:
            messages.success(
                request, _("The file is large, so a worker checks it; its preview follows here.")
            )
            return HttpResponseRedirect(reverse("subsidies:roster-import", args=[queued]))
        if "confirm_form" not in context and getattr(result, "importable", False):
            # Rows that cannot be imported do not rule out "import the valid rows" (the portal offers it too).
            context["confirm_form"] = self.create_confirm_form(request, import_form=context.get("form"))
        return response

    def is_skip_import_confirm_enabled(self) -> bool:
        return False  # the dry run is the preview; nothing is applied without it

    def write_to_tmp_storage(self, import_file: Any, input_format: Any) -> RosterFileStorage:
        """No copy of the file here (import-export's own would hold it whole in memory): the resource's
        dry run hands the upload to the portal's service, which keeps it."""
        storage = RosterFileStorage(upload=import_file)
        import_file.roster_file = storage.file
        return storage

    def get_confirm_form_initial(self, request: HttpRequest, import_form: Any) -> dict[str, Any]:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            # The roster import the dry run checked: the confirmation applies that one, on the basis
            # the preview rests on.
            initial["import_file_name"] = str(import_form.cleaned_data["import_file"].roster_file.import_id)
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
            "mode": str(data.get("mode") or ""),
        }

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors():
            for error in result.base_errors:
                messages.error(
                    request, str(error.error.messages[0] if hasattr(error.error, "messages") else error.error)
                )
            return HttpResponseRedirect(reverse("admin:subsidies_rosterimport_import"))
        messages.success(request, _("Confirmed. The roster is being imported."))
        return HttpResponseRedirect(reverse("subsidies:roster-import", args=[result.roster_import_id]))


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
class SubsidyTagAdmin(ViewerScopeAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
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

    @admin.display(description=gettext_lazy("name"))
    def person_name(self, tag: SubsidyTag) -> str:
        return tag.person.name

    @admin.display(description=gettext_lazy("identifier"))
    def identifier(self, tag: SubsidyTag) -> str:
        return id_number_for(admin_viewer(), tag.person.id_number, tag.region_code)
