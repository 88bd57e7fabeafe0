"""Attach who is acting, from where and with which role to every database change (pghistory)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from pghistory.middleware import HistoryMiddleware


class AuditContextMiddleware(HistoryMiddleware):
    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().get_context(request)
        context["method"] = request.method
        context["source"] = "web"
        context["ip"] = request.META.get("REMOTE_ADDR", "")
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            context["role"] = getattr(user, "role", None)
        return context
