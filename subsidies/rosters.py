"""Roster imports, set-based: stream the file, COPY it into a staging table, check it with a few
SQL statements, compare it with the roster's standing tags, and (when confirmed) apply it with a
few more. Never a query per row, never the whole file in memory.

- Reading: ``enrollment.spreadsheets.read_sheet`` (xlsx through python-calamine or a streaming
  parser, xls through xlrd, csv) and the header detection of ``enrollment.imports``. While
  streaming, Python checks each row by itself: the identifier (GB 11643 check digit), the name,
  the category given, the recognition date, and what the reader found hidden in the file
  (hidden rows, formulas without a result, Excel errors, merged cells).
- Checking (SQL over the staging table): the person by identifier; persons not in the registry
  are listed apart; registered outside the importer's area; the name against the registry; the
  category against the policy of the person's county for the roster's insurance year (code,
  name, roster tag or marker); the recognition date within the person's own year of it (a
  student's or preschool child's academic year where the policy has one); the same person and
  category twice in the file. Then each valid row is *added* (a new tag) or *unchanged* (the
  roster already tags the person in that category), and every standing tag of the roster that
  the file no longer lists is *removed* — except for a person whose row has an error: a mistake
  in the new file never ends a tag.
- Applying (the caller's transaction): the removed tags end on the roster date (kept, with the
  reason), the added tags are inserted, the tags given and withdrawn go to tax in
  ``subsidy.marks_batch`` messages (one bulk send, 2,000 items a message, each item with the
  import's revision), and the persons whose tags changed are reassessed
  (``subsidies.reassessment``); the reassessment sends tax the new amounts due
  (``assessment.due_batch``).
- ``report_workbook``: the downloadable xlsx (original row and reason; formula injection
  escaped, identifiers masked per viewer).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import operator
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook

from accounts.masking import mask_id_number, shows_full_identity
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import county_names
from enrollment import identifiers, imports
from enrollment.imports import CellError, Column, ImportFileError, date_of, safe_cell, text_of
from enrollment.models import IdKind
from enrollment.policies import policy_for_county, policy_for_county_held
from enrollment.rules.policy import SCHOOL_CATEGORIES, Policy, Scheme, SubsidyCategory
from enrollment.spreadsheets import SheetRows, read_sheet
from sharing.services import BesideRows, ListItems, message_send_bulk_beside

from .models import BLOCKING_OUTCOMES, RosterImport, RosterOutcome, RosterRow

logger = logging.getLogger("portal.subsidies")

PROGRESS_EVERY = 5000
# Tags and withdrawals per subsidy.marks_batch message.
MARK_ITEMS = 2000
# The advisory lock under which an import, or a tag given or ended by hand (subsidies.marks), takes
# its marks' revision and commits (see _marks_beside).
MARKS_LOCK = 0x5B5D1E5
PROGRESS_TTL = 6 * 3600
NAME_BLANKS = imports.NAME_BLANKS
# Identifiers of every kind the registry holds, once normalised (letters, digits, a hyphen).
_IDENTIFIER = re.compile(r"^[0-9A-Z-]{5,32}$")
_CATEGORY_JUNK = re.compile(r"[\s*＊:：()（）\[\]【】\"'“”‘’]+")

ROSTER_COLUMNS: tuple[Column, ...] = (
    Column("id_number", "身份证号码", ("身份证号", "公民身份号码", "证件号码", "参保识别码", "身份证")),
    Column("name", "姓名", ("人员姓名", "名字")),
    Column("category", "资助类别", ("资助类型", "资助身份", "救助类别", "困难类别", "身份类别", "类别")),
    Column("recognised_on", "认定日期", ("认定时间", "批准日期", "享受日期", "起始日期"), required=False),
)

_KIND_FOR_SCHEME = {Scheme.FULL: "full", Scheme.PERCENT: "partial", Scheme.FIXED: "fixed"}


def category_key(value: str) -> str:
    """How a category is compared: blanks, brackets and quotes do not count, nor letter case."""
    return _CATEGORY_JUNK.sub("", value).lower()


def category_amount(policy: Policy, category: SubsidyCategory) -> int:
    """What the category pays at most (whole fen), as the rule engine computes it."""
    individual = policy.financing.individual_fen
    if category.scheme == Scheme.FULL:
        return individual
    if category.scheme == Scheme.PERCENT:
        return (individual * category.percent + 50) // 100
    return min(category.amount_fen, individual)


class _Timer:
    """Logs how long each phase took (INFO), so that a slow import explains itself."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = self.last = time.perf_counter()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = round(now - self.last, 3)
        self.last = now

    def log(self) -> None:
        logger.info("%s: %s (total %.2f s)", self.label, self.phases, time.perf_counter() - self.started)


def _fill(template: str, **tokens: str) -> str:
    """A translated message whose {tokens} SQL fills in with replace()."""
    return template % {name: "{" + name + "}" for name in tokens}


# --- progress -----------------------------------------------------------------------------------


def _progress_key(import_id: int) -> str:
    return f"portal:roster-progress:{import_id}"


def progress_set(import_id: int, *, phase: str, done: int, total: int | None) -> None:
    cache.set(_progress_key(import_id), {"phase": phase, "done": done, "total": total}, PROGRESS_TTL)


def progress_of(import_id: int) -> dict[str, Any] | None:
    return cache.get(_progress_key(import_id))


def progress_clear(import_id: int) -> None:
    cache.delete(_progress_key(import_id))


# --- rows ---------------------------------------------------------------------------------------

# The rows as read, with the problems each has by itself; the checks against the registry make a
# table of their own from it in one statement (``_checked``).
_STAGING = """
CREATE TEMP TABLE {t} (
    row_number integer PRIMARY KEY,
    id_number text, name text, category_key text, category_text text, recognised_on date,
    problem text, raw text
) ON COMMIT DROP
"""

_COPY = [
    "row_number",
    "id_number",
    "name",
    "category_key",
    "category_text",
    "recognised_on",
    "problem",
    "raw",
]


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# The weighted sum of 17 ASCII zeros: the check digit's sum is taken over the digits' byte values.
_WEIGHTED_ZEROS = 48 * sum(_WEIGHTS)
_CHECK_CHARACTERS = "10X98765432"


@functools.lru_cache(maxsize=65536)
def _born_plausibly(digits: str, today: dt.date) -> bool:
    """A YYYYMMDD birth date exists and lies between the registry's earliest and today (cached:
    a roster's rows share a few thousand birth dates)."""
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return identifiers.EARLIEST_BIRTH_DATE <= born <= today


def _resident_id_holds(number: str, today: dt.date) -> bool:
    """The quick GB 11643 test of an 18-character number (province, birth date, check digit); a number
    that fails it goes through ``identifiers.parse_identifier`` for the exact message."""
    if number[:2] not in identifiers.PROVINCE_CODES or not number[:17].isdigit():
        return False
    data = number.encode()
    if len(data) != 18:  # digits other than ASCII ones: the exact check says what is wrong
        return False
    total = sum(map(operator.mul, data[:17], _WEIGHTS)) - _WEIGHTED_ZEROS
    if _CHECK_CHARACTERS[total % 11] != number[17]:
        return False
    return _born_plausibly(number[6:14], today)


def _identifier_problem(raw: Any, number: str, today: dt.date) -> str | None:
    stored_as_number = imports.identifier_number_problem(raw)
    if stored_as_number:
        return stored_as_number
    if not number:
        return _("The identifier is missing.")
    if len(number) == 15 and number.isdigit():
        return _("This is an old 15-digit identity card number; write the 18-digit resident ID number.")
    if len(number) == 18 and number[:17].isdigit():
        if _resident_id_holds(number, today):
            return None
        try:
            identifiers.parse_identifier(IdKind.RESIDENT_ID, number)
        except identifiers.IdentifierError as error:
            return error.message
        return None
    if number.isdigit() and 11 <= len(number) <= 20:
        return _("“%(value)s” has %(length)s digits; a resident ID number has 18.") % {
            "value": number,
            "length": len(number),
        }
    if not _IDENTIFIER.match(number):
        return _(
            "“%(value)s” is not an identifier: it has %(length)s characters or characters an identifier never has."
        ) % {"value": number[:40], "length": len(number)}
    return None


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    return cell.strip() if cell.__class__ is str else text_of(cell)


