"""Finding duplicate enrollments, set-based, and reading the cases for the queue.

Two kinds of match, one SQL statement each (never a query per person):

- same identifier: one person (one identifier) with two current enrollments. The database
  allows one normal enrollment per person and no overlapping periods, so these are a normal
  and a suspended enrollment (with an end date) or rows that came in from an import;
- same name and birth date under different identifier kinds: two persons, e.g. one registered
  with a generated number and later again with a resident ID, or with a Hong Kong permit and
  later an HMT residence permit, each with a current enrollment.

"Current" means not terminated. Each statement inserts the new pairs as open cases and their
two sides in one go; the unique constraint on the pair makes a second run add nothing
(``ON CONFLICT DO NOTHING``). Open cases whose enrollment has since been terminated by other
means (transfer, death …) are closed as no longer duplicates.

``region_prefix`` limits a run to pairs with at least one side in that area (the on-demand run
of one county); the nightly run passes "" (everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.scope import Scope

from .models import DuplicateCase, DuplicateMatch, DuplicateSide, DuplicateStatus

_INSERT_CASES = """
, new_cases AS (
    INSERT INTO enrollment_duplicatecase (match, enrollment_a_id, enrollment_b_id, status, found_at, basis, note)
    SELECT %(match)s, a, b, 'open', statement_timestamp(), '', '' FROM pairs ORDER BY a, b
    ON CONFLICT (enrollment_a_id, enrollment_b_id) DO NOTHING
    RETURNING id, enrollment_a_id, enrollment_b_id
), new_sides AS (
    INSERT INTO enrollment_duplicateside (case_id, enrollment_id, region_code)
    SELECT n.id, e.id, e.region_code
    FROM new_cases n JOIN enrollment_enrollment e ON e.id IN (n.enrollment_a_id, n.enrollment_b_id)
    RETURNING case_id
)
SELECT count(DISTINCT case_id) FROM new_sides
"""

# One person, two current enrollments.
_SAME_IDENTIFIER_PAIRS = """
WITH live AS (
    SELECT id, person_id, region_code FROM enrollment_enrollment WHERE status <> 'terminated'
), groups AS (
    SELECT person_id FROM live GROUP BY person_id HAVING count(*) > 1
), pairs AS (
    SELECT c1.id AS a, c2.id AS b
    FROM groups g
    JOIN live c1 ON c1.person_id = g.person_id
    JOIN live c2 ON c2.person_id = g.person_id AND c2.id > c1.id
    WHERE starts_with(c1.region_code, %(prefix)s) OR starts_with(c2.region_code, %(prefix)s)
)"""

# Two persons with one name and birth date, under different identifier kinds, both enrolled.
_SAME_NAME_AND_BIRTH_DATE_PAIRS = """
WITH live AS (
    SELECT e.id, e.region_code, p.id AS person_id, p.name, p.birth_date, p.id_kind
    FROM enrollment_enrollment e JOIN enrollment_person p ON p.id = e.person_id
    WHERE e.status <> 'terminated'
), keys AS (
    SELECT DISTINCT name, birth_date FROM live WHERE starts_with(region_code, %(prefix)s)
), groups AS (
    SELECT c.name, c.birth_date
    FROM live c JOIN keys k ON k.name = c.name AND k.birth_date = c.birth_date
    GROUP BY c.name, c.birth_date
    HAVING count(DISTINCT c.id_kind) > 1
), pairs AS (
    SELECT c1.id AS a, c2.id AS b
    FROM groups g
    JOIN live c1 ON c1.name = g.name AND c1.birth_date = g.birth_date
    JOIN live c2 ON c2.name = g.name AND c2.birth_date = g.birth_date
         AND c2.id > c1.id AND c2.person_id <> c1.person_id AND c2.id_kind <> c1.id_kind
    WHERE starts_with(c1.region_code, %(prefix)s) OR starts_with(c2.region_code, %(prefix)s)
)"""

SAME_IDENTIFIER_SQL = _SAME_IDENTIFIER_PAIRS + _INSERT_CASES
SAME_NAME_AND_BIRTH_DATE_SQL = _SAME_NAME_AND_BIRTH_DATE_PAIRS + _INSERT_CASES

# Open cases of which one side is no longer current: nothing left to resolve.
CLOSE_STALE_SQL = """
UPDATE enrollment_duplicatecase c SET status = 'closed', decided_at = statement_timestamp()
WHERE c.status = 'open'
  AND EXISTS (SELECT 1 FROM enrollment_enrollment e
              WHERE e.id IN (c.enrollment_a_id, c.enrollment_b_id) AND e.status = 'terminated')
  AND EXISTS (SELECT 1 FROM enrollment_duplicateside s
              WHERE s.case_id = c.id AND starts_with(s.region_code, %(prefix)s))
