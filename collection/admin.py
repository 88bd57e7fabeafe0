from __future__ import annotations

from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from accounts.roles import Action

from .models import DueItem


@admin.register(DueItem)
class DueItemAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Tax's ledger of amounts due, filled only by the sharing platform: read-only here."""

    view_action = Action.SHARING_MONITOR
    manage_action = ""
    show_full_result_count = False
    list_display = [
        "person_id",
        "insurance_year",
        "region_code",
        "amount_fen",
        "status",
        "sequence",
        "updated_at",
    ]
    list_filter = ["insurance_year", "status"]
    search_fields = ["=person_id"]
