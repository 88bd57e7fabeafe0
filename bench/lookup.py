"""Benchmark: finding a person by ID number or by name prefix among N persons of a city.

Data: ``bench.city`` — N persons in households over 17 counties (by their populations), with
enrollments, subsidy tags and last year's assessments (tax's tables are left out: no search
reads them).

Ours: the selectors behind the portal's searches, called as a county's insurance staff user
(the biggest county, 尧都区): ``enrollment.selectors.person_search`` (the persons page and
``GET /api/persons/?q=``) and ``household_search`` (the household page and
``GET /api/households/?q=``, "found again by any member"), each with a full 18-digit ID number or
a name prefix (the surname and the first given character, as typed), drawn at random from the
county's persons; the queries shuffled; times from the call until the rows (and, for
households, their members and enrollments) are in Python. ``p50_ms`` / ``p99_ms`` are over the
person searches (quality.md's "person lookup by ID number or name prefix");
``household_p50_ms`` / ``household_p99_ms`` over the household searches, and ``all_p99_ms`` over
every query.

Baseline: the same ``person_search`` calls with PostgreSQL's index scans switched off
(``enable_indexscan``, ``enable_bitmapscan``, ``enable_indexonlyscan``), on a sample: what the
lookup would cost without its indexes (a scan of the table). ``ratio`` = baseline p50 ÷ ours p50.

Floor: ``SELECT 1`` over the same connection (``floor_p50_ms``): the round trip every search pays
before it reads anything.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from .scratch import log, run_in_scratch_database

COUNTY = "141002"
KINDS = ("person_by_id", "person_by_name", "household_by_id", "household_by_name")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _samples(count: int, seed: int) -> list[tuple[str, str]]:
    """(ID number, name prefix) of ``count`` persons of the county, drawn by a seeded hash."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, left(name, 2) FROM enrollment_person WHERE region_code LIKE %s "
            "ORDER BY hashint8extended(id, %s) LIMIT %s",
            [COUNTY + "%", seed, count],
        )
        return list(cursor.fetchall())


def _calls(scope: Any) -> dict[str, Callable[[str], Any]]:
    from enrollment.selectors import household_search, person_search

    return {
        "person_by_id": lambda query: list(person_search(scope=scope, query=query)),
        "person_by_name": lambda query: list(person_search(scope=scope, query=query)),
        "household_by_id": lambda query: household_search(scope=scope, query=query),
        "household_by_name": lambda query: household_search(scope=scope, query=query),
    }