def staged_rows(
    sheet: SheetRows, table: imports.Table, *, roster_date: dt.date, import_id: int | None = None
) -> Iterator[tuple[Any, ...]]:
    """Each data row as the staging table's columns, with the problems the row has by itself.

    This is the only per-row Python of an import: a few microseconds a row (the cells' text, the
    identifier's check digit, a date); everything that needs other rows or the registry is SQL.
    """
    width = len(table.header)
    columns = table.columns
    id_index, name_index = columns["id_number"], columns["name"]
    category_index, date_index = columns["category"], columns.get("recognised_on")
    earliest = dt.date(1990, 1, 1)
    today = identifiers.today_in_china()
    check_sheet = sheet.has_findings
    keys: dict[str, str] = {}
    normalise = identifiers.normalise
    raw_of = imports.raw_of  # a local, read for every row
    total = sheet.estimated_rows
    done = 0
    for number, row in table.rows:
        done += 1
        if import_id is not None and done % PROGRESS_EVERY == 0:
            progress_set(import_id, phase="reading", done=done, total=total)
        size = len(row)
        problems: list[str] = sheet.problems(number, columns) if check_sheet else []
        raw_id = row[id_index] if id_index < size else None
        id_number = raw_id.strip().upper() if raw_id.__class__ is str and raw_id.isascii() else ""
        if not id_number.isalnum():
            id_number = normalise(text_of(raw_id))
        problem = _identifier_problem(raw_id, id_number, today)
        if problem:
            problems.append(problem)
        name = _text(row[name_index]) if name_index < size else ""
        if not name:
            problems.append(_("The name is missing."))
        elif len(name) > 60:
            problems.append(_("The name is longer than 60 characters."))
        category_text = _text(row[category_index]) if category_index < size else ""
        if not category_text:
            problems.append(_("The subsidy category is missing."))
        key = keys.get(category_text)
        if key is None:
            key = keys[category_text] = category_key(category_text)[:120]
        recognised: dt.date | None = None
        raw_date = row[date_index] if date_index is not None and date_index < size else None
        if raw_date is not None and raw_date != "":
            if raw_date.__class__ is dt.date:
                recognised = raw_date
            else:
                try:
                    recognised = date_of(raw_date)
                except CellError as error:
                    problems.append(str(error))
            if recognised is not None and recognised > roster_date:
                problems.append(
                    _("Recognised on %(date)s, after the roster's date %(roster)s.")
                    % {"date": recognised.isoformat(), "roster": roster_date.isoformat()}
                )
                recognised = None
            elif recognised is not None and recognised < earliest:
                problems.append(
                    _("The recognition date %(date)s is not plausible.") % {"date": recognised.isoformat()}
                )
                recognised = None
        yield (
            number,
            id_number[:64] or None,
            name[:200] or None,
            key or None,
            category_text[:60],
            recognised,
            "; ".join(problems) or None,
            raw_of(row, width),
        )
    if import_id is not None:
        progress_set(import_id, phase="checking", done=done, total=total)


# --- the categories of the counties involved -----------------------------------------------------


@dataclass
class CountyCategories:
    """What the policy of each county involved says about roster categories, as two temporary tables."""

    map_table: str
    county_table: str
    counties: dict[str, str] = field(default_factory=dict)  # county code -> policy code ('' = none)
    # county code -> a digest of what its policy says about roster categories (and the county's
    # name, which the messages carry): the same digest at the confirmation means the same verdicts.
    digests: dict[str, str] = field(default_factory=dict)


def granted_categories(policy: Policy) -> dict[str, SubsidyCategory]:
    """Each roster tag's category as tax is told of it (kind, amount, marker): of the categories
    sharing a tag, the one that pays the most."""
    best: dict[str, SubsidyCategory] = {}
    for category in policy.subsidy_categories:
        if not category.requires_tag:
            continue
        current = best.get(category.tag_code)
        if current is None or category_amount(policy, category) > category_amount(policy, current):
            best[category.tag_code] = category
    return best


def mark_kind(category: SubsidyCategory) -> str:
    """The kind of subsidy a mark to tax says: full, partial or fixed."""
    return _KIND_FOR_SCHEME[category.scheme]


def mark_terms(policy: Policy, category: SubsidyCategory) -> tuple[str, str, int]:
    """What a mark to tax says of the category a tag is granted under ``policy``: marker, kind, amount."""
    return category.marker or "", mark_kind(category), category_amount(policy, category)


def _category_rows(county: str, policy: Policy) -> tuple[list[tuple[Any, ...]], str]:
    """(county, key, tag, taggable, kind, fen, marker, by name) rows, and the names of the taggable categories."""
    best = granted_categories(policy)
    seen: set[str] = set()
    rows: list[tuple[Any, ...]] = []

    def add(key: str, category: SubsidyCategory, by_name: bool = False) -> None:
        normalised = category_key(key)
        if not normalised or normalised in seen:
            return
        seen.add(normalised)
        if not category.requires_tag:
            rows.append((county, normalised, None, False, None, None, None, by_name))
            return
        granted = best[category.tag_code]
        rows.append(
            (
                county,
                normalised,
                category.tag_code,
                True,
                _KIND_FOR_SCHEME[granted.scheme],
                category_amount(policy, granted),
                granted.marker,
                by_name,
            )
        )

    # Codes and roster tags first, then names, then markers: the first meaning of a word wins.
    for category in policy.subsidy_categories:
        add(category.code, category)
        if category.requires_tag:
            add(category.tag_code, category)
    for category in policy.subsidy_categories:
        add(category.name, category, by_name=True)
    for category in policy.subsidy_categories:
        add(category.marker, category)
    names = "、".join(dict.fromkeys(c.name for c in policy.subsidy_categories if c.requires_tag))
    return rows, names


def county_categories(
    cursor: Any, *, counties: set[str], insurance_year: int, hold: bool = False
) -> CountyCategories:
    """Load the policy of each county for the year; COPY its categories into temporary tables.

    The county table has the insurance year's cover (``period_start``/``period_end``) and, where the
    policy has one, the students' academic year (``student_period_start``/``student_period_end``):
    a row's or tag's year is its person's (``Policy.coverage_for``), so the checks pick per person.

    ``hold`` (the confirmation): each policy's row is locked FOR SHARE until the import commits, and
    read after the lock (``policy_for_county_held``). A category's code changes only under the row's
    FOR UPDATE (``subsidy_category_save``), which counts the category's tags: it waits for the import
    and sees its tags, or the import waits for it and tags by the new version.
    """
    found = CountyCategories(map_table=_temp_name("cat"), county_table=_temp_name("county"))
    cursor.execute(
        f"""CREATE TEMP TABLE {found.map_table} (
            county text, key text, tag_code text, taggable boolean, subsidy_kind text, subsidy_fen bigint,
            marker text, by_name boolean, PRIMARY KEY (county, key)) ON COMMIT DROP"""
    )
    cursor.execute(
        f"""CREATE TEMP TABLE {found.county_table} (
            county text PRIMARY KEY, county_name text, policy_code text, names text,
            period_start date, period_end date, student_period_start date, student_period_end date)
            ON COMMIT DROP"""
    )
    names_of = county_names(counties)
    map_rows: list[tuple[Any, ...]] = []
    county_rows: list[tuple[Any, ...]] = []
    for county in sorted(counties):
        read = policy_for_county_held if hold else policy_for_county
        loaded = read(county_code=county, insurance_year=insurance_year)
        if loaded is None:
            county_rows.append((county, names_of.get(county, county), None, None, None, None, None, None))
            found.counties[county] = ""
            found.digests[county] = _digest([county_rows[-1]])
            continue
        rows, names = _category_rows(county, loaded.rules)
        map_rows.extend(rows)
        coverage, school = loaded.rules.coverage, loaded.rules.student_coverage
        county_rows.append(
            (
                county,
                names_of.get(county, county),
                loaded.record.code,
                names,
                coverage.start,
                coverage.end,
                school.start if school else None,
                school.end if school else None,
            )
        )
        found.counties[county] = loaded.record.code
        found.digests[county] = _digest([county_rows[-1], *rows])
    _copy(cursor, found.map_table, ["county", "key", "tag_code", "taggable", "subsidy_kind", "subsidy_fen",
                                    "marker", "by_name"], map_rows)  # fmt: skip
    _copy(cursor, found.county_table, ["county", "county_name", "policy_code", "names", "period_start",
                                       "period_end", "student_period_start", "student_period_end"],
          county_rows)  # fmt: skip
    return found


