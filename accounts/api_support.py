"""One error format and one pagination for the whole API."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .audit import full_view_log
from .masking import shows_full_identity
from .scope import scope_of


@functools.cache
def _field_names(serializer_class: type[serializers.Serializer]) -> frozenset[str]:
    """The fields of a serializer's answer, named once per class (building its fields copies them)."""
    return frozenset(serializer_class().fields)


class InputSerializer(serializers.Serializer):
    # A request body: a field the endpoint does not take is refused (400, named), not ignored — a
    # misspelt ``paid_at`` would otherwise be recorded as now, a misspelt ``reason`` as none. The
    # fields of the record as the API answers it (``answered_by``) are let through, so that what
    # was read can be changed and sent back. (A comment, not a docstring: the OpenAPI schema would
    # give it as the description of every request body without one of its own.)

    answered_by: ClassVar[type[serializers.Serializer] | None] = None
    # What a form of the browsable API sends beside the data (Django's CSRF token).
    carried_by_forms: ClassVar[frozenset[str]] = frozenset({"csrfmiddlewaretoken"})

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            answered = _field_names(self.answered_by) if self.answered_by is not None else frozenset()
            unknown = sorted(
                str(name)
                for name in data
                if name not in self.fields and name not in answered and name not in self.carried_by_forms
            )
            if unknown:
                taken = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                message = _("This field is not taken here; the fields are: %(fields)s.") % {"fields": taken}
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "；".join(
            f"{key}: {_flatten(value)}" if key != "non_field_errors" else _flatten(value)
            for key, value in detail.items()
        )
    if isinstance(detail, list):
        return "；".join(_flatten(item) for item in detail)
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every error answers ``{"error": {"status", "code", "message", "fields"}}`` in the user's language."""
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(_("No such record in your area."))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or _("Your role may not do this."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields = detail if isinstance(detail, dict) and "detail" not in detail else None
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid"
    else:
        code = "error"
    if isinstance(detail, dict) and "detail" in detail:
        message = str(detail["detail"])
    elif response.status_code == status.HTTP_400_BAD_REQUEST:
        message = _("The request has errors: %(details)s") % {"details": _flatten(detail)}
    else:
        message = _flatten(detail)
    response.data = {
        "error": {"status": response.status_code, "code": code, "message": message, "fields": fields}
    }
    return response


def api_error_response(status_code: int, code: str, message: str) -> JsonResponse:
    """The API's error format for answers given outside a DRF view (an unknown address under /api/)."""
    return JsonResponse(
        {"error": {"status": status_code, "code": code, "message": message, "fields": None}},
        status=status_code,
        json_dumps_params={"ensure_ascii": False},
    )


class Conflict(exceptions.APIException):
    """409: the object's state does not (or no longer) allow the step; the message says who did what when."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class WorkflowStepsMixin:
    """A viewset's detail answer and its workflow steps (approve, reject, submit…), alike for every
    application and plan: the object is looked up in the caller's area first (404 outside it,
    before anything is read from the request), the step's service runs, and a state conflict
    answers 409 with the service's message.

    Set ``detail_selector`` (``staticmethod`` of a ``(*, scope, pk)`` selector), ``detail_serializer``
    (``serializer_class`` answers lists), ``step_id`` (the service's keyword for the object's id),
    ``step_conflict`` (the exception a refused transition raises; it carries ``message``) and, for
    an object of one person, ``full_view_record`` (its name in the log of full-identity views).
    """

    detail_selector: Any
    detail_serializer: Any
    step_id = "application_id"
    step_conflict: type[Exception] = Exception
    full_view_record: str | None = None

    def scope(self) -> Any:
        return scope_of(self.request)  # type: ignore[attr-defined]

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "scope": self.scope()}  # type: ignore[misc]

    def get_object(self) -> Any:
        return self.detail_selector(scope=self.scope(), pk=int(self.kwargs["pk"]))  # type: ignore[attr-defined]

    def get_serializer_class(self) -> Any:
        return self.serializer_class if self.action == "list" else self.detail_serializer  # type: ignore[attr-defined]

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        if self.full_view_record and shows_full_identity(self.scope(), obj.person.region_code):
            full_view_log(request, record=self.full_view_record, record_id=obj.pk, person_id=obj.person_id)
        return Response(self.get_serializer(obj).data)  # type: ignore[attr-defined]

    def _detail(self, obj: Any) -> dict[str, Any]:
        fresh = self.detail_selector(scope=scope_of(self.request), pk=obj.pk)  # type: ignore[attr-defined]
        return self.detail_serializer(fresh, context=self.get_serializer_context()).data  # type: ignore[attr-defined]

    def _step(self, request: Any, pk: str | None, serializer: Any, call: Any) -> Response:
        scope = scope_of(request)
        self.detail_selector(scope=scope, pk=int(pk or 0))  # outside the area: 404 before anything
        payload = serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            obj = call(scope=scope, **{self.step_id: int(pk or 0)}, **payload.validated_data)
        except self.step_conflict as conflict:
            raise Conflict(conflict.message) from conflict  # type: ignore[attr-defined]
        return Response(self._detail(obj))
