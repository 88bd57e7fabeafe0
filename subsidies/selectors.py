"""Scoped reads of the subsidies app: roster imports and their reports, rosters, the categories of
the policies a user may read, and the totals for finance. Every function takes a scope."""

from __future__ import annotations

import datetime as dt
import functools
import operator
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Left
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from accounts.exports import money, safe_cell
from accounts.models import Region
from accounts.roles import Action
from accounts.scope import Scope
from enrollment.fund_totals import COUNTED
from enrollment.models import (
    Assessment,
    AssessmentRun,
    AssessmentStatus,
    Policy,
    RunStatus,
    scope_prefix_of_region_code,
)
from enrollment.policies import (
    policy_can_manage,
    policy_for_county,
    policy_list,
    policy_parse,
    policy_record_for_county,
)
from enrollment.rules.policy import SCHOOL_CATEGORIES, Scheme, SubsidyCategory, Window
from enrollment.rules.policy import Policy as Rules

from .models import ImportStatus, RosterImport, RosterOutcome, RosterRow, SubsidyRoster, SubsidyTag
from .rosters import category_amount, category_by_code, rows_kept

# --- roster imports -----------------------------------------------------------------------------


def roster_import_list(*, scope: Scope) -> QuerySet[RosterImport]:
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    return scope.filter(RosterImport.objects.select_related("created_by", "confirmed_by"))


def roster_import_detail(*, scope: Scope, pk: int) -> RosterImport:
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    return scope.get_object_or_404(
        RosterImport.objects.select_related("created_by", "confirmed_by", "based_on"), pk=pk
    )


def roster_rows(*, roster_import: RosterImport, outcome: str | None = None) -> QuerySet[RosterRow]:
    rows = RosterRow.objects.filter(roster_import=roster_import)
    if outcome:
        rows = rows.filter(outcome=outcome)
    return rows.order_by("row_number", "id_number", "category")


def roster_list(*, scope: Scope) -> QuerySet[SubsidyRoster]:
    """The rosters of the user's area that have a file, newest year first."""
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    return (
        scope.filter(SubsidyRoster.objects.filter(current_import__isnull=False))
        .select_related("current_import")
        .annotate(standing=Count("tags", filter=Q(tags__end_reason="")))
        .order_by("-insurance_year", "source")
    )


def roster_sources(*, scope: Scope) -> list[str]:
    """The offices whose rosters the user's area imported before (for the upload form)."""
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    return list(
        scope.filter(SubsidyRoster.objects.all())
        .order_by("source")
        .values_list("source", flat=True)
        .distinct()
    )


# --- categories ---------------------------------------------------------------------------------


@dataclass
class CategoryRow:
    index: int
    category: SubsidyCategory
    amount_fen: int
    tagged: int = 0

    @property
    def path(self) -> str:
        return f"subsidy_categories[{self.index}]"


@dataclass
class PolicyCategories:
    policy: Policy
    rules: Rules | None
    region_name: str
    can_manage: bool
    rows: list[CategoryRow] = field(default_factory=list)
    problem: str = ""


def _region_names(codes: set[str]) -> dict[str, str]:
    padded = {code: code.ljust(12, "0") for code in codes if code}
    names = dict(Region.objects.filter(code__in=padded.values()).values_list("code", "name"))
    found = {code: names.get(full, code) for code, full in padded.items()}
    found[""] = _("Whole country")
    return found


def _of_insurance_year(year: int) -> Q:
    """Tags that may hold for ``year``: a roster's tag holds for its roster's insurance year alone,
    whatever its dates (a roster for next year, recognised this autumn or years ago, never counts
    this year); a tag given by hand, wherever its dates reach (the caller filters the dates)."""
    return Q(roster__isnull=True) | Q(roster__insurance_year=year)


# Tags of persons whose year is a school's academic year where the policy has one (``Policy.coverage_for``).
_AT_SCHOOL = Q(person__category__in=SCHOOL_CATEGORIES)


