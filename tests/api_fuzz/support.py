"""Fuzzing the API in-process: the real Django WSGI application, the real PostgreSQL of the test,
and schemathesis generating requests from the schema the portal serves at /api/schema/.

Why in-process WSGI rather than a live server: the test keeps one database connection, so every
example runs inside a savepoint that is rolled back after the response (state-changing
operations leave nothing behind, the next example starts from the same data, the run is
deterministic), and a server error comes back with its traceback. A live server would need a
committed database and a reset between examples.

How many examples each operation gets per role and generation mode: ``PORTAL_FUZZ_EXAMPLES``
(default ``FUZZ_EXAMPLES_DEFAULT``, small enough for the normal suite); the deep run sets it to
e.g. 200.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User

FUZZ_EXAMPLES_DEFAULT = 2
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
METHODS = ("get", "put", "post", "patch", "delete")


def examples_per_operation() -> int:
    return int(os.environ.get("PORTAL_FUZZ_EXAMPLES") or FUZZ_EXAMPLES_DEFAULT)


def token_header(user: User) -> dict[str, str]:
    """How API clients authenticate: ``Authorization: Token <key>`` (accounts.api_authentication)."""
    token, _created = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


class _CapturedErrors(logging.Handler):
    """The tracebacks Django logs for server errors (``django.request``), to report with a finding."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.records.append(text)


@contextmanager
def in_process_app() -> Iterator[WSGIHandler]:
    """Django's WSGI handler, kept on the test's connection (as django.test.Client does): no
    connection is closed at the start or end of a request, so the test's transaction holds."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def load_schema(app: WSGIHandler, headers: dict[str, str]) -> schemathesis.schemas.BaseSchema:
    """The schema exactly as the portal serves it to an authenticated client."""
    from werkzeug.test import Client

    response = Client(app).get("/api/schema/?format=json", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    raw = json.loads(response.get_data(as_text=True))
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    return schema


def operation_labels(raw_schema: dict[str, Any]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in raw_schema["paths"].items()
        for method in item
        if method in METHODS
    }


@dataclass
class Finding:
    role: str
    operation: str
    mode: str
    status: int
    message: str

    def __str__(self) -> str:
        return f"[{self.role}] {self.operation} ({self.mode}) → {self.status}\n{self.message}"


@dataclass
class FuzzRun:
    role: str
    exercised: set[str] = field(default_factory=set)
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def _known_ids(app: WSGIHandler, headers: dict[str, str], path: str) -> list[Any]:
    """Identifiers of real records the caller can see, read from the collection above ``path``
    (``/api/refunds/{id}/approve/`` → ``/api/refunds/``), so that detail and step operations
    reach real objects, not only 404s."""
    from werkzeug.test import Client

    collection = path.split("{", 1)[0]
    response = Client(app).get(collection, headers=headers)
    if response.status_code != 200 or "json" not in (response.content_type or ""):
        return []
    data = json.loads(response.get_data(as_text=True))
    rows = data.get("results", []) if isinstance(data, dict) else data
    found: list[Any] = []
    for item in rows if isinstance(rows, list) else []:
        if isinstance(item, dict):
            for key in ("id", "code", "id_number"):
                if key in item and item[key] not in (None, ""):
                    found.append(item[key])
                    break
    return found[:20]


@dataclass
class Example:
    label: str
    mode: str
    case: Any


def generate_examples(schema: Any, examples: int) -> list[Example]:
    """``examples`` positive and ``examples`` negative requests per operation, the same on every run
    (derandomised). Generated once and sent as every role: generation costs more than sending."""
    found: list[Example] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            drawn = _draw(operation, mode, examples)
            found.extend(Example(label, mode.value, case) for case in drawn[:examples])
    return found


def _draw(operation: Any, mode: GenerationMode, examples: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def draw(case: Any) -> None:
        drawn.append(case)

    try:
        draw()
    except Unsatisfiable:
        # Negative data cannot be made for an operation without inputs; positive always can.
        if mode == GenerationMode.POSITIVE:
            raise
    return drawn


def _with_path_parameter(case: Any, name: str, value: Any) -> Any:
    return case.operation.Case(
        path_parameters={**(case.path_parameters or {}), name: value},
        headers=dict(case.headers or {}),
        query=dict(case.query or {}) if case.query is not None else None,
        body=case.body,
        media_type=case.media_type,
    )


def fuzz_role(
    *, role: str, user: User, examples: list[Example], app: WSGIHandler, known_per_path: int = 2
) -> FuzzRun:
    """Send every example as ``user`` (and, for operations on one record, the positive ones again
    with the identifiers of up to ``known_per_path`` records the user can see), each in a
    savepoint rolled back after its response is checked."""
    headers = token_header(user)
    run = FuzzRun(role=role)
    captured = _CapturedErrors()
    logger = logging.getLogger("django.request")
    logger.addHandler(captured)
    known: dict[str, list[Any]] = {}
    reported: set[tuple[str, int]] = set()
    try:
        for example in examples:
            cases = [example.case]
            parameters = [p.name for p in example.case.operation.path_parameters]
            if parameters and example.mode == GenerationMode.POSITIVE.value:
                path = example.case.operation.path
                if path not in known:
                    known[path] = _known_ids(app, headers, path)[:known_per_path]
                cases += [_with_path_parameter(example.case, parameters[0], value) for value in known[path]]
            for case in cases:
                status, problem = _send(case, headers, captured)
                run.examples += 1
                run.exercised.add(example.label)
                run.statuses[status] = run.statuses.get(status, 0) + 1
                if problem is not None and (example.label, status) not in reported:
                    reported.add((example.label, status))
                    run.findings.append(Finding(role, example.label, example.mode, status, problem))
    finally:
        logger.removeHandler(captured)
    return run


def _send(case: Any, headers: dict[str, str], captured: _CapturedErrors) -> tuple[int, str | None]:
    captured.records.clear()
    try:
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
    except Exception as error:  # an exception that escaped Django's handler
        return 500, f"{type(error).__name__}: {error}"
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as failures:
        detail = str(failures)
        if captured.records:
            detail += "\n" + "\n".join(captured.records)
        return response.status_code, detail
    return response.status_code, None
