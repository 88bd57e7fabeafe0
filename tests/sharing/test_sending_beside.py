"""A bulk send built beside the caller's transaction (``message_send_bulk_beside``): the messages
are built and checked on a second connection from rows the caller's transaction hands over, and
sent by the caller's transaction when the block ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from sharing import services
from sharing.models import OutboxMessage, PendingDelivery
from tests.sharing.support import MARK_ITEMS

pytestmark = pytest.mark.django_db

# Three marks in two messages, as rows only the caller's transaction sees (a temporary table).
_ROWS = f"DROP TABLE IF EXISTS marks_here; CREATE TEMP TABLE marks_here ON COMMIT DROP AS {MARK_ITEMS}"
_MESSAGES = """
    SELECT NULL::text AS subject, '141002000000' AS region_code, r.message, jsonb_build_object(
        'county_code', '141002', 'insurance_year', 2027, 'region_code', '141002000000', 'roster', 'civil affairs',
        'import_id', 9, 'batch', r.message, 'subsidy_fen', sum(r.subsidy_fen)) AS payload
    FROM {rows} r GROUP BY r.message
"""
_ITEMS = "SELECT * FROM {rows}"


def _beside_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'sharing\\_beside\\_%%' ORDER BY 1"
        )
        return [name for (name,) in cursor.fetchall()]


def _sent() -> list[tuple[object, ...]]:
    return list(
        OutboxMessage.objects.filter(topic="subsidy.marks_batch")
        .order_by("id")
        .values_list("payload", "subject", "region_code", "amount_fen")
    )


def _send_beside(rows: str = _ROWS, body: Callable[[], None] = lambda: None) -> int:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(rows)
        with services.message_send_bulk_beside(
            topic="subsidy.marks_batch",
            rows=services.BesideRows(query="SELECT * FROM marks_here"),
            query=_MESSAGES,
            items=services.ListItems(query=_ITEMS),
        ) as outcome:
            body()
        return outcome.sent


def test_given_rows_only_the_callers_transaction_sees_when_sent_beside_then_the_messages_are_those_a_bulk_send_makes(
    no_nudge,
):
    before = _beside_tables()

    sent_beside = _send_beside()
    beside = _sent()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_ROWS)
        services.message_send_bulk(
            topic="subsidy.marks_batch",
            query=_MESSAGES.replace("{rows}", "marks_here"),
            items=services.ListItems(query=_ITEMS.replace("{rows}", "marks_here")),
        )
    plain = _sent()[len(beside) :]

    assert sent_beside == 2
    assert beside == plain
    assert [payload["batch"] for payload, *_rest in beside] == [1, 2]  # type: ignore[index]
    assert [item["person_id"] for item in beside[0][0]["items"]] == [  # type: ignore[index]
        "141002195101091413",
        "141002196107160015",
    ]
    assert PendingDelivery.objects.filter(topic="subsidy.marks_batch").count() == 4
    assert _beside_tables() == before  # the second connection's tables dropped by the caller


def test_given_an_item_the_schema_refuses_when_sent_beside_then_the_block_ends_with_the_refusal_and_nothing_is_sent(
    no_nudge,
):
    before = _beside_tables()
    rows = _ROWS.replace("'withdrawn', 0,", "'lost', 0,")
    assert rows != _ROWS

    with pytest.raises(
        ValidationError, match="第 2 行：items 第0项：status 须为以下值之一：active, withdrawn"
    ):
        _send_beside(rows)

    assert _sent() == []
    assert _beside_tables() == before  # the second connection rolled back


def test_given_the_block_fails_when_sent_beside_then_nothing_is_sent_and_the_second_connections_tables_are_dropped(
    no_nudge,
):
    before = _beside_tables()

    def fail() -> None:
        raise RuntimeError("the tags could not be written")

    with pytest.raises(RuntimeError, match="the tags could not be written"):
        _send_beside(body=fail)

    assert _sent() == []
    assert _beside_tables() == before


def test_given_the_rows_query_fails_while_copied_then_its_error_is_raised_and_nothing_is_left(no_nudge):
    before = _beside_tables()
    # Described without running (LIMIT 0); the first row of place 1 divides by zero as it is copied.
    rows = "SELECT * FROM marks_here, LATERAL (SELECT 1 / (place - 1) AS fails) f"

    with pytest.raises(Exception, match="division by zero"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_ROWS)
        with services.message_send_bulk_beside(
            topic="subsidy.marks_batch",
            rows=services.BesideRows(query=rows),
            query=_MESSAGES,
            items=services.ListItems(query=_ITEMS),
        ):
            pass

    assert _sent() == []
    assert _beside_tables() == before


@pytest.mark.django_db(transaction=True)
def test_given_a_repeatable_read_transaction_then_a_send_beside_is_refused_as_a_programming_error(no_nudge):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with (
            pytest.raises(ValueError, match="READ COMMITTED"),
            services.message_send_bulk_beside(
                topic="subsidy.marks_batch",
                rows=services.BesideRows(query="SELECT 1 AS one"),
                query=_MESSAGES,
            ),
        ):
            pass


def test_given_tables_left_by_sends_beside_then_the_prune_drops_those_older_than_a_day_and_keeps_the_others():
    now = int(timezone.now().timestamp())
    old = f"sharing_beside_{now - 86_400 - 60}_0000aaaa_msgs"
    young = f"sharing_beside_{now - 3_600}_0000bbbb_msgs"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE {old} (n int)")
        cursor.execute(f"CREATE UNLOGGED TABLE {young} (n int)")

    dropped = services.beside_tables_prune(older_than=timedelta(days=1))

    assert dropped == [old]
    assert old not in _beside_tables()
    assert young in _beside_tables()