def _reaching(window: Window) -> Q:
    """Tags whose dates reach the window: recognised by its end, not ended before its start."""
    return Q(valid_from__lte=window.end) & (Q(valid_to__isnull=True) | Q(valid_to__gte=window.start))


def _reaching_own_year(policy: Rules) -> Q:
    """Tags whose dates reach their person's year under the policy, as the rule engine reads them:
    a student's or preschool child's academic year where the policy has one, else the insurance year."""
    if policy.student_coverage is None:
        return _reaching(policy.coverage)
    return (_AT_SCHOOL & _reaching(policy.student_coverage)) | (~_AT_SCHOOL & _reaching(policy.coverage))


def tags_holding_in(*, policy: Rules, region_prefix: str, tag_codes: Iterable[str]) -> dict[str, int]:
    """Persons, per tag code, whose tag counts in the policy's year as the engine reads it (a roster's
    tag in its roster's year; dates reaching the person's own year, an ended tag's included), in the
    area of ``region_prefix`` whoever asks: those a version of the policy without a category for
    the code would take the subsidy from at the next reassessment."""
    codes = sorted(set(tag_codes))
    if not codes:
        return {}
    tags = SubsidyTag.objects.filter(
        _of_insurance_year(policy.insurance_year), _reaching_own_year(policy), category__in=codes
    )
    if region_prefix:
        tags = tags.filter(region_code__startswith=region_prefix)
    return dict(
        tags.values("category").annotate(n=Count("person", distinct=True)).values_list("category", "n")
    )


def _tag_counts(*, scope: Scope, policy: Rules) -> dict[str, int]:
    """Persons holding a tag valid in their year of the policy (a student's academic year where it has
    one), per tag code, in the policy's region ∩ the user's area."""
    tags = scope.filter(
        SubsidyTag.objects.filter(
            _of_insurance_year(policy.insurance_year), _reaching_own_year(policy), end_reason=""
        )
    )
    if policy.region_code:
        tags = tags.filter(region_code__startswith=scope_prefix_of_region_code(policy.region_code))
    return dict(
        tags.values("category").annotate(n=Count("person", distinct=True)).values_list("category", "n")
    )


def category_policies(*, scope: Scope, year: int | None = None) -> list[PolicyCategories]:
    """Each readable policy (of a year, or all) with its subsidy categories, what each pays and how many hold its tag."""
    scope.require(Action.POLICY_VIEW)
    policies = policy_list(scope=scope).order_by("-insurance_year", "region_prefix", "code")
    if year:
        policies = policies.filter(insurance_year=year)
    records = list(policies)
    names = _region_names({policy.region_code for policy in records})
    found: list[PolicyCategories] = []
    for policy in records:
        item = PolicyCategories(
            policy=policy,
            rules=None,
            region_name=names.get(policy.region_code, policy.region_code),
            can_manage=scope.allows(Action.POLICY_MANAGE) and policy_can_manage(scope=scope, policy=policy),
        )
        try:
            rules = policy_parse(document=policy.document)
        except Exception as error:  # a stored document always parses; say so if one ever does not
            item.problem = str(error)
            found.append(item)
            continue
        item.rules = rules
        counts = _tag_counts(scope=scope, policy=rules)
        item.rows = [
            CategoryRow(index, category, category_amount(rules, category), counts.get(category.tag_code, 0))
            for index, category in enumerate(rules.subsidy_categories)
        ]
        found.append(item)
    return found


def policy_years(*, scope: Scope) -> list[int]:
    scope.require(Action.POLICY_VIEW)
    return sorted(set(policy_list(scope=scope).values_list("insurance_year", flat=True)), reverse=True)


def scheme_label(category: SubsidyCategory) -> str:
    if category.scheme == Scheme.FULL:
        return _("Full")
    if category.scheme == Scheme.PERCENT:
        return _("%(percent)d%% of the individual part") % {"percent": category.percent}
    return _("Fixed amount")


# --- totals for finance -------------------------------------------------------------------------


@dataclass
class TotalsRow:
    county_code: str
    county_name: str
    category: str
    category_name: str
    marker: str
    tagged: int = 0
    persons: int = 0
    subsidy_fen: int = 0
    settled_persons: int = 0
    settled_fen: int = 0
    full_persons: int = 0


