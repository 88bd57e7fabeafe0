"""Attach who is acting, from where and with which role to every database change (pghistory)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.middleware.locale import LocaleMiddleware
from django.urls import reverse
from django.utils import translation
from django.utils.translation import check_for_language, get_supported_language_variant
from django.utils.translation import gettext as _
from pghistory.middleware import HistoryMiddleware

from .audit import client_address


class AuditContextMiddleware(HistoryMiddleware):
    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().get_context(request)
        context["method"] = request.method
        context["source"] = "web"
        context["ip"] = client_address(request)
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            context["role"] = getattr(user, "role", None)
        return context


@functools.cache
def _api_docs_path() -> str:
    # Resolved once: the middleware runs on every API call (the payment counter's among them).
    return reverse("api-docs")


class PortalLocaleMiddleware(LocaleMiddleware):
    """Chinese unless the user chose otherwise with the language switch (a cookie).

    Government PCs often run browsers set to English; the portal must still open in Chinese.
    API clients may ask for a language explicitly with Accept-Language. The API's documentation
    is a page opened from the menu (and refused there, in Chinese, to roles without it), not a
    client's call.
    """

    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if chosen and check_for_language(chosen):
            language = get_supported_language_variant(chosen)
        elif request.path.startswith("/api/") and request.path != _api_docs_path():
            language = translation.get_language_from_request(request)
        else:
            language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class RefuseNulMiddleware:
    """A NUL character cannot be stored in PostgreSQL text: a query string, a form or a JSON body
    that carries one is refused with 400 here, before any view would reach the database with it
    (found by fuzzing: a payer search for "%00" ended in a server error)."""

    _JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._carries_nul(request):
            message = _("The request holds a NUL character, which no field accepts.")
            if request.path.startswith("/api/"):
                from .api_support import api_error_response

                return api_error_response(400, "invalid", message)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    def _carries_nul(self, request: HttpRequest) -> bool:
        if "\x00" in request.path or any(
            "\x00" in value for values in request.GET.lists() for value in values[1]
        ):
            return True
        content_type = request.content_type or ""
        if request.method in ("POST", "PUT", "PATCH") and content_type in (
            "application/json",
            "application/x-www-form-urlencoded",
        ):
            body = request.body  # read once here; Django keeps it for the view
            if b"\x00" in body:
                return True
            if content_type == "application/json":
                return bool(self._JSON_NUL.search(body))
            return b"%00" in body
        return False
