"""Statements prepared on the server, for the few hot paths (a payment through the API).

Django's cursors bind parameters on the client: every statement goes to PostgreSQL as text and is
parsed, analysed and planned each time, which for the payment's one write statement cost more
than running it. A cursor from ``prepared_cursor`` binds them on the server and ``prepare=True``
keeps the statement prepared on the connection (parsed once; planned once PostgreSQL settles on a
generic plan), so later calls send only the values.

These statements bypass Django's cursor wrappers: they are not in ``connection.queries`` (DEBUG)
and pghistory does not prefix them with its context (one prepared statement cannot carry a second
statement), so a statement that writes history-tracked rows sets that context itself
(``accounts.audit.history_context``). Database errors are Django's, as from any cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

# psycopg prepares nothing on a connection whose threshold is None (Django's default), and on its
# own any statement run this many times: so large that only statements asked for are prepared.
_ONLY_WHEN_ASKED = 2**31 - 1


@contextmanager
def prepared_cursor() -> Iterator[psycopg.Cursor]:
    """A server-binding cursor on the request's connection (same transaction, same adapters)."""
    # What Django's own cursor() does first: the health check once per request, then connect.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield cursor
