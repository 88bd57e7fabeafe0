"""Every write of the sharing platform: sending, delivering, retrying, re-driving, reconciling.

Sending happens inside the caller's transaction (the transactional outbox): if the caller rolls
back, nothing was sent; if it commits, the message will be delivered. A commit nudges the
workers (``transaction.on_commit``) and the beat sweep starts them anyway, so no delivery
depends on the nudge.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import threading
import traceback
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.health import broker_redis
from accounts.scope import Scope

from . import faults, topics
from .handlers import Batch, handler_for
from .models import (
    DifferenceKind,
    MessageStatus,
    PendingDelivery,
    ReconciliationLine,
    ReconciliationReport,
    Redrive,
)

logger = logging.getLogger("portal.sharing")

PENDING, DELIVERED, DEAD = (
    MessageStatus.PENDING.value,
    MessageStatus.DELIVERED.value,
    MessageStatus.DEAD.value,
)
_REGION = r"^[0-9]{12}$"


def _config(name: str) -> Any:
    return settings.SHARING[name]


# --- sending ---------------------------------------------------------------------------------

_SEND_SQL = """
WITH subject AS (
    INSERT INTO sharing_subject AS s (key, lane, last_seq)
    VALUES (%(subject)s, mod(abs(hashtext(%(subject)s)::bigint), %(lanes)s), 1)
    ON CONFLICT (key) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING lane, last_seq
),
message AS (
    INSERT INTO sharing_outbox (topic, version, sender, receiver, subject, seq, lane, region_code, amount_fen, payload)
    SELECT %(topic)s, %(version)s, %(sender)s, %(receiver)s, %(subject)s, subject.last_seq, subject.lane,
           %(region_code)s, %(amount_fen)s, %(payload)s::jsonb
    FROM subject
    RETURNING id, topic, subject, lane, region_code, created_at
)
INSERT INTO sharing_pending (message_id, topic, subject, lane, region_code, sent_at)
SELECT id, topic, subject, lane, region_code, created_at FROM message
RETURNING message_id
"""


def message_send(
    *,
    topic: str,
    payload: dict[str, Any],
    subject: str | None = None,
    region_code: str | None = None,
    version: int | None = None,
) -> int:
    """Send one message in the caller's transaction; returns its id.

    The subject defaults to the topic's subject fields of the payload, the region code to its
    region field. Until the sending transaction ends, the subject's row stays locked, so the
    messages of one subject are numbered (``seq``) in the order their transactions commit.
    """
    spec = topics.get(topic)
    version = version or spec.version
    spec.validate(payload, version)
    subject = subject or spec.subject_of(payload)
    region_code = region_code or (str(payload.get(spec.region_field, "")) if spec.region_field else "")
    _check_region(region_code)
    amount = payload.get(spec.amount_field) if spec.amount_field else None
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _SEND_SQL,
            {
                "topic": spec.name,
                "version": version,
                "sender": spec.sender,
                "receiver": spec.receiver,
                "subject": subject,
                "lanes": _config("LANES"),
                "region_code": region_code,
                "amount_fen": amount,
                "payload": json.dumps(payload, ensure_ascii=False),
            },
        )
        message_id = cursor.fetchone()[0]
        nudge_on_commit(fanout=1)
    return message_id


# ``message_send`` as CTEs of a caller's own statement, the payload completed there by SQL. Sent
# only if ``sources`` (the caller's CTEs) has a row; a payload that fails the topic's schema
# (checked in SQL, as a bulk send does) leaves the outbox payload NULL, which the table refuses:
# the whole statement fails and nothing of it is written.
_SEND_WITHIN_CTES = """
sent_payload AS (
    SELECT %(sent_payload)s::jsonb || {completion} AS j FROM {sources}
),
sent_subject AS (
    INSERT INTO sharing_subject AS s (key, lane, last_seq)
    SELECT %(sent_subject)s::text, mod(abs(hashtext(%(sent_subject)s::text)::bigint), %(sent_lanes)s), 1 FROM sent_payload
    ON CONFLICT (key) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING lane, last_seq
),
sent_message AS (
    INSERT INTO sharing_outbox (topic, version, sender, receiver, subject, seq, lane, region_code, amount_fen, payload)
    SELECT %(sent_topic)s, %(sent_version)s, %(sent_sender)s, %(sent_receiver)s, %(sent_subject)s::text,
           sent_subject.last_seq, sent_subject.lane, %(sent_region_code)s, %(sent_amount_fen)s,
           CASE WHEN {valid} THEN v.j END
    FROM sent_subject, sent_payload AS v
    RETURNING id, topic, subject, lane, region_code, created_at
),
sent_pending AS (
    INSERT INTO sharing_pending (message_id, topic, subject, lane, region_code, sent_at)
    SELECT id, topic, subject, lane, region_code, created_at FROM sent_message
    RETURNING message_id
)"""
# One line: the caller's statement stays short enough for psycopg to cache its parsing. The casts
# keep one type for a parameter used twice when the caller's statement binds on the server.
_SEND_WITHIN_CTES = " ".join(_SEND_WITHIN_CTES.split())


@dataclass(frozen=True)
class SendWithin:
    """One message sent by a caller's own statement (``message_send_within``)."""

    # CTEs to put in the caller's WITH (``sent_message`` has the message's id) and their parameters.
    ctes: str
    params: dict[str, Any]

    def done(self) -> None:
        """Call once the statement has run: delivery is nudged when it commits (at once in
        autocommit, where the statement was its own transaction)."""
        nudge_on_commit(fanout=1)