@dataclass
class Totals:
    year: int
    rows: list[TotalsRow]
    # Distinct persons tagged in the year: a person holding two tags, or one tag several categories
    # share, is one person here although the rows show them under each of those categories.
    tagged: int = 0

    @property
    def persons(self) -> int:
        return sum(row.persons for row in self.rows)

    @property
    def subsidy_fen(self) -> int:
        return sum(row.subsidy_fen for row in self.rows)

    @property
    def settled_fen(self) -> int:
        return sum(row.settled_fen for row in self.rows)

    @property
    def settled_persons(self) -> int:
        return sum(row.settled_persons for row in self.rows)


def totals_years(*, scope: Scope) -> list[int]:
    """The insurance years assessed in the user's area (from the runs, a small table), newest first."""
    scope.require(Action.SUBSIDY_TOTALS)
    runs = scope.filter(AssessmentRun.objects.filter(person__isnull=True, status=RunStatus.DONE))
    return sorted(set(runs.values_list("insurance_year", flat=True)), reverse=True)


def subsidy_totals(*, scope: Scope, year: int) -> Totals:
    """Per county and category: persons holding the tag the category needs in the year, persons the
    assessment subsidises and the money (whole fen), and how much of it is settled (paid, or paid
    whole by the government).

    Subsidised counts exactly the assessments finance is told of (``enrollment.fund_totals.COUNTED``:
    due, paid, paid by the government; not cancelled, not refunded). Both sides are grouped by the
    policy's category: a roster tag several categories share counts under each of them, and the
    total of persons tagged counts each person once. A tag counts when valid on a day of its
    person's year, also if it has ended since (a later roster, by hand): the assessment grants the
    year's subsidy on such a tag (the rule engine's test: recognised by the year's end, not ended
    before its start). A person's year is the calendar insurance year, or a student's or preschool
    child's academic year where their county's policy has one."""
    scope.require(Action.SUBSIDY_TOTALS)
    settled = [AssessmentStatus.PAID, AssessmentStatus.GOVERNMENT]
    assessed = (
        scope.filter(Assessment.objects.filter(insurance_year=year, status__in=COUNTED))
        .exclude(subsidy_category="")
        .values("county_code", "subsidy_category")
        .annotate(
            persons=Count("id"),
            subsidy=Sum("subsidy_fen"),
            settled_persons=Count("id", filter=Q(status__in=settled)),
            settled=Sum("subsidy_fen", filter=Q(status__in=settled)),
            full=Count("id", filter=Q(status=AssessmentStatus.GOVERNMENT)),
        )
        .order_by("county_code", "subsidy_category")
    )
    rows: dict[tuple[str, str], TotalsRow] = {}
    policies: dict[str, Rules | None] = {}

    def policy_of(county: str) -> Rules | None:
        if county not in policies:
            loaded = policy_for_county(county_code=county, insurance_year=year)
            policies[county] = loaded.rules if loaded else None
        return policies[county]

    def row_of(county: str, category: SubsidyCategory | None, code: str) -> TotalsRow:
        """The row of a category (by its code), or of a stored code no category of the policy knows."""
        key = (county, category.code if category else code)
        if key not in rows:
            rows[key] = TotalsRow(
                county_code=county,
                county_name=county,
                category=key[1],
                category_name=category.name if category else code,
                marker=category.marker if category else "",
            )
        return rows[key]

    for item in assessed:
        county, code = item["county_code"], item["subsidy_category"]
        row = row_of(county, category_by_code(policy_of(county), code), code)
        row.persons += item["persons"]
        row.subsidy_fen += int(item["subsidy"] or 0)
        row.settled_persons += item["settled_persons"]
        row.settled_fen += int(item["settled"] or 0)
        row.full_persons += item["full"]
    of_year = scope.filter(
        SubsidyTag.objects.filter(_of_insurance_year(year)).annotate(county=Left("region_code", 6))
    )
    # The counties whose students' (and preschool children's) tags count for an academic year:
    # those whose policy has one, grouped by it.
    school_years: dict[Window, list[str]] = {}
    for county in of_year.filter(_AT_SCHOOL).values_list("county", flat=True).distinct().order_by():
        rules = policy_of(county)
        if rules is not None and rules.student_coverage is not None:
            school_years.setdefault(rules.student_coverage, []).append(county)
    # Everyone else's tags count for the calendar insurance year.
    reaching = calendar = _reaching(Window(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    if school_years:
        there = Q(county__in=[county for counties in school_years.values() for county in counties])
        academic = (Q(county__in=counties) & _reaching(window) for window, counties in school_years.items())
        reaching = (~(_AT_SCHOOL & there) & calendar) | (
            _AT_SCHOOL & functools.reduce(operator.or_, academic)
        )
    tags = of_year.filter(reaching)
    tagged = (
        tags.values("county", "category")
        .annotate(n=Count("person", distinct=True))
        .order_by("county", "category")
    )
    for item in tagged:
        county, tag = item["county"], item["category"]
        rules = policy_of(county)
        needing = [c for c in rules.subsidy_categories if c.tag_code == tag] if rules else []
        for category in needing or [None]:
            row_of(county, category, tag).tagged = item["n"]
    names = _region_names({county for county, _code in rows})
    for row in rows.values():
        row.county_name = names.get(row.county_code, row.county_code)
    return Totals(
        year=year,
        rows=sorted(rows.values(), key=lambda row: (row.county_code, row.marker, row.category)),
        tagged=tags.aggregate(n=Count("person", distinct=True))["n"],
    )


def totals_workbook(*, totals: Totals) -> IO[bytes]:
    """The totals as xlsx (write-only, streamed from a temporary file): one row per county and category."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Subsidy totals %(year)s") % {"year": totals.year})
    sheet.append(
        [
            _("County code"),
            _("County"),
            _("Marker"),
            _("Category code"),
            _("Subsidy category"),
            _("Persons tagged"),
            _("Persons subsidised"),
            _("Subsidy (yuan)"),
            _("Persons settled"),
            _("Subsidy settled (yuan)"),
            _("Of them fully subsidised"),
        ]
    )
    for row in totals.rows:
        sheet.append(
            [
                row.county_code,
                safe_cell(row.county_name),
                safe_cell(row.marker),
                safe_cell(row.category),
                safe_cell(row.category_name),
                row.tagged,
                row.persons,
                money(row.subsidy_fen),
                row.settled_persons,
                money(row.settled_fen),
                row.full_persons,
            ]
        )
    sheet.append(
        [
            "",
            _("Total"),
            "",
            "",
            "",
            totals.tagged,
            totals.persons,
            money(totals.subsidy_fen),
            totals.settled_persons,
            money(totals.settled_fen),
            sum(row.full_persons for row in totals.rows),
        ]
    )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the streaming response once sent
    book.save(handle)
    handle.seek(0)
    return handle


# The outcomes of the valid rows, listed from the rows the preview kept (until the import is done).
VALID_OUTCOMES = (RosterOutcome.ADDED.value, RosterOutcome.UNCHANGED.value)


def outcome_tabs(counts: dict[str, Any], *, valid_rows: bool = False) -> list[dict[str, Any]]:
    """A tab per outcome with rows: those of the report, and (``valid_rows``) the new and unchanged tags."""
    listed = [
        RosterOutcome.ERROR,
        RosterOutcome.NOT_FOUND,
        RosterOutcome.NAME_MISMATCH,
        RosterOutcome.OUTSIDE_AREA,
        RosterOutcome.REMOVED,
    ]
    if valid_rows:
        listed += [RosterOutcome.ADDED, RosterOutcome.UNCHANGED]
    return [
        {"value": str(value), "label": value.label, "count": int(counts.get(str(value), 0))}
        for value in listed
        if counts.get(str(value))
    ]


# --- follow-up: subsidised persons not enrolled ---------------------------------------------------

# Persons holding a current subsidy tag without a normal enrollment, and persons on a roster's
# current import whom the registry does not know at all: both must be enrolled (国办发〔2024〕38号:
# 农村低收入人口和脱贫人口应保尽保). Read a page at a time in (region, identifier) order.
_SUBSIDISED_UNENROLLED_SQL = """
SELECT found.*, coalesce(v.name, found.region_code) FROM (
    SELECT t.region_code, p.name, p.id_number, p.phone, t.category, t.source, true AS in_registry
    FROM subsidies_subsidytag t JOIN enrollment_person p ON p.id = t.person_id
    WHERE t.end_reason = '' AND (t.valid_to IS NULL OR t.valid_to >= %(today)s)
      AND t.region_code LIKE %(prefix)s
      AND NOT EXISTS (SELECT 1 FROM enrollment_enrollment e WHERE e.person_id = t.person_id AND e.status = 'normal')
    UNION ALL
    SELECT r.region_code, r.name, r.id_number, '', r.category, ro.source, false
    FROM subsidies_subsidyroster ro JOIN subsidies_rosterrow r ON r.roster_import_id = ro.current_import_id
    WHERE r.outcome = 'not_found' AND r.region_code LIKE %(prefix)s
) found
LEFT JOIN accounts_region v ON v.code = found.region_code
WHERE (%(category)s = '' OR category = %(category)s)
  AND (region_code, id_number, category) > (%(after_region)s, %(after_id)s, %(after_category)s)
ORDER BY region_code, id_number, category
"""


@dataclass(frozen=True)
class SubsidisedUnenrolled:
    key: str
    region_code: str
    village: str
    name: str
    id_number: str
    phone: str
    category: str
    source: str
    in_registry: bool


def subsidised_unenrolled(
    *, scope: Scope, category: str = "", after: str = "", limit: int | None = None
) -> Iterator[SubsidisedUnenrolled]:
    """Subsidised persons of the user's area who are not enrolled, in (village, identifier) order."""
    from django.db import connection, transaction

    from accounts.masking import id_number_for, phone_for

    scope.require(Action.REPORT_VIEW)
    if scope.unrestricted:
        prefix = ""
    elif scope.region_prefix is None:
        return
    else:
        prefix = scope.region_prefix
    after_region, after_id, after_category = (
        ([*after.split(":", 2), "", "", ""])[:3] if after else ("", "", "")
    )
    params = {
        "today": timezone.localdate(),
        "prefix": prefix + "%",
        "category": category[:32],
        "after_region": after_region[:12],
        "after_id": after_id[:32],
        "after_category": after_category[:32],
    }
    sql = _SUBSIDISED_UNENROLLED_SQL + (f" LIMIT {int(limit)}" if limit else "")
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = 2000
        cursor.execute(sql, params)
        for region_code, name, id_number, phone, found_category, source, in_registry, village in cursor:
            yield SubsidisedUnenrolled(
                key=f"{region_code}:{id_number}:{found_category}",
                region_code=region_code,
                village=village,
                name=name,
                id_number=id_number_for(scope, id_number, region_code),
                phone=phone_for(scope, phone, region_code) if phone else "",
                category=found_category,
                source=source,
                in_registry=in_registry,
            )


def subsidised_categories(*, scope: Scope) -> list[tuple[str, str]]:
    """(code, name) of the subsidy categories of the user's county's current policy, to filter by."""
    from enrollment.reports import current_insurance_year

    county = (scope.region_code or "")[:6]
    loaded = (
        policy_for_county(county_code=county, insurance_year=current_insurance_year()) if county else None
    )
    if loaded is None:
        return []
    seen: dict[str, str] = {}
    for category in loaded.rules.subsidy_categories:
        seen.setdefault(category.tag_code, category.name)
    return sorted(seen.items())


# --- the preview's valid rows --------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    row_number: int
    name: str
    id_number: str
    category: str  # the tag's code
    region_code: str
    valid_from: dt.date
    valid_to: dt.date


_PREVIEW_ROWS_SQL = """
SELECT k.row_number, k.name, k.id_number, k.tag_code, k.person_region, k.valid_from, k.period_end
FROM {table} k
WHERE k.outcome IS NULL AND {negation} EXISTS (
    SELECT 1 FROM subsidies_subsidytag t WHERE t.roster_id = %(roster)s AND t.end_reason = ''
      AND t.person_id = k.person_id AND t.category = k.tag_code)
ORDER BY k.row_number LIMIT %(limit)s OFFSET %(offset)s
"""


class PreviewRows:
    """The valid rows of a checked file that give a new tag (or that the roster already tags), read
    a page at a time from the rows the preview kept: a Paginator's object list, counted by the
    preview."""

    def __init__(self, *, table: str, roster_id: int | None, added: bool, count: int) -> None:
        self._sql = _PREVIEW_ROWS_SQL.format(table=table, negation="NOT" if added else "")
        self._roster_id = roster_id
        self._count = count

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: slice) -> list[PreviewRow]:
        start, stop = index.start or 0, index.stop if index.stop is not None else self._count
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql,
                {"roster": self._roster_id, "limit": max(0, stop - start), "offset": start},
            )
            return [PreviewRow(*row) for row in cursor.fetchall()]


