from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy

from accounts.admin_scope import ScopedAdminMixin, ViewerScopeAdminMixin, admin_viewer
from accounts.masking import id_number_for
from accounts.roles import Action

from .models import DueItem


@admin.register(DueItem)
class DueItemAdmin(ViewerScopeAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    """Tax's ledger of amounts due, filled only by the sharing platform: read-only here. The person's
    identity number is shown masked as on every list (administrators never see it in full); an
    exact number still finds its rows."""

    view_action = Action.SHARING_MONITOR
    manage_action = ""
    show_full_result_count = False
    list_display = [
        "identifier",
        "insurance_year",
        "region_code",
        "amount_fen",
        "status",
        "sequence",
        "updated_at",
    ]
    list_filter = ["insurance_year", "status"]
    search_fields = ["=person_id"]
    fields = [
        "identifier",
        "insurance_year",
        "region_code",
        "amount_fen",
        "subsidy_fen",
        "subsidy_marker",
        "schedule",
        "status",
        "source_message_id",
        "sequence",
        "revision",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("identifier"), ordering="person_id")
    def identifier(self, item: DueItem) -> str:
        return id_number_for(admin_viewer(), item.person_id, item.region_code)
