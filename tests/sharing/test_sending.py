"""Sending: validation, subjects and their sequence numbers, the outbox in the caller's transaction."""

from __future__ import annotations

import time

import jsonschema
import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from sharing import services, topics
from sharing.models import MessageStatus, OutboxMessage, PendingDelivery, Subject
from sharing.tasks import deliver
from tests.sharing.support import MARK_ITEMS as _MARK_ITEMS
from tests.sharing.support import MARK_MESSAGES as _MARK_MESSAGES
from tests.sharing.support import YAODU_VILLAGE, bulk_send_due, due_payload, send_due

pytestmark = pytest.mark.django_db


def test_given_a_valid_payload_when_sent_then_one_outbox_row_and_one_pending_delivery_exist(no_nudge):
    message_id = send_due("P000000001", amount=38000)

    message = OutboxMessage.objects.get(pk=message_id)
    assert (message.topic, message.sender, message.receiver) == ("assessment.due", "insurance", "tax")
    assert (message.subject, message.seq, message.region_code, message.amount_fen) == (
        "due:P000000001:2026",
        1,
        YAODU_VILLAGE,
        38000,
    )
    assert PendingDelivery.objects.filter(message_id=message_id, status=0, attempts=0).count() == 1


def test_given_three_messages_about_one_subject_then_they_are_numbered_one_two_three(no_nudge):
    ids = [send_due("P000000002", amount=amount) for amount in (100, 200, 300)]

    assert list(OutboxMessage.objects.filter(pk__in=ids).order_by("id").values_list("seq", flat=True)) == [
        1,
        2,
        3,
    ]
    assert Subject.objects.get(key="due:P000000002:2026").last_seq == 3


def test_given_an_amount_in_yuan_with_decimals_when_sent_then_it_is_refused_and_nothing_is_written(no_nudge):
    payload = {**due_payload("P000000003"), "amount_fen": 380.5}

    with pytest.raises(ValidationError, match="amount_fen"):
        services.message_send(topic="assessment.due", payload=payload)
    assert OutboxMessage.objects.count() == 0


def test_given_an_unknown_topic_when_sent_then_it_is_refused(no_nudge):
    with pytest.raises(ValidationError, match=r"未知主题 assessment\.guessed。"):
        services.message_send(topic="assessment.guessed", payload={})


def test_given_the_caller_rolls_back_then_nothing_was_sent_and_no_delivery_is_started(no_nudge):
    with transaction.atomic():
        services.message_send(topic="assessment.due", payload=due_payload("P000000004"))
        transaction.set_rollback(True)

    assert OutboxMessage.objects.count() == 0
    assert no_nudge == []