def _own_period(edge: str, *, person_category: str, county: str) -> str:
    """SQL for the first or last day (``edge``: "start" or "end") of the year a person's row or tag
    holds for: a student's or preschool child's academic year where the county's policy has one,
    else the insurance year (``Policy.coverage_for``, per row in one statement). Takes the
    parameter ``school`` (``SCHOOL_CATEGORIES``)."""
    return (
        f"CASE WHEN {person_category} = ANY(%(school)s) "
        f"THEN coalesce({county}.student_period_{edge}, {county}.period_{edge}) "
        f"ELSE {county}.period_{edge} END"
    )


def _digest(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:32]


# --- staging and checking -----------------------------------------------------------------------


def _temp_name(prefix: str) -> str:
    return f"roster_{prefix}_{uuid.uuid4().hex[:12]}"


def _copy(cursor: Any, table: str, columns: list[str], rows: Any) -> int:
    count = 0
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


@dataclass
class Staged:
    """A checked file in the staging table, compared with the roster's standing tags."""

    table: str
    removed_table: str
    categories: CountyCategories
    rows_total: int
    header: list[str]
    sheet_name: str
    notes: list[str]
    counts: dict[str, int]
    roster_id: int | None = None
    # What the verdicts rest on besides the persons (see ``RosterImport.check_basis``).
    basis: dict[str, Any] = field(default_factory=dict)
    # Rows checked anew against the registry (all of them, unless the preview's checked rows were kept).
    rechecked: int = 0
    # ``table`` is the import's kept table (``rows_forget`` drops it, not ``drop``).
    kept: bool = False


def open_sheet(path: Any, file_format: str) -> SheetRows:
    return read_sheet(path, file_format)


# --- the rows kept from the preview for the confirmation -----------------------------------------


@dataclass(frozen=True)
class KeptRows:
    """The rows the preview read and checked, kept so that the confirmation neither reads the file
    again nor checks anew what cannot have changed (``basis``: the preview's ``check_basis``)."""

    table: str
    header: list[str]
    sheet_name: str
    notes: list[str]
    rows: int
    basis: dict[str, Any]


def _kept_table(import_id: int) -> str:
    return f"subsidies_stage_{int(import_id)}"


def rows_kept(cursor: Any, *, roster_import: RosterImport) -> KeptRows | None:
    """The preview's rows of this import, if all of them are still there."""
    table = _kept_table(roster_import.pk)
    # Kept by this version (checked rows, with their outcome, the person's category, the cells as
    # joined text), not rows kept by an older one (as read, without the category, or with the
    # cells as JSON).
    cursor.execute(
        """SELECT count(*) = 3 FROM pg_attribute WHERE attrelid = to_regclass(%s)
            AND (attname IN ('outcome', 'person_category')
                 OR (attname = 'raw' AND atttypid = 'text'::regtype))""",
        [table],
    )
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - generated name
    (rows,) = cursor.fetchone()
    if rows != roster_import.rows_total or not roster_import.rows_total:
        return None
    return KeptRows(
        table=table,
        header=list(roster_import.columns or []),
        sheet_name=roster_import.sheet_name,
        notes=list(roster_import.notes or []),
        rows=rows,
        basis=dict(roster_import.check_basis or {}),
    )


def rows_forget(cursor: Any, *, import_id: int) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_kept_table(import_id)}")


def rows_prune(cursor: Any) -> list[int]:
    """Drop the kept rows of every import no longer waiting for its confirmation; their ids."""
    cursor.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname ~ '^subsidies_stage_[0-9]+$'
          AND NOT EXISTS (SELECT 1 FROM subsidies_rosterimport i
                          WHERE i.id = substr(c.relname, 17)::bigint AND i.status IN ('checked', 'confirmed'))"""
    )
    dropped = []
    for (name,) in cursor.fetchall():
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        dropped.append(int(name.removeprefix("subsidies_stage_")))
    return sorted(dropped)


def stage(
    cursor: Any,
    *,
    sheet: SheetRows | KeptRows,
    scope: Scope,
    insurance_year: int,
    roster_date: dt.date,
    roster_id: int | None,
    import_id: int | None,
    keep: bool = False,
    hold: bool = False,
) -> Staged:
    """Stream a sheet into a staging table and check every row, or take the rows the preview kept
    and check anew those whose verdict can have changed since; nothing of the registry is changed.

    ``keep`` (the preview): the checked rows go into an unlogged table of the import that outlives
    the transaction, so that the confirmation neither reads the file again nor checks anew what
    cannot have changed, and the preview page lists the valid rows. Unlogged: written without WAL,
    and empty after a crash, when the confirmation reads the file again. Dropped when the import
    is applied, fails or is discarded; ``rows_prune`` drops what is left.

    ``hold`` (the confirmation): the policies read stay locked until the import commits
    (``county_categories``).
    """
    timer = _Timer(f"roster import {import_id} check")
    cursor.execute("SET LOCAL work_mem = '256MB'")
    prefix = "" if scope.unrestricted else (scope.region_prefix or "-")
    if isinstance(sheet, KeptRows):
        if import_id is not None:
            progress_set(import_id, phase="checking", done=sheet.rows, total=sheet.rows)
        staged = _restage(
            cursor,
            kept=sheet,
            prefix=prefix,
            insurance_year=insurance_year,
            roster_date=roster_date,
            roster_id=roster_id,
            timer=timer,
            hold=hold,
        )
        if staged is not None:
            return staged
        # Something every row rests on changed (the importer's area, a county's categories): all anew.
        rows_table, total, header, sheet_name, notes = (
            sheet.table,
            sheet.rows,
            sheet.header,
            sheet.sheet_name,
            sheet.notes,
        )
    else:
        rows_table = _temp_name("read")
        cursor.execute(_STAGING.format(t=rows_table))
        table = imports.table_from_sheet(sheet, ROSTER_COLUMNS)
        rows = staged_rows(sheet, table, roster_date=roster_date, import_id=import_id)
        total, header, sheet_name = _copy(cursor, rows_table, _COPY, rows), table.header, sheet.sheet_name
        notes = sheet.notes()
        # A temporary table has no statistics until analysed: without them the persons were looked
        # up one row at a time even when hashing the registry was cheaper (for 100,000 rows,
        # 0.24–0.37 s against 0.09–0.10 s).
        cursor.execute(f"ANALYZE {rows_table} (id_number, problem, category_key)")
        timer.mark("read and copy")
    if total == 0:
        raise ImportFileError(_("The file has a header but no data rows."))
    # Each row's person, once (a narrow table the checks join by row number), and from it the
    # counties whose policies say what the categories mean, with those of the roster's standing
    # tags (whose withdrawals carry the marker).
    persons = _persons(cursor, rows_table=rows_table)
    categories = county_categories(
        cursor,
        counties=_counties(cursor, persons=persons, roster_id=roster_id),
        insurance_year=insurance_year,
        hold=hold,
    )
    timer.mark("persons and policies")
    kept = keep and import_id is not None
    s = _kept_table(import_id) if kept else _temp_name("rows")  # type: ignore[arg-type]
    if kept:
        cursor.execute(f"DROP TABLE IF EXISTS {s}")
    _checked(
        cursor,
        rows_table=rows_table,
        persons=persons,
        s=s,
        prefix=prefix,
        categories=categories,
        roster_date=roster_date,
        year=insurance_year,
        unlogged=kept,
    )
    # The rows as read are dropped once checked, unless they are the preview's kept rows.
    cursor.execute(f"DROP TABLE {persons}" + ("" if isinstance(sheet, KeptRows) else f", {rows_table}"))
    timer.mark("checks")
    cursor.execute(f"CREATE INDEX ON {s} (person_id, tag_code) WHERE outcome IS NULL")
    if kept:
        cursor.execute(f"ALTER TABLE {s} ADD PRIMARY KEY (row_number)")  # the preview page's order
    return _compared(
        cursor,
        s=s,
        categories=categories,
        prefix=prefix,
        total=total,
        header=header,
        sheet_name=sheet_name,
        notes=notes,
        roster_id=roster_id,
        roster_date=roster_date,
        rechecked=total,
        timer=timer,
        kept=kept,
    )


def _persons(cursor: Any, *, rows_table: str, only: str | None = None) -> str:
    """A narrow table of each row's person (by identifier), for the rows without a problem of their
    own (``only``: and listed in that table of row numbers)."""
    persons = _temp_name("persons")
    among = f"AND r.row_number IN (SELECT row_number FROM {only})" if only else ""  # noqa: S608 - generated name
    cursor.execute(
        f"""CREATE TEMP TABLE {persons} ON COMMIT DROP AS
        SELECT r.row_number, p.id AS person_id, p.name AS person_name, p.region_code AS person_region,
               p.category AS person_category
        FROM {rows_table} r JOIN enrollment_person p ON p.id_number = r.id_number
        WHERE r.problem IS NULL {among}""",  # noqa: S608 - generated table names
    )
    return persons


def _counties(cursor: Any, *, persons: str, roster_id: int | None) -> set[str]:
    """The counties of the rows' persons and of the roster's standing tags."""
    cursor.execute(
        f"""SELECT DISTINCT left(person_region, 6) FROM {persons}
        UNION SELECT DISTINCT left(region_code, 6) FROM subsidies_subsidytag
        WHERE roster_id = %s AND end_reason = ''""",  # noqa: S608 - generated table name
        [roster_id],
    )
    return {row[0] for row in cursor.fetchall()}


def _compared(
    cursor: Any,
    *,
    s: str,
    categories: CountyCategories,
    prefix: str,
    total: int,
    header: list[str],
    sheet_name: str,
    notes: list[str],
    roster_id: int | None,
    roster_date: dt.date,
    rechecked: int,
    timer: _Timer,
    kept: bool,
) -> Staged:
    """The checked rows compared with the roster's standing tags: what ends, and the counts."""
    removed = _removed(cursor, s=s, roster_id=roster_id, roster_date=roster_date)
    counts = _counts(cursor, s, removed, roster_id)
    timer.mark("compare")
    timer.log()
    logger.info("%s: %s of %s rows checked against the registry", timer.label, rechecked, total)
    return Staged(
        table=s,
        removed_table=removed,
        categories=categories,
        rows_total=total,
        header=header,
        sheet_name=sheet_name,
        notes=notes,
        counts=counts,
        roster_id=roster_id,
        basis={"prefix": prefix, "categories": categories.digests},
        rechecked=rechecked,
        kept=kept,
    )


