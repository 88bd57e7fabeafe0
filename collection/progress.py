"""Collection progress (征收进度): persons and money paid ÷ due per area, and what was taken per day
and channel — computed from tax's own ledger into a small summary, which the dashboard reads.

**The summary** (``ProgressArea``, ``ProgressDay``; ``ProgressRefresh`` holds "as of") has a row
per area at every level — province, city, county, township, village — so a page reads one
area's row, its children's rows and its own days: a few hundred rows whatever the number of
persons. ``progress_refresh`` recomputes it set-based and idempotently: one pass over the due
items (each with its standing payment) and one over the standing payments, grouped per village; villages rolled up level by level;
then an upsert that writes only the rows whose numbers changed and a delete of the rows that no
longer exist (a reversed payment's day). It runs every few minutes (beat) and on demand; a second
refresh while one runs is skipped (advisory lock). Readers see the previous summary until it commits.

**What counts:**

- *due through tax*: items due or paid with an amount above zero. Items withdrawn — the
  government pays the contribution in full (insurance withdraws the item when the person becomes
  fully subsidised; those assessed as fully subsidised from the start are never sent to tax), or
  the enrollment ended — and items with nothing to pay are counted apart (``persons_withdrawn``),
  never in the rate. *Money due* is an unpaid item's amount (the on-time amount) and a paid item's
  payment: the amount due on the day it was paid, which is more when paid late (a late price), so
  money paid never exceeds money due;
- *paid*: standing payments; a reversed payment (冲正) counts nowhere, and a payment made again
  after a reversal counts on its own day. Payments count where they were taken (their region),
  so the money per area equals the sum of its days.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.digits import ascii_digits
from accounts.models import PREFIX_LENGTH, RegionLevel
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import region_names

from .models import Channel, DueStatus, PaymentStatus, ProgressArea, ProgressDay, ProgressRefresh

logger = logging.getLogger("portal.collection")

_LOCK = "collection.progress_refresh"
_TEMP_TABLES = "progress_village, progress_village_day, progress_fresh_area, progress_fresh_day"
_LEVELS = ", ".join(f"({level}, {length})" for level, length in PREFIX_LENGTH.items())

_VILLAGES_SQL = f"""
CREATE TEMP TABLE progress_village ON COMMIT DROP AS
SELECT d.region_code, d.insurance_year,
       count(*) FILTER (WHERE d.status IN ('{DueStatus.DUE}', '{DueStatus.PAID}') AND d.amount_fen > 0) AS persons_due,
       coalesce(sum(coalesce(p.amount_fen, d.amount_fen)) FILTER (
           WHERE d.status IN ('{DueStatus.DUE}', '{DueStatus.PAID}') AND d.amount_fen > 0), 0) AS due_fen,
       count(*) FILTER (WHERE NOT (d.status IN ('{DueStatus.DUE}', '{DueStatus.PAID}') AND d.amount_fen > 0))
           AS persons_withdrawn
FROM collection_dueitem d
-- An item paid late paid more than its on-time amount: its standing payment is what was due.
LEFT JOIN collection_payment p ON p.due_item_id = d.id AND p.status = '{PaymentStatus.RECORDED}'
GROUP BY d.region_code, d.insurance_year
"""  # noqa: S608 - constants only, no input

_VILLAGE_DAYS_SQL = f"""
CREATE TEMP TABLE progress_village_day ON COMMIT DROP AS
SELECT p.region_code, p.insurance_year, (p.paid_at AT TIME ZONE %(tz)s)::date AS day, p.channel,
       count(*) AS payments, sum(p.amount_fen) AS paid_fen
FROM collection_payment p
WHERE p.status = '{PaymentStatus.RECORDED}'
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - constants only, no input

# Every level's areas from the villages' figures: (level, code) for each prefix length.
_FRESH_AREAS_SQL = f"""
CREATE TEMP TABLE progress_fresh_area ON COMMIT DROP AS
WITH village AS (
    SELECT region_code, insurance_year, persons_due, due_fen, persons_withdrawn, 0::bigint AS persons_paid,
           0::bigint AS paid_fen
    FROM progress_village
    UNION ALL
    SELECT region_code, insurance_year, 0, 0, 0, sum(payments), sum(paid_fen)
    FROM progress_village_day GROUP BY region_code, insurance_year
)
SELECT l.level, rpad(left(v.region_code, l.length), 12, '0') AS area_code, v.insurance_year,
       sum(v.persons_due) AS persons_due, sum(v.due_fen) AS due_fen, sum(v.persons_paid) AS persons_paid,
       sum(v.paid_fen) AS paid_fen, sum(v.persons_withdrawn) AS persons_withdrawn
FROM village v CROSS JOIN (VALUES {_LEVELS}) AS l(level, length)
GROUP BY 1, 2, 3
"""  # noqa: S608 - constants only, no input

