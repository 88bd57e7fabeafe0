"""The search box's statements, written out once from the models' columns.

A clerk's search is the portal's most frequent request. Among five million persons PostgreSQL
answers it from an index in well under a millisecond; compiling the equivalent querysets (the
scope's filter, ``select_related``, two levels of ``prefetch_related``) cost several times that
in Python. These functions send the same SQL the querysets did, built once per process from the
models' concrete fields, and build the same model instances (as ``Model.from_db`` does, see
``_instance``) with the same caches filled: a person's household, a household's members, a member's ``current_enrollments``.

The scope still decides which rows are read (``Scope.region_sql``, the hand-written twin of
``Scope.filter``); the access matrix and the search tests cover both the pages and the API.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

from accounts.rows import model_from_row
from accounts.scope import Scope

from .models import Enrollment, EnrollmentStatus, Household, Person, Relation

# Members of one household share a surname and sit together in the name index: reading this many
# matching members per wanted household nearly always finds ``limit`` households, and stops the
# read of a common name ("王强" among millions) after a short stretch of the index.
MEMBERS_READ_PER_HOUSEHOLD = 10


@functools.cache
def _columns(model: type[Model], alias: str) -> tuple[str, tuple[str, ...]]:
    """The select list of every concrete column of ``model`` under ``alias``, and their attnames
    in the same order (what ``from_db`` expects)."""
    fields = model._meta.concrete_fields
    quoted = ", ".join(f'{alias}."{field.column}"' for field in fields)
    return quoted, tuple(field.attname for field in fields)


def _like_prefix(text: str) -> str:
    return connection.ops.prep_for_like_query(text) + "%"


def _match(*, query: str, by_identifier: bool, alias: str) -> tuple[str, str, str]:
    """The search's condition, its index's order and the LIKE pattern: identifier (upper-cased) or
    name, by prefix, on ``alias``'s columns."""
    if by_identifier:
        return f'{alias}"id_number" LIKE %s', f'{alias}"id_number"', _like_prefix(query.upper())
    return f'{alias}"name" LIKE %s', f'{alias}"name", {alias}"id_number"', _like_prefix(query)


def persons(*, scope: Scope, query: str, by_identifier: bool, limit: int) -> list[Person]:
    """Persons whose identifier (upper-cased) or name starts with ``query``, in that index's order,
    each with its household (or none), at most ``limit``."""
    person_columns, person_names = _columns(Person, "p")
    household_columns, household_names = _columns(Household, "h")
    region, region_params = scope.region_sql('p."region_code"', school_column='p."school_id"')
    condition, order, pattern = _match(query=query, by_identifier=by_identifier, alias="p.")
    sql = (
        f"SELECT {person_columns}, {household_columns} FROM enrollment_person p "  # noqa: S608 - columns and the scope's condition, no input
        'LEFT JOIN enrollment_household h ON h."id" = p."household_id" '
        f"WHERE {condition} AND {region} ORDER BY {order} LIMIT %s"
    )
    width = len(person_names)
    household_cache = Person._meta.get_field("household")
    found: list[Person] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [pattern, *region_params, limit])
        for row in cursor.fetchall():
            person = model_from_row(Person, person_names, row[:width])
            household = (
                model_from_row(Household, household_names, row[width:]) if row[width] is not None else None
            )
            household_cache.set_cached_value(person, household)
            found.append(person)
    return found


def household_ids(*, scope: Scope, query: str, by_identifier: bool, limit: int) -> list[int]:
    """The households of the first members matching ``query`` (identifier or name prefix), in the
    order of the search's index, at most ``limit``."""
    region, region_params = scope.region_sql('"region_code"')
    condition, order, pattern = _match(query=query, by_identifier=by_identifier, alias="")
    sql = (
        'SELECT "household_id" FROM enrollment_person '  # noqa: S608 - the scope's condition, no input
        f'WHERE {condition} AND "household_id" IS NOT NULL AND {region} ORDER BY {order} LIMIT %s'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pattern, *region_params, limit * MEMBERS_READ_PER_HOUSEHOLD])
        return list(dict.fromkeys(household_id for (household_id,) in cursor.fetchall()))[:limit]


def _relation_rank_sql() -> str:
    """``selectors.relation_rank`` in SQL: head first, then spouse, children… in ``Relation``'s order."""
    whens = " ".join(f"WHEN '{value}' THEN {index}" for index, value in enumerate(Relation.values))
    return f'CASE p."relation" {whens} ELSE {len(Relation.values)} END'


def _prefetched(model: type[Model], rows: list[Any]) -> QuerySet[Any]:
    """A queryset already evaluated to ``rows``, as ``prefetch_related`` leaves in an instance's
    ``_prefetched_objects_cache`` (``household.members.all()`` then reads it)."""
    evaluated: QuerySet[Any] = QuerySet(model=model)
    evaluated._result_cache = rows
    evaluated._prefetch_done = True
    return evaluated


def households_with_members(*, scope: Scope, household_ids: list[int]) -> list[Household]:
    """The scope's households among ``household_ids``, by number, each with its members (head
    first, then by birth date) and each member's enrollments other than terminated ones (newest
    first) — in one statement."""
    household_columns, household_names = _columns(Household, "h")
    person_columns, person_names = _columns(Person, "p")
    enrollment_columns, enrollment_names = _columns(Enrollment, "e")
    region, region_params = scope.region_sql('h."region_code"')
    sql = (
        f"SELECT {household_columns}, {person_columns}, {enrollment_columns} "  # noqa: S608 - columns and the scope's condition, no input
        "FROM enrollment_household h "
        'LEFT JOIN enrollment_person p ON p."household_id" = h."id" '
        'LEFT JOIN enrollment_enrollment e ON e."person_id" = p."id" AND e."status" <> %s '
        f'WHERE h."id" = ANY(%s) AND {region} '
        f'ORDER BY h."number", {_relation_rank_sql()}, p."birth_date", p."id", e."enrolled_on" DESC, e."id" DESC'
    )
    household_end = len(household_names)
    person_end = household_end + len(person_names)
    household_field = Person._meta.get_field("household")
    person_field = Enrollment._meta.get_field("person")
    households: dict[int, Household] = {}
    members: dict[int, list[Person]] = {}
    people: dict[int, Person] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [EnrollmentStatus.TERMINATED, household_ids, *region_params])
        for row in cursor.fetchall():
            household_id = row[0]
            household = households.get(household_id)
            if household is None:
                household = households[household_id] = model_from_row(
                    Household, household_names, row[:household_end]
                )
                members[household_id] = []
            person_id = row[household_end]
            if person_id is None:
                continue
            person = people.get(person_id)
            if person is None:
                person = people[person_id] = model_from_row(
                    Person, person_names, row[household_end:person_end]
                )
                household_field.set_cached_value(person, household)
                person.current_enrollments = []  # type: ignore[attr-defined]
                members[household_id].append(person)
            if row[person_end] is not None:
                enrollment = model_from_row(Enrollment, enrollment_names, row[person_end:])
                person_field.set_cached_value(enrollment, person)
                person.current_enrollments.append(enrollment)  # type: ignore[attr-defined]
    for household_id, household in households.items():
        household._prefetched_objects_cache = {"members": _prefetched(Person, members[household_id])}  # type: ignore[attr-defined]
    return list(households.values())