def _restage(
    cursor: Any,
    *,
    kept: KeptRows,
    prefix: str,
    insurance_year: int,
    roster_date: dt.date,
    roster_id: int | None,
    timer: _Timer,
    hold: bool = False,
) -> Staged | None:
    """The preview's checked rows, with those whose verdict can have changed since checked anew.

    A row's verdict rests on its cells (unchanged), its person's identifier, name, region and
    category (a student's year is the academic one), the county's categories and the importer's
    area. So a row is checked anew when its person changed or is gone, or when the preview found no
    person for it (one may have been registered since); the rows of a person are all checked anew
    together, so that "the same person twice" holds.
    None when the importer's area or a county's categories changed: then every row is checked anew.
    """
    if not kept.basis or kept.basis.get("prefix") != prefix:
        return None
    k = kept.table
    affected = _temp_name("affected")
    cursor.execute(
        f"""CREATE TEMP TABLE {affected} ON COMMIT DROP AS
        SELECT k.row_number FROM {k} k LEFT JOIN enrollment_person p ON p.id = k.person_id
        WHERE k.problem IS NULL AND (
            k.person_id IS NULL OR p.id IS NULL OR p.id_number <> k.id_number
            OR p.name <> k.person_name OR p.region_code <> k.person_region
            OR p.category <> k.person_category)""",  # noqa: S608 - generated names
    )
    rechecked = cursor.rowcount
    persons = _persons(cursor, rows_table=k, only=affected)
    # The preview's counties are its basis's; the rows checked anew may add their persons' new ones.
    before: dict[str, str] = kept.basis.get("categories") or {}
    categories = county_categories(
        cursor,
        counties=_counties(cursor, persons=persons, roster_id=roster_id) | set(before),
        insurance_year=insurance_year,
        hold=hold,
    )
    if any(categories.digests.get(county) != digest for county, digest in before.items()):
        cursor.execute(f"DROP TABLE {affected}, {persons}, {categories.map_table}, {categories.county_table}")
        return None
    timer.mark("persons and policies")
    if rechecked:
        rows_table, s = _temp_name("read"), _temp_name("rows")
        cursor.execute(
            f"""CREATE TEMP TABLE {rows_table} ON COMMIT DROP AS SELECT {", ".join(_COPY)} FROM {k}
            WHERE row_number IN (SELECT row_number FROM {affected})"""  # noqa: S608 - generated names
        )
        _checked(
            cursor,
            rows_table=rows_table,
            persons=persons,
            s=s,
            prefix=prefix,
            categories=categories,
            roster_date=roster_date,
            year=insurance_year,
        )
        # In place: the kept table is this transaction's, and a rollback restores it.
        cursor.execute(f"DELETE FROM {k} WHERE row_number IN (SELECT row_number FROM {affected})")  # noqa: S608
        cursor.execute(f"INSERT INTO {k} SELECT * FROM {s}")  # noqa: S608 - generated names
        cursor.execute(f"DROP TABLE {rows_table}, {s}")
    cursor.execute(f"DROP TABLE {affected}, {persons}")
    timer.mark("checks")
    return _compared(
        cursor,
        s=k,
        categories=categories,
        prefix=prefix,
        total=kept.rows,
        header=kept.header,
        sheet_name=kept.sheet_name,
        notes=kept.notes,
        roster_id=roster_id,
        roster_date=roster_date,
        rechecked=rechecked,
        timer=timer,
        kept=True,
    )


