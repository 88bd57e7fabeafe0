"""Insurance's reports: coverage per area, and the follow-up lists (the unenrolled, the unpaid).

Coverage is read from ``CoverageStat`` (per village and year), which ``coverage_stats_refresh``
rebuilds with one set-based statement from the household register, the enrollments and the
year's assessments. A dashboard then sums a few thousand village rows by code prefix, whatever
the number of persons. The follow-up lists read the registry directly, a page at a time in index
order (keyset pagination: ``after`` is the last row's key), so the first page of a county of a
million persons costs what the first page of a village costs.

Every read takes a scope; an area outside it is "not found".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.masking import id_number_for, phone_for
from accounts.models import Region, RegionLevel
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope

from .models import CoverageStat, Policy

# Digits of the 12-digit code that name an area at each level (province … village).
PREFIX_LENGTH = {RegionLevel.PROVINCE: 2, RegionLevel.CITY: 4, RegionLevel.COUNTY: 6, RegionLevel.TOWNSHIP: 9}
PAGE_SIZE = 50
# Two refreshes at once would only do the work twice: the second waits for the first's lock.
_REFRESH_LOCK = 7_316_001


# --- refresh ------------------------------------------------------------------------------------

_REFRESH_SQL = """
WITH register AS (
    SELECT r.region_code,
           count(*) AS registered,
           count(e.id) AS registered_enrolled,
           count(e.id) FILTER (WHERE a.id IS NOT NULL) AS registered_paid
    FROM enrollment_registeredresident r
    LEFT JOIN enrollment_person p ON p.id_number = r.id_number
    LEFT JOIN enrollment_enrollment e ON e.person_id = p.id AND e.status = 'normal'
    LEFT JOIN enrollment_assessment a
           ON a.person_id = p.id AND a.insurance_year = %(year)s AND a.status IN ('paid', 'government')
    GROUP BY r.region_code
), enrolled AS (
    SELECT region_code, count(*) AS enrolled
    FROM enrollment_enrollment WHERE status = 'normal'
    GROUP BY region_code
), assessed AS (
    SELECT region_code,
           count(*) FILTER (WHERE status IN ('due', 'paid', 'government')) AS assessed,
           count(*) FILTER (WHERE status = 'paid') AS paid,
           count(*) FILTER (WHERE status = 'government') AS government_paid,
           count(*) FILTER (WHERE status = 'due') AS due,
           coalesce(sum(coalesce(back_payment_fen, payable_fen)) FILTER (WHERE status = 'due'), 0) AS due_fen,
           coalesce(sum(paid_fen) FILTER (WHERE status = 'paid'), 0) AS paid_fen
    FROM enrollment_assessment WHERE insurance_year = %(year)s
    GROUP BY region_code
)
INSERT INTO enrollment_coveragestat
    (region_code, insurance_year, registered, registered_enrolled, registered_paid, enrolled, assessed,
     paid, government_paid, due, due_fen, paid_fen, refreshed_at)
SELECT coalesce(g.region_code, n.region_code, s.region_code), %(year)s,
       coalesce(g.registered, 0), coalesce(g.registered_enrolled, 0), coalesce(g.registered_paid, 0),
       coalesce(n.enrolled, 0), coalesce(s.assessed, 0), coalesce(s.paid, 0), coalesce(s.government_paid, 0),
       coalesce(s.due, 0), coalesce(s.due_fen, 0), coalesce(s.paid_fen, 0), %(now)s
FROM register g
FULL JOIN enrolled n ON n.region_code = g.region_code
FULL JOIN assessed s ON s.region_code = coalesce(g.region_code, n.region_code)
"""


@transaction.atomic
def coverage_stats_refresh(*, insurance_year: int) -> int:
    """Rebuild one year's coverage figures for every village; returns how many village rows.

    Idempotent, and safe to run while clerks work: readers see the old figures until the new
    ones commit.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_REFRESH_LOCK, insurance_year])
        cursor.execute("DELETE FROM enrollment_coveragestat WHERE insurance_year = %s", [insurance_year])
        cursor.execute(_REFRESH_SQL, {"year": insurance_year, "now": now})
        return cursor.rowcount


