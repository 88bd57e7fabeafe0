"""A realistic city for the benchmarks and the scale tests, built set-based inside PostgreSQL.

``city_generate(persons=5_000_000)`` builds, deterministically from a seed:

- regions: a city (Linfen, 141000) with up to 17 real counties (more get made-up codes), each
  with ``townships`` townships of ``villages`` villages, with plausible names;
- per county an insurance agency and a tax bureau, each with one staff user (token sign-in only);
- households of 1–6 (the 2020 census's mix, mean 2.9) spread over the villages by each county's
  population, numbered per village (the village's household counter moved on);
- persons: a head aged 25–80, a spouse of about the same age, children, a parent or a grandchild,
  with plausible Chinese names (surnames by frequency, children taking the head's), sex and
  birth date matching their 18-digit resident ID number (county of birth, birth date, sequence odd
  for men and even for women, the GB 11643 check digit; unique), categories by age (newborn,
  pre-school, student, urban or rural), phone numbers for those 16 and over;
- enrollments (96% normal, 2% suspended for employment, 2% of those over 60 terminated by death);
- subsidy tags (8%) and last year's assessments, paid by 85% (``bench.assessment``'s history);
- at tax: the payers, last year's due items and their payments, with receipt numbers consecutive
  per county tax bureau (and the receipt counters moved on).

Everything is written with ``INSERT … SELECT`` over ``generate_series`` (no row leaves the
server), so history triggers, check constraints, foreign keys and unique indexes all hold as for
any other write. PostgreSQL runs a statement on one core, so the work is split by whole counties
over ``jobs`` connections (one per core) that run at once: the households are drawn and placed
once (a shared plan table), every row's id follows from its place in the city, and a county's
ID number sequences and receipt numbers stay in one job, so the rows are the same for any number
of jobs. ``bench.assessment`` and ``bench.roster`` build their persons with
``households_and_persons`` too (one job, in the caller's transaction).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from .scratch import log

CITY_CODE = "141000"
CITY_NAME = "临汾市"
PROVINCE_CODE, PROVINCE_NAME = "140000", "山西省"
# Linfen's counties with their resident populations (10,000s, 2020 census, rounded): the weights.
COUNTIES: list[tuple[str, str, int]] = [
    ("141002", "尧都区", 95),
    ("141024", "洪洞县", 72),
    ("141023", "襄汾县", 42),
    ("141022", "翼城县", 30),
    ("141082", "霍州市", 29),
    ("141081", "侯马市", 24),
    ("141029", "乡宁县", 23),
    ("141021", "曲沃县", 22),
    ("141034", "汾西县", 13),
    ("141027", "浮山县", 11),
    ("141031", "隰县", 11),
    ("141028", "吉县", 10),
    ("141033", "蒲县", 10),
    ("141025", "古县", 9),
    ("141026", "安泽县", 8),
    ("141030", "大宁县", 7),
    ("141032", "永和县", 6),
]
# Districts and county-level cities: more urban residents.
URBAN_COUNTIES = frozenset({"141002", "141081", "141082"})
REFERENCE_DAY = dt.date(2026, 11, 1)
LAST_YEAR = 2026

# Surnames with their shares (per 10,000, rounded from the 2020 household registration figures).
SURNAMES: list[tuple[str, int]] = [
    ("王", 710), ("李", 700), ("张", 670), ("刘", 540), ("陈", 460), ("杨", 310), ("赵", 200),
    ("黄", 190), ("周", 170), ("吴", 170), ("徐", 130), ("孙", 130), ("胡", 110), ("朱", 110),
    ("高", 110), ("郭", 110), ("马", 110), ("何", 100), ("林", 90), ("罗", 90), ("梁", 80),
    ("郑", 80), ("宋", 70), ("谢", 70), ("韩", 60), ("唐", 60), ("冯", 60), ("于", 60), ("董", 50),
    ("程", 50), ("曹", 50), ("袁", 40), ("邓", 50), ("许", 60), ("傅", 30), ("沈", 30), ("曾", 50),
    ("彭", 50), ("吕", 30), ("田", 50), ("贾", 30), ("薛", 20), ("闫", 20), ("卫", 10), ("柴", 10),
    ("申", 10), ("乔", 20), ("常", 20), ("武", 20), ("牛", 20), ("范", 20), ("史", 20), ("段", 20),
    ("任", 30), ("姚", 30), ("崔", 30), ("魏", 30), ("苏", 30), ("秦", 20), ("侯", 20), ("郝", 10),
    ("孟", 20), ("白", 20), ("裴", 10), ("霍", 10), ("欧阳", 5), ("司马", 2), ("上官", 1),
]  # fmt: skip
MALE_GIVEN = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆旭宁龙林阳建国志海峰亮成文东博晨子轩然睿泽"
FEMALE_GIVEN = "芳娜敏静丽艳娟霞燕玲桂英秀兰梅琳雪婷慧莉萍红倩颖洁琴云欣怡佳悦涵思雨诗梓晴可馨月"
PLACE = "东西南北上下前后新安和平永丰太原青山河泉城桥寨庄堡峪沟坡岭店头营屯里"
# Household sizes per 100 households (1–6 persons).
HOUSEHOLD_SIZES = [1] * 18 + [2] * 27 + [3] * 22 + [4] * 17 + [5] * 10 + [6] * 6
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass
class City:
    """What was built, with the time each part took."""

    persons: int = 0
    households: int = 0
    counties: list[str] = field(default_factory=list)
    villages: int = 0
    enrollments: int = 0
    assessments: int = 0
    payments: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    # county code → (insurance staff user id, tax staff user id)
    staff: dict[str, tuple[int, int]] = field(default_factory=dict)


def _place_name(index: int, suffix: str) -> str:
    return PLACE[index % len(PLACE)] + PLACE[(index * 7 + 3) % len(PLACE)] + suffix


def _counties(count: int) -> list[tuple[str, str, int]]:
    if count <= len(COUNTIES):
        return COUNTIES[:count]
    extra = [(f"1410{n:02d}", f"新区{n}", 10) for n in range(40, 100)]
    if count > len(COUNTIES) + len(extra):
        raise ValueError(f"at most {len(COUNTIES) + len(extra)} counties")
    return COUNTIES + extra[: count - len(COUNTIES)]


def regions_create(
    *, counties: list[tuple[str, str, int]], townships: int, villages: int
) -> list[tuple[str, float]]:
    """The province, the city, the counties with their townships and villages (kept when present).

    Returns every village code with its share of the city's persons (the county's weight split
    evenly over its villages).
    """
    from accounts.models import Region, RegionLevel

    def ensure(level: int, rows: list[tuple[str, str, int | None]]) -> dict[str, int]:
        Region.objects.bulk_create(
            [Region(code=code, name=name, level=level, parent_id=parent) for code, name, parent in rows],
            ignore_conflicts=True,
            batch_size=2000,
        )
        return dict(Region.objects.filter(code__in=[row[0] for row in rows]).values_list("code", "id"))

    province = ensure(RegionLevel.PROVINCE, [(PROVINCE_CODE.ljust(12, "0"), PROVINCE_NAME, None)])
    city = ensure(
        RegionLevel.CITY, [(CITY_CODE.ljust(12, "0"), CITY_NAME, province[PROVINCE_CODE.ljust(12, "0")])]
    )
    county_ids = ensure(
        RegionLevel.COUNTY,
        [(code.ljust(12, "0"), name, city[CITY_CODE.ljust(12, "0")]) for code, name, _ in counties],
    )
    township_rows = [
        (f"{code}{t:03d}000", _place_name(c * 31 + t, "镇"), county_ids[code.ljust(12, "0")])
        for c, (code, _name, _weight) in enumerate(counties)
        for t in range(1, townships + 1)
    ]
    township_ids = ensure(RegionLevel.TOWNSHIP, township_rows)
    village_rows = [
        (f"{township[:9]}{v:03d}", _place_name(i * 13 + v, "村"), township_ids[township])
        for i, (township, _name, _parent) in enumerate(township_rows)
        for v in range(1, villages + 1)
    ]
    ensure(RegionLevel.VILLAGE, village_rows)
    total = sum(weight for _code, _name, weight in counties)
    share = {code: weight / total / (townships * villages) for code, _name, weight in counties}
    return [(code, share[code[:6]]) for code, _name, _parent in village_rows]


def _u(expression: str, salt: int) -> str:
    """A deterministic pseudo-random integer in [0, 2^31) from an integer expression and the seed."""
    return f"((hashint8extended(({expression})::bigint, %(seed)s + {salt}) & 2147483647)::int)"


def _check_digit(first17: str) -> str:
    """The GB 11643 check digit of a 17-digit SQL text expression, as SQL."""
    terms = " + ".join(f"substr({first17}, {k + 1}, 1)::int * {w}" for k, w in enumerate(_WEIGHTS))
    return f"substr('10X98765432', 1 + mod({terms}, 11), 1)"


def _surname(expression: str, salt: int) -> str:
    """A surname drawn by its share: the bucket of a uniform number among the cumulative shares
    (arrays of fixed-width numbers and 68 short names: no long text array is walked per row)."""
    return (
        f"(%(surnames)s::text[])[width_bucket({_u(expression, salt)}::float8 / 2147483648, "
        "%(surname_bounds)s::float8[])]"
    )


def _surname_bounds() -> list[float]:
    total = sum(share for _name, share in SURNAMES)
    bounds, running = [], 0
    for _name, share in SURNAMES:
        bounds.append(running / total)
        running += share
    return bounds


# The plan of the households, shared by the jobs: an UNLOGGED table (scratch, dropped after the
# build) so that every job's connection reads the same households, numbers and first person index.
PLAN_TABLE = "bench_city_home"

_HOUSEHOLDS_SQL = f"""
CREATE TEMP TABLE city_household ON COMMIT DROP AS
WITH drawn AS (
    SELECT h, (%(sizes)s::int[])[1 + mod({_u("h", 1)}, 100)] AS size
    FROM generate_series(0::bigint, %(most)s - 1) AS h
), placed AS (
    SELECT h, size, sum(size) OVER (ORDER BY h ROWS UNBOUNDED PRECEDING) - size AS first FROM drawn
)
SELECT h, first, least(size, %(persons)s - first) AS size FROM placed WHERE first < %(persons)s
"""  # noqa: S608 - fixed SQL fragments; values are bound

_HOMES_SQL = f"""
CREATE UNLOGGED TABLE {PLAN_TABLE} AS
WITH placed AS (
    SELECT hh.*, (%(villages)s::bigint[])[width_bucket((hh.h + 0.5)::float8 / %(count)s, %(bounds)s::float8[])]::text AS village
    FROM city_household hh
)
SELECT p.h, p.first, p.size, p.village, left(p.village, 6) AS county, %(base)s + p.h AS id,
       p.village || lpad((coalesce(c.last_number, 0)
                          + row_number() OVER (PARTITION BY p.village ORDER BY p.h))::text, 5, '0') AS number,
       25 + mod({_u("p.h", 2)}, 56) AS head_age,
       mod({_u("p.h", 3)}, 100) < 85 AS head_male,
       {_surname("p.h", 4)} AS surname