def _checked(
    cursor: Any,
    *,
    rows_table: str,
    persons: str,
    s: str,
    prefix: str,
    categories: CountyCategories,
    roster_date: dt.date,
    year: int,
    unlogged: bool = False,
) -> None:
    """Every check that needs the registry, the policies or other rows, in one statement that writes
    the checked rows into ``s`` (one pass over the rows instead of an UPDATE per check).

    Each row gets its person and its category's meaning, then the first check it fails, in this
    order: its own problem, not in the registry, outside the importer's area, another name in the
    registry, no policy for the county, a category the policy does not know (a short form of one
    category's name, such as 低保 for 城乡低保对象, means that category), a category no roster tags,
    recognised after the cover of the person's own year ends (a student's or preschool child's
    academic year where the policy has one: the engine grants a tag recognised by then), and the
    same person and category as an earlier valid row (the first row counts). A row that passes
    keeps ``outcome`` NULL: it is valid (a new tag, or one the roster already has). Its
    ``period_end`` (the end of the person's own year) is the new tag's end.
    """
    c, k = categories.map_table, categories.county_table
    messages = {
        "problem": "problem",
        "not_found": "%(not_found)s",
        "outside": """replace(%(outside)s, '{where}', coalesce(
            (SELECT g.name FROM accounts_region g WHERE g.code = rpad(left(person_region, 6), 12, '0')),
            left(person_region, 6)))""",
        "name": "replace(%(name)s, '{name}', person_name)",
        "policy": "replace(replace(%(policy)s, '{county}', county_name), '{year}', %(year)s)",
        "unknown": """replace(replace(replace(replace(%(unknown)s, '{value}', category_text),
            '{county}', county_name), '{year}', %(year)s), '{names}', coalesce(nullif(names, ''), '—'))""",
        "untaggable": "replace(%(untaggable)s, '{value}', category_text)",
        "late": """replace(replace(%(late)s, '{date}', to_char(valid_from, 'YYYY-MM-DD')),
            '{end}', to_char(period_end, 'YYYY-MM-DD'))""",
        "duplicate": "replace(%(duplicate)s, '{row}', first_row::text)",
    }
    outcomes = {"not_found": "not_found", "outside": "outside_area", "name": "name_mismatch"}
    cursor.execute(
        f"""CREATE {"UNLOGGED" if unlogged else "TEMP"} TABLE {s} {"" if unlogged else "ON COMMIT DROP"} AS
        -- A short form: part of exactly one category's name, looked for only without an exact word,
        -- once for each county and word (a file writes its few words a hundred thousand times).
        WITH short_forms AS MATERIALIZED (
            SELECT w.county, w.category_key, f.*
            FROM (
                SELECT k.county, r.category_key
                FROM (SELECT DISTINCT category_key FROM {rows_table} WHERE length(category_key) >= 2) r
                CROSS JOIN {k} k
            ) w
            CROSS JOIN LATERAL (
                SELECT min(x.tag_code) AS tag_code, bool_and(x.taggable) AS taggable,
                       min(x.subsidy_kind) AS subsidy_kind, min(x.subsidy_fen) AS subsidy_fen,
                       min(x.marker) AS marker
                FROM {c} x
                WHERE x.county = w.county AND x.by_name AND strpos(x.key, w.category_key) > 0
                  AND NOT EXISTS (SELECT 1 FROM {c} e WHERE e.county = w.county AND e.key = w.category_key)
                HAVING count(*) > 0 AND count(DISTINCT coalesce(x.tag_code, '-')) = 1
            ) f
        ),
        matched AS (
            SELECT r.row_number, r.id_number, r.name, r.category_key, r.category_text, r.recognised_on,
                   r.problem, r.raw, m.person_id, m.person_name, m.person_region, m.person_category,
                   k.county_name, k.policy_code, k.names,
                   coalesce(e.tag_code, f.tag_code) AS tag_code, coalesce(e.taggable, f.taggable) AS taggable,
                   coalesce(e.subsidy_kind, f.subsidy_kind) AS subsidy_kind,
                   coalesce(e.subsidy_fen, f.subsidy_fen) AS subsidy_fen,
                   coalesce(e.marker, f.marker) AS marker,
                   -- The last day of the person's own year: the late check's and the new tag's end.
                   {_own_period("end", person_category="m.person_category", county="k")} AS period_end
            FROM {rows_table} r
            LEFT JOIN {persons} m ON m.row_number = r.row_number
            LEFT JOIN {k} k ON k.county = left(m.person_region, 6)
            LEFT JOIN {c} e ON e.county = left(m.person_region, 6) AND e.key = r.category_key
            LEFT JOIN short_forms f ON f.county = left(m.person_region, 6) AND f.category_key = r.category_key
        ),
        judged AS (
            SELECT matched.*,
                   CASE WHEN taggable IS NOT NULL THEN coalesce(recognised_on, %(date)s) END AS valid_from,
                   CASE
                       WHEN problem IS NOT NULL THEN 'problem'
                       WHEN person_id IS NULL THEN 'not_found'
                       WHEN NOT starts_with(person_region, %(prefix)s) THEN 'outside'
                       WHEN name <> person_name AND regexp_replace(name, %(blank)s, '', 'g')
                           <> regexp_replace(person_name, %(blank)s, '', 'g') THEN 'name'
                       WHEN policy_code IS NULL THEN 'policy'
                       WHEN taggable IS NULL THEN 'unknown'
                       WHEN NOT taggable THEN 'untaggable'
                       WHEN coalesce(recognised_on, %(date)s) > period_end THEN 'late'
                   END AS failed
            FROM matched
        ),
        firsts AS (
            SELECT judged.*, min(row_number) FILTER (WHERE failed IS NULL)
                       OVER (PARTITION BY person_id, tag_code) AS first_row
            FROM judged
        ),
        verdicts AS (
            SELECT firsts.*,
                   CASE WHEN failed IS NULL AND first_row <> row_number THEN 'duplicate' ELSE failed END AS verdict
            FROM firsts
        )
        SELECT row_number, id_number, name, category_key, category_text, recognised_on, problem, raw,
               person_id, person_name, person_region, person_category, tag_code, taggable, subsidy_kind,
               subsidy_fen, marker, period_end, valid_from,
               CASE WHEN verdict IS NOT NULL THEN CASE verdict
                   {" ".join(f"WHEN '{key}' THEN '{outcome}'" for key, outcome in outcomes.items())}
                   ELSE 'error' END
               END::text AS outcome,
               CASE verdict {" ".join(f"WHEN '{key}' THEN {sql}" for key, sql in messages.items())} END::text
                   AS message,
               CASE WHEN verdict NOT IN ('problem', 'not_found') THEN person_region END::text AS region
        FROM verdicts""",  # noqa: S608 - generated table names
        {
            "date": roster_date,
            "prefix": prefix,
            "school": list(SCHOOL_CATEGORIES),
            "blank": NAME_BLANKS,
            "year": str(year),
            "not_found": _("No person with this identifier is in the registry; register the person first."),
            "outside": _fill(
                _("Registered in %(where)s, outside your area; that area's roster lists the person."),
                where="",
            ),
            "name": _fill(
                _("The registry has the name “%(name)s” for this identifier; check the row."), name=""
            ),
            "policy": _fill(
                _(
                    "There is no policy for %(county)s and insurance year %(year)s; an administrator adds it "
                    "in the rulebook."
                ),
                county="",
                year="",
            ),
            "unknown": _fill(
                _(
                    "“%(value)s” is not a subsidy category of the %(year)s policy for %(county)s; "
                    "its categories are: %(names)s."
                ),
                value="",
                year="",
                county="",
                names="",
            ),
            "untaggable": _fill(
                _(
                    "“%(value)s” applies by the policy's conditions alone (for example age); no roster tags it."
                ),
                value="",
            ),
            "late": _fill(
                _("Recognised on %(date)s, after the insurance year's cover ends (%(end)s)."), date="", end=""
            ),
            "duplicate": _fill(_("The same person and category as row %(row)s."), row=""),
        },
    )


def _removed(cursor: Any, *, s: str, roster_id: int | None, roster_date: dt.date) -> str:
    """The roster's standing tags the file no longer lists (a person whose row has an error keeps theirs)."""
    r = _temp_name("removed")
    cursor.execute(
        f"""CREATE TEMP TABLE {r} ON COMMIT DROP AS
        SELECT t.id AS tag_id, t.person_id, p.id_number, p.name, p.category AS person_category, t.category,
               t.region_code, t.valid_from,
               greatest(t.valid_from, least(t.valid_to, %(date)s::date)) AS new_valid_to
        FROM subsidies_subsidytag t JOIN enrollment_person p ON p.id = t.person_id
        WHERE t.roster_id = %(roster)s AND t.end_reason = ''
          AND NOT EXISTS (SELECT 1 FROM {s} v WHERE v.person_id = t.person_id AND v.tag_code = t.category
                          AND v.outcome IS NULL)
          AND NOT EXISTS (SELECT 1 FROM {s} e WHERE e.id_number = p.id_number AND e.outcome IS NOT NULL)""",  # noqa: S608
        {"roster": roster_id, "date": roster_date},
    )
    return r