# Days rolled up level by level (village → township → county → city → province): each step
# groups the rows of the step below, a tenth as many.
_FRESH_DAYS_SQL = """
CREATE TEMP TABLE progress_fresh_day ON COMMIT DROP AS
WITH l5 AS MATERIALIZED (
    SELECT region_code AS area_code, insurance_year, day, channel, payments, paid_fen FROM progress_village_day
), l4 AS MATERIALIZED (
    SELECT rpad(left(area_code, 9), 12, '0') AS area_code, insurance_year, day, channel,
           sum(payments) AS payments, sum(paid_fen) AS paid_fen
    FROM l5 GROUP BY 1, 2, 3, 4
), l3 AS MATERIALIZED (
    SELECT rpad(left(area_code, 6), 12, '0') AS area_code, insurance_year, day, channel,
           sum(payments) AS payments, sum(paid_fen) AS paid_fen
    FROM l4 GROUP BY 1, 2, 3, 4
), l2 AS MATERIALIZED (
    SELECT rpad(left(area_code, 4), 12, '0') AS area_code, insurance_year, day, channel,
           sum(payments) AS payments, sum(paid_fen) AS paid_fen
    FROM l3 GROUP BY 1, 2, 3, 4
), l1 AS MATERIALIZED (
    SELECT rpad(left(area_code, 2), 12, '0') AS area_code, insurance_year, day, channel,
           sum(payments) AS payments, sum(paid_fen) AS paid_fen
    FROM l2 GROUP BY 1, 2, 3, 4
)
SELECT 5 AS level, * FROM l5 UNION ALL SELECT 4, * FROM l4 UNION ALL SELECT 3, * FROM l3
UNION ALL SELECT 2, * FROM l2 UNION ALL SELECT 1, * FROM l1
"""

_AREA_COLUMNS = ("persons_due", "due_fen", "persons_paid", "paid_fen", "persons_withdrawn")
_MERGE_AREAS_SQL = f"""
INSERT INTO collection_progressarea AS t (level, area_code, insurance_year, {", ".join(_AREA_COLUMNS)})
SELECT level, area_code, insurance_year, {", ".join(_AREA_COLUMNS)} FROM progress_fresh_area
ON CONFLICT (insurance_year, level, area_code) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _AREA_COLUMNS)}
WHERE ({", ".join(f"t.{c}" for c in _AREA_COLUMNS)})
      IS DISTINCT FROM ({", ".join(f"excluded.{c}" for c in _AREA_COLUMNS)})
"""  # noqa: S608 - constants only, no input
_PRUNE_AREAS_SQL = """
DELETE FROM collection_progressarea t WHERE NOT EXISTS (
    SELECT 1 FROM progress_fresh_area f
    WHERE f.insurance_year = t.insurance_year AND f.level = t.level AND f.area_code = t.area_code
)
"""
_MERGE_DAYS_SQL = """
INSERT INTO collection_progressday AS t (level, area_code, insurance_year, day, channel, payments, paid_fen)
SELECT level, area_code, insurance_year, day, channel, payments, paid_fen FROM progress_fresh_day
ON CONFLICT (insurance_year, level, area_code, day, channel) DO UPDATE SET
    payments = excluded.payments, paid_fen = excluded.paid_fen
WHERE (t.payments, t.paid_fen) IS DISTINCT FROM (excluded.payments, excluded.paid_fen)
"""
_PRUNE_DAYS_SQL = """
DELETE FROM collection_progressday t WHERE NOT EXISTS (
    SELECT 1 FROM progress_fresh_day f
    WHERE f.insurance_year = t.insurance_year AND f.level = t.level AND f.area_code = t.area_code
      AND f.day = t.day AND f.channel = t.channel
)
"""


@dataclass(frozen=True)
class Refreshed:
    refreshed_at: dt.datetime
    seconds: float
    area_rows: int
    day_rows: int
    # Rows written (inserted or changed) and deleted: what changed since the last refresh.
    written: int
    deleted: int