def report_years() -> list[int]:
    """The insurance years a report can be asked for: those with a policy, newest first."""
    years = set(Policy.objects.values_list("insurance_year", flat=True).distinct())
    return sorted(years, reverse=True)


def current_insurance_year(today: dt.date | None = None) -> int:
    """The year being collected: from 1 September the next year's collection runs (集中征缴期)."""
    today = today or timezone.localdate()
    return today.year + 1 if today.month >= 9 else today.year


# --- coverage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageLine:
    code: str
    name: str
    level: int
    registered: int
    registered_enrolled: int
    registered_paid: int
    enrolled: int
    assessed: int
    paid: int
    government_paid: int
    due: int
    due_fen: int
    paid_fen: int

    @property
    def coverage_rate(self) -> float | None:
        """Enrolled ÷ registered population (参保率, 以户籍人口为基数)."""
        return self.registered_enrolled / self.registered if self.registered else None

    @property
    def paid_rate(self) -> float | None:
        """Paid or paid by the government ÷ registered population (参保缴费率)."""
        return self.registered_paid / self.registered if self.registered else None

    @property
    def not_enrolled(self) -> int:
        return self.registered - self.registered_enrolled

    @property
    def collection_rate(self) -> float | None:
        """Of the year's assessments, the share settled (paid, or by the government)."""
        return (self.paid + self.government_paid) / self.assessed if self.assessed else None


@dataclass(frozen=True)
class CoverageReport:
    year: int
    area: Region
    total: CoverageLine
    lines: list[CoverageLine]
    as_of: dt.datetime | None
    # The path from the user's own region down to the area, for the breadcrumbs.
    trail: list[Region]


_FIGURES = (
    "registered", "registered_enrolled", "registered_paid", "enrolled", "assessed", "paid",
    "government_paid", "due", "due_fen", "paid_fen",
)  # fmt: skip


def area_for(*, scope: Scope, code: str | None) -> Region:
    """The area a report is about: the one asked for if the user's scope covers it, else 404."""
    code = code or scope.region_code or ""
    region = Region.objects.filter(code=code).first()
    if region is None or not scope.covers_region_code(region.code):
        raise Http404(_("No such region in your area."))
    return region


def area_prefix(region: Region) -> str:
    """The prefix of the 12-digit codes inside the area."""
    return region.code[: PREFIX_LENGTH.get(region.level, 12)]


def coverage_report(*, scope: Scope, insurance_year: int, area_code: str | None) -> CoverageReport:
    """The area's totals and one line per child area (per village for a township)."""
    scope.require(Action.REPORT_VIEW)
    area = area_for(scope=scope, code=area_code)
    prefix = area_prefix(area)
    child_length = {1: 4, 2: 6, 3: 9, 4: 12}.get(area.level)
    sums = ", ".join(f"coalesce(sum({name}), 0)" for name in _FIGURES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sums}, max(refreshed_at) FROM enrollment_coveragestat "  # noqa: S608 - fixed column names
            "WHERE insurance_year = %s AND region_code LIKE %s",
            [insurance_year, prefix + "%"],
        )
        *figures, as_of = cursor.fetchone()
        total = CoverageLine(area.code, area.name, area.level, *(int(value) for value in figures))
        children: dict[str, tuple[int, ...]] = {}
        if child_length:
            cursor.execute(
                f"SELECT left(region_code, %s) AS child, {sums} FROM enrollment_coveragestat "  # noqa: S608 - fixed column names
                "WHERE insurance_year = %s AND region_code LIKE %s GROUP BY 1",
                [child_length, insurance_year, prefix + "%"],
            )
            children = {row[0]: tuple(int(value) for value in row[1:]) for row in cursor.fetchall()}
    lines = []
    if child_length:
        for child in Region.objects.filter(parent=area).order_by("code"):
            figures_of = children.get(child.code[:child_length], (0,) * len(_FIGURES))
            lines.append(CoverageLine(child.code, child.name, child.level, *figures_of))
    trail = [
        region
        for region in Region.objects.filter(
            code__in=[area.code[:n].ljust(12, "0") for n in (2, 4, 6, 9, 12)]
        ).order_by("level")
        if scope.covers_region_code(region.code)
    ]
    return CoverageReport(year=insurance_year, area=area, total=total, lines=lines, as_of=as_of, trail=trail)