def _counts(cursor: Any, s: str, removed: str, roster_id: int | None) -> dict[str, int]:
    cursor.execute(f"SELECT outcome, count(*) FROM {s} WHERE outcome IS NOT NULL GROUP BY outcome")  # noqa: S608
    counts = {outcome: int(count) for outcome, count in cursor.fetchall()}
    cursor.execute(
        f"""SELECT count(*) FILTER (WHERE t.id IS NULL), count(t.id)
        FROM {s} s LEFT JOIN subsidies_subsidytag t ON t.roster_id = %s AND t.end_reason = ''
            AND t.person_id = s.person_id AND t.category = s.tag_code
        WHERE s.outcome IS NULL""",  # noqa: S608
        [roster_id],
    )
    added, unchanged = cursor.fetchone()
    counts[RosterOutcome.ADDED.value] = int(added)
    counts[RosterOutcome.UNCHANGED.value] = int(unchanged)
    cursor.execute(f"SELECT count(*) FROM {removed}")  # noqa: S608
    counts[RosterOutcome.REMOVED.value] = int(cursor.fetchone()[0])
    counts["blocking"] = sum(counts.get(outcome, 0) for outcome in BLOCKING_OUTCOMES)
    return counts


def write_report(cursor: Any, *, roster_import: RosterImport, staged: Staged) -> None:
    """The rows not imported (with the original cells and the reason) and the tags that end."""
    cursor.execute("DELETE FROM subsidies_rosterrow WHERE roster_import_id = %s", [roster_import.pk])
    cursor.execute(
        f"""INSERT INTO subsidies_rosterrow
            (roster_import_id, row_number, outcome, message, id_number, name, category, region_code, person_id, "values")
        SELECT %(job)s, s.row_number, s.outcome, coalesce(s.message, ''), left(coalesce(s.id_number, ''), 32),
               left(coalesce(s.name, ''), 60), left(coalesce(s.category_text, ''), 60),
               coalesce(s.region, %(region)s), s.person_id, {imports.RAW_AS_JSON.format(raw="s.raw")}
        FROM {staged.table} s WHERE s.outcome IS NOT NULL
        ORDER BY s.row_number""",  # noqa: S608
        {"job": roster_import.pk, "region": roster_import.region_code},
    )
    cursor.execute(
        f"""INSERT INTO subsidies_rosterrow
            (roster_import_id, row_number, outcome, message, id_number, name, category, region_code, person_id, "values")
        SELECT %(job)s, NULL, 'removed', replace(%(msg)s, '{{date}}', to_char(r.new_valid_to, 'YYYY-MM-DD')),
               left(r.id_number, 32), left(r.name, 60), left(r.category, 60), r.region_code, r.person_id, '[]'::jsonb
        FROM {staged.removed_table} r ORDER BY r.id_number, r.category""",  # noqa: S608
        {
            "job": roster_import.pk,
            "msg": _fill(_("Not on the new roster: the tag ends on %(date)s."), date=""),
        },
    )


# --- applying -----------------------------------------------------------------------------------


@dataclass
class Applied:
    tagged: int = 0
    untagged: int = 0
    persons: int = 0
    pushed: int = 0
    back_payment_applications_withdrawn: int = 0
    # Tags the file no longer lists that were ended by hand after the check read them: left alone.
    ended_meanwhile: int = 0


def _hold_removed_as_read(cursor: Any, *, removed: str, import_id: int | None) -> int:
    """Lock the tags this import ends and keep only those still standing; how many were dropped.

    The check read them (``removed``) without a lock, some statements before the import ends them.
    A tag ended meanwhile (``subsidy_tag_end``, which locks it: the bureau learnt the person left
    the category) keeps its own day and reason, which decide whether it still reaches the year's
    cover; so it leaves ``removed`` and the report, and the import neither ends it again nor tells
    tax of it nor reassesses for it. Locked in id order; from here until the import commits, an
    end by hand waits for it and is then refused (the tag has ended)."""
    cursor.execute(
        f"SELECT t.id FROM subsidies_subsidytag t JOIN {removed} r ON r.tag_id = t.id ORDER BY t.id FOR UPDATE OF t"  # noqa: S608
    )
    # A new statement reads what committed before the lock was granted.
    cursor.execute(
        f"""WITH gone AS (
            DELETE FROM {removed} r USING subsidies_subsidytag t WHERE t.id = r.tag_id AND t.end_reason <> ''
            RETURNING r.person_id, r.category
        ), unlisted AS (
            DELETE FROM subsidies_rosterrow w USING gone g
            WHERE w.roster_import_id = %s AND w.outcome = 'removed' AND w.row_number IS NULL
              AND w.person_id = g.person_id AND w.category = left(g.category, 60)
        )
        SELECT count(*) FROM gone""",  # noqa: S608 - generated table name
        [import_id],
    )
    (left,) = cursor.fetchone()
    if left:
        logger.info(
            "roster import %s: %d tag(s) ended by hand while it was applied, left as they are",
            import_id,
            left,
        )
    return int(left)


def apply(
    cursor: Any, *, staged: Staged, roster_import: RosterImport, roster_id: int, actor_id: int | None
) -> Applied:
    """End the removed tags, insert the added ones, tell tax, reassess; in the caller's transaction."""
    from .reassessment import reassess_persons

    s, r = staged.table, staged.removed_table
    source = roster_import.source
    applied = Applied()
    timer = _Timer(f"roster import {roster_import.pk} apply")
    if roster_import.pk:
        progress_set(roster_import.pk, phase="writing", done=staged.rows_total, total=staged.rows_total)
    # One import applies at a time, city-wide, and no tag changes by hand meanwhile: what it reads
    # of other tags (a withdrawal is sent only when none still holds the person) stays true until it
    # commits, and its marks' revision follows the commit order. Imports are few and take seconds.
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MARKS_LOCK])
    # The tags are inserted in their persons' order, whatever the file's: the persons' key checks and
    # the indexes that lead with the person then walk their pages in order (100,000 tags in a
    # shuffled order took 0.4 s longer to insert and check). Sorted in 4 MB, they would spill to disk.
    cursor.execute("SET LOCAL work_mem = '64MB'")
    applied.ended_meanwhile = _hold_removed_as_read(cursor, removed=r, import_id=roster_import.pk)
    added = _temp_name("added")
    cursor.execute(
        f"""CREATE TEMP TABLE {added} ON COMMIT DROP AS
        SELECT s.row_number, s.person_id, s.id_number, s.person_region, s.tag_code, s.valid_from, s.period_end,
               s.subsidy_kind, s.subsidy_fen, s.marker
        FROM {s} s
        WHERE s.outcome IS NULL AND NOT EXISTS (
            SELECT 1 FROM subsidies_subsidytag t WHERE t.roster_id = %(roster)s AND t.end_reason = ''
              AND t.person_id = s.person_id AND t.category = s.tag_code)""",  # noqa: S608
        {"roster": roster_id},
    )
    # Stored on the tag and read by every later user: the portal's language, not the uploader's.
    with translation.override(settings.LANGUAGE_CODE):
        reason = _fill(_("Not on the roster of %(date)s (import no. %(job)s)."), date="", job="")
    cursor.execute(
        f"""UPDATE subsidies_subsidytag t SET valid_to = r.new_valid_to,
            end_reason = left(replace(replace(%(reason)s, '{{date}}', %(date)s), '{{job}}', %(job)s), 200)
        FROM {r} r WHERE t.id = r.tag_id""",  # noqa: S608
        {"reason": reason, "date": roster_import.roster_date.isoformat(), "job": str(roster_import.pk)},
    )
    # The marks to tax are built and checked on a second connection while this one writes the tags
    # and checks their foreign keys (at once, not at the commit): the two use both cores.
    with _marks_beside(cursor, added=added, removed=r, staged=staged, roster_import=roster_import) as marks:
        cursor.execute(
            f"""INSERT INTO subsidies_subsidytag
                (person_id, category, region_code, source, valid_from, valid_to, end_reason, created_at, roster_id)
            SELECT person_id, tag_code, person_region, %(source)s, valid_from, period_end, '', statement_timestamp(),
                   %(roster)s
            FROM {added} ORDER BY person_id, tag_code""",  # noqa: S608
            {"source": source[:100], "roster": roster_id},
        )
        _check_tag_keys(cursor)
        timer.mark("tags")
    applied.tagged, applied.untagged = marks.tagged, marks.withdrawn
    timer.mark("messages")
    persons = _temp_name("persons")
    cursor.execute(
        f"""CREATE TEMP TABLE {persons} ON COMMIT DROP AS
        SELECT person_id FROM {added} UNION SELECT person_id FROM {r}"""  # noqa: S608
    )
    if roster_import.pk:
        progress_set(roster_import.pk, phase="reassessing", done=staged.rows_total, total=staged.rows_total)
    reassessed = reassess_persons(
        person_table=persons,
        reason=(
            _("Subsidy roster %(source)s (import no. %(job)s)") % {"source": source, "job": roster_import.pk}
        )[:200],
        actor_id=actor_id,
    )
    applied.persons = reassessed.persons
    applied.pushed = reassessed.pushed
    applied.back_payment_applications_withdrawn = reassessed.back_payment_applications_withdrawn
    cursor.execute(f"DROP TABLE {persons}, {added}")
    timer.mark("reassessment")
    timer.log()
    return applied


