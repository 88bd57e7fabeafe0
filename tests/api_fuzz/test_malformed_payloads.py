"""Malformed bodies sent to every write operation of the API (POST, PUT, PATCH), as a user whose
role may call it: each is refused with a 4xx in the API's error format, with a message (naming
the field where one field is at fault), and nothing is written: the row count of every table of
the portal's apps, their audit events and the sharing outbox are unchanged.

The operations come from the schema the portal serves, so a new write endpoint is in this table
the moment it is routed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.utils import translation

from accounts.roles import Role
from tests.api_fuzz.support import METHODS, token_header

pytestmark = pytest.mark.django_db

# The portal's own tables with their audit events (pghistory's context table too); not the
# sign-in failure log (axes), which a refused token sign-in rightly writes.
APP_LABELS = {
    "accounts",
    "enrollment",
    "subsidies",
    "collection",
    "refunds",
    "finance",
    "sharing",
    "pghistory",
}
HUGE = "名" * 100_000


@dataclass
class Malformation:
    key: str
    # (operation's request schema, resolver) → (body bytes, content type, the field at fault or "")
    build: Callable[[dict[str, Any]], tuple[bytes, str, str] | None]
    status: tuple[int, ...] = (400,)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _first(properties: dict[str, Any], accept: Callable[[str, dict[str, Any]], bool]) -> str | None:
    return next((name for name, spec in properties.items() if accept(name, spec)), None)


def _set(props: dict[str, Any], name: str, value: Any) -> tuple[bytes, str, str]:
    return _json({name: value}), "application/json", name


def _wrong_type(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(
        props, lambda n, s: s.get("type") in ("string", "integer", "boolean", "number") or "$ref" in s
    )
    return None if name is None else _set(props, name, {"nested": ["not", "a", "value"]})


def _null(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: not s.get("nullable"))
    return None if name is None else _set(props, name, None)


def _huge(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: s.get("type") == "string" and s.get("format") not in ("binary",))
    return None if name is None else _set(props, name, HUGE)


def _yuan_for_fen(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: s.get("type") == "integer")
    return None if name is None else _set(props, name, 12.34)


def _negative_money(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: s.get("type") == "integer" and ("fen" in n or "amount" in n))
    return None if name is None else _set(props, name, -100)


def _bad_id_number(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: "id_number" in n)
    return None if name is None else _set(props, name, "11010119900307123X")


def _date_out_of_range(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
    name = _first(props, lambda n, s: s.get("format") in ("date", "date-time"))
    return None if name is None else _set(props, name, "0000-13-45")


def _missing_required(required: list[str]) -> Callable[[dict[str, Any]], tuple[bytes, str, str] | None]:
    def build(props: dict[str, Any]) -> tuple[bytes, str, str] | None:
        return (_json({}), "application/json", required[0]) if required else None

    return build


MALFORMATIONS = [
    Malformation("not-json", lambda p: (b'{"name": "\xe5\x90', "application/json", "")),
    Malformation("list-not-object", lambda p: (_json([{"name": "x"}]), "application/json", "")),
    Malformation("unknown-fields-only", lambda p: (_json({"no_such_field": 1}), "application/json", "")),
    Malformation("wrong-type", _wrong_type),
    Malformation("null", _null),
    Malformation("huge-string", _huge),
    Malformation("yuan-for-fen", _yuan_for_fen),
    Malformation("negative-money", _negative_money),
    Malformation("bad-id-number", _bad_id_number),
    Malformation("date-out-of-range", _date_out_of_range),
    Malformation("wrong-content-type", lambda p: (b"name=x", "text/plain", ""), status=(415,)),
]


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def _counts() -> dict[str, int]:
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if model._meta.app_label in APP_LABELS and not model._meta.proxy and model._meta.managed
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote(t)})" for t in tables)  # noqa: S608 - model tables
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def _request_schema(schema: dict[str, Any], operation: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json") or next(iter(content.values()), {})
    spec = body.get("schema", {})
    if "$ref" in spec:
        spec = schema["components"]["schemas"][spec["$ref"].rsplit("/", 1)[1]]
    properties = {
        name: (schema["components"]["schemas"][s["$ref"].rsplit("/", 1)[1]] if "$ref" in s else s)
        | ({"$ref": s["$ref"]} if "$ref" in s else {})
        for name, s in spec.get("properties", {}).items()
        if not s.get("readOnly")
    }
    return properties, list(spec.get("required", []))


def _auth(world, role: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": token_header(world.user_for(role))["Authorization"]}


def _writes(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in METHODS and method in ("post", "put", "patch")
    ]


def test_given_every_write_operation_when_sent_malformed_bodies_then_each_is_refused_clearly_and_nothing_is_written(
    world,
):
    problems: list[str] = []
    tried = 0
    clients = {role: Client(**_auth(world, role), HTTP_ACCEPT_LANGUAGE="en") for role in Role}
    schema = clients[Role.ADMINISTRATOR].get("/api/schema/?format=json").json()
    before = _counts()
    for method, path in _writes(schema):
        operation = schema["paths"][path][method]
        properties, required = _request_schema(schema, operation)
        url = path.replace("{id}", "1").replace("{code}", "141002").replace("{id_number}", "x")
        client = _allowed_client(clients, method, url)
        for malformation in [*MALFORMATIONS, Malformation("missing-required", _missing_required(required))]:
            built = malformation.build(properties)
            if built is None:
                continue
            body, content_type, field = built
            tried += 1
            response = getattr(client, method)(url, body, content_type=content_type)
            where = f"{method.upper()} {path} [{malformation.key}]"
            problem = _judge(response, malformation, field, path)
            if problem:
                problems.append(f"{where}: {problem}")
    after = _counts()

    print(f"\n[malformed] {len(_writes(schema))} write operations, {tried} malformed requests")
    assert problems == [], "\n".join(problems)
    assert {t: (before[t], after[t]) for t in before if before[t] != after[t]} == {}


def _allowed_client(clients: dict[str, Client], method: str, url: str) -> Client:
    """The first role whose user may call the operation (anything but 403 to an empty body)."""
    for role in (
        Role.INSURANCE_STAFF,
        Role.ADMINISTRATOR,
        Role.TAX_STAFF,
        Role.FINANCE_STAFF,
        Role.VILLAGE_CLERK,
    ):
        if getattr(clients[role], method)(url, b"{}", content_type="application/json").status_code != 403:
            return clients[role]
    return clients[Role.ADMINISTRATOR]


def _judge(response: Any, malformation: Malformation, field: str, path: str) -> str | None:
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if not 400 <= response.status_code < 500:
        return f"accepted with {response.status_code}"
    if response.get("Content-Type") != "application/json":
        return f"answer is {response.get('Content-Type')}, not the API's JSON error"
    error = response.json().get("error", {})
    if not error.get("message"):
        return "no message"
    # A record looked up by id is found first (404 here): its body is never read.
    if "{" in path and response.status_code == 404:
        return None
    # The body carries only the field at fault: the answer names it, or the required fields missing.
    if response.status_code == 400 and field and not (error.get("fields") or {}):
        return f"the message names no field ({field!r} at fault): {error}"
    if response.status_code not in (*malformation.status, 400, 404, 409, 415, 403):
        return f"unexpected status {response.status_code}"
    return None