def progress_refresh() -> Refreshed | None:
    """Recompute the summary from the ledger in one transaction (see the module's docstring).
    Returns None when another refresh holds the lock (it will have the same result)."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [_LOCK])
        if not cursor.fetchone()[0]:
            logger.info("collection progress: a refresh is already running, skipped")
            return None
        cursor.execute("SET LOCAL work_mem = '256MB'")
        # Dropped at commit; dropped here too when called twice in one outer transaction.
        cursor.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")
        cursor.execute("SELECT now()")
        as_of = cursor.fetchone()[0]
        cursor.execute(_VILLAGES_SQL)
        cursor.execute(_VILLAGE_DAYS_SQL, {"tz": settings.TIME_ZONE})
        cursor.execute(_FRESH_AREAS_SQL)
        area_rows = cursor.rowcount
        cursor.execute(_FRESH_DAYS_SQL)
        day_rows = cursor.rowcount
        written = deleted = 0
        for statement in (_MERGE_AREAS_SQL, _MERGE_DAYS_SQL):
            cursor.execute(statement)
            written += cursor.rowcount
        for statement in (_PRUNE_AREAS_SQL, _PRUNE_DAYS_SQL):
            cursor.execute(statement)
            deleted += cursor.rowcount
        cursor.execute(f"DROP TABLE {_TEMP_TABLES}")
        seconds = round(time.perf_counter() - started, 3)
        ProgressRefresh.objects.update_or_create(
            pk=1,
            defaults={
                "refreshed_at": as_of,
                "seconds": seconds,
                "area_rows": area_rows,
                "day_rows": day_rows,
            },
        )
    logger.info("collection progress refreshed in %.2f s: %s written, %s deleted", seconds, written, deleted)
    return Refreshed(as_of, seconds, area_rows, day_rows, written, deleted)


# --- the dashboard's reads -------------------------------------------------------------------


@dataclass(frozen=True)
class AreaFigures:
    code: str
    level: int
    name: str
    persons_due: int = 0
    due_fen: int = 0
    persons_paid: int = 0
    paid_fen: int = 0
    persons_withdrawn: int = 0

    @property
    def persons_rate(self) -> float:
        return self.persons_paid / self.persons_due if self.persons_due else 0.0

    @property
    def money_rate(self) -> float:
        return self.paid_fen / self.due_fen if self.due_fen else 0.0

    @property
    def persons_percent(self) -> str:
        return f"{self.persons_rate * 100:.1f}"

    @property
    def money_percent(self) -> str:
        return f"{self.money_rate * 100:.1f}"


@dataclass(frozen=True)
class DayFigures:
    day: dt.date
    # channel value → (payments, fen), every channel of the dashboard in order
    by_channel: dict[str, tuple[int, int]]

    @property
    def payments(self) -> int:
        return sum(count for count, _fen in self.by_channel.values())

    @property
    def paid_fen(self) -> int:
        return sum(fen for _count, fen in self.by_channel.values())


@dataclass(frozen=True)
class Dashboard:
    year: int | None
    years: list[int]
    area: AreaFigures
    # The way down from the user's own area to this one: (code, name), the user's area first.
    path: list[tuple[str, str]]
    children: list[AreaFigures]
    date_from: dt.date
    date_to: dt.date
    channels: list[tuple[str, str]]
    days: list[DayFigures]
    as_of: dt.datetime | None

    @property
    def channel_totals(self) -> dict[str, tuple[int, int]]:
        return {
            value: (
                sum(day.by_channel[value][0] for day in self.days),
                sum(day.by_channel[value][1] for day in self.days),
            )
            for value, _label in self.channels
        }


def _level_of(code: str) -> int:
    """The level of a 12-digit region code (the longest non-zero prefix among the levels)."""
    for level in (RegionLevel.VILLAGE, RegionLevel.TOWNSHIP, RegionLevel.COUNTY, RegionLevel.CITY):
        length, above = PREFIX_LENGTH[level], PREFIX_LENGTH[level - 1]
        if code[above:length].strip("0"):
            return int(level)
    return int(RegionLevel.PROVINCE)


def progress_area(*, scope: Scope, code: str | None) -> tuple[str, int]:
    """The area a dashboard shows: ``code`` (12 digits, in the caller's area: else 404) or the
    caller's own area. An unrestricted scope without a code sees the provinces (level 0)."""
    scope.require(Action.COLLECTION_PROGRESS_VIEW)
    if code is None:
        if scope.region_code is None:
            return "", 0
        return scope.region_code, _level_of(scope.region_code)
    if len(code) != 12 or not ascii_digits(code) or not scope.covers_region_code(code):
        raise Http404(_("No such area in your area."))
    return code, _level_of(code)


def progress_years(*, scope: Scope) -> list[int]:
    """The insurance years the summary holds for the caller's area, newest first."""
    root, level = progress_area(scope=scope, code=None)
    rows = (
        ProgressArea.objects.filter(level=level, area_code=root)
        if level
        else ProgressArea.objects.filter(level=1)
    )
    return sorted(set(scope.filter(rows).values_list("insurance_year", flat=True)), reverse=True)


def _figures(row: ProgressArea | None, code: str, level: int, name: str) -> AreaFigures:
    if row is None:
        return AreaFigures(code=code, level=level, name=name)
    return AreaFigures(
        code=code,
        level=level,
        name=name,
        persons_due=row.persons_due,
        due_fen=row.due_fen,
        persons_paid=row.persons_paid,
        paid_fen=row.paid_fen,
        persons_withdrawn=row.persons_withdrawn,
    )


def progress_dashboard(
    *,
    scope: Scope,
    code: str | None,
    year: int | None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Dashboard:
    """One area's figures for a year, its children's (one level down) and its days by channel
    between two dates (default: the 30 days up to its last day with a payment). Reads only the
    summary tables and the region names."""
    area_code, level = progress_area(scope=scope, code=code)
    years = progress_years(scope=scope)
    if year is None:
        year = years[0] if years else None
    summary = scope.filter(ProgressArea.objects.filter(insurance_year=year or 0))
    child_level = level + 1
    own_row = summary.filter(level=level, area_code=area_code).first() if level else None
    children_rows: list[ProgressArea] = []
    if child_level <= RegionLevel.VILLAGE:
        children = summary.filter(level=child_level)
        if area_code:
            children = children.filter(area_code__startswith=area_code[: PREFIX_LENGTH[level]])
        children_rows = list(children.order_by("area_code"))
    codes = {row.area_code for row in children_rows} | {area_code}
    prefix = area_code[: PREFIX_LENGTH[level]] if level else ""
    path_codes = [prefix[:length].ljust(12, "0") for lvl, length in PREFIX_LENGTH.items() if lvl <= level]
    if scope.region_code and not scope.unrestricted:
        own_level = _level_of(scope.region_code)
        path_codes = [c for c in path_codes if _level_of(c) >= own_level]
    names = region_names(codes | set(path_codes))
    if level:
        area = _figures(own_row, area_code, level, names.get(area_code, area_code))
    else:  # everything: the sum of the provinces
        area = AreaFigures(
            code="",
            level=0,
            name=_("All areas"),
            persons_due=sum(row.persons_due for row in children_rows),
            due_fen=sum(row.due_fen for row in children_rows),
            persons_paid=sum(row.persons_paid for row in children_rows),
            paid_fen=sum(row.paid_fen for row in children_rows),
            persons_withdrawn=sum(row.persons_withdrawn for row in children_rows),
        )
    children_figures = [
        _figures(row, row.area_code, child_level, names.get(row.area_code, row.area_code))
        for row in children_rows
    ]

    days_of = scope.filter(ProgressDay.objects.filter(insurance_year=year or 0))
    days_of = days_of.filter(level=level, area_code=area_code) if level else days_of.filter(level=1)
    if date_to is None:
        last = days_of.order_by("-day").values_list("day", flat=True).first()
        date_to = last or timezone.localdate()
    if date_from is None or date_from > date_to:
        date_from = date_to - dt.timedelta(days=29)
    if (date_to - date_from).days > 366:
        date_from = date_to - dt.timedelta(days=366)
    per_day: dict[dt.date, dict[str, tuple[int, int]]] = {}
    for day, channel, payments, fen in days_of.filter(day__gte=date_from, day__lte=date_to).values_list(
        "day", "channel", "payments", "paid_fen"
    ):
        count0, fen0 = per_day.setdefault(day, {}).get(channel, (0, 0))
        per_day[day][channel] = (count0 + payments, fen0 + fen)
    used = {channel for by_channel in per_day.values() for channel in by_channel}
    channels = [(value, str(label)) for value, label in Channel.choices if value in used]
    days = []
    day = date_from
    while day <= date_to:
        found = per_day.get(day, {})
        days.append(
            DayFigures(day=day, by_channel={value: found.get(value, (0, 0)) for value, _l in channels})
        )
        day += dt.timedelta(days=1)
    refresh = ProgressRefresh.objects.filter(pk=1).first()
    return Dashboard(
        year=year,
        years=years,
        area=area,
        path=[(c, names.get(c, c)) for c in path_codes],
        children=children_figures,
        date_from=date_from,
        date_to=date_to,
        channels=channels,
        days=days,
        as_of=refresh.refreshed_at if refresh else None,
    )
