"""The yearly assessment (核定), reassessment of one person, and deposits coming back from tax.

Set-based: the facts of every normal enrollment of a county are gathered by one statement into
a temporary table; the persons fall into a few thousand classes of identical facts (birth dates
reduced to the engine's cut-offs, ``rules.classes``); the rule engine decides once per class;
one statement joins the decisions back and keeps only what is new or changed; one INSERT and
one UPDATE write them; the payable amounts go to tax as one bulk send. A re-run changes nothing
that did not change and sends only the adjustments. Paid assessments are never touched.
The one-person reassessment runs the very same statements restricted to that person.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.digits import ascii_digits
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import region_names
from sharing.services import (
    BesideRows,
    ListItems,
    list_item_fields,
    message_send_bulk,
    message_send_bulk_beside,
)

from .models import (
    Assessment,
    AssessmentRun,
    AssessmentStatus,
    Enrollment,
    EnrollmentStatus,
    Policy,
    RunKind,
    RunStatus,
)
from .policies import LoadedPolicy, policy_for_county
from .rules import engine
from .rules.classes import TagClasses, birth_date_classes

logger = logging.getLogger("portal.assessment")

PROGRESS_TTL = 24 * 3600
# Due items per message of the yearly run (assessment.due_batch).
BATCH_ITEMS = 2000
# A caller's (temporary) table of persons to reassess: its name goes into the SQL, so it is checked.
_TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
Progress = Callable[[str, int, int], None]


# What a run records of what it did (all sums over the persons it assessed).
_RUN_FIGURES = (
    "enrollments",
    "created",
    "changed",
    "cancelled",
    "government_paid",
    "government_paid_fen",
    "payable_fen",
    "back_payments_withdrawn",
    "back_payment_applications_withdrawn",
)


@dataclass
class Counts:
    enrollments: int = 0
    distinct_facts: int = 0
    created: int = 0
    changed: int = 0
    cancelled: int = 0
    government_paid: int = 0
    government_paid_fen: int = 0
    pushed: int = 0
    payable_fen: int = 0
    back_payments_withdrawn: int = 0
    back_payment_applications_withdrawn: int = 0

    # The classes of facts seen (their rows' repr): parts of a county share classes.
    classes: set[str] = field(default_factory=set)

    @property
    def unchanged(self) -> int:
        return max(0, self.enrollments - self.created - self.changed)

    def add(self, other: Counts) -> None:
        for name in (*_RUN_FIGURES, "pushed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.classes |= other.classes
        self.distinct_facts = len(self.classes)


# --- progress (Redis, so the page sees it while the run's transaction is still open) ------------


def _progress_key(run_id: int) -> str:
    return f"portal:assessment-progress:{run_id}"


def progress_of(run_id: int) -> dict[str, Any] | None:
    return cache.get(_progress_key(run_id))


def _progress_setter(run_id: int) -> Progress:
    def set_progress(phase: str, done: int, total: int) -> None:
        cache.set(_progress_key(run_id), {"phase": phase, "done": done, "total": total}, PROGRESS_TTL)

    return set_progress


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


class _PhaseTimer:
    """Logs how long each phase of a run took (INFO), so a slow run explains itself."""

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


# --- the set-based core ----------------------------------------------------------------------


# --- the gate between a county's run and a person's reassessment ---------------------------------
#
# A county's run reads its facts (enrollments, persons, tags) and writes what it decided seconds to
# minutes later. A fact changed in between (a tag added, an enrollment ended) is reassessed at once
# for its person, in the same transaction as the change; the run, deciding from the older facts,
# would then overwrite that reassessment, or write its older decision where the reassessment had
# found nothing to change. So the two never overlap: each part of a county's run holds its gate
# (this namespace; the county's code and the part) from before it reads the facts until what it
# wrote is committed, waiting first for the reassessments under way in the county; a reassessment
# takes every gate of its counties shared, without waiting, and is refused while a part holds one
# (with its fact change: the caller's transaction rolls back), so the clerk tries again once the
# run has finished. Reassessments never wait for a run: their callers hold persons and enrollments
# locked, which the run's writes need (its foreign keys), and waiting would deadlock.
_FACTS_GATE = 7_316_003
# A run has at most this many parts at once (``settings.ASSESSMENT_WORKERS``); a reassessment tries
# the gates of all of them.
_GATE_PARTS = 16


def _gate_key(county_code: str, part: int) -> int:
    return int(county_code) * _GATE_PARTS + part % _GATE_PARTS


@contextmanager
def _run_gate(county_code: str, part: int) -> Iterator[None]:
    """Hold the gate of one part of a county's run for the duration of the block (see above).

    On its own, the part commits its two steps separately: the lock is the connection's, released
    at the end (PostgreSQL releases it should the connection die). Inside a caller's transaction
    (tests, one-off calls) it is that transaction's, released when it commits."""
    key = _gate_key(county_code, part)
    in_transaction = connection.in_atomic_block
    with connection.cursor() as cursor:
        started = time.monotonic()
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)" if in_transaction else "SELECT pg_advisory_lock(%s, %s)",
            [_FACTS_GATE, key],
        )
        waited = time.monotonic() - started
    if waited > 1:
        logger.info(
            "assessment %s part %d: waited %.1f s for reassessments under way", county_code, part, waited
        )
    if in_transaction:
        yield
        return
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_FACTS_GATE, key])
        except DatabaseError:
            # The connection is gone, and its lock with it; the part's own error is the one to see.
            logger.warning("assessment %s part %d: its gate could not be released", county_code, part)


def _run_under_way(county_code: str) -> ValidationError:
    """The refusal of a reassessment while the county's yearly run works, naming the county as its
    users know it (尧都区（141002）)."""
    code = county_code.ljust(12, "0")  # regions are stored by their 12-digit codes
    name = region_names({code}).get(code)
    return ValidationError(
        _("The yearly assessment of county %(county)s is running; try again when it has finished.")
        % {"county": f"{name}（{county_code}）" if name else county_code}
    )


def _reassessment_gate_pass(county_codes: Iterable[str]) -> None:
    """A reassessment (of one person or listed ones) passes the gates of its counties, in the
    caller's transaction, or is refused while a part of a county's run holds one (see above)."""
    with connection.cursor() as cursor:
        for county_code in sorted(set(county_codes)):
            keys = [_gate_key(county_code, part) for part in range(_GATE_PARTS)]
            cursor.execute(
                "SELECT bool_and(pg_try_advisory_xact_lock_shared(%s, key)) FROM unnest(%s::int[]) AS key",
                [_FACTS_GATE, keys],
            )
            if not cursor.fetchone()[0]:
                raise _run_under_way(county_code)


def _birth_key_sql(policy: engine.Policy) -> tuple[str, list[Any]]:
    boundaries, exact_from = birth_date_classes(policy)
    sql = "CASE WHEN p.birth_date >= %s THEN p.birth_date"
    params: list[Any] = [exact_from]
    for boundary in boundaries:
        sql += " WHEN p.birth_date < %s THEN %s::date - 1"
        params += [boundary, boundary]
    sql += " ELSE %s::date - 1 END"
    params.append(exact_from)
    return sql, params


def _tag_key_sql(policy: engine.Policy) -> tuple[str, dict[str, Any]]:
    """A tag of ``st`` (its roster ``ro``) as its class (``TagClasses``): [category, recognised,
    ended, the roster's insurance year] as jsonb."""
    classes = TagClasses.of(policy)
    params: dict[str, Any] = {"tag_default_cut": classes.default_cut, "tag_ends_from": classes.ends_from}
    # An end before the latest start of the years paid for (a student's academic year begins after
    # the calendar year) stands for the latest start it reaches, as ``TagClasses.ended_key``.
    ends = "WHEN st.valid_to >= %(tag_ends_from)s THEN NULL"
    for index, step in enumerate(classes.end_steps):
        ends += f" WHEN st.valid_to >= %(tag_end_step_{index})s THEN %(tag_end_step_{index})s::date"
        params[f"tag_end_step_{index}"] = step
    cut = "%(tag_default_cut)s::date"
    if classes.cuts:  # a policy whose categories need no tag (the national one) has no cut of its own
        whens = ""
        for index, (code, day) in enumerate(sorted(classes.cuts.items())):
            whens += f" WHEN %(tag_code_{index})s THEN %(tag_cut_{index})s::date"
            params |= {f"tag_code_{index}": code, f"tag_cut_{index}": day}
        cut = f"CASE st.category{whens} ELSE {cut} END"
    sql = (
        f"jsonb_build_array(st.category, greatest(st.valid_from, {cut}), "
        f"CASE {ends} ELSE st.valid_to END, ro.insurance_year)"
    )
    return sql, params


def _facts_from_row(row: tuple[Any, ...]) -> engine.PersonFacts:
    birth_key, person_category, hukou_in_region, tags, last_paid_year, transfer = row
    tag_rows = tags if isinstance(tags, list) else json.loads(tags)
    return engine.PersonFacts(
        birth_date=birth_key,
        person_category=person_category,
        hukou_in_region=hukou_in_region,
        tags=tuple(
            engine.Tag(category, date.fromisoformat(start), date.fromisoformat(end) if end else None, year)
            for category, start, end, year in tag_rows
        ),
        last_paid_year=last_paid_year or None,
        transfer=transfer,
    )


_SIGNATURE = ("birth_key", "person_category", "hukou_in_region", "tags", "last_paid_year", "transfer")


