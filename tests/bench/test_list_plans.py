"""Every list page and search reads the big tables through an index, on a generated city.

A city of 30,000 persons in Linfen's 17 counties (their real shares: the county user's 尧都区
holds about a fifth), with enrollments, last year's assessments, subsidy tags and tax's payers,
due items and payments; the tables analysed. Then each list page and list endpoint is requested
as that county's insurance or tax staff, every SELECT it ran is explained (``EXPLAIN (FORMAT
JSON)``), and no plan may scan a big table (over 2,000 rows) sequentially.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from bench.city import city_generate
from collection.models import Payer

COUNTY = "141002"
BIG = 2_000


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def _sequential_scans_of_big_tables(sql: str, big: set[str]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        (document,) = cursor.fetchone()
    return sorted(
        {table for node, table in _scans(document[0]["Plan"]) if node == "Seq Scan" and table in big}
    )


def _household_register(built) -> None:  # type: ignore[no-untyped-def]
    """Every person on their village's register, 3% more never enrolled; the year's figures counted."""
    from bench.dashboards import _REGISTER
    from enrollment.models import ImportJob, ImportKind, ImportStatus
    from enrollment.reports import coverage_stats_refresh

    job = ImportJob.objects.create(
        kind=ImportKind.HOUSEHOLD_REGISTER, status=ImportStatus.DONE, original_name="register.xlsx",
        file_format="xlsx", region_code="141000000000", created_by_id=built.staff[COUNTY][0],
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_REGISTER, {"job": job.pk, "extra": 900})
        cursor.execute("ANALYZE enrollment_registeredresident")
    coverage_stats_refresh(insurance_year=2026)


def _school_with_students(limit: int = 1_500) -> int:
    """A school of the county whose students are the county's first ``limit`` pupils (the
    generator registers no school rosters); its id."""
    from accounts.models import Agency, AgencyKind, Region

    school = Agency.objects.create(
        name="尧都区第一中学", kind=AgencyKind.SCHOOL, region=Region.objects.get(code=f"{COUNTY}000000")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE enrollment_person SET school_id = %s WHERE id IN (SELECT id FROM enrollment_person "
            "WHERE region_code LIKE %s AND category = 'student' ORDER BY id LIMIT %s)",
            [school.pk, COUNTY + "%", limit],
        )
        cursor.execute("ANALYZE enrollment_person")
    return school.pk


@pytest.fixture
def city(db):
    built = city_generate(persons=30_000, counties=17, townships=1, villages=3, seed=7)
    _household_register(built)
    school = _school_with_students()
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > %s", [BIG])
        big = {name for (name,) in cursor.fetchall()}
        cursor.execute(
            "SELECT id_number, left(name, 1), region_code FROM enrollment_person "
            "WHERE region_code LIKE %s ORDER BY id LIMIT 1",
            [COUNTY + "%"],
        )
        id_number, surname, village = cursor.fetchone()
    return built, big, id_number, surname, village, school


def test_given_a_generated_city_when_each_list_page_is_read_then_no_big_table_is_scanned_sequentially(
    client, city
):
    built, big, id_number, surname, village, school = city
    insurance, tax = (User.objects.get(pk=pk) for pk in built.staff[COUNTY])
    assert {"enrollment_person", "enrollment_household", "enrollment_enrollment", "collection_payment"} <= big
    payer_key = Payer.objects.get(person_id=id_number).pk
    pages = {
        insurance: [
            "/api/households/",
            f"/api/households/?q={surname}",
            f"/api/households/?q={id_number}",
            f"/api/households/?region_code={village}",
            "/api/persons/",
            f"/api/persons/?q={surname}",
            f"/api/persons/?q={id_number[:10]}",
            f"/api/persons/?region_code={village}",
            "/api/enrollments/",
            "/api/enrollments/?status=suspended",
            "/api/applications/",
            f"/api/assessments/?county_code={COUNTY}&insurance_year=2026",
            "/enrollment/applications/",
            f"/enrollment/assessment/{COUNTY}/2026/",
            f"/enrollment/assessment/{COUNTY}/2026/?status=paid",
            f"/enrollment/publicity/?village={village}&start=2026-11-01&end=2026-11-10",
            "/refunds/",
            "/api/refunds/",
            f"/enrollment/reports/coverage/?year=2026&area={COUNTY}000000",
            f"/enrollment/reports/unenrolled/?area={COUNTY}000000",
            f"/enrollment/reports/unenrolled/?area={village}",
            f"/enrollment/reports/unpaid/?year=2026&area={COUNTY}000000",
            f"/enrollment/reports/unpaid/?year=2026&area={village}",
            f"/enrollment/schools/{school}/students/?year=2026",
            f"/enrollment/schools/{school}/students/?year=2026&status=unenrolled",
            f"/enrollment/schools/{school}/students/?year=2026&payment=due",
        ],
        tax: [
            f"/api/collection/payers/?q={surname}",
            f"/api/collection/payers/?q={id_number[:10]}",
            f"/api/collection/due-items/?person_id={id_number}",
            f"/collection/counter/?payer={payer_key}",
            f"/collection/collective/?village={village}",
        ],
    }
    scanned: dict[str, list[str]] = {}
    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, url
            for query in captured.captured_queries:
                sql = query["sql"]
                if sql.lstrip().upper().startswith("SELECT"):
                    tables = _sequential_scans_of_big_tables(sql, big)
                    if tables:
                        scanned.setdefault(url, []).append(f"{tables}: {sql}")
    # The pages' searches are POSTed (nothing typed in an address) and answered by a redirect.
    searched_pages = (
        (insurance, "/enrollment/"),
        (insurance, f"/enrollment/schools/{school}/students/"),
        (tax, "/collection/counter/"),
    )
    for user, page in searched_pages:
        client.force_login(user)
        for typed in (surname, id_number):
            with CaptureQueriesContext(connection) as captured:
                response = client.post(page, {"q": typed}, follow=True)
            assert response.status_code == 200, typed
            for query in captured.captured_queries:
                sql = query["sql"]
                if sql.lstrip().upper().startswith("SELECT"):
                    tables = _sequential_scans_of_big_tables(sql, big)
                    if tables:
                        scanned.setdefault(f"{page} search {typed}", []).append(f"{tables}: {sql}")

    assert scanned == {}, "\n".join(f"{url}: {line}" for url, lines in scanned.items() for line in lines)
