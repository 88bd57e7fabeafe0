"""Reads of households, persons, enrollments and applications, always through a scope."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When, prefetch_related_objects

from accounts.scope import Scope

from . import search
from .models import (
    ApplicationStatus,
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    HouseholdKind,
    IdentifierCorrection,
    Person,
    RegistrationApplication,
    Relation,
)

_IDENTIFIER_LIKE = re.compile(r"^[0-9A-Za-z]{4,}$")


def relation_rank(field: str = "relation") -> Case:
    """Head first, then spouse, children… in the order of ``Relation`` (not alphabetically)."""
    return Case(
        *[When(**{field: value}, then=Value(index)) for index, value in enumerate(Relation.values)],
        default=Value(len(Relation.values)),
        output_field=IntegerField(),
    )


def _current_enrollments_prefetch() -> Prefetch:
    """A person's current (not terminated) enrollments, newest first, as ``current_enrollments``:
    the status a search result shows."""
    current = Enrollment.objects.exclude(status=EnrollmentStatus.TERMINATED).order_by("-enrolled_on")
    return Prefetch("enrollments", queryset=current, to_attr="current_enrollments")


def _members_prefetch() -> Prefetch:
    return Prefetch(
        "members",
        queryset=Person.objects.select_related("school")
        .order_by(relation_rank(), "birth_date")
        .prefetch_related(_current_enrollments_prefetch()),
    )


def with_current_enrollments(persons: list[Person]) -> list[Person]:
    """The persons with their ``current_enrollments`` (``_current_enrollments_prefetch``)."""
    prefetch_related_objects(persons, _current_enrollments_prefetch())
    return persons


def household_search(*, scope: Scope, query: str, limit: int = 20) -> list[Household]:
    """A household found again by any member's identifier (exact or prefix) or name (prefix).

    Each household comes with its members (head first) and their current enrollments, as
    ``household_detail`` gives them. Two statements written out once (``enrollment.search``) in
    place of the ORM's four: the search box is the clerk's most frequent request, and compiling
    four querysets cost more than PostgreSQL's work for them.
    """
    query = query.strip()
    if not query:
        return []
    household_ids = search.household_ids(
        scope=scope, query=query, by_identifier=bool(_IDENTIFIER_LIKE.match(query)), limit=limit
    )
    return search.households_with_members(scope=scope, household_ids=household_ids) if household_ids else []


def person_search(*, scope: Scope, query: str, limit: int = 20) -> list[Person]:
    """Persons by identifier (prefix) or name (prefix), in index order, each with its household.

    One statement written out once (``enrollment.search``) instead of a compiled queryset: among
    millions of persons PostgreSQL answers in a fraction of a millisecond, and the queryset's
    compilation was most of the search's time.
    """
    query = query.strip()
    if not query:
        return []
    return search.persons(
        scope=scope, query=query, by_identifier=bool(_IDENTIFIER_LIKE.match(query)), limit=limit
    )


def household_detail(*, scope: Scope, pk: int) -> Household:
    return scope.get_object_or_404(Household.objects.prefetch_related(_members_prefetch()), pk=pk)


def _application_persons() -> Prefetch:
    """An application's persons as a household lists them: head first, then spouse, children…"""
    return Prefetch("persons", queryset=Person.objects.order_by(relation_rank(), "birth_date", "pk"))


def household_applications(*, household: Household) -> QuerySet[RegistrationApplication]:
    return household.applications.select_related("submitted_by", "decided_by").prefetch_related(
        _application_persons()
    )


def person_detail(*, scope: Scope, pk: int) -> Person:
    return scope.get_object_or_404(Person.objects.select_related("household", "school"), pk=pk)


def person_enrollments(*, person: Person) -> QuerySet[Enrollment]:
    return person.enrollments.order_by("-enrolled_on", "-pk")


def person_timeline(*, person: Person) -> QuerySet[EnrollmentChange]:
    """Every change of every enrollment of the person, oldest first."""
    return (
        EnrollmentChange.objects.filter(enrollment__person=person)
        .select_related("enrollment", "created_by")
        .order_by("effective_on", "created_at", "pk")
    )


