from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from .navigation import menu_for
from .scope import scope_of


def portal(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"portal_name": settings.PORTAL_NAME, "menu": []}
    scope = scope_of(request)
    return {"portal_name": settings.PORTAL_NAME, "menu": menu_for(scope, request.path), "scope": scope}