def _assess(
    *,
    county_code: str,
    insurance_year: int,
    loaded: LoadedPolicy,
    person_id: int | None = None,
    progress: Progress = _no_progress,
    region_from: str | None = None,
    region_below: str | None = None,
    totals: bool = True,
    person_table: str | None = None,
    today: date | None = None,
    part: int = 0,
) -> Counts:
    """Assess a county (or one person of it, or the villages in [region_from, region_below)) for a year.

    Two steps, each atomic: the decisions (shared by every part of a county, so they are
    committed first and a parallel part never waits on them), then the assessments with their
    messages to tax. Inside the caller's transaction both are savepoints of it. ``today`` (by
    default the local date) decides whether an extended collection period still runs, which
    withdraws the back-payments approved before it (``_withdraw_back_payments``).
    """
    policy = loaded.rules
    suffix = uuid.uuid4().hex[:10]
    facts, decisions, changes, cancels, late, ended = (
        f"assess_{name}_{suffix}" for name in ("facts", "decisions", "changes", "cancels", "late", "ended")
    )
    counts = Counts()
    timer = _PhaseTimer(
        f"assessment {county_code} {insurance_year}"
        + (f" person {person_id}" if person_id else "")
        + (" listed persons" if person_table else "")
    )
    birth_key, birth_params = _birth_key_sql(policy)
    person_filter = "AND e.person_id = %(person)s" if person_id else ""
    if person_table:
        if not _TABLE_NAME.fullmatch(person_table):
            raise ValueError(f"not a table name: {person_table!r}")
        person_filter = f"AND e.person_id IN (SELECT person_id FROM {person_table})"  # noqa: S608 - checked name
    # What narrows the run: a range of villages, and (for a reassessment) the persons.
    region_filter = {
        alias: (f"AND {alias}.region_code >= %(region_from)s " if region_from else "")
        + (f"AND {alias}.region_code < %(region_below)s " if region_below else "")
        + (person_filter.replace("e.person_id", f"{alias}.person_id") if alias in ("e2", "e3") else "")
        for alias in ("e", "e2", "e3", "a")
    }
    # Cancelled are only this county's assessments: a person who moved is assessed in the new
    # county (the one row per person and year moves with them), never cancelled from the old one.
    cancel_scope = "a.county_code = %(county)s"
    if person_id:
        cancel_scope += " AND a.person_id = %(person)s"
    elif person_table:
        cancel_scope += f" AND a.person_id IN (SELECT person_id FROM {person_table})"  # noqa: S608 - checked name
    # The tags read are those that reach any year paid for: the insurance year or a student's
    # academic year (the engine, and the tag classes, compare each person's own).
    years = [policy.coverage, *([policy.student_coverage] if policy.student_coverage else [])]
    params: dict[str, Any] = {
        "county": county_code,
        "year": insurance_year,
        "prefix_like": loaded.record.region_prefix + "%",
        "coverage_start": min(year.start for year in years),
        "transfer_from": engine.transfer_counts_from(policy),
        "coverage_end": max(year.end for year in years),
        "person": person_id,
        "version": loaded.version.pk,
        "region_from": region_from,
        "region_below": region_below,
        "totals": totals,
        "today": today or timezone.localdate(),
        "withdraw_until": engine.back_payment_withdrawn_until(policy),
        "back_payment_opens": engine.back_payment_apply_from(policy) if policy.back_payment else None,
    }
    # A county's run (or a part of it) holds its gate; a reassessment has passed it already.
    gate = _run_gate(county_code, part) if person_id is None and person_table is None else nullcontext()
    try:
        # Decisions, their reasons and the notes are stored and read by every later user (and a
        # class decided once is reused), so they are written in the portal's language, whoever's
        # request reassessed the person.
        with (
            gate,
            translation.override(settings.LANGUAGE_CODE),
            ExitStack() as stack,
            connection.cursor() as cursor,
        ):
            stack.enter_context(transaction.atomic())
            _steps_one_and_two(
                cursor,
                stack=stack,
                policy=policy,
                counts=counts,
                timer=timer,
                progress=progress,
                params=params,
                person_id=person_id,
                facts=facts,
                decisions=decisions,
                changes=changes,
                cancels=cancels,
                late=late,
                ended=ended,
                person_filter=person_filter,
                region_filter=region_filter,
                cancel_scope=cancel_scope,
                birth_key=birth_key,
                birth_params=birth_params,
            )
    except Exception:
        if not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DROP TABLE IF EXISTS {facts}, {decisions}, {changes}, {cancels}, {late}, {ended}"
                )
        raise
    timer.mark("totals")
    timer.log()
    return counts