@functools.cache
def _payload_predicate(topic: str, version: int) -> str:
    # Built once per topic; a literal % would be read as a parameter.
    return topics.get(topic).schema(version).sql_predicate("v.j").replace("%", "%%")


def message_send_within(
    *,
    topic: str,
    payload: dict[str, Any],
    completion: str,
    sources: str,
    stand_in: dict[str, Any],
) -> SendWithin:
    """``message_send`` as part of the caller's own SQL statement, for a hot path that writes its
    rows and its message in one statement (and, in autocommit, one transaction): the payload given
    here completed by ``completion``, a SQL jsonb expression over ``sources`` (the caller's CTEs,
    e.g. the row it inserts), for the fields only the statement knows. The payload is validated
    here with ``stand_in`` values for those fields (for the message), and again whole in SQL
    (the guarantee). Subject, region and amount come from ``payload`` as in ``message_send``."""
    spec = topics.get(topic)
    spec.validate({**payload, **stand_in}, spec.version)
    subject = spec.subject_of(payload)
    region_code = str(payload.get(spec.region_field, "")) if spec.region_field else ""
    _check_region(region_code)
    return SendWithin(
        ctes=_SEND_WITHIN_CTES.format(
            completion=completion,
            sources=sources,
            valid=_payload_predicate(spec.name, spec.version),
        ),
        params={
            "sent_topic": spec.name,
            "sent_version": spec.version,
            "sent_sender": spec.sender,
            "sent_receiver": spec.receiver,
            "sent_subject": subject,
            "sent_lanes": _config("LANES"),
            "sent_region_code": region_code,
            "sent_amount_fen": payload.get(spec.amount_field) if spec.amount_field else None,
            "sent_payload": json.dumps(payload, ensure_ascii=False),
        },
    )


def _check_region(region_code: str) -> None:
    import re

    if not re.match(_REGION, region_code or ""):
        raise ValidationError(_("A message needs the 12-digit region code of what it is about."))


@dataclass(frozen=True)
class ListItems:
    """The list field of bulk messages, built by the platform from one row per item.

    ``query`` gives one row per item: a column for each field of the list's item schema, named as
    the field and of a type that JSON-encodes to it (text, an integer, a boolean, a date; jsonb for
    a list, checked as JSON), plus
    ``message`` (the value of the messages query's ``message`` column for the message the item
    belongs to) and ``place`` (the item's order in its list). Because each column's type makes the
    JSON type, only the values are checked, on the columns, as the lists are built: walking a
    hundred thousand items' JSON field by field to check them afterwards cost a roster import more
    than half a second. ``ctes`` are common table expressions (the text after WITH) that both
    queries may read, so that work they share is done once.
    """

    query: str
    field: str = "items"
    ctes: str | None = None


def message_send_bulk(
    *,
    topic: str,
    rows: Iterable[tuple[str | None, str | None, dict[str, Any]]] | None = None,
    query: str | None = None,
    params: Iterable[Any] | dict[str, Any] | None = None,
    version: int | None = None,
    items: ListItems | None = None,
) -> int:
    """Send many messages of one topic at once, set-based, in the caller's transaction.

    Either ``rows`` — an iterable of ``(subject or None, region_code or None, payload)``, streamed
    into PostgreSQL with COPY — or ``query``, a SQL query with the columns ``subject``,
    ``region_code`` (both may be NULL: derived from the payload) and ``payload`` (jsonb), run as
    INSERT … SELECT. With ``items`` (and a query), the query gives each message without its list
    field and with a ``message`` column, and the platform adds the list (``ListItems``). The
    payloads are validated by one SQL statement; if any row is invalid nothing is sent and the
    first few problems are reported. Returns the number of messages.
    """
    if (rows is None) == (query is None):
        raise ValueError("give either rows or query")
    if items is not None and query is None:
        raise ValueError("list items come with a query")
    spec = topics.get(topic)
    version = version or spec.version
    staging = f"sharing_staging_{uuid.uuid4().hex[:12]}"
    with transaction.atomic(), connection.cursor() as cursor:
        _bulk_stage(
            cursor,
            spec=spec,
            version=version,
            staging=staging,
            temporary=True,
            rows=rows,
            query=query,
            params=params,
            items=items,
        )
        sent = _bulk_insert(cursor, spec=spec, version=version, staging=staging)
        if sent:
            nudge_on_commit(fanout=_config("FANOUT"))
    return sent


