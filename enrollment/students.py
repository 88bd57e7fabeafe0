"""A school's students (学生名册): whom the school's clerk enrolls and follows, each with their
enrollment and the insurance year's payment, a page at a time, with the school's counts.

Insurance's own records only: the person, their enrollments, their roster applications and the
year's assessment, whose payment side insurance fills from tax's deposit messages (入库) — never
tax's tables. A page is one statement whatever the number of students: the students are read in
the order of ``person_school_name_idx`` (school, name, identifier) from the last row shown on
(keyset pagination: ``after`` is that row's name and identifier), and each row's current
enrollment, open roster and assessment are index probes of that row (LATERAL), not a query per
row. The counts are one grouped statement over the school's students.

Every read takes a scope: a school's clerk sees their own school only (another school is "not
found", as anything outside the area is), and the students through ``Scope.region_sql``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.masking import birth_date_for, id_number_for
from accounts.models import Agency, AgencyKind
from accounts.roles import Action
from accounts.scope import Scope

from .models import ApplicationStatus, EnrollmentStatus, PersonCategory, Sex
from .models_assessment import AssessmentStatus

PAGE_SIZE = 50
# An identifier is searched by its prefix from four characters on; anything else is a name prefix
# (as the workspace's search box: ``selectors._IDENTIFIER_LIKE``).
_IDENTIFIER_LIKE = re.compile(r"^[0-9A-Za-z]{4,}$")

# What a student's state is: their current enrollment's status, else (never enrolled) their roster
# application's, else none.
NOT_ENROLLED = "none"
AWAITING = (ApplicationStatus.SUBMITTED, ApplicationStatus.RETURNED)
# The list's filters: a state, or every student not yet enrolled (awaiting a roster's decision,
# returned, rejected or never put on a roster).
UNENROLLED = "unenrolled"
STATUS_FILTERS = (
    EnrollmentStatus.NORMAL,
    EnrollmentStatus.SUSPENDED,
    EnrollmentStatus.TERMINATED,
    UNENROLLED,
)
_UNENROLLED_STATES = (*AWAITING, ApplicationStatus.REJECTED, NOT_ENROLLED)
# Payment of the year: paid (by the student or, in full, by the government), due, or no assessment.
PAID = "paid"
DUE = "due"
UNASSESSED = "unassessed"
PAYMENT_FILTERS = (PAID, DUE, UNASSESSED)
_PAID_STATUSES = (AssessmentStatus.PAID, AssessmentStatus.GOVERNMENT)

_STATE_SQL = (
    "CASE WHEN cur.status IS NOT NULL THEN cur.status "
    "WHEN app.status IN ('submitted', 'returned', 'rejected') THEN app.status "
    f"ELSE '{NOT_ENROLLED}' END"
)

# The student's current enrollment (else their last one, terminated) and their open roster
# application (else their last one): the same choices as the workspace's student search.
_FROM = """
FROM enrollment_person p
LEFT JOIN LATERAL (
    SELECT e.status, e.enrolled_on FROM enrollment_enrollment e
    WHERE e.person_id = p.id
    ORDER BY e.status = 'terminated', e.enrolled_on DESC, e.id DESC LIMIT 1
) cur ON true
LEFT JOIN LATERAL (
    SELECT r.status FROM enrollment_registrationapplication_persons ap
    JOIN enrollment_registrationapplication r ON r.id = ap.registrationapplication_id
    WHERE ap.person_id = p.id
    ORDER BY r.status IN ('submitted', 'returned') DESC, r.submitted_at DESC, r.id DESC LIMIT 1
) app ON true
LEFT JOIN enrollment_assessment a ON a.person_id = p.id AND a.insurance_year = %s
"""

_ROWS_SQL = (
    "SELECT p.id, p.name, p.id_number, p.region_code, p.sex, p.birth_date, p.category, "
    f"{_STATE_SQL}, cur.enrolled_on, a.status, coalesce(a.back_payment_fen, a.payable_fen), "
    "a.paid_on, a.paid_fen"
)


@dataclass(frozen=True)
class StudentFilter:
    """What the list is narrowed to: a state (``STATUS_FILTERS``), a payment (``PAYMENT_FILTERS``)
    and a name or identifier prefix. Anything else asked for is no filter."""

    status: str = ""
    payment: str = ""
    query: str = ""

    @classmethod
    def of(cls, *, status: str = "", payment: str = "", query: str = "") -> StudentFilter:
        return cls(
            status=status if status in STATUS_FILTERS else "",
            payment=payment if payment in PAYMENT_FILTERS else "",
            query=query.strip(),
        )


@dataclass(frozen=True)
class StudentRow:
    pk: int
    name: str
    # As the viewer may see them (``accounts.masking``).
    id_number: str
    birth_date: str
    sex: str
    category: str
    region_code: str
    # ``EnrollmentStatus``, an open or rejected roster's ``ApplicationStatus``, or ``NOT_ENROLLED``.
    state: str
    state_label: str
    enrolled_on: dt.date | None
    # ``AssessmentStatus`` of the year, or "" when the student is not assessed for it.
    payment: str
    payment_label: str
    # What is due (a back-payment's amount where one was approved), or what was paid, and when.
    due_fen: int | None
    paid_on: dt.date | None
    paid_fen: int | None
    # The keyset cursor of the row (its name and identifier, as stored).
    key: str = field(repr=False, default="")


@dataclass(frozen=True)
class StudentPage:
    rows: list[StudentRow]
    next_after: str | None


@dataclass(frozen=True)
class StudentCounts:
    """The school's students by state and by the year's payment (whatever the list's filters)."""

    total: int
    by_state: dict[str, int]
    by_payment: dict[str, int]

    def of_status(self, status: str) -> int:
        """How many students a status filter lists."""
        if status == UNENROLLED:
            return sum(self.by_state.get(state, 0) for state in _UNENROLLED_STATES)
        return self.by_state.get(status, 0) if status else self.total

    @property
    def awaiting(self) -> int:
        """Not yet enrolled, in a roster still awaiting insurance's decision (or returned to fix)."""
        return sum(self.by_state.get(state, 0) for state in AWAITING)

    def of_payment(self, payment: str) -> int:
        if payment == PAID:
            return sum(self.by_payment.get(status, 0) for status in _PAID_STATUSES)
        if payment == UNASSESSED:
            return self.by_payment.get("", 0)
        return self.by_payment.get(payment, 0) if payment else self.total


def school_for_students(*, scope: Scope, pk: int) -> Agency:
    """The school whose students are asked for: in the viewer's area, and for a school's clerk
    their own school only (any other is "not found")."""
    scope.require(Action.ENROLLMENT_VIEW)
    if scope.school_id is not None and scope.school_id != pk:
        raise Http404(_("No such record in your area."))
    return scope.get_object_or_404(
        Agency.objects.select_related("region").filter(kind=AgencyKind.SCHOOL), pk=pk
    )


def _where(scope: Scope, school: Agency) -> tuple[str, list[object]]:
    region, region_params = scope.region_sql('p."region_code"', school_column='p."school_id"')
    return f'WHERE p."school_id" = %s AND {region}', [school.pk, *region_params]


def _like_prefix(text: str) -> str:
    return connection.ops.prep_for_like_query(text) + "%"


def _filtered(
    scope: Scope, school: Agency, filters: StudentFilter, after: str | None
) -> tuple[str, list[object]]:
    """The WHERE clause of the list and its parameters (after the assessment join's year)."""
    where, params = _where(scope, school)
    conditions = [where]
    if filters.query:
        if _IDENTIFIER_LIKE.match(filters.query):
            conditions.append('p."id_number" LIKE %s')
            params.append(_like_prefix(filters.query.upper()))
        else:
            conditions.append('p."name" LIKE %s')
            params.append(_like_prefix(filters.query))
    if filters.status == UNENROLLED:
        conditions.append(f"({_STATE_SQL}) = ANY(%s)")
        params.append(list(_UNENROLLED_STATES))
    elif filters.status:
        conditions.append(f"({_STATE_SQL}) = %s")
        params.append(filters.status)
    if filters.payment == PAID:
        conditions.append("a.status = ANY(%s)")
        params.append(list(_PAID_STATUSES))
    elif filters.payment == DUE:
        conditions.append("a.status = %s")
        params.append(AssessmentStatus.DUE)
    elif filters.payment == UNASSESSED:
        conditions.append("a.id IS NULL")
    cursor = _cursor_of(after)
    if cursor is not None:
        conditions.append('(p."name", p."id_number") > (%s, %s)')
        params.extend(cursor)
    return " AND ".join(conditions), params


def _cursor_of(after: str | None) -> tuple[str, str] | None:
    """The (name, identifier) a page starts after; anything else starts at the first page."""
    if not after:
        return None
    try:
        name, id_number = json.loads(after)
    except (TypeError, ValueError):
        return None
    return (name, id_number) if isinstance(name, str) and isinstance(id_number, str) else None


_STATE_LABELS = {
    **dict(EnrollmentStatus.choices),
    **{status: label for status, label in ApplicationStatus.choices if status != ApplicationStatus.APPROVED},
}
_SEX_LABELS = dict(Sex.choices)
_CATEGORY_LABELS = dict(PersonCategory.choices)
_PAYMENT_LABELS = dict(AssessmentStatus.choices)


def _row(scope: Scope, values: tuple) -> StudentRow:
    (pk, name, id_number, region_code, sex, birth_date, category, state, enrolled_on,
     payment, due_fen, paid_on, paid_fen) = values  # fmt: skip
    return StudentRow(
        pk=pk,
        name=name,
        id_number=id_number_for(scope, id_number, region_code),
        birth_date=birth_date_for(scope, birth_date, region_code),
        sex=str(_SEX_LABELS.get(sex, sex)),
        category=str(_CATEGORY_LABELS.get(category, category)),
        region_code=region_code,
        state=state,
        state_label=str(_STATE_LABELS[state]) if state in _STATE_LABELS else _("Not enrolled"),
        enrolled_on=enrolled_on if state in (EnrollmentStatus.NORMAL, EnrollmentStatus.SUSPENDED) else None,
        payment=payment or "",
        payment_label=str(_PAYMENT_LABELS.get(payment, payment)) if payment else _("Not assessed"),
        due_fen=int(due_fen) if payment == AssessmentStatus.DUE and due_fen is not None else None,
        paid_on=paid_on,
        paid_fen=int(paid_fen) if paid_fen is not None else None,
        key=json.dumps([name, id_number], ensure_ascii=False),
    )


def _statement(
    scope: Scope, school: Agency, insurance_year: int, filters: StudentFilter, after: str | None
) -> tuple[str, list[object]]:
    where, params = _filtered(scope, school, filters, after)
    sql = f'{_ROWS_SQL} {_FROM} {where} ORDER BY p."name", p."id_number"'
    return sql, [insurance_year, *params]


def student_page(
    *,
    scope: Scope,
    school: Agency,
    insurance_year: int,
    filters: StudentFilter,
    after: str | None = None,
    page_size: int = PAGE_SIZE,
) -> StudentPage:
    """One page of the school's students, by name, after the row ``after`` names."""
    scope.require(Action.ENROLLMENT_VIEW)
    sql, params = _statement(scope, school, insurance_year, filters, after)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} LIMIT %s", [*params, page_size + 1])
        rows = [_row(scope, values) for values in cursor.fetchall()]
    more = len(rows) > page_size
    return StudentPage(rows=rows[:page_size], next_after=rows[page_size - 1].key if more else None)


def students_all(
    *, scope: Scope, school: Agency, insurance_year: int, filters: StudentFilter
) -> Iterator[StudentRow]:
    """Every student the filters keep, by name, streamed (a server-side cursor): for the export."""
    scope.require(Action.ENROLLMENT_VIEW)
    sql, params = _statement(scope, school, insurance_year, filters, None)
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = 2000
        cursor.execute(sql, params)
        for values in cursor:
            yield _row(scope, values)


def student_counts(*, scope: Scope, school: Agency, insurance_year: int) -> StudentCounts:
    """The school's students by state and by the year's payment, in one grouped statement."""
    scope.require(Action.ENROLLMENT_VIEW)
    where, params = _where(scope, school)
    sql = f"SELECT {_STATE_SQL}, coalesce(a.status, ''), count(*) {_FROM} {where} GROUP BY 1, 2"
    by_state: dict[str, int] = {}
    by_payment: dict[str, int] = {}
    total = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, [insurance_year, *params])
        for state, payment, count in cursor.fetchall():
            by_state[state] = by_state.get(state, 0) + count
            by_payment[payment] = by_payment.get(payment, 0) + count
            total += count
    return StudentCounts(total=total, by_state=by_state, by_payment=by_payment)