def _steps_one_and_two(
    cursor: Any,
    *,
    stack: ExitStack,
    policy: engine.Policy,
    counts: Counts,
    timer: _PhaseTimer,
    progress: Progress,
    params: dict[str, Any],
    person_id: int | None,
    facts: str,
    decisions: str,
    changes: str,
    cancels: str,
    late: str,
    ended: str,
    person_filter: str,
    region_filter: dict[str, str],
    cancel_scope: str,
    birth_key: str,
    birth_params: list[Any],
) -> None:
    cursor.execute("SET LOCAL work_mem = '256MB'")
    progress("facts", 0, 0)
    # Birth-date classes are positional parameters; give them names so both styles do not mix.
    birth_names = {f"birth_{index}": value for index, value in enumerate(birth_params)}
    birth_sql = birth_key
    for name in birth_names:
        birth_sql = birth_sql.replace("%s", f"%({name})s", 1)
    params.update(birth_names)
    # A tag's dates as their class: tags of a roster, recognised on many different days, fall into
    # a few classes instead of one per person (jsonb's order makes the DISTINCT list canonical).
    # A roster's tag holds for its roster's insurance year alone (next year's roster, recognised
    # this autumn or years ago, never changes this year); a tag given by hand, wherever its dates
    # reach. The engine is told the roster's year as well and applies the same rule.
    tag_key, tag_params = _tag_key_sql(policy)
    params.update(tag_params)
    cursor.execute(
        f"""
        CREATE TEMP TABLE {facts} AS
        SELECT e.id AS enrollment_id, e.person_id, e.county_code, e.region_code, p.id_number, e.enrolled_on,
               ({birth_sql})::date AS birth_key,
               p.category::text AS person_category,
               (p.hukou_region_code LIKE %(prefix_like)s) AS hukou_in_region,
               coalesce(t.tags, '[]'::jsonb) AS tags,
               coalesce(prev.last_paid_year, 0) AS last_paid_year,
               -- This year's enrollment began by transfer (engine.transferred_in_for).
               (e.status_reason = 'transfer_in' AND e.enrolled_on >= %(transfer_from)s) AS transfer
        FROM enrollment_enrollment e
        JOIN enrollment_person p ON p.id = e.person_id
        LEFT JOIN (
            SELECT st.person_id,
                   jsonb_agg(DISTINCT {tag_key}) AS tags
            FROM subsidies_subsidytag st
            LEFT JOIN subsidies_subsidyroster ro ON ro.id = st.roster_id
            WHERE st.valid_from <= %(coverage_end)s
              AND (st.valid_to IS NULL OR st.valid_to >= %(coverage_start)s)
              AND (st.roster_id IS NULL OR ro.insurance_year = %(year)s)
              AND st.person_id IN (
                  SELECT e2.person_id FROM enrollment_enrollment e2
                  WHERE e2.county_code = %(county)s AND e2.status = 'normal' {region_filter["e2"]})
            GROUP BY st.person_id
        ) t ON t.person_id = e.person_id
        LEFT JOIN (
            SELECT a.person_id, max(a.insurance_year) AS last_paid_year
            FROM enrollment_assessment a
            WHERE a.insurance_year < %(year)s AND a.status IN ('paid', 'government')
              AND a.person_id IN (
                  SELECT e3.person_id FROM enrollment_enrollment e3
                  WHERE e3.county_code = %(county)s AND e3.status = 'normal' {region_filter["e3"]})
            GROUP BY a.person_id
        ) prev ON prev.person_id = e.person_id
        WHERE e.county_code = %(county)s AND e.status = 'normal' {person_filter} {region_filter["e"]}
        """,  # noqa: S608 - table names are generated here, values are parameters
        params,
    )
    counts.enrollments = cursor.rowcount
    cursor.execute(f"ANALYZE {facts}")
    timer.mark("facts")

    cursor.execute(f"SELECT DISTINCT {', '.join(_SIGNATURE)} FROM {facts}")  # noqa: S608
    classes = cursor.fetchall()
    counts.distinct_facts = len(classes)
    counts.classes = {repr(row) for row in classes}
    timer.mark("classes")
    cursor.execute(
        f"""
        CREATE TEMP TABLE {decisions} (
            birth_key date, person_category text, hukou_in_region boolean, tags jsonb,
            last_paid_year integer, transfer boolean,
            situation text, standard_fen bigint, subsidy_fen bigint, government_fen bigint,
            payable_fen bigint, subsidy_category text, subsidy_marker text, status text,
            rule text, reason text, schedule jsonb,
            paid_on date, benefit_start date, benefit_end date, benefit_reason text,
            digest text, decision_id bigint, last_payable date, late_reason text
        )
        """
    )
    raw = cursor.cursor
    with raw.copy(f"COPY {decisions} FROM STDIN") as copy:
        step = max(1, len(classes) // 20)
        for index, row in enumerate(classes):
            person_facts = _facts_from_row(row)
            decision = engine.assess(policy, person_facts)
            category = decision.subsidy.category
            # Fully subsidised: recorded as paid by the government on the person's own on-time day
            # (a student's in the school's period), with the benefit period that payment buys.
            paid_on = benefit = None
            if decision.government_pays_all:
                paid_on, benefit = decision.on_time, decision.government_benefit
                if benefit is None or benefit.start is None:
                    # The presets and their copies never do this (tests/rules/test_government_paid.py);
                    # a policy edited so would record a year paid for nothing: say so in the log.
                    logger.warning(
                        "government-paid year without cover: policy %s, %s, %s: %s",
                        policy.code,
                        person_facts.person_category,
                        decision.situation.value,
                        benefit.reason if benefit else "",
                    )
            content = (
                decision.situation.value,
                decision.standard_fen,
                decision.subsidy.subsidy_fen,
                decision.government_fen,
                decision.payable_fen,
                category.code if category else "",
                category.marker if category else "",
                "government" if decision.government_pays_all else "due",
                decision.rule,
                decision.reason,
                json.dumps([line.as_document() for line in decision.schedule], ensure_ascii=False),
                paid_on,
                benefit.start if benefit else None,
                benefit.end if benefit and benefit.start else None,
                benefit.reason if benefit else "",
            )
            digest = hashlib.sha256(json.dumps(content, default=str, ensure_ascii=False).encode()).hexdigest()
            # An enrollment begun after the last day this class could pay for the year (and buy
            # cover in it) owes nothing for the year: it is left out below. Nothing limits a
            # class the government pays for in full.
            last_payable = (
                None
                if decision.government_pays_all
                else engine.last_payable_day(policy, person_facts, decision.schedule)
            )
            late_reason = (
                _(
                    "Enrolled after %(date)s, the last day on which a payment for %(year)d could still "
                    "buy cover in %(year)d: nothing is due for %(year)d"
                )
                % {"date": engine.say_date(last_payable), "year": policy.insurance_year}
                if last_payable
                else None
            )
            copy.write_row(
                (
                    *row[:3],
                    row[3] if isinstance(row[3], str) else json.dumps(row[3], ensure_ascii=False),
                    *row[4:],
                    *content,
                    digest,
                    None,
                    last_payable,
                    late_reason,
                )
            )
            if index % step == 0:
                progress("deciding", index, len(classes))
    progress("writing", 0, counts.enrollments)
    timer.mark("decisions")
    # One stored decision per distinct content (classes often share one); rows point at it.
    cursor.execute(
        f"""
        INSERT INTO enrollment_assessmentdecision (
            policy_version_id, digest, situation, standard_fen, subsidy_fen, government_fen,
            payable_fen, subsidy_category, subsidy_marker, government_pays_all, rule, reason,
            schedule, benefit_start, benefit_end, benefit_reason, created_at)
        SELECT DISTINCT ON (digest) %(version)s, digest, situation, standard_fen, subsidy_fen,
               government_fen, payable_fen, subsidy_category, subsidy_marker, status = 'government',
               rule, reason, schedule, benefit_start, benefit_end, benefit_reason, now()
        FROM {decisions} ORDER BY digest
        ON CONFLICT (policy_version_id, digest) DO NOTHING
        """,  # noqa: S608
        params,
    )
    cursor.execute(
        f"""
        UPDATE {decisions} d SET decision_id = x.id
        FROM enrollment_assessmentdecision x
        WHERE x.policy_version_id = %(version)s AND x.digest = d.digest
        """,  # noqa: S608
        params,
    )
    cursor.execute(f"ANALYZE {decisions}")
    stack.close()  # step one committed (or its savepoint released)
    stack.enter_context(transaction.atomic())
    cursor.execute("SET LOCAL work_mem = '256MB'")
    join = " AND ".join(f"d.{column} = f.{column}" for column in _SIGNATURE)
    # Enrollments begun too late to pay for the year: out of the run's facts, so they are neither
    # assessed nor counted, and their open row of the year (if any) is cancelled below.
    cursor.execute(
        f"""
        CREATE TEMP TABLE {late} AS
        SELECT f.enrollment_id, f.person_id, d.late_reason
        FROM {facts} f JOIN {decisions} d ON {join}
        WHERE f.enrolled_on > d.last_payable
        """  # noqa: S608
    )
    if cursor.rowcount:
        counts.enrollments -= cursor.rowcount
        cursor.execute(f"DELETE FROM {facts} f USING {late} l WHERE f.enrollment_id = l.enrollment_id")  # noqa: S608
    # Back-payments an extension of the collection period withdraws: their assessments are written
    # and sent again below (the normal amount and schedule), whatever else changed.
    withdrawing = _withdraw_back_payments(cursor, params, policy=policy, facts=facts, ended=ended)
    also_changed = f"OR a.id IN (SELECT id FROM {ended})" if withdrawing else ""  # noqa: S608
    cursor.execute(
        f"""
        CREATE TEMP TABLE {changes} AS
        SELECT f.person_id, f.enrollment_id, f.county_code, f.region_code, f.id_number,
               d.decision_id, d.situation, d.standard_fen, d.subsidy_fen, d.government_fen,
               d.payable_fen, d.subsidy_category, d.subsidy_marker, d.status,
               d.paid_on, d.benefit_start, d.benefit_end, d.benefit_reason,
               a.id AS existing_id, a.status AS old_status, a.revision AS old_revision,
               a.back_payment_fen, a.back_payment_approved_on, a.back_payment_pay_until
        FROM {facts} f
        JOIN {decisions} d ON {join}
        LEFT JOIN enrollment_assessment a ON a.person_id = f.person_id AND a.insurance_year = %(year)s
        LEFT JOIN enrollment_assessmentdecision ad ON ad.id = a.decision_id
        WHERE a.id IS NULL
           OR (a.status NOT IN ('paid', 'refunded')
               -- A year another county's government paid, whose cover began before the person moved
               -- here, is kept as a paid one is (the one row per person and year stays there).
               AND NOT (a.status = 'government' AND a.county_code <> f.county_code
                        AND a.benefit_start IS NOT NULL AND a.benefit_start < (SELECT e.enrolled_on FROM enrollment_enrollment e
                                               WHERE e.id = f.enrollment_id))
               -- The government's payment day and the cover it buys count too: a government-paid
               -- year recorded without cover (a student's, until 30 November 2026) is mended.
               AND (
                a.enrollment_id, a.county_code, a.region_code, a.situation, a.standard_fen,
                a.subsidy_fen, a.government_fen, a.payable_fen, a.subsidy_category, a.status, ad.schedule,
                a.paid_on, a.benefit_start, a.benefit_end
              ) IS DISTINCT FROM (
                f.enrollment_id, f.county_code, f.region_code, d.situation, d.standard_fen,
                d.subsidy_fen, d.government_fen, d.payable_fen, d.subsidy_category, d.status, d.schedule,
                d.paid_on, d.benefit_start, d.benefit_end
              ))
           {also_changed}
        """,  # noqa: S608
        params,
    )
    cursor.execute(f"ANALYZE {changes}")
    timer.mark("changes")
    # Enrollments no longer normal (terminated, suspended, moved away) before paying: cancel. Found
    # before the writes below, which touch only this run's persons, whom this leaves out.
    cursor.execute(
        f"""
        CREATE TEMP TABLE {cancels} AS
        SELECT a.id, a.person_id, a.region_code, a.status AS old_status, a.revision AS old_revision,
               p.id_number, l.late_reason
        FROM enrollment_assessment a JOIN enrollment_person p ON p.id = a.person_id
        LEFT JOIN {late} l ON l.person_id = a.person_id
        WHERE {cancel_scope} {region_filter["a"]} AND a.insurance_year = %(year)s
          -- A year the government paid in full stays paid, as a paid one does, once its cover began
          -- before the person left (terminated: up to the end date; suspended: up to the suspension),
          -- so what the person incurred before is covered. Cancelled is only a government-paid year
          -- whose cover had not begun when they left: it bought nothing, and finance pays nothing.
          AND (a.status = 'due' OR (a.status = 'government' AND NOT EXISTS (
              SELECT 1 FROM enrollment_enrollment x
              WHERE x.person_id = a.person_id AND x.county_code = a.county_code
                AND a.benefit_start IS NOT NULL
                AND x.enrolled_on <= a.benefit_end
                AND a.benefit_start <= CASE x.status WHEN 'suspended' THEN x.status_changed_on
                                                     ELSE coalesce(x.ended_on, 'infinity'::date) END)))
          -- The persons of this run are enrolled here (a cheap anti-join); only the others are looked up.
          AND NOT EXISTS (SELECT 1 FROM {facts} f WHERE f.person_id = a.person_id)
          -- Enrolled here too late to pay for the year, or no longer enrolled here.
          AND (l.person_id IS NOT NULL OR NOT EXISTS (
              SELECT 1 FROM enrollment_enrollment e
              WHERE e.person_id = a.person_id AND e.county_code = %(county)s AND e.status = 'normal'))
        """,  # noqa: S608
        params,
    )
    # Every due item carries the revision the assessment now has: tax keeps the newest, so the
    # yearly run's batches and single reassessments may arrive in any order. The items are typed
    # columns named as the item's fields: the platform builds the batches' lists from them.
    item = """c.id_number::text AS person_id, c.region_code::text AS region_code,
            ({amount})::bigint AS amount_fen, ({standard})::bigint AS standard_fen,
            ({subsidy})::bigint AS subsidy_fen, ({category})::text AS subsidy_category,
            ({marker})::text AS subsidy_marker, {schedule} AS schedule, '{status}'::text AS status,
            (coalesce(c.old_revision, 0) + 1)::bigint AS revision"""
    due = item.format(
        amount="coalesce(c.back_payment_fen, c.payable_fen)",
        standard="c.standard_fen",
        subsidy="c.subsidy_fen",
        category="c.subsidy_category",
        marker="c.subsidy_marker",
        # An approved back-payment stays payable at tax through a reassessment: its line goes first,
        # as the back-payment's own message put it (collection.handlers, backpayment.due).
        schedule="""CASE WHEN c.back_payment_fen IS NULL THEN x.schedule ELSE jsonb_build_array(
                jsonb_build_object('from', c.back_payment_approved_on, 'to', c.back_payment_pay_until,
                                   'amount_fen', c.back_payment_fen, 'subsidy_fen', 0,
                                   'rule', 'back_payment', 'back_payment', true)) || x.schedule END""",
        status="due",
    )
    cancelled = item.format(
        amount="0",
        standard="0",
        subsidy="0",
        category="''",
        marker="''",
        schedule="'[]'::jsonb",
        status="cancelled",
    )
    items = f"""
        SELECT {due}
        FROM {changes} c JOIN enrollment_assessmentdecision x ON x.id = c.decision_id
        WHERE c.status = 'due'
        UNION ALL
        SELECT {cancelled}
        FROM {changes} c WHERE c.status <> 'due' AND c.old_status = 'due'
        UNION ALL
        SELECT {cancelled}
        FROM {cancels} c WHERE c.old_status = 'due'
    """  # noqa: S608
    listed = bool(person_filter) and not person_id
    batches = None if person_id else _due_batches(cursor, params, listed=listed)
    # A reassessment of listed persons (a roster's) builds its batches on a second connection while
    # this one writes the assessments; the yearly run's parts already keep the cores busy.
    sending = (
        message_send_bulk_beside(
            topic="assessment.due_batch",
            rows=BesideRows(query=items, params=params),
            query=batches.query,
            items=batches.items(numbered="{rows}"),
            params=batches.params,
        )
        if batches and listed
        else nullcontext()
    )
    # The open back-payment applications of the assessments about to be cancelled are withdrawn
    # first: the approval locks the application, then the assessment, and so does this, so the two
    # cannot deadlock (an approval that comes second finds the application withdrawn).
    counts.back_payment_applications_withdrawn = _open_applications_withdraw(
        cursor, params, policy=policy, changes=changes, cancels=cancels, skip_locked=False
    )
    _hold_rows_as_read(cursor, params, changes=changes, cancels=cancels)
    # Again, now that the rows are held: an application made between the withdrawal above and the
    # lock (the application locks its assessment, and has committed by now) goes too. One an
    # approval holds is left (that approval may be waiting for the rows held here; it will find the
    # year no longer due and be refused).
    counts.back_payment_applications_withdrawn += _open_applications_withdraw(
        cursor, params, policy=policy, changes=changes, cancels=cancels, skip_locked=True
    )
    with sending:
        cursor.execute(
            f"""
            INSERT INTO enrollment_assessment (
                person_id, enrollment_id, insurance_year, county_code, region_code, decision_id,
                situation, standard_fen, subsidy_fen, government_fen, payable_fen, subsidy_category,
                subsidy_marker, status, revision, assessed_at, deposit_reference,
                paid_on, paid_fen, benefit_start, benefit_end, benefit_reason)
            SELECT person_id, enrollment_id, %(year)s, county_code, region_code, decision_id,
                   situation, standard_fen, subsidy_fen, government_fen, payable_fen, subsidy_category,
                   subsidy_marker, status, 1, now(), '',
                   paid_on, CASE WHEN paid_on IS NULL THEN NULL ELSE 0 END, benefit_start, benefit_end, benefit_reason
            FROM {changes} WHERE existing_id IS NULL
            """,  # noqa: S608
            params,
        )
        counts.created = cursor.rowcount
        timer.mark("insert")
        cursor.execute(
            f"""
            UPDATE enrollment_assessment a SET
                enrollment_id = c.enrollment_id, county_code = c.county_code, region_code = c.region_code,
                decision_id = c.decision_id, situation = c.situation, standard_fen = c.standard_fen,
                subsidy_fen = c.subsidy_fen, government_fen = c.government_fen, payable_fen = c.payable_fen,
                subsidy_category = c.subsidy_category, subsidy_marker = c.subsidy_marker, status = c.status,
                revision = a.revision + 1,
                assessed_at = now(), paid_on = c.paid_on,
                paid_fen = CASE WHEN c.paid_on IS NULL THEN NULL ELSE 0 END,
                benefit_start = c.benefit_start, benefit_end = c.benefit_end, benefit_reason = c.benefit_reason,
                -- A year the government now pays in full leaves nothing to pay back: its back-payment
                -- goes (the history keeps it; its application was withdrawn above).
                back_payment_fen = CASE WHEN c.status = 'government' THEN NULL ELSE a.back_payment_fen END,
                back_payment_approved_on = CASE WHEN c.status = 'government' THEN NULL
                                                ELSE a.back_payment_approved_on END,
                back_payment_pay_until = CASE WHEN c.status = 'government' THEN NULL
                                              ELSE a.back_payment_pay_until END
            FROM {changes} c WHERE c.existing_id IS NOT NULL AND a.id = c.existing_id
            """,  # noqa: S608
            params,
        )
        counts.changed = cursor.rowcount
        timer.mark("update")
        cursor.execute(
            f"""
            UPDATE enrollment_assessment a SET status = 'cancelled', revision = a.revision + 1,
                   assessed_at = now(), paid_on = NULL, paid_fen = NULL,
                   benefit_start = NULL, benefit_end = NULL, benefit_reason = coalesce(c.late_reason, ''),
                   -- Its back-payment goes with it (the history keeps it, the application is withdrawn
                   -- below): were the person enrolled again, the year would be due at the normal
                   -- amount, not payable at tax as the withdrawn back-payment.
                   back_payment_fen = NULL, back_payment_approved_on = NULL, back_payment_pay_until = NULL
            FROM {cancels} c WHERE a.id = c.id
            """,  # noqa: S608
            params,
        )
        counts.cancelled = cursor.rowcount
        timer.mark("cancel")
    progress("sending", 0, 0)
    if person_id:
        # One person's reassessment: one message.
        query = f"""
            SELECT NULL::text AS subject, i.region_code,
                   to_jsonb(i) || jsonb_build_object('insurance_year', %(year)s::int) AS payload
            FROM ({items}) AS i
        """  # noqa: S608
        counts.pushed = message_send_bulk(topic="assessment.due", query=query, params=params)
    else:
        assert batches is not None
        if not listed:
            message_send_bulk(
                topic="assessment.due_batch",
                query=batches.query,
                items=batches.items(numbered=f"({items})"),
                params=batches.params,
            )
        # The due items sent, counted from the same conditions without building them again.
        with connection.cursor() as count_cursor:
            count_cursor.execute(
                f"""
                SELECT (SELECT count(*) FROM {changes} c
                        WHERE c.status = 'due' OR (c.status <> 'due' AND c.old_status = 'due'))
                     + (SELECT count(*) FROM {cancels} c WHERE c.old_status = 'due')
                """  # noqa: S608
            )
            counts.pushed = count_cursor.fetchone()[0]
    timer.mark("send")
    if params["totals"]:
        # A reassessment of listed persons (or one) reports on them alone, not on their county.
        listed = facts if person_id or person_filter else None
        counts.government_paid, counts.government_paid_fen, counts.payable_fen = _totals(
            cursor, params, listed=listed
        )
    if withdrawing:
        counts.back_payments_withdrawn = _back_payment_applications_withdraw(cursor, params, ended=ended)
    for table in (facts, decisions, changes, cancels, late, *([ended] if withdrawing else [])):
        cursor.execute(f"DROP TABLE {table}")


def _open_applications_withdraw(
    cursor: Any,
    params: dict[str, Any],
    *,
    policy: engine.Policy,
    changes: str,
    cancels: str,
    skip_locked: bool,
) -> int:
    """The open back-payment applications of the years this run cancels or turns into ones the
    government pays in full, withdrawn by the rules; how many."""
    return _back_payment_applications_cancel(
        cursor, params, cancels=cancels, skip_locked=skip_locked
    ) + _back_payment_applications_government(
        cursor, params, policy=policy, changes=changes, skip_locked=skip_locked
    )


def _hold_rows_as_read(cursor: Any, params: dict[str, Any], *, changes: str, cancels: str) -> None:
    """Lock the assessments this run rewrites and keep only those still as the run read them.

    The run read them (``changes``, ``cancels``) without a lock, some time before it writes: for a
    county, seconds to minutes. A deposit recorded meanwhile (``assessment_record_deposits``, which
    locks the row) made the year paid, and the payment stands: the run leaves that row alone and
    sends tax nothing for it. A back-payment approved meanwhile raised the row's revision and gave
    it a back-payment: the item sent carries both, so it replaces the approval's at tax. Locked in
    id order, after the back-payment applications (the approval's order: the application, then the
    assessment); from here until the run commits, a deposit or an approval of these rows waits
    for it and then reads what it wrote."""
    cursor.execute(
        f"""
        SELECT count(*) FROM (
            SELECT a.id FROM enrollment_assessment a
            WHERE a.id IN (SELECT existing_id FROM {changes} WHERE existing_id IS NOT NULL
                           UNION ALL SELECT id FROM {cancels})
            ORDER BY a.id FOR UPDATE OF a
        ) AS held
        """  # noqa: S608 - generated table names, no input
    )
    # Each statement from here reads what committed before it, and nothing can commit on the
    # rows now: a year paid meanwhile (a run never rewrites a paid or refunded year) is dropped.
    cursor.execute(
        f"""
        DELETE FROM {changes} c USING enrollment_assessment a
        WHERE a.id = c.existing_id
          AND (a.status IS DISTINCT FROM c.old_status OR a.status IN ('paid', 'refunded'))
        """  # noqa: S608
    )
    left = cursor.rowcount
    cursor.execute(
        f"DELETE FROM {cancels} c USING enrollment_assessment a WHERE a.id = c.id AND a.status <> c.old_status"  # noqa: S608
    )
    left += cursor.rowcount
    cursor.execute(
        f"""
        UPDATE {changes} c SET old_revision = a.revision, back_payment_fen = a.back_payment_fen,
               back_payment_approved_on = a.back_payment_approved_on,
               back_payment_pay_until = a.back_payment_pay_until
        FROM enrollment_assessment a WHERE a.id = c.existing_id AND a.revision <> c.old_revision
        """  # noqa: S608
    )
    cursor.execute(
        f"""
        UPDATE {cancels} c SET old_revision = a.revision
        FROM enrollment_assessment a WHERE a.id = c.id AND a.revision <> c.old_revision
        """  # noqa: S608
    )
    if left:
        logger.info(
            "assessment %s %s: %d year(s) paid or changed while the run read them, left as they are",
            params["county"],
            params["year"],
            left,
        )


def _withdraw_back_payments(
    cursor: Any, params: dict[str, Any], *, policy: engine.Policy, facts: str, ended: str
) -> bool:
    """While an extended collection period runs, end the back-payment of each of the run's persons
    approved before the extension and not yet paid (``back_payments_withdrawable``, the condition
    the extension counted them by): its amount and pay-by day leave the assessment (the history
    keeps them), so the due item sent below is the normal one with the extended schedule, which
    replaces the back-payment line at tax. Returns whether any was withdrawn (their assessment ids
    in ``ended``)."""
    withdrawable = back_payments_withdrawable(
        rules=policy, county_codes=[params["county"]], today=params["today"]
    ).values("id", "person_id")
    if not withdrawable.query.is_empty():
        sql, sql_params = withdrawable.query.sql_with_params()
        cursor.execute(f"CREATE TEMP TABLE {ended} (id bigint)")
        # Found and written in one statement, on rows still due with their back-payment: one paid
        # meanwhile (a deposit locks the row; this statement then reads it again) keeps its own.
        cursor.execute(
            f"""
            WITH cleared AS (
                UPDATE enrollment_assessment a SET back_payment_fen = NULL, back_payment_approved_on = NULL,
                       back_payment_pay_until = NULL
                WHERE a.id IN (SELECT w.id FROM ({sql}) w
                               WHERE EXISTS (SELECT 1 FROM {facts} f WHERE f.person_id = w.person_id))
                  AND a.status = 'due' AND a.back_payment_fen IS NOT NULL
                RETURNING a.id
            )
            INSERT INTO {ended} SELECT id FROM cleared
            """,  # noqa: S608 - generated table names; the values are parameters
            sql_params,
        )
        if cursor.rowcount:
            return True
        cursor.execute(f"DROP TABLE {ended}")
    return False


def _back_payment_applications_withdraw(cursor: Any, params: dict[str, Any], *, ended: str) -> int:
    """The applications of the back-payments withdrawn go with them, with the reason, in the same
    transaction as the assessments and the items sent to tax. Returns how many were withdrawn."""
    # The applications are refunds' (its state machine and timeline); refunds builds on enrollment,
    # so it is imported here, where the run needs it, not at the top.
    from refunds.services_backpay import back_payments_withdraw_for_extension

    cursor.execute(f"SELECT id FROM {ended} ORDER BY id")  # noqa: S608
    assessment_ids = [row[0] for row in cursor.fetchall()]
    withdrawn = back_payments_withdraw_for_extension(
        assessment_ids=assessment_ids, reason=_back_payment_withdrawal_reason(params)
    )
    logger.info(
        "assessment %s %s: %d approved back-payment(s) withdrawn by the extended collection period",
        params["county"],
        params["year"],
        withdrawn,
    )
    return withdrawn


def _back_payment_applications_cancel(
    cursor: Any, params: dict[str, Any], *, cancels: str, skip_locked: bool = False
) -> int:
    """The open back-payment applications of the assessments the run cancels (``cancels``) are
    withdrawn by the rules, each saying why, in the same transaction as the cancellation and the
    cancelled item sent to tax (which replaces tax's back-payment line). Returns how many were
    withdrawn."""
    # The applications are refunds'; refunds builds on enrollment, so imported here, as above.
    from refunds.services_backpay import back_payments_withdraw_for_cancellation

    cursor.execute(f"SELECT id FROM {cancels} ORDER BY id")  # noqa: S608
    assessment_ids = [row[0] for row in cursor.fetchall()]
    withdrawn = back_payments_withdraw_for_cancellation(
        assessment_ids=assessment_ids,
        notes=lambda ids: _cancellation_notes(cursor, params, cancels=cancels, assessment_ids=ids),
        skip_locked=skip_locked,
    )
    _withdrawn(params, withdrawn=withdrawn, why="the year cancelled")
    return withdrawn


def _withdrawn(params: dict[str, Any], *, withdrawn: int, why: str) -> None:
    """After back-payment applications were withdrawn for the assessments a run cancels or turns
    into government-paid ones, the count is logged. (An approval committed while the withdrawal
    waited for its application raised the assessment's revision after the run read it:
    ``_hold_rows_as_read`` takes the newer one, so the item sent replaces the back-payment line at
    tax.)"""
    if not withdrawn:
        return
    logger.info(
        "assessment %s %s: %d open back-payment application(s) withdrawn, %s",
        params["county"],
        params["year"],
        withdrawn,
        why,
    )


def _back_payment_applications_government(
    cursor: Any, params: dict[str, Any], *, policy: engine.Policy, changes: str, skip_locked: bool = False
) -> int:
    """The open back-payment applications of the unpaid years this run turns into ones the
    government pays in full (a subsidy tag arrived) are withdrawn by the rules, each saying why, in
    the same transaction as the reassessment and the cancelled item sent to tax; before the writes,
    as for a cancellation, so that an approval cannot deadlock with it. Returns how many."""
    from refunds.services_backpay import back_payments_withdraw_for_government_payment

    cursor.execute(
        f"""SELECT existing_id, subsidy_category FROM {changes}
        WHERE old_status = 'due' AND status = 'government' ORDER BY existing_id"""  # noqa: S608
    )
    category_of = dict(cursor.fetchall())
    if not category_of:
        return 0
    names = {category.code: category.name for category in policy.subsidy_categories}
    withdrawn = back_payments_withdraw_for_government_payment(
        assessment_ids=list(category_of),
        notes=lambda ids: _government_payment_notes(
            params["year"], {i: names.get(category_of[i], category_of[i]) for i in ids}
        ),
        skip_locked=skip_locked,
    )
    _withdrawn(params, withdrawn=withdrawn, why="the year paid by the government")
    return withdrawn


def _government_payment_notes(year: int, category_names: dict[int, str]) -> dict[int, str]:
    """Why the back-payment of each of these assessments is withdrawn: the government now pays the
    year in full, under the named subsidy category."""
    # Stored, so written in the portal's language, whoever's action reassessed the person.
    with translation.override(settings.LANGUAGE_CODE):
        return {
            assessment_id: _(
                "The contribution for %(year)d is now paid in full by the government (%(category)s), so "
                "there is nothing to pay back: the back-payment application is withdrawn."
            )
            % {"year": year, "category": name}
            for assessment_id, name in category_names.items()
        }


def _cancellation_notes(
    cursor: Any, params: dict[str, Any], *, cancels: str, assessment_ids: Sequence[int]
) -> dict[int, str]:
    """Why each of these cancelled assessments was cancelled, for the back-payment withdrawn with
    it: the person's last enrollment in the county ended or was suspended on a day, or began too
    late to pay for the year. One statement for all of them."""
    cursor.execute(
        f"""
        SELECT c.id, c.late_reason, e.status, e.ended_on, e.status_changed_on
        FROM {cancels} c
        LEFT JOIN LATERAL (
            SELECT x.status, x.ended_on, x.status_changed_on FROM enrollment_enrollment x
            WHERE x.person_id = c.person_id AND x.county_code = %(county)s
            ORDER BY x.enrolled_on DESC, x.id DESC LIMIT 1
        ) e ON true
        WHERE c.id = ANY(%(ids)s)
        """,  # noqa: S608 - generated table name; the values are parameters
        {"county": params["county"], "ids": list(assessment_ids)},
    )
    year = params["year"]
    notes = {}
    # Stored, so written in the portal's language, whoever's action reassessed the person.
    with translation.override(settings.LANGUAGE_CODE):
        for assessment_id, late_reason, status, ended_on, changed_on in cursor.fetchall():
            if late_reason:
                why = _(
                    "The contribution for %(year)d was cancelled (%(why)s), so there is nothing to pay "
                    "back: the back-payment application is withdrawn."
                ) % {"year": year, "why": late_reason}
            elif status == EnrollmentStatus.TERMINATED and ended_on is not None:
                why = _(
                    "The contribution for %(year)d was cancelled because the enrollment ended on "
                    "%(date)s, so there is nothing to pay back: the back-payment application is withdrawn."
                ) % {"year": year, "date": engine.say_date(ended_on)}
            elif status == EnrollmentStatus.SUSPENDED:
                why = _(
                    "The contribution for %(year)d was cancelled because the enrollment was suspended "
                    "on %(date)s, so there is nothing to pay back: the back-payment application is "
                    "withdrawn."
                ) % {"year": year, "date": engine.say_date(changed_on)}
            else:
                why = _(
                    "The contribution for %(year)d was cancelled because the person is no longer enrolled "
                    "in this county, so there is nothing to pay back: the back-payment application is "
                    "withdrawn."
                ) % {"year": year}
            notes[assessment_id] = why
    return notes


def _back_payment_withdrawal_reason(params: dict[str, Any]) -> str:
    # Stored, so written in the portal's language, whoever's action queued the run.
    until: date = params["withdraw_until"]
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "The collection period for %(year)d was extended to %(until)s, so the contribution can be "
            "paid at the normal amount, with the normal cover, until then: the back-payment approved "
            "before the extension is withdrawn. Back-payment applications open again on %(opens)s."
        ) % {
            "year": params["year"],
            "until": engine.say_date(until),
            "opens": engine.say_date(params["back_payment_opens"]),
        }


