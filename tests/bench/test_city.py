"""The generated city: valid, unique ID numbers that agree with sex and birth date, households
with one head, plausible ages and names, enrollments, assessments, and tax's payments with
receipt numbers without a gap; the same seed gives the same city."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection

from bench.city import city_generate
from enrollment.identifiers import parse_identifier


def _rows(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


@pytest.fixture
def city(db):
    return city_generate(persons=3_000, counties=3, townships=2, villages=3, seed=5)


def test_given_3000_persons_then_the_city_has_them_in_households_over_its_villages(city):
    assert (city.persons, city.enrollments, city.villages, city.counties) == (
        3_000,
        3_000,
        18,
        ["141002", "141024", "141023"],
    )
    assert _rows("SELECT count(*), count(DISTINCT household_id) FROM enrollment_person") == [
        (3_000, city.households)
    ]
    assert 900 < city.households < 1_200  # 2.9 persons a household on average
    # One head per household; household numbers are the village code and a per-village serial.
    assert _rows(
        "SELECT count(*) FROM enrollment_household h WHERE (SELECT count(*) FROM enrollment_person p "
        "WHERE p.household_id = h.id AND p.relation = 'head') <> 1 OR h.number NOT LIKE h.region_code || '%%'"
    ) == [(0,)]
    assert _rows("SELECT sum(last_number) FROM enrollment_householdcounter") == [(city.households,)]
    # 尧都区 has the most persons (95 : 72 : 42).
    by_county = dict(_rows("SELECT left(region_code, 6), count(*) FROM enrollment_person GROUP BY 1"))
    assert by_county["141002"] > by_county["141024"] > by_county["141023"]


def test_given_the_city_then_every_id_number_is_valid_and_agrees_with_sex_and_birth_date(city):
    rows = _rows("SELECT id_number, sex, birth_date, region_code, name, category FROM enrollment_person")
    for id_number, sex, birth_date, region_code, name, category in rows:
        # The portal's own check (GB 11643: length, province, birth date, check digit) accepts it.
        parsed = parse_identifier("resident_id", id_number, today=dt.date(2026, 11, 1))
        assert (parsed.number, parsed.birth_date, parsed.sex) == (id_number, birth_date, sex)
        assert id_number[:6] == region_code[:6]
        assert 2 <= len(name) <= 4
        age = (dt.date(2026, 11, 1) - birth_date).days // 365
        assert category in (
            {0: {"newborn"}}.get(age)
            or ({"preschool"} if age < 6 else {"student"} if age < 18 else {"urban", "rural"})
        ), (age, category)
    assert len({row[0] for row in rows}) == 3_000
    sexes = Counter(row[1] for row in rows)
    assert 1_300 < sexes["male"] < 1_700
    surnames = Counter(row[4][0] for row in rows)
    assert surnames.most_common(1)[0][0] in "王李张"


def test_given_the_city_then_enrollments_assessments_and_payments_fit_together(city):
    statuses = dict(_rows("SELECT status, count(*) FROM enrollment_enrollment GROUP BY status"))
    assert statuses["normal"] > 2_800 and sum(statuses.values()) == 3_000
    assert _rows(
        "SELECT count(*) FROM enrollment_enrollment WHERE status = 'terminated' AND ended_on IS NULL"
    ) == [(0,)]
    paid = _rows("SELECT count(*) FROM enrollment_assessment WHERE insurance_year = 2026 AND status = 'paid'")
    assert paid == [(city.assessments,)] and 2_400 < city.assessments < 2_700  # 85%
    assert city.payments == city.assessments
    assert _rows("SELECT count(*) FROM collection_payer") == [(3_000,)]
    assert _rows("SELECT count(*) FROM collection_dueitem WHERE status = 'paid'") == [(city.assessments,)]
    # Receipt numbers 1..n per county tax bureau, without a gap, and the counters at n.
    receipts = _rows(
        "SELECT p.agency_id, count(*), min(receipt_number), max(receipt_number), count(DISTINCT receipt_number), "
        "c.last_number FROM collection_payment p JOIN collection_receiptcounter c "
        "ON c.agency_id = p.agency_id AND c.year = p.receipt_year GROUP BY p.agency_id, c.last_number"
    )
    assert len(receipts) == 3
    for _agency, count, low, high, distinct, last in receipts:
        assert (low, high, distinct, last) == (1, count, count, count)


def test_given_a_city_already_built_then_a_second_one_is_refused(city):
    with pytest.raises(ValueError, match="already has persons"):
        city_generate(persons=10, counties=1, townships=1, villages=1)


# Every table the build writes, compared without the timestamps (now() of each job's transaction).
_BUILT_TABLES = [
    "enrollment_household",
    "enrollment_householdcounter",
    "enrollment_person",
    "enrollment_enrollment",
    "subsidies_subsidytag",
    "enrollment_assessment",
    "collection_payer",
    "collection_dueitem",
    "collection_payment",
    "collection_receiptcounter",
]


def _checksums() -> dict[str, tuple[int, str]]:
    """Per table: the row count and an md5 over its rows in order (ids included, but for the
    receipt counters' own: one row per bureau, taken from the sequence in the order they come)."""
    sums = {}
    for table in _BUILT_TABLES:
        left_out = "'created_at', 'updated_at', 'recorded_at', 'assessed_at'"
        if table == "collection_receiptcounter":
            left_out += ", 'id'"
        (row,) = _rows(
            "SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), '')) FROM ("  # noqa: S608 - our own names
            f"SELECT (to_jsonb(t) - ARRAY[{left_out}])::text AS r FROM {table} t) rows"
        )
        sums[table] = row
    return sums


def _emptied() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(_BUILT_TABLES)} CASCADE")


