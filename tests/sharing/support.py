"""Helpers for the sharing platform's tests: messages, dead letters and a real Celery worker."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bench.chaos import CeleryProcess
from sharing import services
from sharing.models import MessageStatus, PendingDelivery

YAODU_VILLAGE = "141002100201"
HONGDONG_VILLAGE = "141024100201"
XIAODIAN = "140105000000"

# Two marks messages of one county built from typed item rows (subsidy.marks_batch's items).
MARK_ITEMS = """
    SELECT v.message, v.place, v.person_id, '141002001001'::text AS region_code, 'dibao'::text AS category,
           'DB'::text AS marker, v.status, 'fixed'::text AS subsidy_kind, v.subsidy_fen, v.valid_from,
           v.valid_to, ''::text AS reason, 7::bigint AS revision
    FROM (VALUES (1, 2, '141002196107160015'::text, 'active'::text, 16000::bigint, DATE '2026-02-10', DATE '2027-12-31'),
                 (1, 1, '141002195101091413', 'active', 16000, DATE '2026-02-10', NULL),
                 (2, 1, '14100219900101001X', 'withdrawn', 0, DATE '2025-01-01', DATE '2026-11-30'))
         AS v(message, place, person_id, status, subsidy_fen, valid_from, valid_to)
"""
MARK_MESSAGES = """
    SELECT NULL::text AS subject, '141002000000' AS region_code, b.message, jsonb_build_object(
        'county_code', '141002', 'insurance_year', 2027, 'region_code', '141002000000', 'roster', 'civil affairs',
        'import_id', 9, 'batch', b.message, 'subsidy_fen', b.fen) AS payload
    FROM (VALUES (1, 32000), (2, 0)) AS b(message, fen)
"""


def due_payload(
    person: str, *, year: int = 2026, region: str = YAODU_VILLAGE, amount: int = 40000
) -> dict[str, Any]:
    return {"person_id": person, "insurance_year": year, "region_code": region, "amount_fen": amount}


def send_due(person: str, **kwargs: Any) -> int:
    with transaction.atomic():
        return services.message_send(topic="assessment.due", payload=due_payload(person, **kwargs))


def make_dead_letter(region: str = YAODU_VILLAGE, person: str = "DEAD000001", error: str = "boom") -> int:
    message_id = send_due(person, region=region)
    PendingDelivery.objects.filter(message_id=message_id).update(
        status=MessageStatus.DEAD,
        attempts=8,
        dead_at=timezone.now(),
        last_error=error,
        last_traceback="Traceback…",
    )
    return message_id


def bulk_send_due(count: int, *, prefix: str = "P", year: int = 2026, amount: int = 40000) -> int:
    with transaction.atomic():
        return services.message_send_bulk(
            topic="assessment.due",
            query=(
                "SELECT NULL AS subject, NULL AS region_code, jsonb_build_object("
                "'person_id', %s || lpad(g::text, 9, '0'), 'insurance_year', %s, "
                "'region_code', %s, 'amount_fen', %s) AS payload FROM generate_series(1, %s) AS g"
            ),
            params=[prefix, year, YAODU_VILLAGE, amount, count],
        )


def count(sql: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


class Worker(CeleryProcess):
    """A real `celery worker` subprocess (prefork) on this test's database and a given broker."""

    def __init__(self, env: dict[str, str], log: Path, *, concurrency: int = 1, beat: bool = False) -> None:
        args = [
            "worker",
            "-l",
            "INFO",
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"sharing-test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ]
        if beat:
            args += ["-B", "-s", str(log.with_suffix(".beat"))]
        super().__init__(args, env, log)