@dataclass(frozen=True)
class _DueBatches:
    """The ``assessment.due_batch`` messages of a run: the due items in messages of BATCH_ITEMS
    each (one outbox row per batch), numbered once."""

    query: str
    params: dict[str, Any]

    def items(self, *, numbered: str) -> ListItems:
        """The batches' items, numbered from ``numbered`` (the items' query, or a table of them)."""
        fields = ", ".join(f"n.{name}" for name in list_item_fields(topic="assessment.due_batch"))
        return ListItems(
            query=f"SELECT n.batch AS message, n.place, {fields} FROM numbered n",  # noqa: S608
            ctes=f"""numbered AS MATERIALIZED (
                SELECT i.*, row_number() OVER w AS place, (row_number() OVER w - 1) / %(batch_items)s + 1 AS batch
                FROM {numbered} AS i
                -- Byte order: codes and identifiers are ASCII, and the collation's sort costs seconds a million.
                WINDOW w AS (ORDER BY i.region_code COLLATE "C", i.person_id COLLATE "C")
            )""",  # noqa: S608
        )


def _due_batches(cursor: Any, params: dict[str, Any], *, listed: bool) -> _DueBatches:
    return _DueBatches(
        query="""
            SELECT NULL::text AS subject, %(county_region)s AS region_code, n.batch AS message,
                   jsonb_build_object(
                       'county_code', %(county)s, 'insurance_year', %(year)s::int,
                       'region_code', %(county_region)s, 'part', %(part)s, 'batch', n.batch,
                       'amount_fen', sum(n.amount_fen)) AS payload
            FROM numbered n
            GROUP BY n.batch
        """,
        params={
            **params,
            "county_region": params["county"].ljust(12, "0"),
            "part": _batch_part(cursor, params, listed=listed),
            "batch_items": BATCH_ITEMS,
        },
    )