def roster_of(roster_import: RosterImport, *, lock: bool = False) -> SubsidyRoster | None:
    """The roster a file belongs to (its area, office and year), if it has one yet."""
    rosters_ = SubsidyRoster.objects.filter(
        region_code=roster_import.region_code,
        source=roster_import.source,
        insurance_year=roster_import.insurance_year,
    )
    return (rosters_.select_for_update() if lock else rosters_).first()


@dataclass(frozen=True)
class Preview:
    """The rows a checked import's preview kept, while it waits for the administrator's decision."""

    table: str
    roster_id: int | None
    counts: dict[str, Any]

    def rows(self, outcome: str) -> PreviewRows:
        """The valid rows of one outcome (``VALID_OUTCOMES``)."""
        return PreviewRows(
            table=self.table,
            roster_id=self.roster_id,
            added=outcome == RosterOutcome.ADDED.value,
            count=int(self.counts.get(outcome, 0)),
        )


def roster_preview(*, scope: Scope, roster_import: RosterImport) -> Preview | None:
    """The kept rows of a checked import; None once they are gone (the import was confirmed or
    discarded, or the database restarted since the preview)."""
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    if roster_import.status != ImportStatus.CHECKED:
        return None
    with connection.cursor() as cursor:
        kept = rows_kept(cursor, roster_import=roster_import)
    if kept is None:
        return None
    roster = roster_of(roster_import)
    return Preview(
        table=kept.table, roster_id=roster.pk if roster else None, counts=roster_import.counts or {}
    )