FROM placed p LEFT JOIN enrollment_householdcounter c ON c.region_code = p.village
"""  # noqa: S608 - fixed SQL fragments; values are bound

_HOUSEHOLD_INSERT_SQL = f"""
INSERT INTO enrollment_household (id, number, region_code, kind, address, residence_permit_number, created_at)
SELECT id, number, village, 'hukou', '', '', now() FROM {PLAN_TABLE} WHERE county = ANY(%(counties)s) ORDER BY id
"""  # noqa: S608 - fixed SQL fragments; values are bound

_COUNTERS_SQL = f"""
INSERT INTO enrollment_householdcounter (region_code, last_number)
SELECT village, max(right(number, 5)::int) FROM {PLAN_TABLE} WHERE county = ANY(%(counties)s) GROUP BY village
ON CONFLICT (region_code) DO UPDATE SET last_number = excluded.last_number
"""  # noqa: S608 - fixed SQL fragments; values are bound

# A member's relation and age from the household's head; children younger by 22–37 years (at
# least 0), a parent older by 24–32 when the head is under 55, else a grandchild.
_MEMBERS = f"""
SELECT hh.id AS household_id, hh.village, hh.first + m AS i,
       CASE WHEN m = 0 THEN 'head' WHEN m = 1 THEN 'spouse'
            WHEN m = 4 AND hh.head_age < 55 THEN 'parent'
            WHEN m >= 4 AND hh.head_age >= 55 THEN 'grandchild' ELSE 'child' END AS relation,
       CASE WHEN m = 0 THEN hh.head_age
            WHEN m = 1 THEN greatest(20, hh.head_age - 3 + mod({_u("hh.first + m", 5)}, 7))
            WHEN m = 4 AND hh.head_age < 55 THEN hh.head_age + 24 + mod({_u("hh.first + m", 5)}, 9)
            WHEN m >= 4 AND hh.head_age >= 55 THEN greatest(0, hh.head_age - 48 - mod({_u("hh.first + m", 5)}, 12))
            ELSE greatest(0, hh.head_age - 22 - mod({_u("hh.first + m", 5)}, 16)) END AS age,
       CASE WHEN m = 0 THEN hh.head_male WHEN m = 1 THEN NOT hh.head_male
            ELSE mod({_u("hh.first + m", 6)}, 2) = 0 END AS male,
       CASE WHEN m = 1 OR (m = 4 AND hh.head_age < 55)
            THEN {_surname("hh.first + m", 7)}
            ELSE hh.surname END AS surname
