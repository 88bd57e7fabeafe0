"""Admin pages: read-only views of the platform's records, scoped like every other page.

Who a message is about (payload, subject, error, traceback) is shown masked as on the dead-letter
pages (``accounts.masking.payload_for``); the raw fields are never among the shown ones.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.translation import gettext_lazy

from accounts.admin_scope import ScopedAdminMixin, ViewerScopeAdminMixin, admin_viewer
from accounts.masking import payload_for, text_for
from accounts.roles import Action

from .models import InboxEntry, OutboxMessage, PendingDelivery


class ReadOnlyAdmin(ViewerScopeAdminMixin, ScopedAdminMixin, admin.ModelAdmin):
    view_action = Action.SHARING_MONITOR
    manage_action = ""  # messages are never edited by hand: re-drive dead letters on the sharing pages
    show_full_result_count = False  # counting millions of rows on every page helps no one

    @admin.display(description=gettext_lazy("subject"), ordering="subject")
    def masked_subject(self, row: OutboxMessage | PendingDelivery) -> str:
        return text_for(admin_viewer(), row.subject, row.region_code)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "topic", "masked_subject", "seq", "region_code", "amount_fen", "created_at"]
    list_filter = ["topic", "sender", "receiver"]
    search_fields = ["=id", "=subject"]
    fields = [
        "id",
        "topic",
        "version",
        "sender",
        "receiver",
        "masked_subject",
        "seq",
        "lane",
        "region_code",
        "amount_fen",
        "masked_payload",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("payload"))
    def masked_payload(self, message: OutboxMessage) -> str:
        shown = payload_for(admin_viewer(), message.payload, message.region_code)
        return json.dumps(shown, ensure_ascii=False, indent=2, sort_keys=True)


@admin.register(PendingDelivery)
class PendingDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "message_id",
        "topic",
        "masked_subject",
        "status",
        "attempts",
        "next_attempt_at",
        "masked_error",
    ]
    list_filter = ["status", "topic"]
    search_fields = ["=message__id", "=subject"]
    fields = [
        "message",
        "topic",
        "masked_subject",
        "lane",
        "region_code",
        "sent_at",
        "status",
        "attempts",
        "next_attempt_at",
        "dead_at",
        "redrives",
        "masked_error",
        "masked_traceback",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("last error"))
    def masked_error(self, delivery: PendingDelivery) -> str:
        return text_for(admin_viewer(), delivery.last_error, delivery.region_code)

    @admin.display(description=gettext_lazy("last traceback"))
    def masked_traceback(self, delivery: PendingDelivery) -> str:
        return text_for(admin_viewer(), delivery.last_traceback, delivery.region_code)


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = ["message_id", "topic", "receiver", "region_code", "amount_fen", "sent_at", "applied_at"]
    list_filter = ["topic", "receiver"]
    search_fields = ["=message_id"]
