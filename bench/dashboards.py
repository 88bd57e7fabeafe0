"""Benchmark: insurance's dashboard and follow-up pages on a city of N persons.

Data: ``bench.city`` (N persons in 17 counties, enrollments, last year's assessments paid by
85%) plus the household register: every person on the register of their hukou village, and 3%
more who never enrolled (the unenrolled list). Then ``coverage_stats_refresh`` counts the year.

Measured through Django's test client as the biggest county's insurance staff (尧都区), whole
requests (view, SQL, template): the coverage page of the city's view of the county, of a township
and of a village, the unenrolled and unpaid lists' first page and a page deep in the county (keyset
``after`` from the middle), each ``--queries`` times; p50 and p99 per page. Target: every page
under one second (quality.md: dashboards answer in under a second at 5 million persons). The floor
is the home page timed alike: what any page of the portal costs on the same machine at that moment.

The refresh itself is timed too: it reads the whole city and runs in the background (beat, every
ten minutes), so it is not a page's time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .city import LAST_YEAR
from .scratch import log, run_in_scratch_database

COUNTY = "141002"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


_REGISTER = """
INSERT INTO enrollment_registeredresident (id_number, name, region_code, register_household, phone, job_id)
SELECT id_number, name, region_code, '', phone, %(job)s FROM enrollment_person
UNION ALL
SELECT 'R' || lpad(n::text, 17, '0'), '未参保' || n, v.code, '', '', %(job)s
FROM (SELECT code, row_number() OVER (ORDER BY code) AS k, count(*) OVER () AS villages
      FROM accounts_region WHERE level = 5) v
JOIN generate_series(1, %(extra)s) n ON n %% v.villages = v.k - 1
"""


def run_inner(*, size: int, queries: int, seed: int = 1) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from accounts.scope import Scope
    from enrollment.models import ImportJob, ImportKind, ImportStatus
    from enrollment.reports import coverage_stats_refresh, unenrolled_page, unpaid_page

    from .city import city_generate

    started = time.perf_counter()
    log(f"building a city of {size:,} persons")
    city = city_generate(persons=size, seed=seed, tax=False)
    build_seconds = time.perf_counter() - started
    user = User.objects.get(pk=city.staff[COUNTY][0])
    job = ImportJob.objects.create(
        kind=ImportKind.HOUSEHOLD_REGISTER, status=ImportStatus.DONE, original_name="bench.xlsx",
        file_format="xlsx", region_code="141000000000", created_by=user,
    )  # fmt: skip
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(_REGISTER, {"job": job.pk, "extra": max(1, size * 3 // 100)})
        registered = cursor.rowcount
        cursor.execute("ANALYZE enrollment_registeredresident")
    register_seconds = time.perf_counter() - started
    log(f"register: {registered:,} rows in {register_seconds:.1f} s")
    started = time.perf_counter()
    villages = coverage_stats_refresh(insurance_year=LAST_YEAR)
    refresh_seconds = time.perf_counter() - started
    log(f"coverage refresh: {villages:,} villages in {refresh_seconds:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT region_code FROM enrollment_registeredresident WHERE region_code LIKE %s "
            "ORDER BY region_code LIMIT 1",
            [COUNTY + "%"],
        )
        (village,) = cursor.fetchone()
    township = village[:9] + "000"
    scope = Scope.for_user(user)
    middle_unenrolled = _middle_key(unenrolled_page, scope, {}, "enrollment_registeredresident")
    middle_unpaid = _middle_key(unpaid_page, scope, {"insurance_year": LAST_YEAR}, "enrollment_assessment")
    pages = {
        # The floor: the home page, the same portal chrome (menu, sign-in, middleware) with no report.
        "home": "/",
        "coverage_county": f"/enrollment/reports/coverage/?year={LAST_YEAR}&area={COUNTY}000000",
        "coverage_township": f"/enrollment/reports/coverage/?year={LAST_YEAR}&area={township}",
        "coverage_village": f"/enrollment/reports/coverage/?year={LAST_YEAR}&area={village}",
        "unenrolled_first": f"/enrollment/reports/unenrolled/?area={COUNTY}000000",
        "unenrolled_deep": f"/enrollment/reports/unenrolled/?area={COUNTY}000000&after={middle_unenrolled}",
        "unpaid_first": f"/enrollment/reports/unpaid/?year={LAST_YEAR}&area={COUNTY}000000",
        "unpaid_deep": f"/enrollment/reports/unpaid/?year={LAST_YEAR}&area={COUNTY}000000&after={middle_unpaid}",
    }
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    for url in pages.values():  # warm the connection, the templates and the caches
        response = client.get(url)
        if response.status_code != 200:
            raise AssertionError(f"{url} answered {response.status_code}")
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _round in range(queries):
        for name, url in pages.items():
            began = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise AssertionError(f"{url} answered {response.status_code}")
    floor = times.pop("home")
    every = [value for values in times.values() for value in values]
    result: dict[str, Any] = {
        "name": "dashboards",
        "size": city.persons,
        "registered": registered,
        "villages": villages,
        "queries": len(every),
        "p50_ms": round(statistics.median(every), 1),
        "p99_ms": round(_percentile(every, 0.99), 1),
        "max_ms": round(max(every), 1),
        "floor_p50_ms": round(statistics.median(floor), 1),
        "floor_p99_ms": round(_percentile(floor, 0.99), 1),
        "refresh_seconds": round(refresh_seconds, 1),
        "build_seconds": round(build_seconds, 1),
    }
    for name, values in times.items():
        result[f"{name}_p50_ms"] = round(statistics.median(values), 1)
        result[f"{name}_p99_ms"] = round(_percentile(values, 0.99), 1)
    return result


def _middle_key(page: Any, scope: Any, extra: dict[str, Any], table: str) -> str:
    """An ``after`` key half-way through the county's list: a deep page, as a clerk paging on."""
    from django.db import connection

    with connection.cursor() as cursor:
        if table == "enrollment_registeredresident":
            cursor.execute(
                "SELECT region_code || ':' || id_number FROM enrollment_registeredresident "
                "WHERE region_code LIKE %s ORDER BY region_code, id_number "
                "OFFSET (SELECT count(*) / 2 FROM enrollment_registeredresident WHERE region_code LIKE %s) LIMIT 1",
                [COUNTY + "%", COUNTY + "%"],
            )
        else:
            cursor.execute(
                "SELECT region_code || ':' || person_id FROM enrollment_assessment "
                "WHERE region_code LIKE %s AND insurance_year = %s AND status = 'due' "
                "ORDER BY region_code, person_id OFFSET 1000 LIMIT 1",
                [COUNTY + "%", extra["insurance_year"]],
            )
        row = cursor.fetchone()
    return row[0] if row else ""


def run(*, size: int, queries: int, keep: bool) -> dict[str, Any]:
    return run_in_scratch_database("dashboards", ["--size", str(size), "--queries", str(queries)], keep=keep)