def _check_tag_keys(cursor: Any) -> None:
    """Check the foreign keys of the tags written so far now rather than at the commit."""
    cursor.execute(
        "SELECT string_agg(quote_ident(conname), ', ') FROM pg_constraint "
        "WHERE conrelid = 'subsidies_subsidytag'::regclass AND contype = 'f' AND condeferred"
    )
    (names,) = cursor.fetchone()
    if names:
        cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
        cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")


def no_other_tag_sql(*, withdrawn: str, year: str, own_start: str, own_end: str, joins: str = "") -> str:
    """SQL: no standing tag (``t``) other than the withdrawn one holds its person (``{withdrawn}.person_id``)
    in its category for the insurance year ``year``: a roster's tag for that year, or a tag given by
    hand whose dates reach ``own_start``–``own_end`` (the person's own year's cover; ``joins`` may
    join what those read). The rule of every withdrawal sent to tax: a roster import's
    (``_marks_beside``) and a tag's ended by hand (``subsidies.marks``)."""
    return f"""NOT EXISTS (SELECT 1 FROM subsidies_subsidytag t
        LEFT JOIN subsidies_subsidyroster ro ON ro.id = t.roster_id
        {joins}
        WHERE t.person_id = {withdrawn}.person_id AND t.category = {withdrawn}.category AND t.end_reason = ''
          AND CASE WHEN t.roster_id IS NULL
                   THEN t.valid_from <= {own_end} AND (t.valid_to IS NULL OR t.valid_to >= {own_start})
                   ELSE ro.insurance_year = {year} END)"""  # noqa: S608 - generated names


def mark_revision_next(cursor: Any) -> int:
    """The next revision of tax's marks: one per roster import or send about tags given by hand,
    taken under ``MARKS_LOCK`` so revisions follow the order of commits."""
    cursor.execute("SELECT nextval('subsidies_mark_revision')")
    return cursor.fetchone()[0]


def mark_item_columns(alias: str) -> str:
    """The columns of one ``subsidy.marks_batch`` item, read from ``alias`` (with the sender's
    ``%(revision)s``): the one list a roster import's items and a hand tag's are built from."""
    names = "person_id region_code category marker status subsidy_kind subsidy_fen valid_from valid_to reason"
    return ", ".join(f"{alias}.{name}" for name in names.split()) + ", %(revision)s::bigint AS revision"


@dataclass
class _Marks:
    tagged: int = 0
    withdrawn: int = 0


@contextmanager
def _marks_beside(
    cursor: Any, *, added: str, removed: str, staged: Staged, roster_import: RosterImport
) -> Iterator[_Marks]:
    """Tell tax the tags given and withdrawn, in ``subsidy.marks_batch`` messages per county: the
    tags in the file's order, then the withdrawals (ordered by integers: sorting a hundred thousand
    identifiers by the database's collation took a third of a second). The messages are built
    beside the block (``message_send_bulk_beside``) and sent when it ends.

    Every item carries this import's revision. Imports apply one at a time (``MARKS_LOCK``,
    held until they commit, as changes of tags by hand hold it: ``subsidies.marks``), so revisions
    follow the order in which imports and those changes commit, and tax,
    keeping the newest, ends with the same marks whatever order the batches arrive in. A
    withdrawal is sent only when no other roster still tags the person in the category.
    """
    revision = mark_revision_next(cursor)
    # Kept in tax's ledger: the portal's language, not the uploader's.
    with translation.override(settings.LANGUAGE_CODE):
        reason = (_("Not on the roster of %(date)s") % {"date": roster_import.roster_date.isoformat()})[:200]
    # A withdrawal goes to tax only when no other tag still holds the person in the category for
    # this roster's insurance year (tax keys its marks by person, year and category): a standing
    # tag of another roster for the same year, or a standing tag given by hand whose dates reach
    # the person's own year in their county (a student's academic year where the policy has one, as
    # the engine reads the tag). Last year's rosters' tags hold for last year only, however long
    # they stand. (The tags this import ends are ended already; those it adds cannot be the
    # withdrawn ones' person and category.)
    own_start, own_end = (
        _own_period(edge, person_category="r.person_category", county="k") for edge in ("start", "end")
    )
    no_other_tag = no_other_tag_sql(
        withdrawn="r",
        year="%(year)s",
        own_start=own_start,
        own_end=own_end,
        joins=f"LEFT JOIN {staged.categories.county_table} k ON t.roster_id IS NULL AND k.county = left(r.region_code, 6)",
    )
    # The items, read here (with this transaction's own writes) and handed to the second connection.
    items = f"""
        SELECT left(a.person_region, 6) AS county, 0 AS kind, a.row_number::bigint AS ordinal,
               a.id_number::text AS person_id, a.person_region::text AS region_code, a.tag_code::text AS category,
               coalesce(a.marker, '')::text AS marker, 'active'::text AS status, a.subsidy_kind::text AS subsidy_kind,
               a.subsidy_fen::bigint AS subsidy_fen, a.valid_from, a.period_end AS valid_to, ''::text AS reason
        FROM {added} a
        UNION ALL
        SELECT left(r.region_code, 6), 1, r.tag_id, r.id_number, r.region_code, r.category,
               coalesce(c.marker, ''), 'withdrawn', '', 0, r.valid_from, r.new_valid_to, %(reason)s
        FROM {removed} r LEFT JOIN {staged.categories.map_table} c
            ON c.county = left(r.region_code, 6) AND c.key = lower(r.category)
        WHERE {no_other_tag}
    """  # noqa: S608 - generated table names
    # There, numbered once per county (one window) into the batches they go in; the platform
    # builds each batch's list from their typed columns (``ListItems``), checking the values there.
    numbered = """numbered AS MATERIALIZED (
        SELECT u.*, (u.place - 1) / %(batch_items)s + 1 AS batch
        FROM (
            SELECT u.*, row_number() OVER (PARTITION BY u.county ORDER BY u.kind, u.ordinal) AS place
            FROM {rows} AS u
        ) AS u
    )"""
    marks = _Marks()
    cursor.execute(
        f"SELECT (SELECT count(*) FROM {added}), (SELECT count(*) FROM {removed} r WHERE {no_other_tag})",  # noqa: S608
        {"year": roster_import.insurance_year, "school": list(SCHOOL_CATEGORIES)},
    )
    marks.tagged, marks.withdrawn = (int(count) for count in cursor.fetchone())
    with message_send_bulk_beside(
        topic="subsidy.marks_batch",
        rows=BesideRows(
            query=items,
            params={
                "reason": reason,
                "year": roster_import.insurance_year,
                "school": list(SCHOOL_CATEGORIES),
            },
        ),
        query="""
            SELECT NULL::text AS subject, n.county || '000000' AS region_code, n.county || ':' || n.batch AS message,
                   jsonb_build_object(
                       'county_code', n.county, 'insurance_year', %(year)s::int, 'region_code', n.county || '000000',
                       'roster', %(roster)s, 'import_id', %(import)s::bigint, 'batch', n.batch,
                       'subsidy_fen', sum(n.subsidy_fen)) AS payload
            FROM numbered n
            GROUP BY n.county, n.batch""",
        items=ListItems(
            query=f"""
                SELECT n.county || ':' || n.batch AS message, n.place, {mark_item_columns("n")}
                FROM numbered n""",  # noqa: S608 - generated column names
            ctes=numbered,
        ),
        params={
            "year": roster_import.insurance_year,
            "roster": roster_import.source[:64],
            "import": roster_import.pk,
            "batch_items": MARK_ITEMS,
            "revision": revision,
        },
    ):
        yield marks


