"""Statements prepared on the server, for the few hot paths (a payment through the API).

Django's cursors bind parameters on the client: every statement goes to PostgreSQL as text and is
parsed, analysed and planned each time, which for the payment's one write statement cost more
than running it. A cursor from ``prepared_cursor`` binds them on the server and ``prepare=True``
keeps the statement prepared on the connection (parsed once; planned once PostgreSQL settles on a
generic plan), so later calls send only the values.

These statements bypass Django's cursor wrappers, so pghistory does not prefix them with its
context (one prepared statement cannot carry a second statement): a statement that writes
history-tracked rows sets that context itself (``accounts.audit.history_context``). Database
errors are Django's, as from any cursor. Where Django logs queries (DEBUG, or a test counting
them), each statement is logged as Django's own cursors log theirs (``connection.queries`` and the
``django.db.backends`` logger), so a query count sees them too; elsewhere nothing is added.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections

_logger = logging.getLogger("django.db.backends")

# psycopg prepares nothing on a connection whose threshold is None (Django's default), and on its
# own any statement run this many times: so large that only statements asked for are prepared.
_ONLY_WHEN_ASKED = 2**31 - 1


class _LoggedCursor:
    """The psycopg cursor, each statement also logged as Django logs its own."""

    def __init__(self, cursor: psycopg.Cursor) -> None:
        self._cursor = cursor

    def execute(self, query: str, params: Any = None, **kwargs: Any) -> psycopg.Cursor:
        start = time.monotonic()
        try:
            return self._cursor.execute(query, params, **kwargs)
        finally:
            duration = time.monotonic() - start
            sql = f"{query} -- {params!r}"
            connection.queries_log.append({"sql": sql, "time": f"{duration:.3f}"})
            _logger.debug(
                "(%.3f) %s; alias=%s", duration, sql, connection.alias,
                extra={"duration": duration, "sql": sql, "params": params, "alias": connection.alias},
            )  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A server-binding cursor on the request's connection (same transaction, same adapters)."""
    # The connection itself, looked up once: each attribute read through ``django.db.connection``
    # looks it up again in the context-local registry.
    db = connections[DEFAULT_DB_ALIAS]
    # What Django's own cursor() does first: the health check once per request, then connect.
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    with db.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield _LoggedCursor(cursor) if db.queries_logged else cursor
