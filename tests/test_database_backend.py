"""The database backend's check of a kept connection: no round trip while the server has said
nothing; a connection the server ended is found out and replaced."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept() -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the test database, outside the test's transaction, as a worker keeps it."""
    other = connections.create_connection("default")
    other.settings_dict["NAME"] = connection.settings_dict["NAME"]
    other.ensure_connection()
    yield other
    other.close()


def _last_statement_of(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0]


def test_given_an_idle_kept_connection_then_it_is_usable_without_a_statement_sent(kept):
    with kept.cursor() as cursor:
        cursor.execute("SELECT 42")
    pid = kept.connection.info.backend_pid

    usable = kept.is_usable()

    assert usable is True
    assert _last_statement_of(pid) == "SELECT 42"


def test_given_a_connection_the_server_ended_then_it_is_unusable_and_the_next_request_reconnects(kept):
    pid = kept.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the backend's goodbye reaches the socket

    usable = kept.is_usable()
    kept.health_check_done = False
    kept.close_if_health_check_failed()
    with kept.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        new_pid = cursor.fetchone()[0]

    assert usable is False
    assert new_pid != pid