def application_queue(
    *, scope: Scope, status: str | None = ApplicationStatus.SUBMITTED
) -> QuerySet[RegistrationApplication]:
    queryset = scope.filter(
        RegistrationApplication.objects.select_related(
            "household", "submitted_by", "decided_by"
        ).prefetch_related(_application_persons())
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("submitted_at", "pk") if status == ApplicationStatus.SUBMITTED else queryset


def application_detail(*, scope: Scope, pk: int) -> RegistrationApplication:
    return scope.get_object_or_404(
        RegistrationApplication.objects.select_related(
            "household", "submitted_by", "decided_by"
        ).prefetch_related(_application_persons()),
        pk=pk,
    )


def enrollment_detail(*, scope: Scope, pk: int) -> Enrollment:
    return scope.get_object_or_404(Enrollment.objects.select_related("person"), pk=pk)


def normal_enrollment_of(*, id_number: str) -> Enrollment | None:
    """Whether someone is enrolled anywhere (the caller masks where, as the viewer's role requires)."""
    return (
        Enrollment.objects.select_related("person")
        .filter(person__id_number=id_number.strip().upper(), status=EnrollmentStatus.NORMAL)
        .first()
    )


def village_enrollments(*, scope: Scope, region_code: str) -> QuerySet[Enrollment]:
    """The normal enrollments of one village or school area, for its publicity list."""
    return (
        scope.filter(Enrollment.objects.select_related("person", "person__household"))
        .filter(region_code=region_code, status=EnrollmentStatus.NORMAL)
        .order_by(
            "person__household__number",
            relation_rank("person__relation"),
            "person__birth_date",
            "person__id_number",
        )
    )


def school_enrollments(*, scope: Scope, school_id: int) -> QuerySet[Enrollment]:
    """The normal enrollments of one school's students, for the school's publicity list."""
    return (
        scope.filter(Enrollment.objects.select_related("person", "person__household"))
        .filter(person__school_id=school_id, status=EnrollmentStatus.NORMAL)
        .order_by("person__name", "person__id_number")
    )


def open_application_counts(*, scope: Scope) -> dict[str, int]:
    queryset = scope.filter(RegistrationApplication.objects.all())
    return {
        "submitted": queryset.filter(status=ApplicationStatus.SUBMITTED).count(),
        "returned": queryset.filter(status=ApplicationStatus.RETURNED).count(),
    }


def persons_matching(*, scope: Scope, ids: list[int]) -> QuerySet[Person]:
    return scope.filter(Person.objects.filter(Q(pk__in=ids)))


def person_hukou_and_residence(*, person: Person) -> tuple[str, str]:
    """Where the person's hukou and residence are: their own codes, else what their household says
    (a hukou household is registered at its hukou village, a residence-permit one where they live)."""
    hukou, residence = person.hukou_region_code, person.residence_region_code
    if person.household_id and not (hukou and residence):
        kind, village = (
            Household.objects.filter(pk=person.household_id).values_list("kind", "region_code").get()
        )
        if kind == HouseholdKind.HUKOU:
            hukou = hukou or village
        else:
            residence = residence or village
    return hukou, residence


def person_identifier_corrections(*, person: Person) -> QuerySet[IdentifierCorrection]:
    """The person's identifier corrections, newest first, with who made them."""
    return person.identifier_corrections.select_related("corrected_by").order_by("-corrected_at", "-pk")


def current_identifiers(numbers: Iterable[str]) -> dict[str, str]:
    """Old identifier -> the identifier its person holds now, for tax's messages sent before tax
    re-keyed its ledger (a payment taken at the counter under the old number a moment before the
    correction reached tax). An old identifier someone else holds now is that person's: left out."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT n, {current_identifier_sql('n')} FROM unnest(%s::text[]) AS n",  # noqa: S608 - no input
            [wanted],
        )
        return {old: now for old, now in cursor.fetchall() if now != old}


def current_identifier_sql(number: str) -> str:
    """The identifier the person who once held ``number`` (a SQL text expression) holds now, as a SQL
    expression: the newest correction away from it, unless someone holds it now (then, and without
    any correction, ``number`` itself). Set-based handlers use it as is; ``current_identifiers``
    asks it for a list."""
    return (
        "coalesce((SELECT p.id_number FROM enrollment_identifiercorrection c"  # noqa: S608 - no input
        " JOIN enrollment_person p ON p.id = c.person_id"
        f" WHERE c.old_number = {number}"
        " AND NOT EXISTS (SELECT 1 FROM enrollment_person q WHERE q.id_number = c.old_number)"
        f" ORDER BY c.corrected_at DESC, c.id DESC LIMIT 1), {number})"
    )