def _bulk_stage(
    cursor: Any,
    *,
    spec: topics.Topic,
    version: int,
    staging: str,
    temporary: bool,
    rows: Iterable[tuple[str | None, str | None, dict[str, Any]]] | None,
    query: str | None,
    params: Iterable[Any] | dict[str, Any] | None,
    items: ListItems | None,
) -> None:
    """Stage the messages in ``staging`` and check every payload: ValidationError if any is refused.
    ``temporary``: a table of this transaction; otherwise an unlogged table that outlives it, for
    the caller's transaction to send (``message_send_bulk_beside``)."""
    schema = spec.schema(version)
    items_checked: dict[str, str] = {}
    cursor.execute("SET LOCAL work_mem = '256MB'")
    kind, ending = ("TEMP", " ON COMMIT DROP") if temporary else ("UNLOGGED", "")
    cursor.execute(
        f"CREATE {kind} TABLE {staging} (ord bigint GENERATED ALWAYS AS IDENTITY, subject text, "
        f"region_code text, payload jsonb, bad_items bigint NOT NULL DEFAULT 0){ending}"
    )
    if rows is not None:
        _copy_rows(cursor, staging, rows)
    elif items is not None:
        cursor.execute(_with_list_items(cursor, schema, staging, query or "", items, params), params)
        items_checked = {items.field: "s.bad_items = 0"}
    else:
        cursor.execute(
            f"INSERT INTO {staging} (subject, region_code, payload) "  # noqa: S608 - the caller's own query
            f"SELECT q.subject, q.region_code, q.payload FROM ({query}) AS q",
            params,
        )
    # The payload's own region field is checked by the schema; a given region code here.
    region_ok = (
        f"(s.region_code IS NULL OR s.region_code ~ '{_REGION}')"
        if spec.region_field
        else f"(s.region_code IS NOT NULL AND s.region_code ~ '{_REGION}')"
    )
    valid = f"{schema.sql_predicate('s.payload', items_checked=items_checked)} AND {region_ok}"
    cursor.execute(
        f"SELECT s.ord, s.payload, s.bad_items FROM {staging} s "  # noqa: S608 - no input in it
        f"WHERE NOT coalesce({valid}, false) ORDER BY s.ord LIMIT 5"
    )
    bad = cursor.fetchall()
    if bad:
        problems = []
        for ord_, payload, bad_items in bad:
            payload = json.loads(payload) if isinstance(payload, str) else payload
            if payload is None:
                found = [_("items for a message that the query did not give")]
            else:
                found = schema.problems(payload)
                if not found and bad_items:
                    found = [
                        _("the list %(field)s was not built from its items")
                        % {"field": items.field if items else ""}
                    ]
                found = found or [_("no valid region code")]
            problems.append(_("row %(row)s: %(problems)s") % {"row": ord_, "problems": "; ".join(found)})
        raise ValidationError(
            _("Bulk send of %(topic)s refused, nothing was sent: %(problems)s")
            % {"topic": spec.name, "problems": " | ".join(problems)}
        )
    # Numbering happens on narrow rows (order, subject); the payloads are joined back once, in
    # order, through the primary key: sorting a million wide rows spilled to disk twice.
    cursor.execute(f"ALTER TABLE {staging} ADD PRIMARY KEY (ord)")
    cursor.execute(f"ANALYZE {staging}")


def _bulk_insert(cursor: Any, *, spec: topics.Topic, version: int, staging: str) -> int:
    """Number the staged messages in their subjects and put them in the outbox, pending delivery."""

    def region(alias: str) -> str:
        if spec.region_field:
            return f"coalesce({alias}.region_code, {alias}.payload->>'{spec.region_field}')"
        return f"{alias}.region_code"

    amount = f"(s.payload->>'{spec.amount_field}')::bigint" if spec.amount_field else "NULL::bigint"
    subject = f"coalesce(s.subject, {spec.subject_sql('s.payload')})"
    cursor.execute(
        f"""
        WITH keyed AS MATERIALIZED (
            SELECT s.ord, {subject} AS key FROM {staging} s
        ),
        counts AS (
            SELECT key, count(*) AS n FROM keyed GROUP BY key
        ),
        subjects AS (
            INSERT INTO sharing_subject AS t (key, lane, last_seq)
            SELECT key, mod(abs(hashtext(key)::bigint), %(lanes)s), n FROM counts ORDER BY key
            ON CONFLICT (key) DO UPDATE SET last_seq = t.last_seq + excluded.last_seq
            RETURNING key, lane, last_seq
        ),
        numbered AS (
            SELECT k.ord, k.key, sub.lane,
                   sub.last_seq - c.n + row_number() OVER (PARTITION BY k.key ORDER BY k.ord) AS seq
            FROM keyed k
            JOIN counts c ON c.key = k.key
            JOIN subjects sub ON sub.key = k.key
        ),
        messages AS (
            INSERT INTO sharing_outbox
                (topic, version, sender, receiver, subject, seq, lane, region_code, amount_fen, payload)
            SELECT %(topic)s, %(version)s, %(sender)s, %(receiver)s, n.key, n.seq, n.lane,
                   {region("s")}, {amount}, s.payload
            FROM numbered n JOIN {staging} s ON s.ord = n.ord
            ORDER BY n.ord
            RETURNING id, topic, subject, lane, region_code, created_at
        )
        INSERT INTO sharing_pending (message_id, topic, subject, lane, region_code, sent_at)
        SELECT id, topic, subject, lane, region_code, created_at FROM messages
        """,  # noqa: S608 - built from the topic registry and a generated table name, no input
        {
            "lanes": _config("LANES"),
            "topic": spec.name,
            "version": version,
            "sender": spec.sender,
            "receiver": spec.receiver,
        },
    )
    return cursor.rowcount


# --- a bulk send built beside the caller's transaction -----------------------------------------

BESIDE_PREFIX = "sharing_beside_"
_ABANDON = object()  # the relay tells the builder to give up (the caller's transaction failed)
_RELAY_BLOCK = 1 << 20


@dataclass(frozen=True)
class BesideRows:
    """What the caller's transaction hands to a bulk send built beside it: the rows of ``query``,
    run in the caller's transaction (so they include its own uncommitted writes). The send's
    queries read them as the table ``{rows}``."""

    query: str
    params: dict[str, Any] | None = None


@dataclass
class BulkSentBeside:
    """The outcome of ``message_send_bulk_beside``, known once its block has ended."""

    sent: int = 0