FROM {PLAN_TABLE} hh CROSS JOIN LATERAL generate_series(0, hh.size - 1) AS m
WHERE hh.county = ANY(%(counties)s)
"""  # noqa: S608 - fixed SQL fragments; values are bound

# The ID number's sequence (3 digits, odd for men) counts persons of one county born on one day
# with one sex: unique while that count stays under 500 (about 17 million persons in one county).
# A county is built whole by one job, so the sequence never depends on how the city was split.
# The person's id is fixed by its place in the city (after + 1 + i), not taken from the sequence
# in whatever order concurrent jobs insert: the same seed gives the same rows for any --jobs.
_PERSONS_SQL = f"""
INSERT INTO enrollment_person (id, id_kind, id_number, nationality, name, sex, birth_date, ethnicity, phone,
    hukou_region_code, residence_region_code, category, household_id, relation, region_code,
    created_at, updated_at)
SELECT %(after)s + 1 + i, 'resident_id', first17 || {_check_digit("first17")}, '', name, sex, birth_date,
       ethnicity, phone, village, village, category, household_id, relation, village, now(), now()
FROM (
    SELECT d.*, left(village, 6) || to_char(birth_date, 'YYYYMMDD')
           || lpad((2 * row_number() OVER (PARTITION BY left(village, 6), birth_date, sex ORDER BY i)
                    - (sex = 'male')::int)::text, 3, '0') AS first17
    FROM (
        SELECT m.*, CASE WHEN male THEN 'male' ELSE 'female' END AS sex,
               %(day)s::date - (age * 365 + mod({_u("i", 8)}, 365))::int AS birth_date,
               surname
               || CASE WHEN male THEN substr(%(male_given)s, 1 + mod({_u("i", 9)}, %(male_count)s)::int, 1)
                       ELSE substr(%(female_given)s, 1 + mod({_u("i", 9)}, %(female_count)s)::int, 1) END
               || CASE WHEN mod({_u("i", 10)}, 100) >= 70 THEN ''
                       WHEN male THEN substr(%(male_given)s, 1 + mod({_u("i", 11)}, %(male_count)s)::int, 1)
                       ELSE substr(%(female_given)s, 1 + mod({_u("i", 11)}, %(female_count)s)::int, 1) END
               AS name,
               CASE WHEN mod({_u("i", 12)}, 1000) < 4 THEN '回族' ELSE '汉族' END AS ethnicity,
               CASE WHEN age < 16 THEN ''
                    ELSE '1' || (ARRAY['39', '38', '37', '36', '35', '58', '86', '88', '50', '52'])[1 + mod({_u("i", 13)}, 10)]
                         || lpad(mod({_u("i", 14)}, 100000000)::text, 8, '0') END AS phone,
               CASE WHEN age = 0 THEN 'newborn' WHEN age < 6 THEN 'preschool' WHEN age < 18 THEN 'student'
                    WHEN mod({_u("i", 15)}, 100) < CASE WHEN left(village, 6) = ANY(%(urban)s) THEN 60 ELSE 15 END
                    THEN 'urban' ELSE 'rural' END AS category
        FROM ({_MEMBERS}) m
    ) d
) p
ORDER BY i
"""  # noqa: S608 - fixed SQL fragments; values are bound

# One enrollment per person, its id fixed by the person's (as the person's by its place).
_ENROLLMENTS_SQL = f"""
INSERT INTO enrollment_enrollment (id, person_id, county_code, region_code, status, enrolled_on, ended_on,
    status_reason, status_changed_on, created_at)
