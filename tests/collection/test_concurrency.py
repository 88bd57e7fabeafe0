"""Payments under concurrency, over HTTP against the real server (``http_server``: gunicorn on the
test database, a hundred requests served at once, real commits): 100 submissions at once with one
``Idempotency-Key`` give one payment; 100 with different keys for one due item give one payment and
99 clear 409 conflicts; 1,000 payments of different items from 100 clients at once get receipt
numbers 1–1,000 without gap or duplicate."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import timezone

from accounts.roles import Role
from collection.models import DueItem, Payment
from sharing.models import OutboxMessage
from tests.collection.support import AMOUNT, TUNLI, YEAR, due, open_today
from tests.live_http import Answer, ApiClient, at_once, http_server_fixture  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AT_ONCE = 100
MANY = 1000
PAYMENTS = "/api/collection/payments/"


def _pay(client: ApiClient, item_id: int, key: str) -> Answer:
    return client.post(
        PAYMENTS,
        {
            "due_item": item_id,
            "amount_fen": AMOUNT,
            "channel": "wechat",
            "paid_by": "张三",
        },
        headers={"Idempotency-Key": key},
    )


def _clerk(base_url: str, world) -> ApiClient:  # type: ignore[no-untyped-def]
    return ApiClient(base_url, world.user_for(Role.TAX_STAFF))


def test_given_one_key_posted_a_hundred_times_at_once_then_one_payment_and_the_same_answer_to_all(
    http_server, transactional_world
):
    client = _clerk(http_server, transactional_world)
    item = due("141002198001010011", schedule=open_today())

    answers = at_once([lambda: _pay(client, item.pk, "same-key") for _ in range(AT_ONCE)])

    payment = Payment.objects.get()
    assert Counter(answer.status for answer in answers) == {201: 1, 200: AT_ONCE - 1}
    assert {(answer.body["id"], answer.body["receipt"]) for answer in answers} == {
        (payment.pk, payment.receipt)
    }
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 1


def test_given_a_hundred_keys_for_one_item_at_once_then_one_payment_and_ninety_nine_clear_conflicts(
    http_server, transactional_world
):
    client = _clerk(http_server, transactional_world)
    item = due("141002198001010011", schedule=open_today())

    answers = at_once([lambda n=n: _pay(client, item.pk, f"key-{n}") for n in range(AT_ONCE)])

    assert Counter(answer.status for answer in answers) == {201: 1, 409: AT_ONCE - 1}
    assert Counter(answer.error.split(" (")[0] for answer in answers if answer.status == 409) == {
        f"Already paid on {timezone.localdate().isoformat()}": AT_ONCE - 1
    }
    assert Payment.objects.count() == 1
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 1


def test_given_a_thousand_payments_from_a_hundred_clients_at_once_then_receipts_one_to_a_thousand(
    http_server, transactional_world
):
    client = _clerk(http_server, transactional_world)
    schedule = open_today()
    items = DueItem.objects.bulk_create(
        DueItem(
            person_id=f"14100219800{n:07d}", insurance_year=YEAR, region_code=TUNLI, amount_fen=AMOUNT,
            schedule=schedule, status="due", source_message_id=900_000 + n, sequence=1, revision=1,
        )
        for n in range(MANY)
    )  # fmt: skip

    answers = at_once([lambda pk=item.pk: _pay(client, pk, f"key-{pk}") for item in items], clients=AT_ONCE)

    assert Counter(answer.status for answer in answers) == {201: MANY}
    answered = Payment.objects.filter(pk__in=[answer.body["id"] for answer in answers])
    assert sorted(answered.values_list("receipt_number", flat=True)) == list(
        range(1, MANY + 1)
    )  # no gap, no duplicate
    assert {answer.body["receipt"] for answer in answers} == {payment.receipt for payment in answered}
    assert Payment.objects.count() == MANY
    assert Payment.objects.values("due_item").distinct().count() == MANY
