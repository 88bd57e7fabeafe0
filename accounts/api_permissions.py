"""DRF's side of the scope: the default permission class of every API view."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .scope import scope_of


def actions_declared_by(viewset: type) -> set[str]:
    """Every action a view's endpoints require, whichever of them is asked for."""
    per_action = getattr(viewset, "required_actions", None)
    if per_action is not None:
        return set(per_action.values())
    single = getattr(viewset, "required_action", None)
    return {single} if single else set()


def action_required_by(view: Any) -> str | None:
    per_action = getattr(view, "required_actions", None)
    if per_action is not None:
        return per_action.get(getattr(view, "action", None) or "", per_action.get("*"))
    return getattr(view, "required_action", None)


class ScopedActionPermission(BasePermission):
    """Allow only signed-in users whose role holds the view's action; undeclared views are closed."""

    message = _("Your role may not do this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "access_public", False):
            return True
        if not (request.user and request.user.is_authenticated):
            return False
        action = action_required_by(view)
        if not action:
            return False
        scope = scope_of(request)
        request.scope = scope
        return scope.allows(action)


class ScopedQuerysetMixin:
    """ViewSets: the queryset is always filtered to the caller's region subtree."""

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return scope_of(self.request).filter(super().get_queryset())  # type: ignore[misc]
