"""Django admin's side of the scope: querysets filtered, permissions from the role's actions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from .scope import scope_of


class ScopedAdminMixin:
    """Every ModelAdmin of the portal inherits this; Django's per-model permissions are not used."""

    view_action: str = ""
    manage_action: str = ""
    allow_delete: bool = False  # the law wants records kept: deactivate or void instead

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_of(request).filter(super().get_queryset(request))  # type: ignore[misc]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return scope_of(request).allows(self.view_action)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return scope_of(request).allows(self.view_action)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return bool(self.manage_action) and scope_of(request).allows(self.manage_action)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(self.manage_action) and scope_of(request).allows(self.manage_action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if not self.allow_delete else self.has_change_permission(request, obj)
