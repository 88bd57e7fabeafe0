"""How pages, API endpoints and admin pages plug into the scope: every one declares an action.

A view either names the action it needs (``required_action``, or ``required_actions`` per DRF
action) or is explicitly public (``access_public = True``). The access-matrix test walks the
URL configuration and fails for any view that does neither.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from .digits import ascii_digits
from .scope import Scope, scope_of


def record_key(raw: str) -> int | None:
    """A record's key as an address or a form carries it: digits that fit a bigint, else None
    (the caller answers 404), so a malformed or oversized key never reaches the database."""
    return int(raw) if ascii_digits(raw) and len(raw) <= 18 else None


def public_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a function view as reachable without signing in (login, health, certificate check)."""
    view.access_public = True  # type: ignore[attr-defined]
    return view


def requires(action: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Function-view form of ``ScopedViewMixin``."""
    from django.contrib.auth.decorators import login_required

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            scope = scope_of(request)
            scope.require(action)
            request.scope = scope  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        wrapped.required_action = action  # type: ignore[attr-defined]
        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        guarded = login_required(wrapped)
        guarded.required_action = action  # type: ignore[attr-defined]
        return guarded

    return decorate


class ScopedViewMixin(LoginRequiredMixin):
    """Class-based pages: sign-in required, the role's action checked, ``self.scope`` ready."""

    required_action: str = ""
    scope: Scope

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.required_action:
            raise ImproperlyConfigured(f"{type(self).__name__} names no required_action")
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.scope = scope_of(request)
        self.scope.require(self.required_action)
        return super().dispatch(request, *args, **kwargs)
