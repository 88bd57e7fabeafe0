"""Benchmark: the sharing platform carrying N ``assessment.due`` records insurance → tax.

Ours: the bulk send (INSERT … SELECT into the outbox, in chunks as the yearly assessment
commits them) and real Celery workers applying batches into tax's ledger. Baseline: one Celery
task per record (the same workers), on a sample, as a rate. Both run in the same process on
the same machine, against a scratch database, so the ratio is what counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .scratch import run_in_scratch_database

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "BENCH"
BASELINE_PREFIX = "BASE"
YEAR = 2026
REGION = "141002100201"


def _log(message: str) -> None:
    print(f"[bench sharing] {message}", file=sys.stderr, flush=True)


def _count(sql: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return int(cursor.fetchone()[0])


def _start_workers(env: dict[str, str], log: Path, processes: int) -> subprocess.Popen[bytes]:
    celery = str(Path(sys.executable).parent / "celery")
    handle = open(log, "ab")  # noqa: SIM115 - handed to the subprocess
    return subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "worker",
            "-l",
            "WARNING",
            "-P",
            "prefork",
            "-c",
            str(processes),
            "--without-gossip",
            "--without-mingle",
            "-I",
            "bench.tasks",
            "-B",
            "-s",
            str(log.with_suffix(".beat")),
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        env=env,
        cwd=str(ROOT),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(timeout: float = 120) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError("the benchmark's Celery workers did not start")


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _send_ours(size: int, chunk: int) -> None:
    from django.db import transaction

    from sharing import services

    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        with transaction.atomic():
            services.message_send_bulk(
                topic="assessment.due",
                query=(
                    "SELECT NULL AS subject, NULL AS region_code, jsonb_build_object("
                    "'person_id', %s || lpad(g::text, 10, '0'), 'insurance_year', %s, 'region_code', %s, "
                    "'amount_fen', 38000 + (g %% 5) * 100, 'standard_fen', 40000, 'subsidy_fen', 2000 - (g %% 5) * 100"
                    ") AS payload FROM generate_series(%s, %s) AS g"
                ),
                params=[PREFIX, YEAR, REGION, start + 1, stop],
            )


def run_inner(*, size: int, baseline_size: int, processes: int, chunk: int) -> dict[str, Any]:
    """Runs inside the scratch database (DATABASE_URL) with its own broker (PORTAL_BROKER_URL)."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    log = ROOT / "var" / "bench-sharing-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PORTAL_SHARING_FANOUT=str(processes),
        PORTAL_SHARING_SWEEP_SECONDS="2",
        PORTAL_HEARTBEAT_SECONDS="3600",
    )
    workers = _start_workers(env, log, processes)
    try:
        _wait_ready()
        _log(f"{processes} worker processes ready; sending {size:,} records")

        started = time.perf_counter()
        _send_ours(size, chunk)
        sent_at = time.perf_counter()
        _log(f"sent in {sent_at - started:.1f} s; waiting for tax to apply them")
        _wait(lambda: _count("SELECT count(*) FROM sharing_pending") == 0, timeout=3600, what="delivery")
        finished = time.perf_counter()
        applied = _count("SELECT count(*) FROM collection_dueitem WHERE person_id LIKE %s", [PREFIX + "%"])
        if applied != size:
            raise RuntimeError(f"{applied} of {size} records applied")
        ours_seconds = finished - started
        _log(f"ours: {size:,} applied in {ours_seconds:.1f} s ({size / ours_seconds:,.0f}/s)")

        from bench.tasks import baseline_due_item

        _log(f"baseline: one Celery task per record, {baseline_size:,} records")
        base_started = time.perf_counter()
        for number in range(1, baseline_size + 1):
            baseline_due_item.delay(
                {
                    "person_id": f"{BASELINE_PREFIX}{number:010d}",
                    "insurance_year": YEAR,
                    "region_code": REGION,
                    "amount_fen": 38000,
                },
                1,
            )
        _wait(
            lambda: (
                _count(
                    "SELECT count(*) FROM collection_dueitem WHERE person_id LIKE %s", [BASELINE_PREFIX + "%"]
                )
                == baseline_size
            ),
            timeout=3600,
            what="the baseline",
        )
        base_seconds = time.perf_counter() - base_started
        _log(
            f"baseline: {baseline_size:,} applied in {base_seconds:.1f} s ({baseline_size / base_seconds:,.0f}/s)"
        )
    finally:
        import signal

        try:
            os.killpg(workers.pid, signal.SIGTERM)
            workers.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(workers.pid, signal.SIGKILL)
    ours = size / ours_seconds
    baseline = baseline_size / base_seconds
    return {
        "name": "sharing",
        "size": size,
        "ours_per_s": round(ours, 1),
        "baseline_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 2),
        "seconds": round(ours_seconds, 2),
        "send_seconds": round(sent_at - started, 2),
        "deliver_seconds": round(finished - sent_at, 2),
        "baseline_size": baseline_size,
        "baseline_seconds": round(base_seconds, 2),
        "worker_processes": processes,
        "chunk": chunk,
    }


def run(*, size: int, baseline_size: int, processes: int, chunk: int, keep: bool) -> dict[str, Any]:
    """Create a scratch database, migrate it, run the benchmark in a child process, drop it."""
    arguments = [
        "--size",
        str(size),
        "--baseline-size",
        str(baseline_size),
        "--workers",
        str(processes),
        "--chunk",
        str(chunk),
    ]
    return run_in_scratch_database("sharing", arguments, keep=keep)
