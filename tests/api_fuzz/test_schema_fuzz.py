"""Fuzzing the whole OpenAPI schema as a user of each role, in that user's own area: no server
error, and every answer as the schema declares it (status code, content type, headers, body).

The requests are generated once per run from the schema the portal serves (positive and
negative examples of every operation) and sent as each role; each runs in a savepoint that is
rolled back, so nothing one example writes is seen by the next.
``PORTAL_FUZZ_EXAMPLES=200 pytest tests/api_fuzz/test_schema_fuzz.py -s`` is the deep run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from accounts.roles import Role
from tests.api_fuzz.support import (
    Example,
    examples_per_operation,
    fuzz_role,
    generate_examples,
    in_process_app,
    load_schema,
    operation_labels,
    token_header,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app() -> Iterator[Any]:
    with in_process_app() as handler:
        yield handler


_CACHE: dict[str, Any] = {}


@pytest.fixture
def examples(world, app) -> tuple[Any, list[Example]]:
    """The schema as served, and the examples generated from it (once per test process)."""
    key = str(examples_per_operation())
    if key not in _CACHE:
        schema = load_schema(app, token_header(world.user_for(Role.ADMINISTRATOR)))
        started = time.monotonic()
        generated = generate_examples(schema, examples_per_operation())
        print(f"\n[fuzz] generated {len(generated)} examples in {time.monotonic() - started:.1f}s")
        _CACHE[key] = (schema, generated)
    schema, generated = _CACHE[key]
    schema.app = app
    return schema, generated


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_given_a_user_of_each_role_when_every_operation_is_fuzzed_then_no_server_error_and_answers_match_the_schema(
    world, app, examples, role
):
    schema, generated = examples
    started = time.monotonic()
    run = fuzz_role(role=role.value, user=world.user_for(role), examples=generated, app=app)

    print(
        f"\n[fuzz] {role.value}: {len(run.exercised)} operations, {run.examples} requests, "
        f"{len(run.findings)} findings, {time.monotonic() - started:.1f}s, "
        f"statuses {dict(sorted(run.statuses.items()))}"
    )
    assert run.exercised == operation_labels(schema.raw_schema)
    assert not run.findings, "\n\n".join(str(finding) for finding in run.findings)
