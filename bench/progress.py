"""Benchmark: the collection-progress dashboard over N due items (persons) of a city.

Data: the city's regions (``bench.city``: Linfen's 17 counties by population, 12 townships of 25
villages each) and, at tax, N due items of insurance year 2027 spread over the villages by their
counties' populations (3% withdrawn, 8% at a subsidised amount), 70% of the rest paid over 90 days
through six channels, and 1% of the unpaid with a reversed payment — written straight into tax's
tables with ``INSERT … SELECT`` (tax's ledger is all the dashboard reads; persons, enrollments and
assessments play no part, so they are left out: the 35-minute build of 5 million persons is not
needed to measure it).

Ours: the dashboard pages through Django's test client (sessions, middleware, template, charts),
signed in as the biggest county's tax staff (尧都区: the county page, a township, a village, the
county's workbook) and as the city's administrator (the city page): ``--queries`` requests of
each, after a warm-up; p50 / p99 / max per page. Also the refresh that recomputes the summary
from the ledger (``progress_refresh``), first from empty, then again with nothing changed.

Baseline: what the county page's figures cost computed from the ledger itself, as the page did
before the summary (per village: due items grouped, payments grouped; per day and channel:
payments grouped), on a sample. ``ratio`` = baseline p50 ÷ ours p50 (the county page).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .scratch import log, run_in_scratch_database

COUNTY = "141002"
YEAR = 2027

_DUE_SQL = """
INSERT INTO collection_dueitem (person_id, insurance_year, region_code, amount_fen, subsidy_fen, subsidy_marker,
    schedule, status, source_message_id, sequence, revision, updated_at)
SELECT 'B' || lpad(i::text, 11, '0'), %(year)s,
       (%(villages)s::text[])[width_bucket((i + 0.5)::float8 / %(size)s, %(bounds)s::float8[])],
       CASE WHEN abs(mod(hashint4(i), 100)) < 8 THEN 24000 ELSE 40000 END,
       CASE WHEN abs(mod(hashint4(i), 100)) < 8 THEN 16000 ELSE 0 END, '', '[]',
       CASE WHEN abs(mod(hashint4(i + 7), 100)) < 3 THEN 'cancelled'
            WHEN abs(mod(hashint4(i + 11), 100)) < 70 THEN 'paid' ELSE 'due' END,
       0, 1, 1, now()
FROM generate_series(0, %(size)s - 1) AS i
"""

_PAYMENTS_SQL = """
INSERT INTO collection_payment (due_item_id, person_id, insurance_year, region_code, amount_fen, channel, paid_at,
    paid_by, agency_id, collector_id, receipt_year, receipt_number, idempotency_key, status, recorded_at,
    reversal_reason, reversed_at, reversed_by_id)
SELECT d.id, d.person_id, d.insurance_year, d.region_code, d.amount_fen,
       (ARRAY['wechat', 'alipay', 'counter_cash', 'village', 'bank_batch', 'bank_card'])[1 + abs(mod(hashint8(d.id), 6))],
       timestamptz '2026-09-01 08:00:00+08' + make_interval(days => abs(mod(hashint8(d.id + 1), 90))::int,
                                                            secs => abs(mod(hashint8(d.id + 2), 36000))::int),
       '缴费人', s.agency_id, s.collector_id, 2026,
       row_number() OVER (PARTITION BY s.agency_id ORDER BY d.id), NULL,
       CASE WHEN d.status = 'paid' THEN 'recorded' ELSE 'reversed' END, now(),
       CASE WHEN d.status = 'paid' THEN '' ELSE '收错' END,
       CASE WHEN d.status = 'paid' THEN NULL ELSE now() END,
       CASE WHEN d.status = 'paid' THEN NULL ELSE s.collector_id END
FROM collection_dueitem d
JOIN unnest(%(counties)s::text[], %(agencies)s::bigint[], %(collectors)s::bigint[])
     AS s(county, agency_id, collector_id) ON s.county = left(d.region_code, 6)
