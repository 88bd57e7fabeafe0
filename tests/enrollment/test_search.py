"""The search box's hand-written statements give what the querysets they replaced gave.

A small generated city (two counties, households of one to six, enrollments of which some are
terminated or suspended). Each search is compared with the ORM's own answer for the same scope:
the same persons or households in the same order, the same members head first, the same current
enrollments — and reading them afterwards costs no query.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Prefetch

from accounts.scope import Scope
from bench.city import city_generate
from enrollment.models import Enrollment, EnrollmentStatus, Household, Person
from enrollment.selectors import household_search, person_search, relation_rank

COUNTY, OTHER_COUNTY = "141002", "141024"


@pytest.fixture
def city(db):
    built = city_generate(persons=900, counties=2, townships=1, villages=2, seed=11, tax=False)
    assert {COUNTY, OTHER_COUNTY} <= set(built.counties)
    return built


def _scope(city, county: str) -> Scope:  # type: ignore[no-untyped-def]
    return Scope.for_user_id(city.staff[county][0])


def _queries(county: str, count: int) -> list[tuple[str, str]]:
    """(ID number, name prefix) of ``count`` persons of the county."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, left(name, 2) FROM enrollment_person WHERE region_code LIKE %s ORDER BY id LIMIT %s",
            [county + "%", count],
        )
        return list(cursor.fetchall())


def _members_of_households_with_a_terminated_enrollment(county: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.id_number, left(p.name, 2) FROM enrollment_person p WHERE p.household_id IN ("
            "  SELECT m.household_id FROM enrollment_person m JOIN enrollment_enrollment e ON e.person_id = m.id"
            "  WHERE e.status = %s AND m.region_code LIKE %s) ORDER BY p.id",
            [EnrollmentStatus.TERMINATED, county + "%"],
        )
        return list(cursor.fetchall())


def _orm_households(scope: Scope, ids: list[int]) -> list[Household]:
    current = Enrollment.objects.exclude(status=EnrollmentStatus.TERMINATED).order_by("-enrolled_on", "-pk")
    members = Person.objects.order_by(relation_rank(), "birth_date", "pk").prefetch_related(
        Prefetch("enrollments", queryset=current, to_attr="current_enrollments")
    )
    return list(
        scope.filter(Household.objects.filter(pk__in=ids))
        .prefetch_related(Prefetch("members", queryset=members))
        .order_by("number")
    )


def _shape(households: list[Household]) -> list[tuple[object, ...]]:
    return [
        (
            h.pk,
            h.number,
            [
                (p.pk, p.id_number, p.name, p.relation, p.birth_date, p.household_id, [(e.pk, e.status) for e in p.current_enrollments])
                for p in h.members.all()
            ],
        )
        for h in households
    ]  # fmt: skip


def test_given_a_city_when_persons_are_searched_by_id_number_or_name_prefix_then_the_answer_is_the_querysets(
    city,
):
    scope = _scope(city, COUNTY)
    for id_number, prefix in _queries(COUNTY, 40):
        for query in (id_number, id_number[:10], prefix):
            found = person_search(scope=scope, query=query)
            field = "id_number" if query[0].isdigit() else "name"
            order = ["id_number"] if field == "id_number" else ["name", "id_number"]
            expected = list(
                scope.filter(Person.objects.filter(**{f"{field}__startswith": query})).order_by(*order)[:20]
            )
            assert [p.pk for p in found] == [p.pk for p in expected]
            assert [(p.id_number, p.name, p.birth_date, p.region_code, p.revision) for p in found] == [
                (p.id_number, p.name, p.birth_date, p.region_code, p.revision) for p in expected
            ]


def test_given_a_found_person_when_its_household_is_read_then_no_query_is_sent(
    city, django_assert_num_queries
):
    scope = _scope(city, COUNTY)
    id_number, _prefix = _queries(COUNTY, 1)[0]
    (person,) = person_search(scope=scope, query=id_number)
    expected = Household.objects.get(pk=person.household_id)
    with django_assert_num_queries(0):
        assert (person.household.pk, person.household.number) == (expected.pk, expected.number)


def test_given_a_city_when_households_are_searched_by_a_members_id_or_name_then_each_comes_as_the_prefetch_gave_it(
    city, django_assert_num_queries
):
    scope = _scope(city, COUNTY)
    terminated_seen = False
    with_terminated = _members_of_households_with_a_terminated_enrollment(COUNTY)
    assert with_terminated  # the generated city has deaths among the county's persons
    for id_number, prefix in _queries(COUNTY, 40) + with_terminated[:5]:
        for query in (id_number, prefix):
            found = household_search(scope=scope, query=query)
            assert found, query
            with django_assert_num_queries(0):
                shape = _shape(found)
                assert all(p.household is h for h in found for p in h.members.all())
                assert all(
                    e.person is p for h in found for p in h.members.all() for e in p.current_enrollments
                )
            assert shape == _shape(_orm_households(scope, [h.pk for h in found]))
            assert [h.number for h in found] == sorted(h.number for h in found)
            terminated_seen = (
                terminated_seen
                or Enrollment.objects.filter(
                    person__household__in=found, status=EnrollmentStatus.TERMINATED
                ).exists()
            )
    # Terminated enrollments were among the searched households: leaving them out was tested.
    assert terminated_seen


def test_given_another_countys_staff_when_they_search_this_countys_persons_then_nothing_is_found(city):
    other = _scope(city, OTHER_COUNTY)
    for id_number, prefix in _queries(COUNTY, 20):
        assert person_search(scope=other, query=id_number) == []
        assert household_search(scope=other, query=id_number) == []
        assert all(p.region_code.startswith(OTHER_COUNTY) for p in person_search(scope=other, query=prefix))
        assert all(
            h.region_code.startswith(OTHER_COUNTY) for h in household_search(scope=other, query=prefix)
        )


def test_given_a_blank_query_or_nobodys_scope_when_searched_then_nothing_is_found(city):
    id_number, _prefix = _queries(COUNTY, 1)[0]
    assert person_search(scope=_scope(city, COUNTY), query="  ") == []
    assert household_search(scope=_scope(city, COUNTY), query="") == []
    assert person_search(scope=Scope.nobody(), query=id_number) == []
    assert household_search(scope=Scope.nobody(), query=id_number) == []