def _batch_part(cursor: Any, params: dict[str, Any], *, listed: bool) -> str:
    """The ``part`` of the due batches' subject: the yearly run's part of the county (its first
    village code, empty for the whole county), or for a list of persons ``list-`` and the
    transaction's id, so that its batches never share a subject (and its lock) with another's."""
    if not listed:
        return params["region_from"] or ""
    cursor.execute("SELECT pg_current_xact_id()::text")
    return "list-" + cursor.fetchone()[0]


def _totals(cursor: Any, params: dict[str, Any], *, listed: str | None = None) -> tuple[int, int, int]:
    """Of the persons a run assessed: how many the government pays for, that money (their subsidy),
    and the money still due from the others.

    ``listed``: the run's facts table, for a run of listed persons (or one), whose figures are theirs
    alone. A run of the whole county (or of its part) assessed every normal enrollment there and
    cancelled every other due row (and every government-paid one whose cover had not begun when the
    person left), so the county's rows of the year *are* its persons' and those the government paid
    for before they left: they are summed by the county's index, as fast as before, without joining
    a million facts.
    """
    figures = """count(*) FILTER (WHERE a.status = 'government'),
               coalesce(sum(a.subsidy_fen) FILTER (WHERE a.status = 'government'), 0),
               coalesce(sum(a.payable_fen) FILTER (WHERE a.status = 'due'), 0)"""
    if listed:
        cursor.execute(
            f"""
            SELECT {figures}
            FROM {listed} f
            JOIN enrollment_assessment a ON a.person_id = f.person_id AND a.insurance_year = %(year)s
            WHERE a.county_code = %(county)s
            """,  # noqa: S608 - generated table name
            params,
        )
    else:
        cursor.execute(
            f"""
            SELECT {figures}
            FROM enrollment_assessment a
            WHERE county_code = %(county)s AND insurance_year = %(year)s
              AND (%(region_from)s::text IS NULL OR a.region_code >= %(region_from)s)
              AND (%(region_below)s::text IS NULL OR a.region_code < %(region_below)s)
            """,  # noqa: S608 - no value in the text
            params,
        )
    government_paid, government_paid_fen, payable_fen = cursor.fetchone()
    return government_paid, int(government_paid_fen), int(payable_fen)