SELECT %(enrollment_after)s + (id - %(after)s), id, left(region_code, 6), region_code, status, enrolled_on,
       CASE WHEN status = 'terminated' THEN changed_on END,
       CASE status WHEN 'terminated' THEN 'death' WHEN 'suspended' THEN 'employment' ELSE 'new_registration' END,
       CASE WHEN status = 'normal' THEN enrolled_on ELSE changed_on END, now()
FROM (
    SELECT p.id, p.region_code, greatest(p.birth_date, date '2020-01-01') AS enrolled_on,
           date '2025-01-01' + mod({_u("p.id", 16)}, 300)::int AS changed_on,
           CASE WHEN NOT %(lapsed)s THEN 'normal'
                WHEN p.birth_date < date '1966-01-01' AND mod({_u("p.id", 17)}, 100) < 2 THEN 'terminated'
                WHEN p.birth_date BETWEEN date '1967-01-01' AND date '2004-12-31'
                     AND mod({_u("p.id", 17)}, 100) >= 96 THEN 'suspended'
                ELSE 'normal' END AS status
    FROM enrollment_person p WHERE p.id > %(after)s AND left(p.region_code, 6) = ANY(%(counties)s)
) e
ORDER BY id
"""  # noqa: S608 - fixed SQL fragments; values are bound

# The same draw as ``bench.assessment._tags_and_history`` (8% tagged, 85% paid last year), with
# ids fixed by the person's so that the rows do not depend on how the city was split.
_TAGS_SQL = """
INSERT INTO subsidies_subsidytag (id, person_id, category, region_code, source, valid_from, created_at, end_reason)
SELECT %(tag_after)s + (p.id - %(after)s), p.id,
       (ARRAY['tekun', 'severe_disability', 'dibao', 'dibao', 'clergy'])[1 + mod(p.id, 5)],
       p.region_code, 'bench roster', '2026-06-01', now(), ''
FROM enrollment_person p
WHERE p.id > %(after)s AND left(p.region_code, 6) = ANY(%(counties)s)
  AND mod(abs(hashint4(p.id::int + %(tag_seed)s)), 100) < 8
ORDER BY p.id
"""

_ASSESSMENTS_SQL = """
INSERT INTO enrollment_assessment (id, person_id, enrollment_id, insurance_year, county_code, region_code,
    decision_id, situation, standard_fen, subsidy_fen, government_fen, payable_fen, subsidy_category,
    subsidy_marker, status, revision, assessed_at, paid_on, paid_fen,
    deposit_reference, benefit_start, benefit_end, benefit_reason)
SELECT %(assessment_after)s + (e.person_id - %(after)s), e.person_id, e.id, %(year)s, e.county_code, e.region_code,
       %(decision)s, 'continuous', 40000, 0, 70000, 40000, '', '', 'paid', 1, now(), '2025-10-10', 40000, 'BENCH',
       '2026-01-01', '2026-12-31', 'bench history'