def drop(cursor: Any, staged: Staged) -> None:
    tables = [staged.removed_table, staged.categories.map_table, staged.categories.county_table]
    cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables if staged.kept else [staged.table, *tables])}")


# --- the report workbook ------------------------------------------------------------------------


def counts_for_display(counts: dict[str, Any]) -> list[tuple[str, int]]:
    """(key, count) in a fixed order, for the pages and the summary sheet."""
    order = [
        RosterOutcome.ADDED,
        RosterOutcome.UNCHANGED,
        RosterOutcome.REMOVED,
        RosterOutcome.ERROR,
        RosterOutcome.NOT_FOUND,
        RosterOutcome.NAME_MISMATCH,
        RosterOutcome.OUTSIDE_AREA,
    ]
    return [(str(key), int(counts.get(str(key), 0))) for key in order]


def count_label(key: str) -> str:
    labels: dict[str, Any] = dict(RosterOutcome.choices)
    labels.update(
        tagged=_("Tags sent to tax"),
        untagged=_("Withdrawals sent to tax"),
        persons=_("Persons reassessed"),
        pushed=_("Amounts due sent to tax"),
        back_payments_withdrawn=_("Back-payment applications withdrawn"),
    )
    return str(labels.get(key, key))


@dataclass
class _Masker:
    """Identifiers as the viewer may see them. Whoever imports rosters sees them whole: the rows
    are their own file's (or the roster's they replace), and a wrong check digit is corrected only
    where the whole number is seen."""

    scope: Scope
    id_index: int | None
    _full: dict[str, bool] = field(default_factory=dict)

    def full(self, region_code: str) -> bool:
        if region_code not in self._full:
            self._full[region_code] = self.scope.allows(Action.SUBSIDY_ROSTER_IMPORT) or shows_full_identity(
                self.scope, region_code
            )
        return self._full[region_code]

    def id_number(self, number: str, region_code: str) -> str:
        return number if not number or self.full(region_code) else mask_id_number(number)

    def values(self, values: list[str], region_code: str) -> list[str]:
        if self.id_index is None or self.id_index >= len(values) or self.full(region_code):
            return values
        shown = list(values)
        if shown[self.id_index]:
            shown[self.id_index] = mask_id_number(identifiers.normalise(shown[self.id_index]))
        return shown


def masker_for(*, scope: Scope, roster_import: RosterImport) -> _Masker:
    columns = imports.map_columns(list(roster_import.columns), ROSTER_COLUMNS)
    return _Masker(scope=scope, id_index=columns.get("id_number"))


@dataclass
class CategoryNames:
    """Category names for the codes a roster's rows store (a category's code or its roster tag),
    from the policy of each row's county for the import's year."""

    insurance_year: int
    _rules: dict[str, Policy | None] = field(default_factory=dict)

    def name(self, code: str, region_code: str) -> str:
        county = region_code[:6]
        if county not in self._rules:
            loaded = policy_for_county(county_code=county, insurance_year=self.insurance_year)
            self._rules[county] = loaded.rules if loaded else None
        category = category_by_code(self._rules[county], code)
        return category.name if category else code


def category_by_code(rules: Policy | None, code: str) -> SubsidyCategory | None:
    """The category a stored code names: a category's own code, else the first category tagged
    by that roster tag (a tag may be shared by several)."""
    if rules is None:
        return None
    return rules.category(code) or next((c for c in rules.subsidy_categories if c.tag_code == code), None)


def report_workbook(*, scope: Scope, roster_import: RosterImport) -> IO[bytes]:
    """A summary sheet, the rows not imported (original cells, outcome, reason) and the tags that end."""
    job = roster_import
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append([_("Roster"), safe_cell(job.source)])
    summary.append([_("Insurance year"), job.insurance_year])
    summary.append([_("Roster date"), job.roster_date.isoformat()])
    summary.append([_("File"), safe_cell(job.original_name)])
    summary.append([_("Uploaded"), timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M")])
    summary.append([_("Status"), job.get_status_display()])
    if job.mode:
        summary.append([_("Mode"), job.get_mode_display()])
    summary.append([_("Rows"), job.rows_total])
    for key, value in counts_for_display(job.counts or {}):
        summary.append([count_label(key), value])
    if job.message:
        summary.append([_("Message"), safe_cell(job.message)])
    for note in job.notes or []:
        summary.append([_("Note"), safe_cell(note)])
    masker = masker_for(scope=scope, roster_import=job)
    labels = dict(RosterOutcome.choices)
    sheet = book.create_sheet(_("Rows not imported"))
    sheet.append([_("Row"), _("Outcome"), _("Reason"), *(safe_cell(title) for title in job.columns)])
    rows = (
        RosterRow.objects.filter(roster_import=job, row_number__isnull=False)
        .order_by("row_number")
        .values_list("row_number", "outcome", "message", "region_code", "values")
    )
    for number, outcome, message, region_code, values in rows.iterator(chunk_size=5000):
        shown = masker.values(list(values or []), region_code or job.region_code)
        sheet.append([number, str(labels.get(outcome, outcome)), safe_cell(message), *map(safe_cell, shown)])
    ended = book.create_sheet(_("Tags that end"))
    ended.append([_("Identifier"), pgettext("person", "Name"), _("Subsidy category"), _("Reason")])
    names = CategoryNames(job.insurance_year)
    removed = (
        RosterRow.objects.filter(roster_import=job, outcome=RosterOutcome.REMOVED)
        .order_by("id_number", "category")
        .values_list("id_number", "name", "category", "message", "region_code")
    )
    for id_number, name, category, message, region_code in removed.iterator(chunk_size=5000):
        ended.append(
            [
                masker.id_number(id_number, region_code or job.region_code),
                safe_cell(name),
                safe_cell(names.name(category, region_code or job.region_code)),
                safe_cell(message),
            ]
        )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the streaming response once sent
    book.save(handle)
    handle.seek(0)
    return handle


def template_workbook() -> IO[bytes]:
    """An empty roster with the header row, and a sheet saying what each column takes."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Roster"))
    sheet.append([column.title for column in ROSTER_COLUMNS])
    notes = book.create_sheet(_("Instructions"))
    notes.append([_("Column"), _("Required"), _("What to write")])
    helps = {
        "id_number": _(
            "The 18-digit resident ID number (or the person's identifier); format the column as text."
        ),
        "name": _("The name as registered."),
        "category": _(
            "The subsidy category: its name, code or marker as the policy of the person's county lists it."
        ),
        "recognised_on": _(
            "Optional: the day the person was recognised, e.g. 2026-06-01; empty means the roster's date."
        ),
    }
    for column in ROSTER_COLUMNS:
        notes.append([column.title, _("yes") if column.required else _("no"), safe_cell(helps[column.key])])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the streaming response once sent
    book.save(handle)
    handle.seek(0)
    return handle