WHERE d.status = 'paid' OR (d.status = 'due' AND abs(mod(hashint8(d.id + 3), 100)) < 1)
ORDER BY d.id
"""

# The county page's figures straight from the ledger (the baseline).
_BASELINE_SQL = [
    """SELECT region_code, count(*) FILTER (WHERE status IN ('due', 'paid') AND amount_fen > 0),
              sum(amount_fen) FILTER (WHERE status IN ('due', 'paid') AND amount_fen > 0)
       FROM collection_dueitem WHERE region_code LIKE %(prefix)s AND insurance_year = %(year)s GROUP BY region_code""",
    """SELECT region_code, count(*), sum(amount_fen) FROM collection_payment
       WHERE region_code LIKE %(prefix)s AND insurance_year = %(year)s AND status = 'recorded' GROUP BY region_code""",
    """SELECT (paid_at AT TIME ZONE 'Asia/Shanghai')::date, channel, count(*), sum(amount_fen)
       FROM collection_payment WHERE region_code LIKE %(prefix)s AND insurance_year = %(year)s
       AND status = 'recorded' AND paid_at >= %(start)s GROUP BY 1, 2""",
]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _build(size: int, seed: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from accounts.models import Agency, Region, User
    from accounts.roles import AgencyKind, Role

    from .city import (
        COUNTIES,
        _indexes_built,
        _secondary_indexes_dropped,
        _staff,
        _tax_agencies,
        regions_create,
    )

    started = time.perf_counter()
    with transaction.atomic():
        shares = regions_create(counties=COUNTIES, townships=12, villages=25)
        staff = _staff(COUNTIES)
        tax = _tax_agencies(staff)
        city = Region.objects.get(code="141000000000")
        agency, _ = Agency.objects.get_or_create(
            region=city, name="临汾市医疗保障事务中心", kind=AgencyKind.INSURANCE_AGENCY
        )
        admin, _ = User.objects.get_or_create(
            username="admin.141000",
            defaults={"full_name": "管理员", "agency": agency, "role": Role.ADMINISTRATOR},
        )
        bounds, running = [], 0.0
        for _code, share in shares:
            bounds.append(running)
            running += share
        params = {
            "size": size,
            "year": YEAR,
            "villages": [code for code, _share in shares],
            "bounds": bounds,
            "counties": list(tax),
            "agencies": [agency_id for agency_id, _collector in tax.values()],
            "collectors": [collector for _agency, collector in tax.values()],
            "seed": seed,
        }
        with connection.cursor() as cursor:
            # The secondary indexes built once after the load (the city generator's way): one
            # sorted build instead of millions of random insertions.
            dropped = _secondary_indexes_dropped(cursor, ["collection_dueitem", "collection_payment"])
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute(_DUE_SQL, params)
            due = cursor.rowcount
            cursor.execute(_PAYMENTS_SQL, params)
            payments = cursor.rowcount
        _indexes_built(True, 1, dropped)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE collection_dueitem")
        cursor.execute("ANALYZE collection_payment")
    seconds = round(time.perf_counter() - started, 1)
    log(f"{due:,} due items and {payments:,} payments in {seconds} s")
    return {
        "due_items": due,
        "payments": payments,
        "tax_user": staff[COUNTY][1],
        "admin": admin.pk,
        "seconds": seconds,
    }


def _timed(client: Any, url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or not body:
            raise AssertionError(f"{url}: {response.status_code}")
    return times


def run_inner(*, size: int, queries: int, baseline_queries: int, seed: int = 1) -> dict[str, Any]:
    import re

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import User
    from collection.progress import progress_refresh

    settings.DEBUG = False  # no query log, as in service
    log(f"tax's ledger for {size:,} persons")
    built = _build(size, seed)

    first = progress_refresh()
    again = progress_refresh()
    log(f"refresh from empty {first.seconds} s ({first.day_rows:,} day rows); again {again.seconds} s")

    county_user = User.objects.get(pk=built["tax_user"])
    admin = User.objects.get(pk=built["admin"])
    township, village = f"{COUNTY}001000", f"{COUNTY}001001"
    window = "?year=2027&from=2026-09-01&to=2026-11-29"
    pages = {
        "county": (county_user, reverse("collection:progress") + window),
        "township": (county_user, reverse("collection:progress-area", args=[township]) + window),
        "village": (county_user, reverse("collection:progress-area", args=[village]) + window),
        "county_xlsx": (county_user, reverse("collection:progress-xlsx") + window),
        "city_admin": (admin, reverse("collection:progress") + window),
    }
    result: dict[str, Any] = {
        "name": "progress",
        "size": size,
        **{k: v for k, v in built.items() if k in ("due_items", "payments")},
    }
    every: list[float] = []
    tables: set[str] = set()
    for name, (user, url) in pages.items():
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        _timed(client, url, 3)  # warm-up
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        tables |= {
            t for q in captured.captured_queries for t in re.findall(r'(?:FROM|JOIN)\s+"(\w+)"', q["sql"])
        }
        times = _timed(client, url, queries)
        every += times
        result[f"{name}_p50_ms"] = round(statistics.median(times), 1)
        result[f"{name}_p99_ms"] = round(_percentile(times, 0.99), 1)
        result[f"{name}_max_ms"] = round(max(times), 1)
        log(f"{name}: p50 {result[f'{name}_p50_ms']} ms, max {result[f'{name}_max_ms']} ms")
    result["tables_read"] = sorted(tables)

    baseline = []
    with connection.cursor() as cursor:
        for _ in range(baseline_queries):
            started = time.perf_counter()
            for sql in _BASELINE_SQL:
                cursor.execute(sql, {"prefix": COUNTY + "%", "year": YEAR, "start": "2026-09-01"})
                cursor.fetchall()
            baseline.append((time.perf_counter() - started) * 1000)
    ours_p50 = result["county_p50_ms"]
    baseline_p50 = statistics.median(baseline)
    result.update(
        {
            "p99_ms": round(_percentile(every, 0.99), 1),
            "max_ms": round(max(every), 1),
            "ours_per_s": round(1000 / statistics.mean(every), 1),
            "baseline_p50_ms": round(baseline_p50, 1),
            "baseline_per_s": round(1000 / baseline_p50, 2),
            "ratio": round(baseline_p50 / ours_p50, 1) if ours_p50 else None,
            "refresh_seconds": first.seconds,
            "refresh_again_seconds": again.seconds,
            "refresh_again_written": again.written,
            "summary_area_rows": first.area_rows,
            "summary_day_rows": first.day_rows,
            "build_seconds": built["seconds"],
        }
    )
    return result


def run(*, size: int, queries: int, baseline_queries: int, keep: bool) -> dict[str, Any]:
    return run_in_scratch_database(
        "progress",
        ["--size", str(size), "--queries", str(queries), "--baseline-size", str(baseline_queries)],
        keep=keep,
    )