def coverage_as_of(*, insurance_year: int) -> dt.datetime | None:
    return CoverageStat.objects.filter(insurance_year=insurance_year).aggregate(at=Max("refreshed_at"))["at"]


# --- follow-up lists ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpRow:
    key: str
    region_code: str
    village: str
    name: str
    id_number: str
    phone: str
    household: str
    note: str
    amount_fen: int | None = None

    @property
    def amount_yuan(self) -> str:
        return yuan(self.amount_fen or 0)


@dataclass(frozen=True)
class FollowUpPage:
    rows: list[FollowUpRow]
    next_after: str | None


def _split_after(after: str | None) -> tuple[str, str]:
    if not after or ":" not in after:
        return "", ""
    region, _colon, key = after.partition(":")
    return region[:12], key[:32]


_UNENROLLED_SQL = """
SELECT r.region_code, v.name, r.name, r.id_number, r.phone, r.register_household,
       p.id IS NOT NULL AS in_registry, last.status, last.status_reason
FROM enrollment_registeredresident r
LEFT JOIN accounts_region v ON v.code = r.region_code
LEFT JOIN enrollment_person p ON p.id_number = r.id_number
LEFT JOIN LATERAL (
    SELECT e.status, e.status_reason FROM enrollment_enrollment e
    WHERE e.person_id = p.id ORDER BY e.enrolled_on DESC, e.id DESC LIMIT 1
) last ON true
WHERE r.region_code LIKE %(prefix)s
  AND (r.region_code, r.id_number) > (%(after_region)s, %(after_key)s)
  AND NOT EXISTS (
      SELECT 1 FROM enrollment_enrollment e WHERE e.person_id = p.id AND e.status = 'normal')
ORDER BY r.region_code, r.id_number
"""


def _unenrolled_note(in_registry: bool, status: str | None, reason: str | None) -> str:
    from .models import ChangeReason, EnrollmentStatus

    if not in_registry:
        return _("Not in the registry: register the household")
    if status is None:
        return _("In the registry, never enrolled")
    label = dict(EnrollmentStatus.choices).get(status, status)
    why = dict(ChangeReason.choices).get(reason or "", reason or "")
    return _("Enrollment %(status)s (%(reason)s)") % {"status": label, "reason": why} if why else str(label)


def _unenrolled_rows(
    scope: Scope, area: Region, after: str | None, limit: int | None
) -> Iterator[FollowUpRow]:
    after_region, after_key = _split_after(after)
    sql = _UNENROLLED_SQL + (" LIMIT %(limit)s" if limit else "")
    params = {
        "prefix": area_prefix(area) + "%",
        "after_region": after_region,
        "after_key": after_key,
        "limit": limit,
    }
    rows = _stream(sql, params)
    for region_code, village, name, id_number, phone, household, in_registry, status, reason in rows:
        yield _follow_up_row(
            scope,
            key=f"{region_code}:{id_number}",
            place=(region_code, village),
            person=(name, id_number, phone, household),
            note=_unenrolled_note(in_registry, status, reason),
        )


