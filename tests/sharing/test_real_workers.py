"""A real Celery worker (subprocess) and real Redis, under faults: SIGKILL, broker restart, failing handler.

Each test runs on this xdist worker's own test database (passed to the subprocess as
DATABASE_URL) and Redis databases, with a fast sweep (beat inside the worker) so that nothing
depends on a nudge that a fault may have swallowed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accounts.scope import Scope
from collection.models import DueItem
from config.embedded import RedisServer
from sharing import services
from sharing.models import InboxEntry, MessageStatus, PendingDelivery
from tests.conftest import subprocess_env
from tests.sharing.support import Worker, bulk_send_due, count, send_due, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _env(**extra: object) -> dict[str, str]:
    base = {
        "PORTAL_SHARING_SWEEP_SECONDS": "1",
        "PORTAL_SHARING_DRAIN_SECONDS": "5",
        "PORTAL_SHARING_RETRY_BASE_SECONDS": "0.2",
        "PORTAL_SHARING_RETRY_MAX_SECONDS": "1",
        "PORTAL_HEARTBEAT_SECONDS": "3600",
    }
    base.update({key: str(value) for key, value in extra.items()})
    return subprocess_env(**base)


def _applied() -> int:
    return InboxEntry.objects.count()


def _history_events() -> int:
    return count("SELECT count(*) FROM collection_dueitemevent")


def test_given_a_worker_killed_with_sigkill_mid_batch_then_nothing_is_lost_and_nothing_applied_twice(
    tmp_path: Path,
):
    total = 3000
    env = _env(PORTAL_SHARING_FAULTS=json.dumps({"delay": 0.25}), PORTAL_SHARING_BATCH_SIZE=100)
    bulk_send_due(total, prefix="K")
    first = Worker(env, tmp_path / "first.log", concurrency=2, beat=True)
    try:
        wait_for(lambda: _applied() >= 200, timeout=90, what="the first batches")
        first.kill_hard()
    finally:
        first.stop()
    at_kill = _applied()
    assert at_kill < total
    assert DueItem.objects.count() == at_kill  # each batch all or nothing

    second = Worker(_env(), tmp_path / "second.log", concurrency=2, beat=True)
    try:
        wait_for(lambda: _applied() == total, timeout=120, what="every message", every=0.5)
    finally:
        second.stop()

    assert DueItem.objects.count() == total
    assert PendingDelivery.objects.count() == 0
    assert _history_events() == total  # one insert event per due item: none applied twice


def test_given_redis_restarted_while_messages_flow_then_every_message_is_applied_once(tmp_path: Path):
    total = 3000
    redis = RedisServer(tmp_path / "redis")
    redis.ensure()
    env = _env(
        PORTAL_BROKER_URL=redis.url(0),
        PORTAL_SHARING_FAULTS=json.dumps({"delay": 0.1}),
        PORTAL_SHARING_BATCH_SIZE=100,
    )
    worker = Worker(env, tmp_path / "worker.log", concurrency=2, beat=True)
    try:
        bulk_send_due(total, prefix="R")
        wait_for(lambda: _applied() >= 100, timeout=90, what="the first batches")
        redis.stop(hard=True)
        wait_for(lambda: not redis.running(), timeout=15, what="Redis to stop")
        import time

        time.sleep(2)
        redis.ensure()
        wait_for(lambda: _applied() == total, timeout=150, what="every message after the restart", every=0.5)
    finally:
        worker.stop()
        redis.stop()

    assert DueItem.objects.count() == total
    assert PendingDelivery.objects.count() == 0
    assert _history_events() == total


def test_given_a_handler_that_raises_then_it_is_retried_dead_lettered_and_once_re_driven_applied_once(
    tmp_path: Path, transactional_world
):
    fail_file = tmp_path / "fail"
    fail_file.write_text("due:P000009999:2026\n")
    env = _env(PORTAL_SHARING_FAULTS=json.dumps({"fail_file": str(fail_file)}), PORTAL_SHARING_MAX_ATTEMPTS=3)
    worker = Worker(env, tmp_path / "worker.log", concurrency=1, beat=True)
    try:
        doomed = send_due("P000009999", amount=100)
        bulk_send_due(20, prefix="H")
        wait_for(
            lambda: (
                PendingDelivery.objects.filter(status=MessageStatus.DEAD).count() == 1 and _applied() == 20
            ),
            timeout=90,
            what="the dead letter",
        )
        letter = PendingDelivery.objects.get(message_id=doomed)
        assert letter.attempts == 3
        assert "InjectedFault" in letter.last_error
        fail_file.write_text("")

        redriven = services.dead_letter_redrive(
            scope=Scope.for_user(transactional_world.users["admin"]), ids=[doomed]
        )
        wait_for(lambda: _applied() == 21, timeout=60, what="the re-driven message")
    finally:
        worker.stop()

    assert redriven == 1
    assert InboxEntry.objects.filter(message_id=doomed).count() == 1
    assert DueItem.objects.get(person_id="P000009999").amount_fen == 100
    assert PendingDelivery.objects.count() == 0