class _BesideBuilder(threading.Thread):
    """Builds and checks the messages on a connection of its own, into unlogged tables that it
    commits for the caller's transaction to send."""

    def __init__(
        self,
        *,
        spec: topics.Topic,
        version: int,
        rows_table: str,
        staging: str,
        columns: str,
        query: str,
        params: dict[str, Any] | None,
        items: ListItems | None,
    ) -> None:
        super().__init__(name=f"sharing-beside-{staging}", daemon=True)
        self.spec, self.version, self.rows_table, self.staging = spec, version, rows_table, staging
        self.columns, self.query, self.params, self.items = columns, query, params, items
        self.blocks: queue.Queue[Any] = queue.Queue(maxsize=8)
        self.relayed = threading.Event()  # the builder has taken the relay's last block
        self.decided = threading.Event()  # the caller has taken the messages, or abandoned them
        self.abandoned = False
        self.error: BaseException | None = None
        self.staged = 0
        self.language = translation.get_language()  # the caller's, for the refusal's message

    def put(self, block: Any) -> None:
        """Hand a block of the rows (or the end, None) to the builder; raises if it has failed."""
        while True:
            try:
                self.blocks.put(block, timeout=1)
                return
            except queue.Full:
                if not self.is_alive():
                    raise self.error or RuntimeError("the bulk send's builder stopped") from None

    def decide(self, *, abandon: bool) -> None:
        self.abandoned = abandon
        self.decided.set()
        self.join()

    def run(self) -> None:
        try:
            self._build()
            # Committed: the caller sends the messages and drops the tables, or they are dropped here.
            self.decided.wait()
            if self.abandoned:
                self._drop()
        except BaseException as error:  # handed to the caller's thread, which raises it
            self.error = error
            while not self.relayed.is_set():  # let a relay still putting blocks finish
                if self.blocks.get() in (None, _ABANDON):
                    break
        finally:
            connection.close()  # this thread's own connection

    def _build(self) -> None:
        with translation.override(self.language), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE UNLOGGED TABLE {self.rows_table} ({self.columns})")
            with cursor.cursor.copy(f"COPY {self.rows_table} FROM STDIN (FORMAT binary)") as copy:
                while (block := self.blocks.get()) is not None:
                    if block is _ABANDON:
                        self.relayed.set()
                        raise RuntimeError("abandoned by the sending transaction")
                    copy.write(block)
                self.relayed.set()
            cursor.execute(f"ANALYZE {self.rows_table}")
            _bulk_stage(
                cursor,
                spec=self.spec,
                version=self.version,
                staging=self.staging,
                temporary=False,
                rows=None,
                query=self.query,
                params=self.params,
                items=self.items,
            )
            cursor.execute(f"SELECT count(*) FROM {self.staging}")  # noqa: S608 - a generated name
            self.staged = int(cursor.fetchone()[0])

    def _drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.staging}, {self.rows_table}")


@contextmanager
def message_send_bulk_beside(
    *,
    topic: str,
    rows: BesideRows,
    query: str,
    params: dict[str, Any] | None = None,
    items: ListItems | None = None,
    version: int | None = None,
) -> Iterator[BulkSentBeside]:
    """``message_send_bulk`` with ``query`` (and ``items``), built and checked on a second
    connection while the caller's transaction goes on with the work of its block; sent in the
    caller's transaction when the block ends, so it is sent if and only if the caller commits.

    For a large send in a transaction with other large work: a roster import writes its tags while
    its messages to tax are built, and the two use both cores. ``rows`` are copied from the
    caller's transaction to the second connection; ``query``, ``items.query`` and ``items.ctes``
    read them as ``{rows}`` (and read nothing else of the database: the second connection does not
    see the caller's uncommitted writes). If the messages are refused the block's end raises the
    ValidationError ``message_send_bulk`` would, and the caller's transaction rolls back. The
    second connection's tables are dropped by the caller's transaction; if it rolls back after
    taking them, ``beside_tables_prune`` drops them a day later.
    """
    spec = topics.get(topic)
    version = version or spec.version
    name = f"{BESIDE_PREFIX}{int(timezone.now().timestamp())}_{uuid.uuid4().hex[:8]}"
    rows_table, staging = f"{name}_rows", f"{name}_msgs"
    with connection.cursor() as cursor:
        # A snapshot taken before the builder commits would not see its messages.
        cursor.execute("SHOW transaction_isolation")
        if cursor.fetchone()[0] != "read committed":
            raise ValueError("a bulk send built beside needs a READ COMMITTED transaction")
        cursor.execute(f"SELECT * FROM ({rows.query}) AS r LIMIT 0", rows.params)  # noqa: S608 - the caller's own query
        described = [(column.name, int(column.type_code)) for column in cursor.description]
        cursor.execute(
            "SELECT format_type(t, NULL) FROM unnest(%s::oid[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            [[type_oid for _name, type_oid in described]],
        )
        types = [row[0] for row in cursor.fetchall()]
    builder = _BesideBuilder(
        spec=spec,
        version=version,
        rows_table=rows_table,
        staging=staging,
        columns=", ".join(
            f'"{column}" {type_}' for (column, _oid), type_ in zip(described, types, strict=True)
        ),
        query=query.replace("{rows}", rows_table),
        params=params,
        items=replace(
            items,
            query=items.query.replace("{rows}", rows_table),
            ctes=items.ctes.replace("{rows}", rows_table) if items.ctes else None,
        )
        if items
        else None,
    )
    builder.start()
    outcome = BulkSentBeside()
    try:
        try:
            # Binary: the builder's table has the very types of the caller's columns.
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY ({rows.query}) TO STDOUT (FORMAT binary)", rows.params) as copy,
            ):
                # libpq hands over one row at a time; the builder takes them in blocks of 1 MB.
                block = bytearray()
                for row in copy:
                    block += row
                    if len(block) >= _RELAY_BLOCK:
                        builder.put(bytes(block))
                        block.clear()
                builder.put(bytes(block))
        except BaseException:
            # A builder that failed as well is left to its own error: the relay's is the one raised.
            with suppress(Exception):
                builder.put(_ABANDON)
            raise
        builder.put(None)
        yield outcome
    except BaseException:
        builder.decide(abandon=True)
        raise
    builder.decide(abandon=False)
    if builder.error is not None:
        raise builder.error
    with connection.cursor() as cursor:
        sent = _bulk_insert(cursor, spec=spec, version=version, staging=staging)
        if sent != builder.staged:
            raise RuntimeError(f"{builder.staged} messages were built beside, {sent} found to send")
        cursor.execute(f"DROP TABLE {staging}, {rows_table}")
    if sent:
        nudge_on_commit(fanout=_config("FANOUT"))
    outcome.sent = sent