FROM enrollment_enrollment e
WHERE e.person_id > %(after)s AND e.county_code = ANY(%(counties)s) AND mod(abs(hashint4(e.person_id::int + 7)), 100) < 85
ORDER BY e.person_id
"""


class _Timed:
    """Runs a statement and logs how long it took (the generator's parts, for docs/performance.md)."""

    def __init__(self, cursor: Any, name: str = "") -> None:
        self.cursor = cursor
        self.name = name
        self.seconds: dict[str, float] = {}

    def __call__(self, label: str, sql: str, params: dict[str, Any] | None = None) -> int:
        started = time.perf_counter()
        self.cursor.execute(sql, params)
        seconds = time.perf_counter() - started
        self.seconds[label] = round(self.seconds.get(label, 0.0) + seconds, 2)
        log(f"  {self.name}{label}: {self.cursor.rowcount:,} rows in {seconds:.1f} s")
        return int(self.cursor.rowcount)


def _max_id(cursor: Any, table: str) -> int:
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608 - our own table names
    return int(cursor.fetchone()[0])


def _plan(
    cursor: Any, *, villages: list[tuple[str, float]], size: int, seed: int, lapsed: bool
) -> dict[str, Any]:
    """The households of ``size`` persons over ``villages`` (code, share), drawn and placed into
    the shared plan table; returns the parameters of every later statement, with ``county_persons``
    (county → persons) for splitting the work."""
    codes = [code for code, _share in villages]
    total = sum(share for _code, share in villages)
    bounds, running = [], 0.0
    for _code, share in villages:
        bounds.append(running)
        running += share / total
    params: dict[str, Any] = {
        "seed": seed * 100,
        "sizes": HOUSEHOLD_SIZES,
        "persons": size,
        "most": size if size < 1000 else size // 2 + 100,
        # 12-digit codes as numbers: a bigint array is indexed in constant time, a text one is walked.
        "villages": [int(code) for code in codes],
        "bounds": bounds,
        "surnames": [name for name, _share in SURNAMES],
        "surname_bounds": _surname_bounds(),
        "male_given": MALE_GIVEN,
        "female_given": FEMALE_GIVEN,
        "male_count": len(MALE_GIVEN),
        "female_count": len(FEMALE_GIVEN),
        "urban": sorted(URBAN_COUNTIES),
        "day": REFERENCE_DAY,
        "lapsed": lapsed,
    }
    cursor.execute("SET LOCAL work_mem = '256MB'")
    params["base"] = _max_id(cursor, "enrollment_household") + 1
    params["after"] = _max_id(cursor, "enrollment_person")
    params["enrollment_after"] = _max_id(cursor, "enrollment_enrollment")
    cursor.execute(f"DROP TABLE IF EXISTS city_household, {PLAN_TABLE}")
    timed = _Timed(cursor)
    timed("households drawn", _HOUSEHOLDS_SQL, params)
    cursor.execute("SELECT count(*) FROM city_household")
    params["count"] = params["households"] = cursor.fetchone()[0]
    timed("households placed", _HOMES_SQL, params)
    cursor.execute(f"SELECT county, sum(size) FROM {PLAN_TABLE} GROUP BY county ORDER BY county")  # noqa: S608
    params["county_persons"] = {county: int(persons) for county, persons in cursor.fetchall()}
    cursor.execute("DROP TABLE city_household")
    return params


def _persons_part(timed: _Timed, params: dict[str, Any]) -> dict[str, int]:
    """The households, persons and enrollments of ``params["counties"]`` (whole counties)."""
    households = timed("households", _HOUSEHOLD_INSERT_SQL, params)
    timed("household counters", _COUNTERS_SQL, params)
    persons = timed("persons", _PERSONS_SQL, params)
    enrollments = timed("enrollments", _ENROLLMENTS_SQL, params)
    return {"households": households, "persons": persons, "enrollments": enrollments}


def _sequences_moved_on(cursor: Any, tables: list[str]) -> None:
    """Rows written with ids of their own: each table's id sequence moved past them."""
    for table in tables:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} HAVING max(id) IS NOT NULL"  # noqa: S608
        )


def households_and_persons(
    *, villages: list[tuple[str, float]], size: int, seed: int, lapsed: bool = False
) -> dict[str, int]:
    """``size`` persons in households over ``villages`` (code, share), and their enrollments: all
    normal, or with ``lapsed`` some suspended (employment) and terminated (death) as in a real city.

    In the caller's connection and transaction (one job). The persons get the next free ids;
    their ID numbers are unique as long as no person of the same counties exists yet (the
    sequence digits count within county, birth date and sex).
    """
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        params = _plan(cursor, villages=villages, size=size, seed=seed, lapsed=lapsed)
        params["counties"] = sorted(params["county_persons"])
        counts = _persons_part(_Timed(cursor), params)
        _sequences_moved_on(cursor, ["enrollment_household", "enrollment_person", "enrollment_enrollment"])
        cursor.execute(f"DROP TABLE {PLAN_TABLE}")
    return counts


def _staff(counties: list[tuple[str, str, int]]) -> dict[str, tuple[int, int]]:
    """An insurance agency and a tax bureau per county, each with one staff user (kept when present)."""
    from accounts.models import Agency, Region, User
    from accounts.roles import AgencyKind, Role

    staff: dict[str, tuple[int, int]] = {}
    for code, name, _weight in counties:
        region = Region.objects.get(code=code.ljust(12, "0"))
        ids = []
        for kind, role, agency_name, prefix in (
            (AgencyKind.INSURANCE_AGENCY, Role.INSURANCE_STAFF, f"{name}医疗保障事务中心", "insurance"),
            (AgencyKind.TAX_BUREAU, Role.TAX_STAFF, f"国家税务总局临汾市{name}税务局", "tax"),
        ):
            agency, _created = Agency.objects.get_or_create(region=region, name=agency_name, kind=kind)
            # Token sign-in only: the password is random and never used.
            user, _created = User.objects.get_or_create(
                username=f"{prefix}.{code}",
                defaults={
                    "full_name": f"{name}{prefix}",
                    "agency": agency,
                    "role": role,
                    "password": f"!{secrets.token_urlsafe(16)}",
                },
            )
            ids.append(user.pk)
        staff[code] = (ids[0], ids[1])
    return staff


