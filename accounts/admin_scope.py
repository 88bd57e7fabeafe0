"""Django admin's side of the scope: querysets filtered, permissions from the role's actions."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from .form_errors import add_service_errors
from .scope import Scope, scope_of

# The scope of the request being rendered: list columns and read-only fields receive only the object.
_viewer: ContextVar[Scope | None] = ContextVar("admin_viewer", default=None)


def admin_viewer() -> Scope:
    """The scope of the admin page being rendered (``ViewerScopeAdminMixin``); nobody's outside one."""
    return _viewer.get() or Scope.nobody()


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

    # Writes go through the services (``save_model``), which check what a form cannot (a role the
    # agency does not have, a weak password, a malformed region code) and raise ValidationError.
    # Django calls save_model after the form was found valid, so that error would be a 500: the
    # write's transaction is rolled back, and the form is shown again with the service's reasons.
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except ValidationError as refusal:
            request._service_refusal = refusal  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)  # type: ignore[misc]
        refusal: ValidationError | None = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form_class

        class Refused(form_class):  # type: ignore[misc,valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                add_service_errors(self, refusal)
                return cleaned

        return Refused


class ViewerScopeAdminMixin:
    """Makes the viewer's scope known to columns that mask (``admin_viewer()``) while a list or a
    record is rendered."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        token = _viewer.set(scope_of(request))
        try:
            response = super().changelist_view(request, extra_context)  # type: ignore[misc]
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer.reset(token)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        token = _viewer.set(scope_of(request))
        try:
            response = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
            if hasattr(response, "render"):
                response.render()
            return response
        finally:
            _viewer.reset(token)
