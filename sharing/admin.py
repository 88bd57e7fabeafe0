"""Admin pages: read-only views of the platform's records, scoped like every other page."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin_scope import ScopedAdminMixin
from accounts.roles import Action

from .models import InboxEntry, OutboxMessage, PendingDelivery


class ReadOnlyAdmin(ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.SHARING_MONITOR
    manage_action = ""  # messages are never edited by hand: re-drive dead letters on the sharing pages
    show_full_result_count = False  # counting millions of rows on every page helps no one


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "topic", "subject", "seq", "region_code", "amount_fen", "created_at"]
    list_filter = ["topic", "sender", "receiver"]
    search_fields = ["=id", "=subject"]


@admin.register(PendingDelivery)
class PendingDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "topic", "subject", "status", "attempts", "next_attempt_at", "last_error"]
    list_filter = ["status", "topic"]
    search_fields = ["=message__id", "=subject"]


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "topic", "receiver", "region_code", "amount_fen", "sent_at", "applied_at"]
    list_filter = ["topic", "receiver"]
    search_fields = ["=message_id"]