# Tax's rows take their ids from the person's (payer) and the assessment's (due item, payment),
# so receipt numbers, channels and times, all drawn from those ids, are the same for any --jobs.
_PAYERS_SQL = """
INSERT INTO collection_payer (id, person_id, name, region_code, category, enrolled_on, status, source_message_id,
    sequence, updated_at)
SELECT %(payer_after)s + (p.id - %(after)s), p.id_number, p.name, p.region_code, p.category, e.enrolled_on,
       e.status, 0, 1, now()
FROM enrollment_person p JOIN enrollment_enrollment e ON e.person_id = p.id
WHERE p.id > %(after)s AND e.county_code = ANY(%(counties)s)
ORDER BY p.id
"""

_DUE_SQL = """
INSERT INTO collection_dueitem (id, person_id, insurance_year, region_code, amount_fen, subsidy_fen, subsidy_marker,
    schedule, status, source_message_id, sequence, revision, updated_at)
SELECT %(due_after)s + (a.id - %(assessment_after)s), p.id_number, a.insurance_year, a.region_code, a.payable_fen,
       a.subsidy_fen, a.subsidy_marker, '[]', 'paid', 0, 1, a.revision, now()
FROM enrollment_assessment a JOIN enrollment_person p ON p.id = a.person_id
WHERE a.id > %(assessment_after)s AND a.county_code = ANY(%(counties)s) AND a.insurance_year = %(year)s
  AND a.status = 'paid'
ORDER BY a.id
"""

# Receipt numbers count per county tax bureau, and a county is built whole by one job: 1…n
# without a gap, after whatever the bureau's counter already held.
_PAYMENTS_SQL = f"""
INSERT INTO collection_payment (id, due_item_id, person_id, insurance_year, region_code, amount_fen, channel, paid_at,
    paid_by, agency_id, collector_id, receipt_year, receipt_number, idempotency_key, status, recorded_at,
    reversal_reason)
SELECT %(payment_after)s + (d.id - %(due_after)s), d.id, d.person_id, d.insurance_year, d.region_code, d.amount_fen,
       (ARRAY['wechat', 'alipay', 'counter_cash', 'village', 'bank_batch', 'bank_card'])[1 + mod({_u("d.id", 18)}, 6)],
       timestamptz '2025-10-10 08:00:00+08' + make_interval(secs => mod({_u("d.id", 19)}, 36000)),
       pa.name, s.agency_id, s.collector_id, 2025,
       coalesce(c.last_number, 0) + row_number() OVER (PARTITION BY s.agency_id ORDER BY d.id),
       NULL, 'recorded', now(), ''
FROM collection_dueitem d
JOIN collection_payer pa ON pa.person_id = d.person_id
JOIN unnest(%(tax_counties)s::text[], %(agencies)s::bigint[], %(collectors)s::bigint[])
     AS s(county, agency_id, collector_id) ON s.county = left(d.region_code, 6)
LEFT JOIN collection_receiptcounter c ON c.agency_id = s.agency_id AND c.year = 2025
WHERE d.id > %(due_after)s AND left(d.region_code, 6) = ANY(%(counties)s)
ORDER BY d.id
"""  # noqa: S608 - fixed SQL fragments; values are bound

_RECEIPT_COUNTERS_SQL = """
INSERT INTO collection_receiptcounter (agency_id, year, last_number)
SELECT agency_id, receipt_year, max(receipt_number) FROM collection_payment
WHERE agency_id = ANY(%(job_agencies)s) AND receipt_year = 2025 GROUP BY agency_id, receipt_year
ON CONFLICT (agency_id, year) DO UPDATE SET last_number = excluded.last_number
"""


class CityBuildError(RuntimeError):
    """A job of the build failed (the others were cancelled, none of them committed)."""


def _connect() -> Any:
    """A psycopg2 connection of the build's own to the configured (or test) database."""
    import psycopg2
    from django.db import connection

    s = connection.settings_dict
    return psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        application_name="city_generate",
    )


def _session(cursor: Any) -> None:
    """The build's session settings (transaction-local: also right on the caller's connection).

    synchronous_commit off: this is bench data, and a crash in the middle of a build means building
    again anyway, so no commit needs to wait for its WAL flush. Foreign keys checked at each
    statement's end instead of at commit: the same checks, run inside the job's thread (in
    parallel) rather than queued by the million until the coordinator commits."""
    cursor.execute("SET LOCAL synchronous_commit = off")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


R = TypeVar("R")


def _in_parallel(shared: bool, work: list[Callable[[Any], R]]) -> list[R]:
    """Each piece of ``work`` on a connection of its own, in threads (PostgreSQL runs one
    statement on one core: two connections use two), committed together once every piece has
    succeeded; the first failure cancels the others' statements, rolls every piece back and raises
    ``CityBuildError``. With ``shared`` (the caller holds a transaction, e.g. a test's), one after
    the other on the caller's connection, inside that transaction."""
    from django.db import connection

    if shared:
        results = []
        with connection.cursor() as cursor:
            for piece in work:
                _session(cursor)
                results.append(piece(cursor))
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return results

    def run(conn: Any, piece: Callable[[Any], R]) -> R:
        with conn.cursor() as cursor:
            _session(cursor)
            return piece(cursor)

    connections: list[Any] = []
    try:
        for _piece in work:
            connections.append(_connect())
        with ThreadPoolExecutor(max_workers=len(work), thread_name_prefix="city") as pool:
            futures = [pool.submit(run, conn, piece) for conn, piece in zip(connections, work, strict=True)]
            try:
                done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:  # interrupted (Ctrl-C): stop the jobs rather than wait for them
                for conn in connections:
                    conn.cancel()
                raise
            failed = [future for future in done if future.exception() is not None]
            if failed:
                for conn in connections:
                    conn.cancel()  # the others' running statements end at once ("canceling statement")
                wait(futures)
                error = failed[0].exception()
                raise CityBuildError(f"a job of the city's build failed: {error}") from error
        for conn in connections:
            conn.commit()
        return [future.result() for future in futures]
    finally:
        for conn in connections:
            conn.close()  # closing rolls back whatever was not committed