def test_given_several_sends_in_one_transaction_when_it_commits_then_delivery_is_started_once(
    no_nudge, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for person in ("P000000005", "P000000006", "P000000007"):
            services.message_send(topic="assessment.due", payload=due_payload(person))

    assert no_nudge == [1]


# A commit's nudge (``delivery_nudge``, called at commit as the test above shows): called directly
# here, since a test's transactions are one that never commits.
def test_given_a_delivery_queued_and_not_begun_when_another_commit_nudges_then_none_more_is_queued(no_nudge):
    services.delivery_nudge()
    services.delivery_nudge()

    assert no_nudge == [1]


def test_given_the_queued_delivery_has_begun_when_a_commit_nudges_then_another_is_queued(no_nudge):
    send_due("P000000013")
    services.delivery_nudge()
    deliver()  # the queued task begins, and delivers the message

    services.delivery_nudge()

    assert no_nudge == [1, 1]
    assert PendingDelivery.objects.filter(status=MessageStatus.PENDING).count() == 0


def test_given_a_delivery_queued_when_a_bulk_send_nudges_then_its_parallel_deliveries_are_queued(no_nudge):
    services.delivery_nudge()
    services.delivery_nudge(fanout=2)

    assert no_nudge == [1, 2]


def test_given_a_queued_delivery_that_never_begins_then_nudges_queue_again_after_one_sweep_interval(
    no_nudge, settings
):
    settings.SHARING = {**settings.SHARING, "SWEEP_SECONDS": 0.2}
    services.delivery_nudge()
    services.delivery_nudge()
    time.sleep(0.3)
    services.delivery_nudge()

    assert no_nudge == [1, 1]


def test_given_commits_back_to_back_then_the_process_nudges_once_an_interval_and_after_the_last(
    settings, monkeypatch
):
    settings.SHARING = {**settings.SHARING, "NUDGE_INTERVAL_SECONDS": 0.2}
    nudged: list[float] = []
    monkeypatch.setattr(
        "sharing.services.delivery_nudge", lambda *, fanout=1: nudged.append(time.monotonic()) or 1
    )
    nudger = services._Nudger()
    asked: list[float] = []

    for _ in range(20):  # a commit every 10 ms for 0.2 s
        asked.append(time.monotonic())
        nudger.request()
        time.sleep(0.01)
    time.sleep(0.6)

    assert 1 <= len(nudged) <= 3
    assert 0 <= nudged[-1] - asked[-1] <= 0.2 + 0.1


def test_given_a_bulk_query_when_sent_then_every_row_is_an_outbox_message_in_order(no_nudge):
    sent = bulk_send_due(1000, prefix="B")

    assert sent == 1000
    assert OutboxMessage.objects.count() == 1000
    assert PendingDelivery.objects.count() == 1000
    first = OutboxMessage.objects.order_by("id").first()
    assert (first.subject, first.seq, first.amount_fen) == ("due:B000000001:2026", 1, 40000)


def test_given_bulk_rows_with_one_subject_twice_then_the_two_get_consecutive_sequence_numbers(no_nudge):
    send_due("P000000010")
    rows = [
        (None, None, due_payload("P000000010", amount=1)),
        (None, None, due_payload("P000000010", amount=2)),
    ]

    with transaction.atomic():
        services.message_send_bulk(topic="assessment.due", rows=rows)

    assert list(
        OutboxMessage.objects.filter(subject="due:P000000010:2026")
        .order_by("id")
        .values_list("seq", "amount_fen")
    ) == [(1, 40000), (2, 1), (3, 2)]


def test_given_a_bulk_with_one_bad_row_when_sent_then_nothing_is_sent_and_the_row_is_named(no_nudge):
    rows = [(None, None, due_payload(f"P00000002{i}")) for i in range(5)]
    rows[3] = (None, None, {**due_payload("P000000023"), "amount_fen": -5})

    with pytest.raises(ValidationError, match="第 4 行：amount_fen 不得小于 0"), transaction.atomic():
        services.message_send_bulk(topic="assessment.due", rows=rows)
    assert OutboxMessage.objects.count() == 0


def _send_marks(items: str = _MARK_ITEMS, messages: str = _MARK_MESSAGES) -> int:
    with transaction.atomic():
        return services.message_send_bulk(
            topic="subsidy.marks_batch", query=messages, items=services.ListItems(query=items)
        )


def test_given_list_items_when_sent_then_each_message_carries_its_items_in_their_order(no_nudge):
    sent = _send_marks()

    assert sent == 2
    first, second = OutboxMessage.objects.filter(topic="subsidy.marks_batch").order_by("id")
    mark = {"region_code": "141002001001", "category": "dibao", "marker": "DB", "subsidy_kind": "fixed"}
    assert first.payload == {
        "county_code": "141002",
        "insurance_year": 2027,
        "region_code": "141002000000",
        "roster": "civil affairs",
        "import_id": 9,
        "batch": 1,
        "subsidy_fen": 32000,
        "items": [
            {**mark, "person_id": "141002195101091413", "status": "active", "subsidy_fen": 16000,
             "valid_from": "2026-02-10", "valid_to": None, "reason": "", "revision": 7},
            {**mark, "person_id": "141002196107160015", "status": "active", "subsidy_fen": 16000,
             "valid_from": "2026-02-10", "valid_to": "2027-12-31", "reason": "", "revision": 7},
        ],
    }  # fmt: skip
    assert (first.subject, first.amount_fen, second.payload["batch"]) == (
        "marks-batch:141002:2027:9:1",
        32000,
        2,
    )
    assert [item["person_id"] for item in second.payload["items"]] == ["14100219900101001X"]


def test_given_a_list_item_the_schema_refuses_when_sent_then_nothing_is_sent_and_the_item_is_named(no_nudge):
    items = _MARK_ITEMS.replace("'withdrawn', 0,", "'lost', 0,")

    with pytest.raises(
        ValidationError, match="第 2 行：items 第0项：status 须为以下值之一：active, withdrawn"
    ):
        _send_marks(items)
    assert OutboxMessage.objects.filter(topic="subsidy.marks_batch").count() == 0


def test_given_list_items_of_a_message_the_query_does_not_give_then_nothing_is_sent(no_nudge):
    messages = _MARK_MESSAGES.replace("(VALUES (1, 32000), (2, 0))", "(VALUES (1, 32000))")

    with pytest.raises(ValidationError, match="第 2 行：这些条目所属的消息不在查询结果中"):
        _send_marks(messages=messages)
    assert OutboxMessage.objects.filter(topic="subsidy.marks_batch").count() == 0


def test_given_a_message_that_brings_its_own_list_when_sent_with_list_items_then_it_is_refused(no_nudge):
    messages = _MARK_MESSAGES.replace("'subsidy_fen', b.fen)", "'subsidy_fen', b.fen, 'items', '[]'::jsonb)")

    with pytest.raises(ValidationError, match="第 1 行：列表 items 不是由其条目生成的"):
        _send_marks(messages=messages)
    assert OutboxMessage.objects.filter(topic="subsidy.marks_batch").count() == 0


@pytest.mark.parametrize(
    ("column", "retyped"),
    [
        ("v.subsidy_fen", "v.subsidy_fen::text AS subsidy_fen"),  # an amount as text would be a JSON string
        ("7::bigint AS revision", "7::numeric AS revision"),  # a numeric may have decimals
        ("v.valid_to", "v.valid_to::timestamptz AS valid_to"),
    ],
)
def test_given_a_list_item_column_whose_type_is_not_the_fields_then_the_send_is_a_programming_error(
    no_nudge, column, retyped
):
    items = _MARK_ITEMS.replace(column, retyped, 1)

    with pytest.raises(ValueError, match="has type"):
        _send_marks(items)


def test_given_a_date_fields_column_as_text_then_its_pattern_checks_it(no_nudge):
    items = _MARK_ITEMS.replace("v.valid_from,", "to_char(v.valid_from, 'YYYY-MM-DD') AS valid_from,", 1)

    assert _send_marks(items) == 2
    with pytest.raises(ValidationError, match="valid_from 格式不正确"):
        _send_marks(items.replace("'YYYY-MM-DD'", "'DD.MM.YYYY'"))


def test_given_list_items_without_a_field_column_then_the_send_is_a_programming_error(no_nudge):
    items = _MARK_ITEMS.replace("7::bigint AS revision", "7::bigint AS revisions")

    with pytest.raises(ValueError, match=r"missing \['revision'\], unknown \['revisions'\]"):
        _send_marks(items)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("person_id", "'141002195101091413'::text"),
        ("person_id", "'P0003'::text"),
        ("person_id", "'P0000_0003'::text"),
        ("person_id", "NULL::text"),
        ("region_code", "'14100200100'::text"),
        ("status", "'withdrawn'::text"),
        ("status", "'lost'::text"),
        ("subsidy_kind", "''::text"),
        ("subsidy_fen", "-1::bigint"),
        ("subsidy_fen", "0::integer"),
        ("valid_from", "DATE 'infinity'"),
        ("valid_from", "DATE '9999-12-31'"),
        ("valid_from", "'2026-2-10'::text"),
        ("valid_from", "NULL::date"),
        ("valid_to", "NULL::date"),
        ("marker", "repeat('x', 16)"),
        ("marker", "repeat('x', 17)"),
        ("reason", "repeat('理', 200)"),
        ("revision", "0::bigint"),
    ],
)
def test_given_an_item_column_then_its_check_agrees_with_the_check_of_the_json_it_becomes(column, value):
    from django.db import connection

    schema = topics.get("subsidy.marks_batch").schema().fields["items"].items
    columns = {
        "person_id": "'141002195101091413'::text", "region_code": "'141002001001'::text",
        "category": "'dibao'::text", "marker": "'DB'::text", "status": "'active'::text",
        "subsidy_kind": "'fixed'::text", "subsidy_fen": "16000::bigint", "valid_from": "DATE '2026-02-10'",
        "valid_to": "DATE '2027-12-31'", "reason": "''::text", "revision": "7::bigint",
        column: value,
    }  # fmt: skip
    row = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    pairs = ", ".join(f"'{name}', i.{name}" for name in schema.fields)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM (SELECT {row}) AS i LIMIT 0")  # noqa: S608 - test literals
        types = {described.name: described.type_code for described in cursor.description}
        column_check = " AND ".join(
            spec.sql_column_predicate(f"i.{name}", types[name]) for name, spec in schema.fields.items()
        )
        cursor.execute(
            f"SELECT coalesce({column_check}, false), json_build_object({pairs})::text "  # noqa: S608
            f"FROM (SELECT {row}) AS i"
        )
        by_column, encoded = cursor.fetchone()
        cursor.execute(f"SELECT {schema.sql_predicate('p')} FROM (SELECT %s::jsonb AS p) AS t", [encoded])  # noqa: S608
        by_json = cursor.fetchone()[0]
    import json

    assert by_column == by_json == (not schema.problems(json.loads(encoded)))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("'[]'::jsonb", True),
        ("""'[{"from": "2026-09-01", "amount_fen": 40000}]'::jsonb""", True),
        ("'{}'::jsonb", False),
        ("'null'::jsonb", False),
        ("NULL::jsonb", False),
        ("'\"[]\"'::jsonb", False),
    ],
)
def test_given_a_list_fields_jsonb_column_then_its_check_agrees_with_the_check_of_the_json_it_becomes(
    value, valid
):
    from django.db import connection

    schedule = topics.get("assessment.due_batch").schema().fields["items"].items.fields["schedule"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {schedule.sql_column_predicate('i.schedule', 3802)}, "  # noqa: S608 - test literals
            f"json_build_object('schedule', i.schedule)::text FROM (SELECT {value} AS schedule) AS i"
        )
        by_column, encoded = cursor.fetchone()
        cursor.execute(
            f"SELECT {schedule.sql_predicate('schedule', 'p')} FROM (SELECT %s::jsonb AS p) AS t",  # noqa: S608
            [encoded],
        )
        by_json = cursor.fetchone()[0]
    import json

    assert by_column == by_json == (schedule.problem(json.loads(encoded)["schedule"]) is None) == valid


