"""The API's renderers, in a module of their own: DRF resolves ``DEFAULT_RENDERER_CLASSES`` while
other API modules are still being imported (a Celery worker's start), so this one imports nothing
of the portal's that could lead back to a half-imported module."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers
from rest_framework.negotiation import DefaultContentNegotiation


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API without the inline <style> of its code colours: the portal's policy
    allows no inline style, so the browser would refuse it anyway (and report a violation)."""

    def get_context(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(*args, **kwargs)
        context["code_style"] = None
        return context


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, answering at once the common case of an API client: no format asked in
    the address and an ``Accept`` that is absent, ``*/*`` or exactly the first renderer's type
    (JSON) — the choice DRF's parsing of the header would make, for every API call of a client."""

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if (
            renderers
            and not format_suffix
            and accept in ("*/*", renderers[0].media_type)
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