def _parts(county_persons: dict[str, int], jobs: int) -> list[list[str]]:
    """Whole counties split over ``jobs`` parts of about equal persons (largest first, each to the
    lightest part): a county's ID number sequences and its tax bureau's receipt numbers stay in one job."""
    parts: list[list[str]] = [[] for _job in range(max(1, jobs))]
    load = [0] * len(parts)
    for county, persons in sorted(county_persons.items(), key=lambda item: (-item[1], item[0])):
        lightest = load.index(min(load))
        parts[lightest].append(county)
        load[lightest] += persons
    return [sorted(part) for part in parts if part]


def _secondary_indexes_dropped(cursor: Any, tables: list[str]) -> list[tuple[str, str]]:
    """Drop the tables' secondary indexes (neither a primary key nor backing a constraint, nor
    unique), largest table first; returns (table, definition) to build them again: one sorted build
    instead of millions of random insertions. Unique indexes (partial ones, such as one normal
    enrollment per person) stay live: the jobs commit before the indexes are built again, and a
    unique index failing then would leave committed rows it never checked."""
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT i.indisunique "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY array_position(%s, i.indrelid::regclass::text), 1",
        [tables, tables],
    )
    indexes = cursor.fetchall()
    for name, _table, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return [(table, definition) for _name, table, definition in indexes]


def _statements_run(shared: bool, jobs: int, statements: list[str]) -> None:
    """Each statement once, over up to ``jobs`` connections that each take the next one left (one
    on the caller's connection when ``shared``)."""
    queue: SimpleQueue[str] = SimpleQueue()
    for statement in statements:
        queue.put(statement)

    def worker(cursor: Any) -> None:
        while True:
            try:
                statement = queue.get_nowait()
            except Empty:
                return
            cursor.execute(statement)

    if statements:
        _in_parallel(shared, [worker] * (1 if shared else max(1, min(jobs, len(statements)))))


def _indexes_built(shared: bool, jobs: int, indexes: list[tuple[str, str]]) -> float:
    """Build the dropped indexes again, ``jobs`` at a time (each build is one sort on one core;
    PostgreSQL's parallel btree build helps when fewer remain), largest tables first."""
    started = time.perf_counter()
    _statements_run(shared, jobs, [definition for _table, definition in indexes])
    seconds = time.perf_counter() - started
    log(f"  {len(indexes)} indexes built in {seconds:.1f} s")
    return seconds


def _analyzed(shared: bool, jobs: int) -> None:
    """ANALYZE every table of the database, the tables shared out over the jobs, largest first."""
    from django.db import connection

    if shared:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_temp%%' ORDER BY pg_relation_size(c.oid) DESC"
        )
        tables = [name for (name,) in cursor.fetchall()]
    _statements_run(False, jobs, [f"ANALYZE {table}" for table in tables])


# The tables the build writes, each with its secondary indexes dropped for the load.
_PERSON_TABLES = ["enrollment_person", "enrollment_enrollment", "enrollment_household"]
_ASSESSMENT_TABLES = ["enrollment_assessment", "subsidies_subsidytag"]
_TAX_TABLES = ["collection_payment", "collection_dueitem", "collection_payer"]


def _job(
    params: dict[str, Any], counties: list[str], *, tax: bool, name: str
) -> Callable[[Any], dict[str, Any]]:
    """One job: everything of its (whole) counties, in one transaction of its own."""

    def run(cursor: Any) -> dict[str, Any]:
        timed = _Timed(cursor, name)
        own = params | {"counties": counties}
        counts: dict[str, Any] = _persons_part(timed, own)
        timed("subsidy tags", _TAGS_SQL, own)
        counts["assessments"] = timed("assessments", _ASSESSMENTS_SQL, own)
        if tax:
            timed("payers", _PAYERS_SQL, own)
            timed("due items", _DUE_SQL, own)
            counts["payments"] = timed("payments", _PAYMENTS_SQL, own)
            own["job_agencies"] = [
                agency
                for county, agency in zip(own["tax_counties"], own["agencies"], strict=True)
                if county in counties
            ]
            timed("receipt counters", _RECEIPT_COUNTERS_SQL, own)
        counts["seconds"] = timed.seconds
        return counts

    return run