def beside_tables_prune(*, older_than: timedelta = timedelta(days=1)) -> list[str]:
    """Drop the tables of bulk sends built beside a transaction that rolled back after taking them
    (``message_send_bulk_beside``); returns their names."""
    cutoff = (timezone.now() - older_than).timestamp()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE %s",
            [BESIDE_PREFIX.replace("_", "\\_") + "%"],
        )
        names = []
        for (table,) in cursor.fetchall():
            created = table.removeprefix(BESIDE_PREFIX).split("_", 1)[0]
            if created.isdigit() and int(created) < cutoff:
                names.append(table)
        if names:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(names)}")
    return names


def list_item_fields(*, topic: str, field: str = "items", version: int | None = None) -> tuple[str, ...]:
    """The fields of the topic's list ``field``'s items: the columns ``ListItems.query`` gives."""
    spec = topics.get(topic)
    return tuple(_item_schema(spec.schema(version or spec.version), field).fields)


def _item_schema(schema: topics.Schema, field: str) -> topics.Schema:
    field_spec = schema.fields.get(field)
    if field_spec is None or field_spec.kind != "list" or field_spec.items is None:
        raise ValueError(f"{field!r} is not a list of objects in this topic")
    return field_spec.items


def _with_list_items(
    cursor: Any,
    schema: topics.Schema,
    staging: str,
    query: str,
    items: ListItems,
    params: Iterable[Any] | dict[str, Any] | None,
) -> str:
    """The INSERT that stages the messages of ``query`` with ``items``' lists spliced in, each
    message with the number of its items whose values the item schema refuses."""
    item_fields = _item_schema(schema, items.field).fields
    with_ = f"WITH {items.ctes} " if items.ctes else ""
    # The items' columns and their types, without running the query.
    cursor.execute(f"{with_}SELECT * FROM ({items.query}) AS i LIMIT 0", params)  # noqa: S608 - the caller's own query
    columns = {column.name: column.type_code for column in cursor.description}
    expected = {*item_fields, "message", "place"}
    if set(columns) != expected:
        raise ValueError(
            f"list items need the columns {sorted(expected)}; missing {sorted(expected - set(columns))}, "
            f"unknown {sorted(set(columns) - expected)}"
        )
    for name, spec in item_fields.items():
        if columns[name] not in spec.column_types():
            raise ValueError(
                f"list item column {name!r} has type {columns[name]}, not one for a {spec.kind} field"
            )
    checks = " AND ".join(
        spec.sql_column_predicate(f'i."{name}"', int(columns[name])) for name, spec in item_fields.items()
    )
    # Each item is a row of the fields alone, which json_agg encodes under the columns' names: a
    # third cheaper than json_build_object's name and value per field.
    fields = ", ".join(f'i."{name}"' for name in item_fields)
    key = json.dumps(items.field)
    # The list is spliced into the message's JSON text, which is then parsed once: building the
    # jsonb object around a list already parsed would walk every item a second time. A message
    # without items gets an empty list; items of no message leave a row without a payload, which
    # the validation refuses.
    return f"""
        {with_.rstrip() + "," if with_ else "WITH"} lists AS (
            SELECT i.message, json_agg(item ORDER BY i.place)::text AS list,
                   count(*) FILTER (WHERE NOT coalesce({checks}, false)) AS bad
            FROM ({items.query}) AS i CROSS JOIN LATERAL (SELECT {fields}) AS item
            GROUP BY i.message
        )
        INSERT INTO {staging} (subject, region_code, payload, bad_items)
        SELECT q.subject, q.region_code,
               CASE WHEN q.payload IS NULL OR jsonb_typeof(q.payload) <> 'object' OR q.payload ? {topics.sql_literal(items.field)}
                    THEN q.payload
                    WHEN q.payload = '{{}}'::jsonb THEN ('{{' || {topics.sql_literal(key)} || ': ' || coalesce(l.list, '[]') || '}}')::jsonb
                    ELSE (left(q.payload::text, -1) || ', ' || {topics.sql_literal(key)} || ': ' || coalesce(l.list, '[]') || '}}')::jsonb
               END,
               -- A message that brings the list itself has it refused: its items were not checked.
               coalesce(l.bad, 0) + CASE WHEN q.payload ? {topics.sql_literal(items.field)} THEN 1 ELSE 0 END
        FROM ({query}) AS q FULL JOIN lists l ON l.message = q.message
    """  # noqa: S608 - the caller's own queries and names from the topic registry


def _copy_rows(
    cursor: Any, staging: str, rows: Iterable[tuple[str | None, str | None, dict[str, Any]]]
) -> None:
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    dumps = json.dumps
    with raw.copy(f"COPY {staging} (subject, region_code, payload) FROM STDIN") as copy:
        for subject, region_code, payload in rows:
            copy.write_row((subject, region_code, dumps(payload, ensure_ascii=False)))


def nudge_on_commit(*, fanout: int = 1) -> None:
    """Once per transaction: when it commits, start delivery (best effort; beat sweeps anyway)."""
    if connection.in_atomic_block:
        for _sids, func, _robust in connection.run_on_commit:
            if getattr(func, "sharing_nudge", False):
                return
    callback = _nudge_callback(fanout)
    transaction.on_commit(callback, robust=True)