"""


@dataclass(frozen=True)
class FindResult:
    same_identifier: int
    same_name_and_birth_date: int
    closed: int

    @property
    def found(self) -> int:
        return self.same_identifier + self.same_name_and_birth_date

    def as_dict(self) -> dict[str, int]:
        return {
            "same_identifier": self.same_identifier,
            "same_name_and_birth_date": self.same_name_and_birth_date,
            "closed": self.closed,
        }


def find(*, region_prefix: str) -> FindResult:
    """Run both matches and close stale cases, in the caller's transaction."""
    params: dict[str, Any] = {"prefix": region_prefix}
    with connection.cursor() as cursor:
        cursor.execute(CLOSE_STALE_SQL, params)
        closed = cursor.rowcount
        cursor.execute(SAME_IDENTIFIER_SQL, {**params, "match": DuplicateMatch.SAME_IDENTIFIER.value})
        same_identifier = cursor.fetchone()[0]
        cursor.execute(
            SAME_NAME_AND_BIRTH_DATE_SQL, {**params, "match": DuplicateMatch.SAME_NAME_AND_BIRTH_DATE.value}
        )
        same_name = cursor.fetchone()[0]
    return FindResult(same_identifier=same_identifier, same_name_and_birth_date=same_name, closed=closed)


def close_cases_of(*, enrollment_id: int, except_case_id: int | None = None) -> int:
    """Close the other open cases of an enrollment that has just been terminated."""
    cases = DuplicateCase.objects.filter(
        Q(enrollment_a_id=enrollment_id) | Q(enrollment_b_id=enrollment_id), status=DuplicateStatus.OPEN
    )
    if except_case_id is not None:
        cases = cases.exclude(pk=except_case_id)
    return cases.update(status=DuplicateStatus.CLOSED, decided_at=timezone.now())


# --- reads ----------------------------------------------------------------------------------------


def _visible(scope: Scope) -> QuerySet[DuplicateCase]:
    """The cases with at least one side in the caller's area (each once)."""
    sides = scope.filter(DuplicateSide.objects.all()).values("case_id")
    return DuplicateCase.objects.filter(pk__in=sides)


def case_queue(
    *, scope: Scope, status: str = DuplicateStatus.OPEN, match: str | None = None
) -> QuerySet[DuplicateCase]:
    cases = (
        _visible(scope)
        .filter(status=status)
        .select_related("enrollment_a__person__household", "enrollment_b__person__household", "decided_by")
    )
    if match:
        cases = cases.filter(match=match)
    return (
        cases.order_by("found_at", "pk")
        if status == DuplicateStatus.OPEN
        else cases.order_by("-decided_at", "-pk")
    )


def case_counts(*, scope: Scope) -> dict[str, int]:
    counts = dict(
        _visible(scope).order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in DuplicateStatus.values}


def case_detail(*, scope: Scope, pk: int) -> DuplicateCase:
    case = (
        _visible(scope)
        .select_related(
            "enrollment_a__person__household",
            "enrollment_b__person__household",
            "kept",
            "termination",
            "decided_by",
        )
        .filter(pk=pk)
        .first()
    )
    if case is None:
        raise Http404(_("No such record in your area."))
    return case
