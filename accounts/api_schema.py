"""The OpenAPI schema's one declaration of the API's errors (``accounts.api_support.exception_handler``).

Every operation may answer 400 (a field or query parameter refused), 401 (no or a bad token), 403
(the role may not do this), 404 (no such record in the caller's area, or a page past the end)
and 405, and one that reads a body 415; each with the one error body. Views still declare their particular answers (409 for a
state conflict, 429 for throttling) and descriptions; this hook only adds what they leave out,
and gives every error answer the error body.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance

from .api_support import InputSerializer

ERROR_SCHEMA = "Error"
COMMON_ERRORS = {
    "400": "Invalid request: the message names each field that was refused.",
    "401": "Not signed in, or the token is not valid.",
    "403": "The role may not do this.",
    "404": "No such record in the caller's area (or no such page).",
    "405": "The method is not allowed here.",
}
# Every operation that reads a body answers 415 to a body in a media type it does not read (the
# fuzzer sent one, and the schema had not said so).
UNSUPPORTED_MEDIA_TYPE = "The body is not in a media type this operation reads."
METHODS = ("get", "put", "post", "patch", "delete")


def _error_component() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "status": {"type": "integer"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "nullable": True, "additionalProperties": True},
                },
                "required": ["status", "code", "message", "fields"],
            }
        },
        "required": ["error"],
    }


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error answers of every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_SCHEMA] = _error_component()
    body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_ERRORS.items():
                responses.setdefault(status, {"description": description})
            if "requestBody" in operation:
                responses.setdefault("415", {"description": UNSUPPORTED_MEDIA_TYPE})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = body
    return result


class PortalAutoSchema(AutoSchema):
    """drf-spectacular's schema, saying of every request body read by an ``InputSerializer`` that
    it takes no other field (``additionalProperties: false``), as the API answers 400 to one.
    A body that may carry the record as read (``answered_by``) says nothing of the kind."""

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        instance = force_instance(serializer)
        if direction == "request" and isinstance(instance, InputSerializer) and instance.answered_by is None:
            schema["additionalProperties"] = False
        return schema