@pytest.mark.parametrize(
    "payload",
    [
        due_payload("P000000030"),
        {**due_payload("P000000030"), "amount_fen": "40000"},
        {**due_payload("P000000030"), "amount_fen": True},
        {**due_payload("P000000030"), "region_code": "14100210020"},
        {**due_payload("P000000030"), "insurance_year": 1999},
        {**due_payload("P000000030"), "extra": 1},
        {k: v for k, v in due_payload("P000000030").items() if k != "person_id"},
        {**due_payload("P000000030"), "subsidy_fen": None},
        # Bounded repetitions are checked in SQL as a repeated class and a length: the edges.
        {**due_payload("P00003"), "person_id": "P0003"},
        due_payload("P" + "0" * 31),
        due_payload("P" + "0" * 32),
        due_payload("P00000-003"),
        due_payload("P0000_0003"),
        {**due_payload("P000000030"), "region_code": "1410021002001"},
        {**due_payload("P000000030"), "region_code": "14100210020A"},
    ],
)
def test_given_a_payload_then_python_sql_and_json_schema_agree_on_whether_it_is_valid(payload):
    from django.db import connection

    spec = topics.get("assessment.due")
    python_ok = not spec.schema().problems(payload)
    json_ok = jsonschema.Draft202012Validator(spec.schema().as_jsonschema()).is_valid(payload)
    with connection.cursor() as cursor:
        import json

        cursor.execute(
            f"SELECT {spec.schema().sql_predicate('p')} FROM (SELECT %s::jsonb AS p) AS t",  # noqa: S608
            [json.dumps(payload)],
        )
        sql_ok = cursor.fetchone()[0]

    assert python_ok == json_ok == sql_ok


def test_given_the_registry_then_every_topic_of_the_domain_brief_is_there_with_its_bureaus():
    expected = {
        "enrollment.registered": ("insurance", "tax"),
        "enrollment.changed": ("insurance", "tax"),
        "enrollment.terminated": ("insurance", "tax"),
        "person.identifier_corrected": ("insurance", "tax"),
        "assessment.due": ("insurance", "tax"),
        "assessment.due_batch": ("insurance", "tax"),
        "subsidy.marks_batch": ("insurance", "tax"),
        "backpayment.due": ("insurance", "tax"),
        "refund.monthly_details": ("insurance", "tax"),
        "payment.deposited": ("tax", "insurance"),
        "payment.reversed": ("tax", "insurance"),
        "refund.overcollection_requested": ("tax", "insurance"),
        "refund.fund_plan_submitted": ("insurance", "finance"),
        "subsidy.fund_totals": ("insurance", "finance"),
        "refund.fund_plan_decided": ("finance", "insurance"),
        "refund.funds_transferred": ("finance", "insurance"),
        "refund.overcollection_status": ("insurance", "tax"),
        "policy.back_payment_window": ("insurance", "tax"),
    }

    assert {name: (t.sender, t.receiver) for name, t in topics.REGISTRY.items()} == expected
