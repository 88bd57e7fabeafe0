"""The chaos run, small: real Celery workers SIGKILLed at random, Redis killed and restarted, 5% of
handler calls raising and poisoned subjects dead-lettered then re-driven — all at once — and
afterwards every message applied exactly once, in order per subject, tax's ledgers holding each
subject's last message and the reconciliation showing no difference.

The same engine (``bench/chaos.py``) runs 100,000 messages as ``manage.py bench chaos --size 100000``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from bench import chaos
from collection.models import DueItem, Payer
from sharing import services
from sharing.models import InboxEntry, OutboxMessage, PendingDelivery, ReconciliationReport, Redrive
from tests.conftest import subprocess_env
from tests.sharing.support import bulk_send_due, count

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MESSAGES = 3000
CONFIG = chaos.ChaosConfig(
    messages=MESSAGES,
    kills=3,
    redis_restarts=1,
    workers=2,
    failure_rate=0.05,
    poison_subjects=2,
    batch_size=100,
    chunk=500,
    delay=0.03,
    timeout=75,
)


def test_given_kills_a_redis_restart_and_failing_handlers_at_once_then_every_message_is_applied_exactly_once(
    tmp_path: Path,
):
    unique, due_chains, payer_chains = chaos.plan(MESSAGES)

    result = chaos.run(CONFIG, env=subprocess_env(), workdir=tmp_path)

    assert result.failures == [], chaos.summary(result)
    assert (result.messages, result.applied, result.lost, result.applied_twice, result.out_of_order) == (
        MESSAGES, MESSAGES, 0, 0, 0,
    )  # fmt: skip
    assert (result.receiver_mismatches, result.history_regressions, result.reconciliation_differences) == (
        0,
        0,
        0,
    )
    assert result.kills >= 3
    assert result.redis_restarts == 1
    assert result.injected_failures > 0
    assert result.dead_letters_redriven >= 2
    assert InboxEntry.objects.count() == MESSAGES
    assert PendingDelivery.objects.count() == 0
    assert DueItem.objects.count() == unique + due_chains
    assert Payer.objects.count() == payer_chains
    assert Redrive.objects.filter(user__username="chaos_operator").count() == result.redrive_rounds
    assert ReconciliationReport.objects.filter(difference_count=0).count() == len(result.reconciliation_days)


def test_given_the_run_size_then_seven_tenths_are_single_messages_and_the_rest_chains_of_four():
    assert chaos.plan(3000) == (2100, 150, 75)
    assert chaos.plan(100_000) == (70_000, 5000, 2500)
    assert chaos.poison_subjects(CONFIG) == ["due:CD0000000001:2026", "due:CD0000000076:2026"]


def test_given_one_message_applied_twice_and_one_never_then_the_check_counts_each(settings, no_nudge):
    chaos.tally_create()
    first_id = count("SELECT coalesce(max(id), 0) + 1 FROM sharing_outbox")
    settings.SHARING = {**settings.SHARING, "FAULTS": {"tally_table": chaos.TALLY}}
    bulk_send_due(10, prefix="T")
    services.delivery_drain(seconds=30)
    twice, never = (
        OutboxMessage.objects.filter(id__gte=first_id).order_by("id").values_list("id", flat=True)[:2]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sharing_chaos_applied VALUES (%s, nextval('sharing_chaos_applied_order'))", [twice]
        )
        cursor.execute("DELETE FROM sharing_chaos_applied WHERE message_id = %s", [never])
    result = chaos.ChaosResult()

    chaos.check(
        result,
        chaos.ChaosConfig(messages=10, kills=0, redis_restarts=0, failure_rate=0, poison_subjects=0),
        first_id,
    )

    assert (result.messages, result.applied, result.applied_twice, result.lost) == (10, 9, 1, 1)
    assert "1 messages applied more than once" in result.failures
    assert "1 messages lost" in result.failures