def _nudge_callback(fanout: int) -> Any:
    def nudge() -> None:
        if fanout == 1 and float(_config("NUDGE_INTERVAL_SECONDS")) > 0:
            _NUDGER.request()
        else:
            delivery_nudge(fanout=fanout)

    nudge.sharing_nudge = True  # type: ignore[attr-defined]
    return nudge


# Set (in the broker's Redis) when a commit's nudge queues a delivery task, cleared by that task
# as it begins. While it is set, a queued task has yet to begin its drain, and that drain will
# see every commit made so far: a further nudge would queue a task with nothing left to do.
# Publishing a Celery task cost a payment more CPU than anything else it did (issue 7).
NUDGE_QUEUED_KEY = "sharing:delivery-queued"


def delivery_nudge(*, fanout: int = 1) -> int:
    """A commit's nudge: queue delivery unless a queued task has not begun yet (it will deliver
    this commit's messages). The mark lasts one sweep interval at most, so a task lost with the
    broker holds nudges back no longer than the sweep, which starts delivery anyway. A bulk send
    asks for several tasks at once (``fanout``) to drain in parallel, and always gets them."""
    if fanout > 1:
        return delivery_start(fanout=fanout)
    try:
        marked = broker_redis().set(
            NUDGE_QUEUED_KEY, 1, nx=True, px=max(1, int(float(_config("SWEEP_SECONDS")) * 1000))
        )
    except Exception as error:
        logger.warning("sharing: could not mark a queued delivery (%s); queuing one", type(error).__name__)
        marked = True
    return delivery_start(fanout=fanout) if marked else 0


class _Nudger:
    """Per process, a thread that nudges delivery for the commits made since its last nudge, at
    most once every ``NUDGE_INTERVAL_SECONDS``: a payment's commit only wakes it, and a worker
    recording payments back to back asks Redis a few times a second, not once a payment. Every
    commit is still followed by a nudge within the interval (the request comes after the commit,
    and a request during the pause is served after it); a nudge lost with the process is the
    sweep's, as a nudge lost with the broker is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wanted = threading.Event()

    def request(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child: the parent's thread is not here
            self._start()
        self._wanted.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._wanted = threading.Event()
            threading.Thread(
                target=self._run, args=(self._wanted,), name="sharing-nudger", daemon=True
            ).start()
            self._pid = os.getpid()

    @staticmethod
    def _run(wanted: threading.Event) -> None:
        import time as clock

        while True:
            wanted.wait()
            wanted.clear()  # before nudging: a commit from now on asks for the next one
            try:
                delivery_nudge(fanout=1)
            except Exception:  # never let the thread die: the next request would go unserved
                logger.exception("sharing: the nudge failed; the sweep will start delivery")
            clock.sleep(float(_config("NUDGE_INTERVAL_SECONDS")))


_NUDGER = _Nudger()


def delivery_nudge_clear() -> None:
    """A delivery task begins: commits from now on may come after its drain has read, so they
    nudge again."""
    try:
        broker_redis().delete(NUDGE_QUEUED_KEY)
    except Exception as error:
        logger.warning("sharing: could not clear the queued-delivery mark (%s)", type(error).__name__)


def delivery_start(*, fanout: int = 1) -> int:
    """Queue delivery tasks; a broker that is down is logged, never raised (the sweep catches up)."""
    from .tasks import deliver

    started = 0
    for _attempt in range(max(1, fanout)):
        try:
            deliver.apply_async(retry=False)
            started += 1
        except Exception as error:
            logger.warning("sharing: could not queue delivery (%s); the sweep will", type(error).__name__)
            break
    return started


# --- delivery --------------------------------------------------------------------------------

_CLAIM_SQL = """
SELECT l.number FROM sharing_lane l
WHERE NOT (l.number = ANY(%(skip)s))
  AND EXISTS (SELECT 1 FROM sharing_pending p
              WHERE p.lane = l.number AND p.status = 0 AND p.next_attempt_at <= statement_timestamp())
ORDER BY l.last_worked_at NULLS FIRST, l.number
LIMIT 1
FOR UPDATE OF l SKIP LOCKED
"""

# Pending, due messages of the lane in send order, except those behind an earlier message of
# the same subject that failed and waits for its retry or is dead: a subject never overtakes.
_BATCH_SQL = """
SELECT p.message_id, p.topic, p.subject
FROM sharing_pending p
WHERE p.lane = %(lane)s AND p.status = 0 AND p.next_attempt_at <= statement_timestamp()
  AND NOT EXISTS (
      SELECT 1 FROM sharing_pending b
      WHERE b.subject = p.subject AND b.message_id < p.message_id AND b.attempts > 0
        AND (b.status = 2 OR b.next_attempt_at > statement_timestamp())
  )
ORDER BY p.message_id
LIMIT %(limit)s
"""

_INBOX_SQL = """
INSERT INTO sharing_inbox (message_id, topic, receiver, region_code, amount_fen, sent_at, applied_at)
SELECT o.id, o.topic, o.receiver, o.region_code, {amount}, o.created_at, statement_timestamp()
FROM sharing_outbox o WHERE o.id = ANY(%(ids)s)
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id
"""

_DELIVERED_SQL = "DELETE FROM sharing_pending WHERE message_id = ANY(%(ids)s)"

_FAILED_SQL = """
UPDATE sharing_pending SET
    attempts = attempts + 1,
    status = CASE WHEN attempts + 1 >= %(max)s THEN 2 ELSE 0 END,
    dead_at = CASE WHEN attempts + 1 >= %(max)s THEN statement_timestamp() ELSE NULL END,
    next_attempt_at = statement_timestamp() + make_interval(
        secs => least(%(cap)s, %(base)s * power(2, attempts)) * (0.75 + random() / 2)),
    last_error = %(error)s,
    last_traceback = %(traceback)s