def _region_bounds(county_code: str, parts: int) -> list[tuple[str | None, str | None]]:
    """Half-open ranges of village codes that cover the county, each with about as many normal enrollments."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT region_code, count(*) FROM enrollment_enrollment "
            "WHERE county_code = %s AND status = 'normal' GROUP BY region_code ORDER BY region_code",
            [county_code],
        )
        rows = cursor.fetchall()
    total = sum(count for _code, count in rows)
    cuts: list[str] = []
    running = 0
    for code, count in rows:
        if len(cuts) < parts - 1 and running and running >= total * (len(cuts) + 1) / parts:
            cuts.append(code)
        running += count
    bounds: list[str | None] = [None, *cuts, None]
    return list(pairwise(bounds))


_PHASES = ("facts", "deciding", "writing", "sending")


def _assess_county(
    *, county_code: str, insurance_year: int, loaded: LoadedPolicy, progress: Progress = _no_progress
) -> Counts:
    """The yearly run of a county: in parts of villages at once, one connection and transaction each.

    Each part commits its assessments together with their messages to tax. Should a part fail,
    the parts already done stay done and a re-run (which changes only what differs) completes
    the county. Inside a caller's transaction (tests, one-off calls) the county runs as one part.
    """
    workers = settings.ASSESSMENT_WORKERS
    bounds: list[tuple[str | None, str | None]] = [(None, None)]
    if workers > 1 and not connection.in_atomic_block:
        bounds = _region_bounds(county_code, workers)
    if len(bounds) == 1:
        return _assess(
            county_code=county_code, insurance_year=insurance_year, loaded=loaded, progress=progress
        )
    lock = threading.Lock()
    phases = dict.fromkeys(range(len(bounds)), "facts")
    finished = Counts()

    def report(part: int, phase: str) -> None:
        with lock:
            phases[part] = phase
            running = [_PHASES.index(value) for value in phases.values() if value in _PHASES]
            progress(_PHASES[min(running)] if running else "sending", finished.enrollments, 0)

    def assess_part(part: int, region_from: str | None, region_below: str | None) -> Counts:
        try:
            counts = _assess(
                county_code=county_code,
                insurance_year=insurance_year,
                loaded=loaded,
                progress=lambda phase, done, total: report(part, phase),
                region_from=region_from,
                region_below=region_below,
                totals=False,
                part=part,
            )
            with lock:
                finished.add(counts)
            report(part, "done")
            return counts
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="assessment") as pool:
        futures = [pool.submit(assess_part, part, *bound) for part, bound in enumerate(bounds)]
        results = [future.result() for future in futures]
    total = Counts()
    for counts in results:
        total.add(counts)
    with connection.cursor() as cursor:
        total.government_paid, total.government_paid_fen, total.payable_fen = _totals(
            cursor, {"county": county_code, "year": insurance_year, "region_from": None, "region_below": None}
        )
    return total


# --- services --------------------------------------------------------------------------------


def _loaded_policy(county_code: str, insurance_year: int) -> LoadedPolicy:
    loaded = policy_for_county(county_code=county_code, insurance_year=insurance_year)
    if loaded is None:
        raise ValidationError(
            _(
                "There is no policy for %(county)s and insurance year %(year)d. An administrator adds it in the rulebook."
            )
            % {"county": county_code, "year": insurance_year}
        )
    return loaded


def assessment_run_start(
    *, scope: Scope, county_code: str, insurance_year: int, actor_id: int | None
) -> AssessmentRun:
    """Queue the yearly assessment of a county; a second start while one is queued or running returns that one."""
    scope.require(Action.ASSESSMENT_RUN)
    if not (len(county_code) == 6 and ascii_digits(county_code)):
        raise ValidationError({"county_code": _("Give a 6-digit county code.")})
    if not scope.covers_region_code(county_code.ljust(12, "0")):
        raise PermissionDenied(_("This county lies outside your area."))
    loaded = _loaded_policy(county_code, insurance_year)
    with translation.override(settings.LANGUAGE_CODE):  # stored on the run, read by everyone
        reason = _("Yearly assessment")
    return _run_queue(
        county_code=county_code,
        insurance_year=insurance_year,
        loaded=loaded,
        actor_id=actor_id,
        reason=reason,
    )


def _run_queue(
    *,
    county_code: str,
    insurance_year: int,
    loaded: LoadedPolicy,
    actor_id: int | None,
    reason: str,
    again_after_running: bool = False,
) -> AssessmentRun:
    """Queue the county's run; while one is queued or running, return that one instead.

    ``again_after_running``: the policy changed, so a run already *running* (which read the policy
    when it started) is marked to be run again when it ends (``rerun_reason``); its end queues the
    follow-up (``_rerun_if_asked``). Race-free: the waiting run's row is locked here until the
    caller's transaction commits, and a run's start (marking it running, then reading the policy)
    and its end (reading the mark) lock the same row. So a queued run found here starts after the
    change is committed and reads it, a running one cannot end unseen in between, and one that
    ended meanwhile is no longer in the way of a new one.
    """
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = AssessmentRun.objects.create(
                    county_code=county_code,
                    insurance_year=insurance_year,
                    policy_version=loaded.version,
                    started_by_id=actor_id,
                    reason=reason[:200],
                )
        except IntegrityError:
            # Locked until the caller's transaction ends (a savepoint of it, if there is one).
            with transaction.atomic():
                waiting = (
                    AssessmentRun.objects.select_for_update()
                    .filter(
                        county_code=county_code,
                        insurance_year=insurance_year,
                        person__isnull=True,
                        status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
                    )
                    .first()
                )
                if waiting is None:
                    continue  # it ended while we waited for its row: queue a new one
                if again_after_running and waiting.status == RunStatus.RUNNING:
                    waiting.rerun_reason = reason[:200]
                    waiting.rerun_requested_by_id = actor_id
                    waiting.save(update_fields=["rerun_reason", "rerun_requested_by"])
            return waiting
        break
    else:
        raise RuntimeError(f"could not queue the run of {county_code} {insurance_year}")
    from .tasks import run_assessment

    transaction.on_commit(lambda: run_assessment.delay(run.pk))
    return run


def counties_reassessed_for(*, policy: Policy, today: date) -> list[str]:
    """The counties a change of ``policy`` reassesses (``assessment_runs_queue_for_policy``): those
    it decides (no policy of their own, more specific) whose yearly run of its year is done, while
    the year is open; by code."""
    year = policy.insurance_year
    if year < today.year:
        return []  # the year is over: nobody is reassessed for it (open_years_for)
    counties = (
        AssessmentRun.objects.filter(
            county_code__startswith=policy.region_prefix[:6],
            insurance_year=year,
            person__isnull=True,
            kind=RunKind.COUNTY,
            status=RunStatus.DONE,
        )
        .values_list("county_code", flat=True)
        .distinct()
        .order_by("county_code")
    )
    found = []
    for county_code in counties:
        # A county with a policy of its own (more specific than this one) is not this policy's.
        current = policy_for_county(county_code=county_code, insurance_year=year)
        if current is not None and current.record.pk == policy.pk:
            found.append(county_code)
    return found


def back_payments_withdrawable(
    *, rules: engine.Policy, county_codes: Sequence[str], today: date
) -> QuerySet[Assessment]:
    """The assessments whose approved, unpaid back-payment the runs of ``county_codes`` under
    ``rules`` withdraw on ``today``, while an extended collection period runs
    (``engine.back_payment_withdrawn_until``): due for the rules' year, the back-payment approved
    up to the extension's last day, of a person whose normal enrollment is in one of those counties
    (what a county run assesses, wherever the row was assessed before). Annotated with
    ``withdrawn_in``, the county whose run withdraws it. Unscoped.

    The one condition of the run (``_withdraw_back_payments``, which narrows it to the persons it
    assesses) and of what the extension announces (``back_payments_an_extension_withdraws``), so
    the two cannot count differently. The run's persons also leave out an enrollment begun too
    late to pay for the year; one with an approved back-payment began before its application, on
    a day the back-payment could still be paid, so is never among them."""
    until = engine.back_payment_withdrawn_until(rules)
    if until is None or today > until:
        return Assessment.objects.none()
    enrolled_in = Enrollment.objects.filter(
        person_id=OuterRef("person_id"), status=EnrollmentStatus.NORMAL
    ).values("county_code")[:1]  # one normal enrollment per person (one_normal_enrollment_per_person)
    return (
        Assessment.objects.filter(
            insurance_year=rules.insurance_year,
            status=AssessmentStatus.DUE,
            back_payment_fen__isnull=False,
            back_payment_approved_on__lte=until,
        )
        .annotate(withdrawn_in=Subquery(enrolled_in))
        .filter(withdrawn_in__in=list(county_codes))
    )


def back_payments_an_extension_withdraws(
    *, policy: Policy, extended: engine.Policy, today: date
) -> QuerySet[Assessment]:
    """The assessments whose approved, unpaid back-payment the county runs an extension of
    ``policy`` (to the rules ``extended``) queues on ``today`` withdraw: ``back_payments_withdrawable``
    over ``counties_reassessed_for``. Unscoped: the caller filters by its user's area."""
    return back_payments_withdrawable(
        rules=extended, county_codes=counties_reassessed_for(policy=policy, today=today), today=today
    )


