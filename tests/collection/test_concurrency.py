"""Payments under concurrency, with real commits: 100 submissions at once with one key give one
payment; 100 with different keys for one due item give one payment and 99 clear conflicts; 100
payments of different items at once get receipt numbers 1–100 without gap or duplicate."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import Payment
from sharing.models import OutboxMessage
from tests.collection.support import AMOUNT, due

pytestmark = pytest.mark.django_db(transaction=True)

AT_ONCE = 100
ON_TIME = timezone.make_aware(dt.datetime(2026, 11, 20, 10, 30))


def _at_once(calls: list) -> list[str]:
    """Run the calls in as many threads, released together; each answers an outcome."""
    start = threading.Barrier(len(calls))

    def run(call) -> str:
        try:
            start.wait(30)
            with translation.override("en"):
                return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _pay(scope: Scope, item_id: int, key: str):
    def call() -> str:
        try:
            recorded = services.payment_record(
                scope=scope, due_item_id=item_id, amount_fen=AMOUNT, channel="wechat", paid_by="张三",
                paid_at=ON_TIME, idempotency_key=key,
            )  # fmt: skip
        except services.PaymentConflictError as conflict:
            return "conflict: " + conflict.message.split(" (")[0]
        return "replayed" if recorded.replayed else "created"

    return call


def test_given_one_key_sent_a_hundred_times_at_once_then_one_payment_is_made(transactional_world):
    scope = Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)
    item = due("141002198001010011")

    outcomes = _at_once([_pay(scope, item.pk, "same-key") for _ in range(AT_ONCE)])

    assert Counter(outcomes) == {"created": 1, "replayed": AT_ONCE - 1}
    assert Payment.objects.count() == 1
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 1


def test_given_a_hundred_keys_for_one_item_at_once_then_one_payment_and_ninety_nine_conflicts(
    transactional_world,
):
    scope = Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)
    item = due("141002198001010011")

    outcomes = _at_once([_pay(scope, item.pk, f"key-{n}") for n in range(AT_ONCE)])

    assert Counter(outcomes) == {"created": 1, "conflict: Already paid on 2026-11-20": AT_ONCE - 1}
    assert Payment.objects.count() == 1


def test_given_a_hundred_payments_at_once_then_receipts_are_numbered_one_to_a_hundred(transactional_world):
    scope = Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)
    items = [due(f"1410021980010{n:05d}") for n in range(AT_ONCE)]

    outcomes = _at_once([_pay(scope, item.pk, f"key-{item.pk}") for item in items])

    assert Counter(outcomes) == {"created": AT_ONCE}
    numbers = sorted(Payment.objects.values_list("receipt_number", flat=True))
    assert numbers == list(range(1, AT_ONCE + 1))