WHERE message_id = %(id)s
RETURNING status
"""


class Claimed(NamedTuple):
    id: int
    topic: str
    subject: str


@dataclass
class BatchResult:
    lane: int
    claimed: int = 0
    applied: int = 0
    retried: int = 0
    dead: int = 0
    duplicates: int = 0
    blocked: set[str] = field(default_factory=set)


def delivery_run_batch(*, skip_lanes: Iterable[int] = ()) -> BatchResult | None:
    """Claim one lane and apply one batch of its messages, all in one transaction.

    Returns None when no lane has work that this worker may take. The lane's row lock is the
    claim: a worker that dies loses its connection and PostgreSQL frees the lane at once; a
    worker that hangs is stopped by ``transaction_timeout`` (the lease, ``LEASE_SECONDS``).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        _set_lease(cursor)
        cursor.execute(_CLAIM_SQL, {"skip": list(skip_lanes)})
        row = cursor.fetchone()
        if row is None:
            return None
        result = BatchResult(lane=row[0])
        cursor.execute(_BATCH_SQL, {"lane": result.lane, "limit": _config("BATCH_SIZE")})
        messages = [Claimed(*row) for row in cursor.fetchall()]
        result.claimed = len(messages)
        for run in _runs_by_topic(messages):
            _apply(cursor, run, result)
        cursor.execute(
            "UPDATE sharing_lane SET batches = batches + 1, last_worked_at = now() WHERE number = %s",
            [result.lane],
        )
    return result


def _set_lease(cursor: Any) -> None:
    seconds = int(_config("LEASE_SECONDS"))
    setting = (
        "transaction_timeout" if connection.pg_version >= 170000 else "idle_in_transaction_session_timeout"
    )
    cursor.execute(f"SET LOCAL {setting} = %s", [f"{seconds}s"])


def _runs_by_topic(messages: list[Claimed]) -> Iterator[list[Claimed]]:
    """Consecutive messages of one topic, keeping the send order across topics."""
    run: list[Claimed] = []
    for message in messages:
        if run and run[-1].topic != message.topic:
            yield run
            run = []
        run.append(message)
    if run:
        yield run


def _apply(cursor: Any, run: list[Claimed], result: BatchResult) -> None:
    """Apply a run of one topic; on failure narrow it down by halves to the failing messages."""
    run = [message for message in run if message.subject not in result.blocked]
    if not run:
        return
    topic = topics.get(run[0].topic)
    handler = handler_for(topic.name)
    ids = [message.id for message in run]
    try:
        with transaction.atomic():
            if handler is None:
                raise LookupError(f"no handler registered for {topic.name}")
            amount = f"(o.payload->>'{topic.amount_field}')::bigint" if topic.amount_field else "NULL::bigint"
            cursor.execute(_INBOX_SQL.format(amount=amount), {"ids": ids})
            fresh = {row[0] for row in cursor.fetchall()}
            new = [message for message in run if message.id in fresh]
            if new:
                faults.before_handler(topic.name, [message.subject for message in new])
                handler(Batch(topic=topic.name, ids=[message.id for message in new]))
                faults.after_handler(topic.name, [message.id for message in new])
            cursor.execute(_DELIVERED_SQL, {"ids": ids})
        result.applied += len(new)
        result.duplicates += len(run) - len(new)
    except InterfaceError:
        raise  # the connection is gone: the whole batch rolls back and is tried again
    except Exception as error:
        if connection.connection is None or connection.connection.closed:
            raise
        if len(run) > 1:
            middle = len(run) // 2
            _apply(cursor, run[:middle], result)
            _apply(cursor, run[middle:], result)
            return
        message = run[0]
        result.blocked.add(message.subject)
        cursor.execute(
            _FAILED_SQL,
            {
                "id": message.id,
                "max": _config("MAX_ATTEMPTS"),
                "base": float(_config("RETRY_BASE_SECONDS")),
                "cap": float(_config("RETRY_MAX_SECONDS")),
                "error": f"{type(error).__name__}: {error}"[:2000],
                "traceback": "".join(traceback.format_exception(error))[-20000:],
            },
        )
        if cursor.fetchone()[0] == DEAD:
            result.dead += 1
            logger.warning("sharing: message %s (%s) is a dead letter: %s", message.id, topic.name, error)
        else:
            result.retried += 1


def delivery_drain(*, seconds: float | None = None) -> dict[str, int]:
    """Apply batches until no lane has work for this worker or the time slice is used up."""
    import time as clock

    deadline = clock.monotonic() + (seconds if seconds is not None else float(_config("DRAIN_SECONDS")))
    totals = {"batches": 0, "applied": 0, "retried": 0, "dead": 0, "duplicates": 0, "more": 0}
    skip: set[int] = set()
    lanes_ensure()
    while clock.monotonic() < deadline:
        result = delivery_run_batch(skip_lanes=skip)
        if result is None:
            return totals
        totals["batches"] += 1
        for key in ("applied", "retried", "dead", "duplicates"):
            totals[key] += getattr(result, key)
        if result.claimed == 0 or (result.applied + result.duplicates) == 0:
            # Nothing this lane can do now (all blocked or all failing): leave it to later.
            skip.add(result.lane)
    totals["more"] = 1
    return totals