def city_generate(
    *,
    persons: int,
    counties: int = 17,
    townships: int = 12,
    villages: int = 25,
    seed: int = 1,
    tax: bool = True,
    jobs: int | None = None,
) -> City:
    """The whole city (see the module's docstring); refuses a city that has persons.

    ``jobs`` (default: the machine's cores) connections build disjoint sets of whole counties at
    once, each in its own transaction, committed together only when all have succeeded; the rows
    are the same for any number of jobs (ids come from each row's place in the city, not from the
    order of the inserts). Inside a transaction of the caller (a test's), one job in that
    transaction. A failed job fails the build with ``CityBuildError``: nothing of the jobs is
    kept, the dropped indexes are built again; the regions, agencies, staff users and last year's
    policy made before stay (a later build reuses them).
    """
    from django.db import connection, transaction

    from enrollment.demo import _shifted
    from enrollment.models import Person, PolicyVersion
    from enrollment.policies import policy_save

    shared = connection.in_atomic_block
    jobs = 1 if shared else max(1, jobs or os.cpu_count() or 1)
    city = City()
    chosen = _counties(counties)
    city.counties = [code for code, _name, _weight in chosen]
    started = time.perf_counter()
    with transaction.atomic():
        if Person.objects.filter(region_code__startswith=CITY_CODE[:4]).exists():
            raise ValueError(f"the city {CITY_CODE} already has persons; generate into an empty database")
        village_shares = regions_create(counties=chosen, townships=townships, villages=villages)
        city.villages = len(village_shares)
        city.staff = _staff(chosen)
        last_year = PolicyVersion.objects.filter(policy__code=f"city-{LAST_YEAR}").first()
        if last_year is None:
            last_year = policy_save(
                document=_shifted(f"city-{LAST_YEAR}", LAST_YEAR - 2021, 40000, 70000), note="city"
            ).version
        decision = history_decision(last_year.pk)
    staff_agencies = _tax_agencies(city.staff)
    city.seconds["regions"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    tables = _PERSON_TABLES + _ASSESSMENT_TABLES + (_TAX_TABLES if tax else [])
    with transaction.atomic(), connection.cursor() as cursor:
        params = _plan(cursor, villages=village_shares, size=persons, seed=seed, lapsed=True)
        params |= {
            "tag_after": _max_id(cursor, "subsidies_subsidytag"),
            "assessment_after": _max_id(cursor, "enrollment_assessment"),
            "payer_after": _max_id(cursor, "collection_payer"),
            "due_after": _max_id(cursor, "collection_dueitem"),
            "payment_after": _max_id(cursor, "collection_payment"),
            "tag_seed": seed,
            "year": LAST_YEAR,
            "decision": decision,
            "tax_counties": list(staff_agencies),
            "agencies": [agency for agency, _collector in staff_agencies.values()],
            "collectors": [collector for _agency, collector in staff_agencies.values()],
        }
        dropped = _secondary_indexes_dropped(cursor, tables)
    city.households = params["households"]
    city.seconds["plan"] = round(time.perf_counter() - started, 2)
    parts = _parts(params["county_persons"], jobs)
    shares = [sum(params["county_persons"][county] for county in part) for part in parts]
    log(
        f"{city.households:,} households planned in {city.seconds['plan']} s; {len(parts)} job(s) of {shares} persons"
    )

    started = time.perf_counter()
    try:
        results = _in_parallel(
            shared, [_job(params, part, tax=tax, name=f"job {k + 1}: ") for k, part in enumerate(parts)]
        )
    except BaseException:
        if not shared:  # the caller's own transaction rolls its drops back by itself
            _indexes_built(shared, jobs, dropped)
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {PLAN_TABLE}")
        raise
    city.seconds["jobs"] = round(time.perf_counter() - started, 2)
    for label in results[0]["seconds"]:
        # The slowest job's time for each part: what the part cost the build.
        city.seconds[label] = max(result["seconds"].get(label, 0.0) for result in results)
    city.persons = sum(result["persons"] for result in results)
    city.enrollments = sum(result["enrollments"] for result in results)
    city.assessments = sum(result["assessments"] for result in results)
    city.payments = sum(result.get("payments", 0) for result in results)
    log(
        f"{city.persons:,} persons in {city.households:,} households, {city.villages:,} villages: {city.seconds['jobs']} s"
    )

    city.seconds["indexes"] = round(_indexes_built(shared, jobs, dropped), 2)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {PLAN_TABLE}")
        _sequences_moved_on(cursor, tables)
    started = time.perf_counter()
    _analyzed(shared, jobs)
    city.seconds["analyze"] = round(time.perf_counter() - started, 2)
    return city


def history_decision(policy_version_id: int) -> int:
    """The one decision every generated assessment of last year points at (kept when present)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO enrollment_assessmentdecision (policy_version_id, digest, situation, standard_fen,
                subsidy_fen, government_fen, payable_fen, subsidy_category, subsidy_marker, government_pays_all,
                rule, reason, schedule, benefit_reason, created_at)
            VALUES (%s, 'bench history', 'continuous', 40000, 0, 70000, 40000, '', '', false,
                    'pricing[0]', 'bench history', '[]', '', now())
            ON CONFLICT (policy_version_id, digest) DO NOTHING
            """,
            [policy_version_id],
        )
        cursor.execute(
            "SELECT id FROM enrollment_assessmentdecision WHERE policy_version_id = %s AND digest = 'bench history'",
            [policy_version_id],
        )
        return int(cursor.fetchone()[0])


def _tax_agencies(staff: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """county → (tax bureau id, its staff user id)."""
    from accounts.models import User

    tax_users = dict(
        User.objects.filter(pk__in=[tax for _insurance, tax in staff.values()]).values_list("pk", "agency_id")
    )
    return {county: (tax_users[tax], tax) for county, (_insurance, tax) in staff.items()}