def assessment_runs_queue_for_policy(
    *, loaded: LoadedPolicy, reason: str, actor_id: int | None, today: date
) -> list[AssessmentRun]:
    """Queue the yearly run again of every county this policy decides whose year is open and was
    assessed (a done county run), so that a changed rule (an extended collection period) reaches
    every due item at tax: the re-run sends each changed schedule, nothing else. A county run
    already queued is returned as it is; it loads the policy when it starts. One already running
    read the policy before the change: it is returned marked to be run again (``rerun_reason``),
    and its end queues the follow-up.

    Not the user's ASSESSMENT_RUN: the run follows from the policy's change, which the caller
    (who may manage the policy) was allowed to make."""
    year = loaded.record.insurance_year
    runs = []
    for county_code in counties_reassessed_for(policy=loaded.record, today=today):
        current = policy_for_county(county_code=county_code, insurance_year=year)
        assert current is not None
        runs.append(
            _run_queue(
                county_code=county_code,
                insurance_year=year,
                loaded=current,
                actor_id=actor_id,
                reason=reason,
                again_after_running=True,
            )
        )
    return runs


# The lease of a county's run: a session-level advisory lock (this namespace, the run's id) held by
# the connection of whoever executes the run, from before it is marked running until its end is
# committed. PostgreSQL frees it when that connection ends, so a waiting run whose lease is free
# has nobody executing it (the worker died, or the queue lost its message) and may be resumed.
_RUN_LEASE = 7_316_002


def _lease_take(run_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_RUN_LEASE, run_id])
        return bool(cursor.fetchone()[0])


def _lease_release(run_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_RUN_LEASE, run_id])


def assessment_run_execute(*, run_id: int) -> AssessmentRun:
    """Do a queued run: the whole county in parts (with its messages), counts on the run.

    Idempotent: a run another executor holds (its lease taken) or one already done or failed is
    left alone. A run left *running* by an executor that died is resumed: executed again, which
    changes only what the first attempt did not commit."""
    if not _lease_take(run_id):
        return AssessmentRun.objects.get(pk=run_id)
    try:
        return _run_execute_leased(run_id)
    finally:
        _lease_release(run_id)


def _run_execute_leased(run_id: int) -> AssessmentRun:
    with transaction.atomic():
        run = AssessmentRun.objects.select_for_update().get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        if run.status == RunStatus.RUNNING:
            logger.warning("assessment run %s: its executor is gone; resuming it", run.pk)
            run.resumed_at = timezone.now()
            run.save(update_fields=["resumed_at"])
        else:
            run.status = RunStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
    progress = _progress_setter(run.pk)
    try:
        loaded = _loaded_policy(run.county_code, run.insurance_year)
        counts = _assess_county(
            county_code=run.county_code,
            insurance_year=run.insurance_year,
            loaded=loaded,
            progress=progress,
        )
        with transaction.atomic():
            run = _finish(run, counts, loaded)
    except Exception as error:
        logger.exception("assessment run %s failed", run.pk)
        with transaction.atomic():
            _fail(run, error)
        run.refresh_from_db()
        raise
    finally:
        cache.delete(_progress_key(run.pk))
    return run


def assessment_runs_resume(*, now: datetime | None = None) -> list[int]:
    """Queue again the county runs waiting (queued or running) longer than the grace period whose
    lease is free: nobody executes them (a worker died, or the queue lost the message), and until
    they end the county's reassessments are refused. Beat calls it; a run queued twice is executed
    once (the lease, then its status)."""
    from .tasks import run_assessment

    cutoff = (now or timezone.now()) - timedelta(seconds=settings.ASSESSMENT_RESUME_GRACE_SECONDS)
    with connection.cursor() as cursor:
        # pg_locks shows every session's advisory locks; a two-key lock is (classid, objid, objsubid 2).
        cursor.execute(
            """
            SELECT r.id FROM enrollment_assessmentrun r
            WHERE r.person_id IS NULL AND r.status IN ('queued', 'running')
              AND coalesce(r.started_at, r.created_at) < %s
              AND NOT EXISTS (
                SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = %s AND l.objid::bigint = r.id AND l.objsubid = 2
              )
            ORDER BY r.id
            """,
            [cutoff, _RUN_LEASE],
        )
        run_ids = [row[0] for row in cursor.fetchall()]
    for run_id in run_ids:
        logger.warning("assessment run %s: waiting with nobody executing it; queued again", run_id)
        run_assessment.delay(run_id)
    return run_ids


def _record_counts(run: AssessmentRun, counts: Counts) -> None:
    for name in (*_RUN_FIGURES, "distinct_facts", "pushed"):
        setattr(run, name, getattr(counts, name))
    run.unchanged = counts.unchanged


def _finish(run: AssessmentRun, counts: Counts, loaded: LoadedPolicy) -> AssessmentRun:
    """Mark the run done with its figures (in the caller's transaction); returns the run as saved."""
    # Locked and read afresh: an extension of the collection period may have marked it to be run
    # again while it ran (``_run_queue``), and that mark must be neither overwritten nor missed.
    run = AssessmentRun.objects.select_for_update().get(pk=run.pk)
    run.status = RunStatus.DONE
    run.finished_at = timezone.now()
    run.policy_version = loaded.version
    _record_counts(run, counts)
    run.save()
    _rerun_if_asked(run)
    # Finance hears the county's new subsidy totals once the run is committed (enrollment/fund_totals.py).
    from .tasks import send_fund_totals

    county, year = run.county_code, run.insurance_year
    transaction.on_commit(lambda: send_fund_totals.delay(county_code=county, years=[year]))
    # Tax hears of the county's tags given by hand for the year (subsidies.marks): a tag's own
    # change marks only the years that had a policy then, and this year's may have come since.
    from subsidies.tasks import send_hand_tag_marks  # subsidies reads the assessment: imported here

    transaction.on_commit(lambda: send_hand_tag_marks.delay(county_code=county, insurance_year=year))
    return run


def _fail(run: AssessmentRun, error: BaseException) -> None:
    """Mark the run failed with the error (in the caller's transaction); a follow-up asked for while
    it ran is queued all the same: the policy change it was asked for still has to reach tax."""
    run = AssessmentRun.objects.select_for_update().get(pk=run.pk)
    run.status = RunStatus.FAILED
    run.finished_at = timezone.now()
    run.error = str(error)[:2000]
    run.save(update_fields=["status", "finished_at", "error"])
    _rerun_if_asked(run)


def _rerun_if_asked(run: AssessmentRun) -> None:
    """Queue the county's run again, with the policy as it now stands, when a change of the policy
    asked for it while ``run`` (locked, just ended) was running."""
    if not run.rerun_reason:
        return
    loaded = policy_for_county(county_code=run.county_code, insurance_year=run.insurance_year)
    if loaded is None:
        logger.warning("assessment run %s: to be run again, but its county has no policy now", run.pk)
        return
    follow_up = _run_queue(
        county_code=run.county_code,
        insurance_year=run.insurance_year,
        loaded=loaded,
        actor_id=run.rerun_requested_by_id,
        reason=run.rerun_reason,
    )
    run.rerun = follow_up
    run.save(update_fields=["rerun"])


def assessment_run_now(
    *, county_code: str, insurance_year: int, actor_id: int | None = None, reason: str = ""
) -> AssessmentRun:
    """Assess a county synchronously (the command and the benchmark), in parts like the queued run.

    A run of the county and year already queued (a new version of its policy queues one) and not
    yet started is the one executed, as a worker would: a second would break the one run at a time."""
    queued = AssessmentRun.objects.filter(
        county_code=county_code, insurance_year=insurance_year, person__isnull=True, status=RunStatus.QUEUED
    ).first()
    if queued is not None:
        return assessment_run_execute(run_id=queued.pk)
    loaded = _loaded_policy(county_code, insurance_year)
    run = AssessmentRun.objects.create(
        county_code=county_code,
        insurance_year=insurance_year,
        policy_version=loaded.version,
        started_by_id=actor_id,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        reason=reason or _("Yearly assessment"),
    )
    # Held like a worker's, so the sweep never queues this run while the command executes it.
    _lease_take(run.pk)
    try:
        counts = _assess_county(county_code=county_code, insurance_year=insurance_year, loaded=loaded)
        with transaction.atomic():
            run = _finish(run, counts, loaded)
    except Exception as error:
        # Inside a caller's transaction the run row goes with it; on its own, the failure is kept.
        if not connection.in_atomic_block:
            with transaction.atomic():
                _fail(run, error)
        raise
    finally:
        _lease_release(run.pk)
    return run


def open_years_for(county_code: str, today: date) -> list[int]:
    """Years of a county already assessed whose insurance year has not ended: reassessment applies to them."""
    years = (
        AssessmentRun.objects.filter(
            county_code=county_code,
            person__isnull=True,
            status=RunStatus.DONE,
            insurance_year__gte=today.year,
        )
        .values_list("insurance_year", flat=True)
        .order_by()  # not the model's ordering: its column would make DISTINCT per run
        .distinct()
    )
    return sorted(set(years))


def assessment_reassess(
    *, person_id: int, reason: str, actor_id: int | None = None, today: date | None = None
) -> list[AssessmentRun]:
    """Reassess one person for every open year of their county (and of the county they left), pushing adjustments.

    Runs in the caller's transaction, so the changed facts, the new assessment and the message to
    tax commit together.
    """
    today = today or timezone.localdate()
    counties = set(
        Enrollment.objects.filter(person_id=person_id, status=EnrollmentStatus.NORMAL).values_list(
            "county_code", flat=True
        )
    )
    from .models import Assessment

    counties |= set(
        Assessment.objects.filter(
            person_id=person_id, insurance_year__gte=today.year, status__in=["due", "government"]
        ).values_list("county_code", flat=True)
    )
    runs = []
    with transaction.atomic():
        # Every county of the person, open years or not: a first yearly run under way has not
        # made its year open yet, and would miss the change all the same.
        _reassessment_gate_pass(counties)
        for county_code in sorted(counties):
            for year in open_years_for(county_code, today):
                loaded = policy_for_county(county_code=county_code, insurance_year=year)
                if loaded is None:
                    continue
                counts = _assess(
                    county_code=county_code,
                    insurance_year=year,
                    loaded=loaded,
                    person_id=person_id,
                    today=today,
                )
                run = AssessmentRun(
                    county_code=county_code,
                    insurance_year=year,
                    person_id=person_id,
                    kind=RunKind.PERSON,
                    status=RunStatus.DONE,
                    policy_version=loaded.version,
                    started_by_id=actor_id,
                    started_at=timezone.now(),
                    finished_at=timezone.now(),
                    reason=reason[:200],
                )
                _record_counts(run, counts)
                run.save()
                runs.append(run)
    return runs


