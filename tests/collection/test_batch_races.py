"""Batches against other writers at the same moment, on real connections (threads, real commits):
a bank file being matched and a counter payment of one of its persons both finish; the same
collective form or bank file submitted twice at once is recorded once, and the second submission is
answered, not failed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.utils import timezone, translation

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import BatchProblem, DueItem, Payment, PaymentBatch
from tests.collection.support import AMOUNT, TUNLI, YEAR, due, open_today, payer

pytestmark = pytest.mark.django_db(transaction=True)

A, B = "141002198001010011", "141002198001010022"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def tax(transactional_world) -> Scope:
    payer("村民甲", A)
    payer("村民乙", B)
    for person_id in (A, B):
        due(person_id, schedule=open_today())
    return Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)


def _own_connection(work: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        try:
            with translation.override("en"):
                return work()
        finally:
            connection.close()

    return run


def _bank_file(*lines: str) -> bytes:
    header = "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期,失败原因"
    return "\n".join([header, *lines]).encode()


def test_given_a_bank_file_being_matched_when_the_counter_pays_one_of_its_persons_then_both_finish(tax):
    day = timezone.localdate().isoformat()
    upload = SimpleUploadedFile(
        "debit.csv",
        _bank_file(f"R1,{A},村民甲,{YEAR},400.00,成功,{day},", f"R2,{B},村民乙,{YEAR},400.00,成功,{day},"),
    )
    batch = services.bank_debit_submit(scope=tax, bank_name="中国农业银行尧都支行", upload=upload)
    checked_first, go_on = threading.Event(), threading.Event()
    original = services._check_chunk
    calls = 0

    def pausing_after_the_first_chunk(**kwargs: Any) -> Any:
        nonlocal calls
        found = original(**kwargs)
        calls += 1
        if calls == 1:
            checked_first.set()
            go_on.wait(20)
        return found

    with (
        mock.patch.object(services, "BATCH_CHUNK", 1),
        mock.patch.object(services, "_check_chunk", pausing_after_the_first_chunk),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        worker = pool.submit(
            _own_connection(lambda: services.bank_debit_process(scope=tax, batch_id=batch.pk))
        )
        assert checked_first.wait(20)
        item_b = DueItem.objects.get(person_id=B)
        counter = pool.submit(
            _own_connection(
                lambda: services.payment_record(
                    scope=tax,
                    due_item_id=item_b.pk,
                    amount_fen=AMOUNT,
                    channel="counter_cash",
                    paid_by="村民乙",
                )
            )
        )
        try:
            recorded = counter.result(timeout=10)  # it waits for nothing the file holds
        finally:
            go_on.set()
        matched = worker.result(timeout=60)

    assert (matched.status, matched.payment_count, matched.problem_count) == ("done", 1, 1)
    assert Payment.objects.get(batch=matched).person_id == A
    (problem,) = BatchProblem.objects.filter(batch=matched)
    assert (problem.line_number, problem.money_taken) == (3, True)
    assert problem.reason.startswith("Already paid")
    assert recorded.payment.receipt_number == 1  # the counter's payment came first
    assert sorted(Payment.objects.values_list("receipt_number", flat=True)) == [1, 2]


def test_given_one_collective_form_submitted_twice_at_once_then_one_batch_answers_both(tax):
    start = threading.Barrier(2)
    original = services._check_chunk

    def slow_check(**kwargs: Any) -> Any:
        found = original(**kwargs)
        threading.Event().wait(0.5)  # the first submission still open when the second inserts its batch
        return found

    def submit() -> int:
        start.wait(10)
        return services.collective_payment_record(
            scope=tax, kind="village", region_code=TUNLI, unit_name="屯里村", paid_by="村会计 李四",
            persons=[(A, YEAR), (B, YEAR)], total_fen=2 * AMOUNT, idempotency_key="form-7",
        ).pk  # fmt: skip

    with (
        mock.patch.object(services, "_check_chunk", slow_check),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        answers = [pool.submit(_own_connection(submit)) for _ in range(2)]
        batch_ids = [answer.result(timeout=30) for answer in answers]

    batch = PaymentBatch.objects.get()
    assert batch_ids == [batch.pk, batch.pk]
    assert (batch.payment_count, Payment.objects.count()) == (2, 2)


def test_given_one_bank_file_uploaded_twice_at_once_then_one_is_taken_and_the_other_told(tax):
    start = threading.Barrier(2)
    content = _bank_file(f"R1,{A},村民甲,{YEAR},400.00,成功,{timezone.localdate().isoformat()},")
    original = services._batch_open

    def slow_open(**kwargs: Any) -> Any:
        batch = original(**kwargs)
        threading.Event().wait(0.5)  # the first upload still open when the second inserts its batch
        return batch

    def upload() -> str:
        start.wait(10)
        try:
            services.bank_debit_submit(
                scope=tax, bank_name="中国农业银行尧都支行", upload=SimpleUploadedFile("debit.csv", content)
            )
        except ValidationError as refused:
            return refused.messages[0]
        return "taken"

    with (
        mock.patch.object(services, "_batch_open", slow_open),
        mock.patch.object(services, "_queue_bank_file", lambda batch_id, user_id: None),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        answers = sorted(
            answer.result(timeout=30) for answer in [pool.submit(_own_connection(upload)) for _ in range(2)]
        )

    assert answers == [f"This file was imported already, on {timezone.localdate().isoformat()}.", "taken"]
    assert PaymentBatch.objects.count() == 1


def test_given_a_bank_file_being_matched_when_the_task_is_delivered_again_then_its_progress_stays(tax):
    # Given a bank file a worker is matching: its row locked, 1 of 2 lines reported done
    day = timezone.localdate().isoformat()
    upload = SimpleUploadedFile(
        "debit.csv",
        _bank_file(f"R1,{A},村民甲,{YEAR},400.00,成功,{day},", f"R2,{B},村民乙,{YEAR},400.00,成功,{day},"),
    )
    with mock.patch.object(services, "_queue_bank_file", lambda batch_id, user_id: None):
        batch = services.bank_debit_submit(scope=tax, bank_name="中国农业银行尧都支行", upload=upload)
    cache.set(services._bank_progress_key(batch.pk), {"done": 1, "total": 2}, 3600)
    matching = connections.create_connection("default")
    with matching.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT id FROM collection_paymentbatch WHERE id = %s FOR UPDATE", [batch.pk])

    # When a second delivery of the task runs
    try:
        left = services.bank_debit_process(scope=tax, batch_id=batch.pk)
    finally:
        matching.close()

    # Then it leaves the file to the worker, whose progress the page still shows
    assert left is None
    assert PaymentBatch.objects.get(pk=batch.pk).status == "queued"
    assert services.bank_progress(batch.pk) == {"done": 1, "total": 2}
