"""The API's renderers, in a module of their own: DRF resolves ``DEFAULT_RENDERER_CLASSES`` while
other API modules are still being imported (a Celery worker's start), so this one imports nothing
of the portal's that could lead back to a half-imported module."""

from __future__ import annotations

from typing import Any

from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's browsable API without the inline <style> of its code colours: the portal's policy
    allows no inline style, so the browser would refuse it anyway (and report a violation)."""

    def get_context(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context(*args, **kwargs)
        context["code_style"] = None
        return context