def assessment_reassess_persons(
    *, person_table: str, reason: str, actor_id: int | None = None, today: date | None = None
) -> list[AssessmentRun]:
    """Reassess the persons listed in ``person_table`` (a table with ``person_id``), set-based.

    Every open year of every county where they are enrolled (or were assessed and not yet paid)
    is reassessed for them alone — the cost follows the list, not the county — with one run per
    county and year. In the caller's transaction, like ``assessment_reassess``; refused while
    the yearly run of such a county is queued or running (the two would write the same rows).
    """
    if not _TABLE_NAME.fullmatch(person_table):
        raise ValueError(f"not a table name: {person_table!r}")
    today = today or timezone.localdate()
    with connection.cursor() as cursor:
        # The caller's table is new (a temporary one): without statistics the planner guessed the
        # persons' joins with the county's enrollments, tags and assessments badly.
        cursor.execute(f"ANALYZE {person_table}")
        cursor.execute(
            f"""
            SELECT e.county_code FROM enrollment_enrollment e
            WHERE e.status = 'normal' AND e.person_id IN (SELECT person_id FROM {person_table})
            UNION
            SELECT a.county_code FROM enrollment_assessment a
            WHERE a.insurance_year >= %s AND a.status IN ('due', 'government')
              AND a.person_id IN (SELECT person_id FROM {person_table})
            ORDER BY 1
            """,  # noqa: S608 - checked table name
            [today.year],
        )
        counties = [row[0] for row in cursor.fetchall()]
    runs = []
    with transaction.atomic():
        # The check below answers from the run's row; the gate also covers a run whose part began
        # after it (and a run executed without a row of its own).
        _reassessment_gate_pass(counties)
        for county_code in counties:
            years = open_years_for(county_code, today)
            busy = AssessmentRun.objects.filter(
                county_code=county_code,
                insurance_year__in=years,
                person__isnull=True,
                status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
            ).exists()
            if busy:
                raise _run_under_way(county_code)
            for year in years:
                loaded = policy_for_county(county_code=county_code, insurance_year=year)
                if loaded is None:
                    continue
                started = timezone.now()
                counts = _assess(
                    county_code=county_code,
                    insurance_year=year,
                    loaded=loaded,
                    person_table=person_table,
                    today=today,
                )
                run = AssessmentRun(
                    county_code=county_code,
                    insurance_year=year,
                    kind=RunKind.PERSONS,
                    status=RunStatus.DONE,
                    policy_version=loaded.version,
                    started_by_id=actor_id,
                    started_at=started,
                    finished_at=timezone.now(),
                    reason=reason[:200],
                )
                _record_counts(run, counts)
                run.save()
                runs.append(run)
    return runs


# --- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageAnswer:
    person: Any
    day: date
    decision: engine.CoverageDecision
    enrollments: list[Any]
    assessments: list[Any]


def coverage_check(*, scope: Scope, id_number: str, day: date) -> CoverageAnswer:
    """Is the person with this identifier covered on ``day``, and why (not)? Scoped: 404 outside the area."""
    from .models import Assessment, Person

    scope.require(Action.COVERAGE_VIEW)
    person = scope.get_object_or_404(Person.objects.all(), id_number=id_number.strip().upper())
    enrollments = list(Enrollment.objects.filter(person=person).order_by("enrolled_on"))
    assessments = list(Assessment.objects.filter(person=person).order_by("-insurance_year"))
    spans = [
        engine.EnrollmentSpan(
            status=enrollment.status,
            enrolled_on=enrollment.enrolled_on,
            ended_on=enrollment.ended_on,
            status_changed_on=enrollment.status_changed_on,
            reason=enrollment.get_status_reason_display(),
            place=enrollment.county_code,
        )
        for enrollment in enrollments
    ]
    periods = [
        engine.PaidPeriod(
            insurance_year=assessment.insurance_year,
            paid_on=assessment.paid_on or day,
            start=assessment.benefit_start,
            end=assessment.benefit_end or date(assessment.insurance_year, 12, 31),
            reason=assessment.benefit_reason,
        )
        for assessment in assessments
        if assessment.status in ("paid", "government") and assessment.benefit_start is not None
    ]
    decision = engine.coverage_on(day, spans, periods)
    return CoverageAnswer(person, day, decision, enrollments, assessments)


# --- deposits from tax (入库) ------------------------------------------------------------------


@dataclass(frozen=True)
class Deposit:
    """One deposit record as tax reports it."""

    id_number: str
    insurance_year: int
    amount_fen: int
    paid_on: date
    reference: str


def assessment_record_deposits(*, deposits: list[Deposit]) -> int:
    """Mark the persons paid and compute each benefit period through the rule engine. Set-based per batch.

    A deposit for a person-year with no due assessment changes nothing here and is logged: the
    daily reconciliation (对账) shows it as a difference for the staff to resolve.
    """
    if not deposits:
        return 0
    wanted = {(deposit.id_number, deposit.insurance_year): deposit for deposit in deposits}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, p.id_number, a.insurance_year, a.county_code, p.birth_date, p.category,
                   (e.status_reason = 'transfer_in'), e.enrolled_on,
                   (SELECT max(b.insurance_year) FROM enrollment_assessment b
                    WHERE b.person_id = a.person_id AND b.insurance_year < a.insurance_year
                      AND b.status IN ('paid', 'government')),
                   a.back_payment_fen IS NOT NULL
            FROM enrollment_assessment a
            JOIN enrollment_person p ON p.id = a.person_id
            JOIN enrollment_enrollment e ON e.id = a.enrollment_id
            WHERE (p.id_number, a.insurance_year) IN (SELECT * FROM unnest(%s::text[], %s::int[]))
              AND a.status IN ('due', 'cancelled')
            FOR UPDATE OF a
            """,
            [[key[0] for key in wanted], [key[1] for key in wanted]],
        )
        rows = cursor.fetchall()
        policies: dict[tuple[str, int], LoadedPolicy | None] = {}
        updates = []
        # The benefit period's reason is stored: in the portal's language, whoever's request applied it.
        with translation.override(settings.LANGUAGE_CODE):
            for row in rows:
                (
                    assessment_id,
                    id_number,
                    year,
                    county_code,
                    birth_date,
                    category,
                    transfer_in,
                    enrolled_on,
                    last_paid,
                    back,
                ) = row
                deposit = wanted[(id_number, year)]
                key = (county_code, year)
                if key not in policies:
                    policies[key] = policy_for_county(county_code=county_code, insurance_year=year)
                loaded = policies[key]
                benefit = None
                if loaded is not None:
                    facts = engine.PersonFacts(
                        birth_date=birth_date,
                        person_category=category,
                        last_paid_year=last_paid,
                        transfer=engine.transferred_in_for(
                            loaded.rules, transfer_in=transfer_in, enrolled_on=enrolled_on
                        ),
                    )
                    # An approved back-payment buys the back-payment's cover (the region's waiting
                    # period), whatever the day it is paid on.
                    benefit = engine.benefit_period(loaded.rules, facts, deposit.paid_on, back_payment=back)
                updates.append(
                    (
                        assessment_id,
                        deposit.paid_on,
                        deposit.amount_fen,
                        deposit.reference[:64],
                        benefit.start if benefit else None,
                        benefit.end if benefit and benefit.start else None,
                        benefit.reason if benefit else _("No policy for this county and year"),
                    )
                )
        unmatched = len(wanted) - len(rows)
        if unmatched:
            logger.warning("%d deposit(s) matched no due assessment", unmatched)
        if not updates:
            return 0
        staging = f"assess_deposits_{uuid.uuid4().hex[:10]}"
        cursor.execute(
            f"CREATE TEMP TABLE {staging} (id bigint, paid_on date, paid_fen bigint, reference text, "
            "benefit_start date, benefit_end date, benefit_reason text) ON COMMIT DROP"
        )
        with cursor.cursor.copy(f"COPY {staging} FROM STDIN") as copy:
            for row in updates:
                copy.write_row(row)
        cursor.execute(
            f"""
            UPDATE enrollment_assessment a SET status = 'paid', paid_on = s.paid_on, paid_fen = s.paid_fen,
                   deposit_reference = s.reference, benefit_start = s.benefit_start,
                   benefit_end = s.benefit_end, benefit_reason = s.benefit_reason
            FROM {staging} s WHERE a.id = s.id
            """  # noqa: S608
        )
        cursor.execute(f"DROP TABLE {staging}")
        return len(updates)


def _refund_text(refunded_on: date, refund_reason: str) -> str:
    # Stored, so written in the portal's language, whoever's request recorded the payout.
    with translation.override(settings.LANGUAGE_CODE):
        return _("Refunded on %(date)s (%(reason)s): no benefit period") % {
            "date": engine.say_date(refunded_on),
            "reason": engine.say_refund_reason(refund_reason),
        }


def assessment_refund_record(*, assessment_id: int, refunded_on: date, refund_reason: str) -> bool:
    """A paid year given back to the payer (退费) because the person left resident insurance before
    the benefit period began: the year is refunded and its benefit period withdrawn, so the
    coverage check, the continuity of later years and the yearly run all see no cover for it.
    In the caller's transaction (the refund's payout). False when the year is not paid (nothing
    to withdraw)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE enrollment_assessment SET status = 'refunded', benefit_start = NULL, benefit_end = NULL,
                   benefit_reason = %s, revision = revision + 1
            WHERE id = %s AND status = 'paid'
            """,
            [_refund_text(refunded_on, refund_reason), assessment_id],
        )
        return cursor.rowcount == 1


def assessment_record_reversals(*, reversals: list[tuple[str, int, str]]) -> int:
    """A payment reversed by tax (冲正): the person owes again; the benefit period is withdrawn."""
    if not reversals:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE enrollment_assessment a SET status = 'due', paid_on = NULL, paid_fen = NULL,
                   deposit_reference = '', benefit_start = NULL, benefit_end = NULL,
                   benefit_reason = r.reason, revision = a.revision + 1
            FROM enrollment_person p, unnest(%s::text[], %s::int[], %s::text[]) AS r(id_number, year, reason)
            WHERE p.id = a.person_id AND p.id_number = r.id_number AND a.insurance_year = r.year
              AND a.status = 'paid'
            """,
            [
                [item[0] for item in reversals],
                [item[1] for item in reversals],
                [item[2] for item in reversals],
            ],
        )
        return cursor.rowcount