def lanes_ensure() -> int:
    """Create the lane rows the configuration asks for (never removes: subjects keep their lane)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sharing_lane (number, batches) SELECT n, 0 FROM generate_series(0, %s - 1) AS n "
            "ON CONFLICT DO NOTHING",
            [_config("LANES")],
        )
        return cursor.rowcount


def pending_ready_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM sharing_pending WHERE status = 0 AND next_attempt_at <= statement_timestamp())"
        )
        return bool(cursor.fetchone()[0])


# --- dead letters ----------------------------------------------------------------------------


def dead_letter_redrive(
    *,
    scope: Scope,
    ids: Iterable[int] | None = None,
    topic: str | None = None,
    everything: bool = False,
) -> int:
    """Send dead letters round again: the given ids, all of one topic, or (``everything``) all.

    Only dead letters in the caller's region subtree are touched. Attempts start again from zero;
    the last error stays on the message until it is overwritten or the message is delivered.
    """
    from accounts.roles import Action

    scope.require(Action.SHARING_REDRIVE)
    if ids is None and topic is None and not everything:
        raise ValidationError(_("Choose dead letters to re-drive: some, a topic, or all."))
    queryset = scope.filter(PendingDelivery.objects.filter(status=DEAD))
    criteria = []
    if ids is not None:
        id_list = sorted({int(value) for value in ids})
        queryset = queryset.filter(message_id__in=id_list)
        criteria.append(_("%(count)s chosen") % {"count": len(id_list)})
    if topic:
        topics.get(topic)
        queryset = queryset.filter(topic=topic)
        criteria.append(topic)
    with transaction.atomic():
        count = queryset.update(
            status=PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            dead_at=None,
            redrives=F("redrives") + 1,
        )
        Redrive.objects.create(
            user_id=scope.user_id,
            topic=topic or "",
            criteria=("; ".join(criteria) or _("all"))[:200],
            message_count=count,
        )
        if count:
            nudge_on_commit(fanout=_config("FANOUT"))
    logger.info("sharing: user %s re-drove %s dead letters (%s)", scope.user_id, count, topic or "all topics")
    return count


# --- reconciliation (对账) ---------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def reconciliation_run(*, day: date) -> ReconciliationReport:
    """Compare, per topic, what the senders sent on ``day`` with what the receivers applied.

    Counts and amount sums per topic; every message on which the sides disagree (sent but not
    applied, applied but not in any outbox, different amounts) is listed with both records.
    """
    start, end = _day_bounds(day)
    bounds = {"start": start, "end": end}
    with transaction.atomic(), connection.cursor() as cursor:
        report = ReconciliationReport.objects.create(day=day)
        cursor.execute(
            """
            WITH s AS (SELECT topic, count(*) AS n, coalesce(sum(amount_fen), 0) AS amount FROM sharing_outbox
                       WHERE created_at >= %(start)s AND created_at < %(end)s GROUP BY topic),
                 r AS (SELECT topic, count(*) AS n, coalesce(sum(amount_fen), 0) AS amount FROM sharing_inbox
                       WHERE sent_at >= %(start)s AND sent_at < %(end)s GROUP BY topic)
            SELECT coalesce(s.topic, r.topic), coalesce(s.n, 0), coalesce(s.amount, 0),
                   coalesce(r.n, 0), coalesce(r.amount, 0)
            FROM s FULL JOIN r ON r.topic = s.topic ORDER BY 1
            """,
            bounds,
        )
        lines = []
        for name, sent, sent_amount, applied, applied_amount in cursor.fetchall():
            spec = topics.REGISTRY.get(name)
            lines.append(
                ReconciliationLine(
                    report=report,
                    topic=name,
                    sender=spec.sender if spec else "",
                    receiver=spec.receiver if spec else "",
                    sent_count=sent,
                    sent_amount_fen=sent_amount,
                    applied_count=applied,
                    applied_amount_fen=applied_amount,
                )
            )
        ReconciliationLine.objects.bulk_create(lines)
        cursor.execute(
            """
            INSERT INTO sharing_reconciliationdifference
                (report_id, topic, kind, message_id, subject, region_code, sent_amount_fen, applied_amount_fen,
                 status, last_error)
            SELECT %(report)s, coalesce(o.topic, i.topic),
                   CASE WHEN i.message_id IS NULL THEN %(not_applied)s
                        WHEN o.id IS NULL THEN %(not_sent)s ELSE %(amount)s END,
                   coalesce(o.id, i.message_id), coalesce(o.subject, ''), coalesce(o.region_code, i.region_code),
                   o.amount_fen, i.amount_fen,
                   CASE WHEN o.id IS NULL THEN NULL WHEN i.message_id IS NOT NULL THEN 1 ELSE coalesce(p.status, 0) END,
                   coalesce(p.last_error, '')
            FROM (SELECT * FROM sharing_outbox WHERE created_at >= %(start)s AND created_at < %(end)s) AS o
            FULL JOIN (SELECT * FROM sharing_inbox WHERE sent_at >= %(start)s AND sent_at < %(end)s) AS i
                   ON i.message_id = o.id
            LEFT JOIN sharing_pending p ON p.message_id = o.id
            WHERE o.id IS NULL OR i.message_id IS NULL OR o.amount_fen IS DISTINCT FROM i.amount_fen
            """,
            {
                **bounds,
                "report": report.pk,
                "not_applied": DifferenceKind.NOT_APPLIED.value,
                "not_sent": DifferenceKind.NOT_SENT.value,
                "amount": DifferenceKind.AMOUNT.value,
            },
        )
        report.difference_count = cursor.rowcount
        report.save(update_fields=["difference_count"])
    if report.difference_count:
        logger.warning("sharing: reconciliation of %s found %s differences", day, report.difference_count)
    return report