def counties_with_hand_tags() -> list[str]:
    """The counties (6-digit codes) where some person holds a tag given by hand: those whose marks at
    tax ``manage.py send_hand_tag_marks`` sends. Not scoped: the operator's command."""
    return _counties_of(SubsidyTag.objects.filter(roster__isnull=True))


def _counties_of(tags: QuerySet[SubsidyTag]) -> list[str]:
    """The counties (6-digit codes) where ``tags`` were given, in order."""
    return list(
        tags.annotate(county=Left("region_code", 6))
        .values_list("county", flat=True)
        .order_by("county")  # not the model's ordering: its columns would make DISTINCT per tag
        .distinct()
    )


def counties_governed_with_tags(*, record: Policy, tags: list[str]) -> list[str]:
    """The counties (6-digit codes) in ``record``'s region where some person holds a tag of ``tags``
    and whose own policy for its year is ``record`` (not a county's more specific one). Not scoped:
    the policy's manager changes them all."""
    counties = _counties_of(
        SubsidyTag.objects.filter(category__in=tags, region_code__startswith=record.region_prefix)
    )
    # A query per county (a city has a score of them), none per tag; no policy parsed.
    governed = []
    for county in counties:
        governing = policy_record_for_county(county_code=county, insurance_year=record.insurance_year)
        if governing is not None and governing.pk == record.pk:
            governed.append(county)
    return governed