def _follow_up_row(
    scope: Scope,
    *,
    key: str,
    place: tuple[str, str | None],
    person: tuple[str, str, str, str],
    note: str,
    amount_fen: int | None = None,
) -> FollowUpRow:
    """A row of a follow-up list, its identifier and phone masked as the viewer's scope wants."""
    region_code, village = place
    name, id_number, phone, household = person
    return FollowUpRow(
        key=key,
        region_code=region_code,
        village=village or region_code,
        name=name,
        id_number=id_number_for(scope, id_number, region_code),
        phone=phone_for(scope, phone, region_code) if phone else "",
        household=household,
        note=note,
        amount_fen=amount_fen,
    )


def _stream(sql: str, params: dict[str, object]) -> Iterator[tuple]:
    """Rows of a query through a server-side cursor: an export never holds the list in memory."""
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = 2000
        cursor.execute(sql, params)
        yield from cursor


def unenrolled_page(*, scope: Scope, area_code: str | None, after: str | None = None) -> FollowUpPage:
    """Persons on the area's household register without a normal enrollment, a page at a time."""
    scope.require(Action.REPORT_VIEW)
    area = area_for(scope=scope, code=area_code)
    rows = list(_unenrolled_rows(scope, area, after, PAGE_SIZE + 1))
    return FollowUpPage(
        rows=rows[:PAGE_SIZE], next_after=rows[PAGE_SIZE - 1].key if len(rows) > PAGE_SIZE else None
    )


def unenrolled_all(*, scope: Scope, area_code: str | None) -> Iterator[FollowUpRow]:
    scope.require(Action.REPORT_VIEW)
    return _unenrolled_rows(scope, area_for(scope=scope, code=area_code), None, None)


_UNPAID_SQL = """
SELECT a.person_id, a.region_code, v.name, p.name, p.id_number, p.phone, coalesce(h.number, ''),
       coalesce(a.back_payment_fen, a.payable_fen), a.back_payment_fen IS NOT NULL
FROM enrollment_assessment a
JOIN enrollment_person p ON p.id = a.person_id
LEFT JOIN enrollment_household h ON h.id = p.household_id
LEFT JOIN accounts_region v ON v.code = a.region_code
WHERE a.insurance_year = %(year)s AND a.status = 'due'
  AND a.region_code LIKE %(prefix)s
  AND (a.region_code, a.person_id) > (%(after_region)s, %(after_key)s)
ORDER BY a.region_code, a.person_id
"""


def _unpaid_rows(
    scope: Scope, area: Region, insurance_year: int, after: str | None, limit: int | None
) -> Iterator[FollowUpRow]:
    after_region, after_key = _split_after(after)
    sql = _UNPAID_SQL + (" LIMIT %(limit)s" if limit else "")
    params = {
        "year": insurance_year,
        "prefix": area_prefix(area) + "%",
        "after_region": after_region,
        "after_key": int(after_key) if after_key.isdigit() else 0,
        "limit": limit,
    }
    back_payment = _("approved back-payment")
    rows = _stream(sql, params)
    for person_id, region_code, village, name, id_number, phone, household, amount, is_back_payment in rows:
        yield _follow_up_row(
            scope,
            key=f"{region_code}:{person_id}",
            place=(region_code, village),
            person=(name, id_number, phone, household),
            note=back_payment if is_back_payment else "",
            amount_fen=int(amount),
        )


def unpaid_page(
    *, scope: Scope, area_code: str | None, insurance_year: int, after: str | None = None
) -> FollowUpPage:
    """The year's assessments still due (催缴), a page at a time, with the amount to pay."""
    scope.require(Action.REPORT_VIEW)
    area = area_for(scope=scope, code=area_code)
    rows = list(_unpaid_rows(scope, area, insurance_year, after, PAGE_SIZE + 1))
    return FollowUpPage(
        rows=rows[:PAGE_SIZE], next_after=rows[PAGE_SIZE - 1].key if len(rows) > PAGE_SIZE else None
    )


def unpaid_all(*, scope: Scope, area_code: str | None, insurance_year: int) -> Iterator[FollowUpRow]:
    scope.require(Action.REPORT_VIEW)
    return _unpaid_rows(scope, area_for(scope=scope, code=area_code), insurance_year, None, None)