def _timed(
    calls: list[tuple[str, str]], functions: dict[str, Callable[[str], Any]]
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {kind: [] for kind in functions}
    for kind, query in calls:
        started = time.perf_counter()
        found = functions[kind](query)
        times[kind].append((time.perf_counter() - started) * 1000)
        if not found:
            raise AssertionError(f"{kind} found nothing for {query!r}")
    return times


def run_inner(
    *,
    size: int,
    queries: int,
    baseline_queries: int,
    counties: int = 17,
    townships: int = 12,
    villages: int = 25,
    seed: int = 1,
    reuse: bool = False,
) -> dict[str, Any]:
    from django.db import connection

    from accounts.scope import Scope

    from .city import city_generate

    started = time.perf_counter()
    city = _kept_city() if reuse else None
    if city is None:
        log(f"building a city of {size:,} persons")
        # Tax's tables play no part in a person search: left out to save the build's time.
        city = city_generate(
            persons=size, counties=counties, townships=townships, villages=villages, seed=seed, tax=False
        )
        build_seconds: float | None = time.perf_counter() - started
        log(f"built in {build_seconds:.1f} s ({city.seconds})")
    else:
        build_seconds = None
        log(f"measuring on the kept city of {city.persons:,} persons (not rebuilt)")

    scope = Scope.for_user_id(city.staff[COUNTY][0])
    rng = random.Random(seed)  # noqa: S311 - synthetic queries
    samples = _samples(queries, seed)
    calls = [
        (kind, id_number if kind.endswith("_id") else prefix)
        for id_number, prefix in samples
        for kind in KINDS
    ]
    rng.shuffle(calls)
    functions = _calls(scope)
    _timed(calls[: min(len(calls), 200)], functions)  # warm the caches and the connection
    times = _timed(calls, functions)
    every = [value for values in times.values() for value in values]
    person_times = times["person_by_id"] + times["person_by_name"]
    household_times = times["household_by_id"] + times["household_by_name"]

    # The floor: a statement that reads nothing (``SELECT 1``) over the same connection, timed alike.
    floor = []
    with connection.cursor() as cursor:
        for _ in range(len(every)):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            floor.append((time.perf_counter() - started) * 1000)

    log(f"baseline: {baseline_queries} person searches each way with index scans switched off")
    baseline_calls = [
        (kind, id_number if kind == "person_by_id" else prefix)
        for id_number, prefix in samples[:baseline_queries]
        for kind in ("person_by_id", "person_by_name")
    ]
    with connection.cursor() as cursor:
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            cursor.execute(f"SET {setting} = off")
        try:
            baseline = _timed(baseline_calls, functions)
        finally:
            for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                cursor.execute(f"RESET {setting}")
    baseline_every = [value for values in baseline.values() for value in values]

    ours_p50 = statistics.median(person_times)
    baseline_p50 = statistics.median(baseline_every)
    result: dict[str, Any] = {
        "name": "lookup",
        "size": city.persons,
        "queries": len(every),
        "p50_ms": round(ours_p50, 2),
        "p99_ms": round(_percentile(person_times, 0.99), 2),
        "max_ms": round(max(person_times), 2),
        "ours_per_s": round(1000 / statistics.mean(person_times), 1),
        "household_p50_ms": round(statistics.median(household_times), 2),
        "household_p99_ms": round(_percentile(household_times, 0.99), 2),
        "all_p99_ms": round(_percentile(every, 0.99), 2),
        "baseline_per_s": round(1000 / statistics.mean(baseline_every), 2),
        "baseline_p50_ms": round(baseline_p50, 1),
        "floor_p50_ms": round(statistics.median(floor), 3),
        "floor_p99_ms": round(_percentile(floor, 0.99), 3),
        "baseline_queries": len(baseline_every),
        "ratio": round(baseline_p50 / ours_p50, 1) if ours_p50 else None,
        "households": city.households,
        "villages": city.villages,
        "counties": len(city.counties),
        "county_persons": _count_county(),
        "build_seconds": round(build_seconds, 1) if build_seconds is not None else None,
        "build_parts_seconds": city.seconds,
    }
    for kind, values in times.items():
        result[f"{kind}_p50_ms"] = round(statistics.median(values), 2)
        result[f"{kind}_p99_ms"] = round(_percentile(values, 0.99), 2)
    return result


def _kept_city() -> Any:
    """The city an earlier ``--keep`` run built in this database, or None if it holds none."""
    from django.db import connection

    from .city import City

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM enrollment_person), (SELECT count(*) FROM enrollment_household), "
            "(SELECT count(DISTINCT region_code) FROM enrollment_household), "
            "(SELECT array_agg(DISTINCT left(region_code, 6)) FROM enrollment_household), "
            "(SELECT id FROM accounts_user WHERE username = %s), (SELECT id FROM accounts_user WHERE username = %s)",
            [f"insurance.{COUNTY}", f"tax.{COUNTY}"],
        )
        persons, households, villages, counties, insurance, tax = cursor.fetchone()
    if not persons or insurance is None:
        return None
    city = City(persons=persons, households=households, villages=villages, counties=sorted(counties))
    city.staff[COUNTY] = (insurance, tax)
    return city


def _count_county() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM enrollment_person WHERE region_code LIKE %s", [COUNTY + "%"])
        return int(cursor.fetchone()[0])


def run(*, size: int, queries: int, baseline_queries: int, keep: bool, reuse: bool = False) -> dict[str, Any]:
    return run_in_scratch_database(
        "lookup",
        ["--size", str(size), "--queries", str(queries), "--baseline-size", str(baseline_queries)],
        keep=keep or reuse,
        reuse=reuse,
    )
