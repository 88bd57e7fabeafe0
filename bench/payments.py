"""Benchmark: recording payments over HTTP under 64 concurrent clients, against a database-free
endpoint of the same server.

Data: one county, a tax clerk with an API token, ``size`` due items with their payers (schedule
open today), and last year's ledger of the same payers (their due items paid, one payment each
with its receipt), so that the tables and their statistics are a county's, not empty ones. The
server: gunicorn with the bench settings (DEBUG off) on the scratch database, one sync worker per
core plus one. The load: ``clients`` concurrent clients in several processes (so
the generator's own Python is not one GIL), each posting ``POST /api/collection/payments/`` for
due items of its own with a fresh ``Idempotency-Key``; and as many requests to ``GET /bench/ping/``
(same server, same middleware, no database) as the baseline. Both loads are warmed with
``WARM_UP`` requests each (not counted; their payments have due items of their own). The two
loads take turns in four rounds (ours first, then the baseline first, ...), each phase timed from its first request sent
to its last answer.

- ``ours_per_s``: payments recorded per second (each a row lock, a receipt number, a payment, the
  due item, a deposit record to insurance, one transaction); ``p99_ms`` their 99th percentile.
- ``baseline_per_s``: database-free requests per second; ``ratio`` = ours ÷ baseline.
- ``errors``: answers other than 201 (ours) or 200 (baseline), and connection failures.

The generator shares the machine's cores with the server and PostgreSQL: both figures include it.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .scratch import ROOT, log, run_in_scratch_database

COUNTY, VILLAGE = "141002", "141002100201"
# Turns each load takes (``run_inner``).
ROUNDS = 4
# Requests of each load sent before the timed rounds, not counted.
WARM_UP = 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _build(size: int) -> tuple[str, list[int]]:
    """The clerk's token and the due items to pay."""
    from django.db import connection
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts import services as accounts
    from accounts.roles import AgencyKind, Role

    province = accounts.region_create(code="140000", name="山西省")
    city = accounts.region_create(code="141000", name="临汾市", parent=province)
    county = accounts.region_create(code=COUNTY, name="尧都区", parent=city)
    agency = accounts.agency_create(name="尧都区税务局", kind=AgencyKind.TAX_BUREAU, region=county)
    # The clerk signs in with a token only; the password is random and never used.
    clerk = accounts.user_create(
        username="bench-tax", password=secrets.token_urlsafe(16), full_name="压测", agency=agency,
        role=Role.TAX_STAFF, check_password=False,
    )  # fmt: skip
    token = Token.objects.create(user=clerk).key
    today = timezone.localdate()
    last_year_day = timezone.make_aware(dt.datetime(today.year - 1, 11, 20, 10, 0))
    schedule = json.dumps(
        [
            {
                "from": (today - dt.timedelta(days=30)).isoformat(),
                "to": (today + dt.timedelta(days=30)).isoformat(),
                "amount_fen": 40000,
                "subsidy_fen": 0,
                "rule": "on_time",
            }
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO collection_payer (person_id, name, region_code, category, status, source_message_id, sequence)
            SELECT 'B' || lpad(g::text, 17, '0'), '压测' || g, %s, 'adult', 'normal', g, 1
            FROM generate_series(1, %s) g""",
            [VILLAGE, size],
        )
        cursor.execute(
            """INSERT INTO collection_dueitem (person_id, insurance_year, region_code, amount_fen, subsidy_fen,
                subsidy_marker, schedule, status, source_message_id, sequence, revision)
            SELECT 'B' || lpad(g::text, 17, '0'), %s, %s, 40000, 0, '', %s::jsonb, 'due', g, 1, 1
            FROM generate_series(1, %s) g""",
            [today.year + 1, VILLAGE, schedule, size],
        )
        cursor.execute("SELECT id FROM collection_dueitem ORDER BY id")
        items = [row[0] for row in cursor.fetchall()]
        # Last year's ledger: every payer's contribution due and paid at this agency, receipts
        # numbered 1..size. A county's tables are never empty, and on empty ones the statistics
        # below made PostgreSQL plan the payment's statements for empty tables: each payment's
        # look-up of its Idempotency-Key scanned every payment recorded so far, its cost growing
        # with the run (0.7 → 1.9 ms of the backend per payment over 10,000 payments, one client).
        last_year = today.year - 1
        cursor.execute(
            """INSERT INTO collection_dueitem (person_id, insurance_year, region_code, amount_fen, subsidy_fen,
                subsidy_marker, schedule, status, source_message_id, sequence, revision)
            SELECT 'B' || lpad(g::text, 17, '0'), %s, %s, 38000, 0, '', '[]'::jsonb, 'paid', %s + g, 1, 1
            FROM generate_series(1, %s) g""",
            [today.year, VILLAGE, size, size],
        )
        cursor.execute(
            """INSERT INTO collection_payment (due_item_id, person_id, insurance_year, region_code, amount_fen,
                channel, paid_at, paid_time_known, paid_by, agency_id, collector_id, receipt_year,
                receipt_number, idempotency_key, status, recorded_at, reversal_reason)
            SELECT d.id, d.person_id, d.insurance_year, d.region_code, d.amount_fen, 'counter_cash', %s, true,
                '本人', %s, %s, %s, row_number() OVER (ORDER BY d.id), 'last-year-' || d.id, 'recorded', %s, ''
            FROM collection_dueitem d WHERE d.insurance_year = %s""",
            [last_year_day, agency.pk, clerk.pk, last_year, last_year_day, today.year],
        )
        cursor.execute(
            "INSERT INTO collection_receiptcounter (agency_id, year, last_number) VALUES (%s, %s, %s)",
            [agency.pk, last_year, size],
        )
        cursor.execute("VACUUM (ANALYZE)")
    return token, items


def _client(args: tuple[int, str, str, list[int], int]) -> dict[str, Any]:
    """One process of the load: ``threads`` clients, each working through its share of ``work``."""
    import threading

    port, kind, token, work, threads = args
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    # Timed here, from the first request sent to the last answer, not from the pool's start:
    # starting the processes would weigh more on a short phase than on a long one.
    spans: list[float] = []

    def worker(share: list[int]) -> None:
        mine: list[float] = []
        failed: list[str] = []
        first = time.perf_counter()
        for item in share:
            if kind == "ours":
                body = json.dumps(
                    {"due_item": item, "amount_fen": 40000, "channel": "wechat", "paid_by": "本人"}
                )
                headers = {
                    "Authorization": f"Token {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"bench-{item}",
                }
                method, path, expected = "POST", "/api/collection/payments/", 201
            else:
                body, headers, method, path, expected = None, {}, "GET", "/bench/ping/", 200
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != expected:
                    failed.append(f"{response.status}")
            except OSError as error:
                failed.append(type(error).__name__)
            mine.append(time.perf_counter() - started)
        last = time.perf_counter()
        with lock:
            latencies.extend(mine)
            errors.extend(failed)
            spans.extend((first, last))

    shares = [work[index::threads] for index in range(threads)]
    pool = [threading.Thread(target=worker, args=(share,)) for share in shares]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"latencies": latencies, "errors": errors, "from": min(spans), "to": max(spans)}


def _drive(
    port: int, kind: str, token: str, items: list[int], clients: int, processes: int
) -> dict[str, Any]:
    """One phase: ``items`` sent by ``clients`` clients; their latencies, errors and the span from
    the first request to the last answer (perf_counter is the system's monotonic clock, the
    same in every process)."""
    per_process = clients // processes
    chunks = [items[index::processes] for index in range(processes)]
    # Spawned, not forked: forking a process that runs threads (a test worker's) can hang the child.
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pending = pool.map_async(
            _client,
            [(port, kind, token, chunk, per_process) for chunk in chunks],
        )
        # A bound, so that a stuck client fails the run instead of hanging it: a second a request.
        results = pending.get(timeout=60 + len(items))
    return {
        "latencies": [value for result in results for value in result["latencies"]],
        "errors": [error for result in results for error in result["errors"]],
        "seconds": max(result["to"] for result in results) - min(result["from"] for result in results),
    }


def _summary(phases: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(value for phase in phases for value in phase["latencies"])
    errors = [error for phase in phases for error in phase["errors"]]
    seconds = sum(phase["seconds"] for phase in phases)

    def percentile(share: float) -> float:
        return (
            round(latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000, 1)
            if latencies
            else 0.0
        )

    return {
        "requests": len(latencies),
        "per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
        "seconds": round(seconds, 2),
    }


def _start_server(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.bench")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi", "--config", "python:config.gunicorn", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning"],
        cwd=str(ROOT), env=env, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/bench/ping/")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    os.killpg(server.pid, signal.SIGTERM)
    raise RuntimeError("gunicorn did not answer within 60 s")


def run_inner(*, size: int, clients: int) -> dict[str, Any]:
    from django.utils import timezone

    from collection.models import Payment, ReceiptCounter

    log(f"building {size:,} due items (and {WARM_UP} for the warm-up) and a tax clerk")
    token, items = _build(size + WARM_UP)
    warm_items, items = items[:WARM_UP], items[WARM_UP:]
    workers = (os.cpu_count() or 2) + 1
    port = _free_port()
    processes = 4 if clients % 4 == 0 else 1
    log(f"gunicorn with {workers} sync workers on port {port}; {clients} clients in {processes} processes")
    server = _start_server(port, workers)
    # The two loads take turns, in rounds of equal size (ours, baseline; baseline, ours; ...):
    # the machine's pace drifts (other work on it, PostgreSQL's own background work after a burst
    # of writes), and one long phase of each would give the drift to whichever ran in it.
    rounds = ROUNDS if size >= ROUNDS * clients else 1
    ours_phases: list[dict[str, Any]] = []
    baseline_phases: list[dict[str, Any]] = []
    try:
        # Both loads warmed alike before anything is timed: each worker's first payments prepare
        # its statements and load what the payment path imports, which fell into the first
        # timed round before (the database-free request was warmed, the payment not).
        warm = _drive(port, "baseline", token, list(range(WARM_UP)), min(clients, 16), 1)
        warm_ours = _drive(port, "ours", token, warm_items, min(clients, 16), 1)
        if warm_ours["errors"]:
            raise RuntimeError(f"warm-up payments failed: {sorted(set(warm_ours['errors']))[:5]}")
        log(
            f"warm-up: {len(warm['latencies'])} database-free requests, {len(warm_ours['latencies'])} payments"
        )
        for index in range(rounds):
            share = items[index::rounds]
            order = ("ours", "baseline") if index % 2 == 0 else ("baseline", "ours")
            for kind in order:
                if kind == "ours":
                    ours_phases.append(_drive(port, "ours", token, share, clients, processes))
                else:
                    baseline_phases.append(_drive(port, "baseline", token, share, clients, processes))
            log(
                f"round {index + 1}/{rounds}: {len(share)} payments in {ours_phases[-1]['seconds']:.2f} s, "
                f"{len(share)} database-free requests in {baseline_phases[-1]['seconds']:.2f} s"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    ours = _summary(ours_phases)
    baseline = _summary(baseline_phases)
    log(f"payments: {ours}")
    log(f"database-free: {baseline}")
    # This year's receipts: last year's ledger (``_build``) has its own numbers.
    year = timezone.localdate().year
    this_year = Payment.objects.filter(receipt_year=year)
    recorded = this_year.count()
    numbers = list(this_year.order_by("receipt_number").values_list("receipt_number", flat=True))
    counter = ReceiptCounter.objects.filter(year=year).values_list("last_number", flat=True).first() or 0
    return {
        "name": "payments",
        "requests": ours["requests"],
        "ours_per_s": ours["per_s"],
        "baseline_per_s": baseline["per_s"],
        "ratio": round(ours["per_s"] / baseline["per_s"], 3) if baseline["per_s"] else None,
        "p99_ms": ours["p99_ms"],
        "p50_ms": ours["p50_ms"],
        "errors": ours["errors"],
        "error_kinds": ours["error_kinds"],
        "baseline_p99_ms": baseline["p99_ms"],
        "baseline_errors": baseline["errors"],
        "clients": clients,
        "server_workers": workers,
        "warm_up": WARM_UP,
        # The warm-up's payments included: every receipt, numbered without a gap.
        "payments_recorded": recorded,
        "payments_of_last_year": Payment.objects.filter(receipt_year=year - 1).count(),
        "receipts_without_gap": numbers == list(range(1, recorded + 1)) and counter == recorded,
        "seconds": ours["seconds"],
        "rounds": rounds,
        # Each round's own ratio (its two phases run back to back): how far the machine's drift
        # moves the figure within one run.
        "round_ratios": [
            round(_summary([o])["per_s"] / _summary([b])["per_s"], 3)
            for o, b in zip(ours_phases, baseline_phases, strict=True)
            if b["seconds"]
        ],
    }


def run(*, size: int, clients: int, keep: bool) -> dict[str, Any]:
    return run_in_scratch_database("payments", ["--size", str(size), "--clients", str(clients)], keep=keep)