def _secondary_indexes() -> list[tuple]:
    return _rows(
        "SELECT indexname FROM pg_indexes WHERE tablename IN ('enrollment_person', 'enrollment_enrollment', "
        "'collection_payment') ORDER BY 1"
    )


@pytest.mark.django_db(transaction=True)
def test_given_two_jobs_then_the_city_has_the_same_rows_as_built_by_one():
    indexes = _secondary_indexes()
    one = city_generate(persons=2_000, counties=4, townships=1, villages=3, seed=9, jobs=1)
    by_one = _checksums()
    _emptied()
    two = city_generate(persons=2_000, counties=4, townships=1, villages=3, seed=9, jobs=2)

    assert (two.persons, two.households, two.enrollments, two.assessments, two.payments) == (
        one.persons,
        one.households,
        one.enrollments,
        one.assessments,
        one.payments,
    )
    assert _checksums() == by_one
    assert by_one["enrollment_person"][0] == 2_000
    # Built again after the load: every secondary index is back; the plan table is gone.
    assert _secondary_indexes() == indexes
    assert _rows("SELECT to_regclass('bench_city_home') IS NULL") == [(True,)]
    for (id_number,) in _rows("SELECT id_number FROM enrollment_person"):
        parse_identifier("resident_id", id_number, today=dt.date(2026, 11, 1))
    # Receipt numbers 1..n per county tax bureau; the counters moved on; sequences past the ids.
    for _agency, count, low, high, distinct in _rows(
        "SELECT agency_id, count(*), min(receipt_number), max(receipt_number), count(DISTINCT receipt_number) "
        "FROM collection_payment GROUP BY agency_id"
    ):
        assert (low, high, distinct) == (1, count, count)
    assert _rows("SELECT sum(last_number) FROM enrollment_householdcounter") == [(two.households,)]
    assert _rows(
        "SELECT nextval(pg_get_serial_sequence('enrollment_person', 'id')) > max(id) FROM enrollment_person"
    ) == [(True,)]


@pytest.mark.django_db(transaction=True)
def test_given_a_job_that_fails_then_the_build_fails_and_keeps_nothing_of_the_jobs(monkeypatch):
    import bench.city

    indexes = _secondary_indexes()
    # Only the job holding 洪洞县 fails, after its persons and enrollments are in.
    monkeypatch.setattr(
        bench.city, "_TAGS_SQL", "SELECT CASE WHEN '141024' = ANY(%(counties)s) THEN 1 / 0 END"
    )
    with pytest.raises(bench.city.CityBuildError, match="division by zero"):
        city_generate(persons=2_000, counties=4, townships=1, villages=3, seed=9, jobs=2)
    assert _rows("SELECT count(*) FROM enrollment_person") == [(0,)]
    assert _rows("SELECT count(*) FROM enrollment_household") == [(0,)]
    assert _secondary_indexes() == indexes
    assert _rows("SELECT to_regclass('bench_city_home') IS NULL") == [(True,)]
