"""A school's clerk sits at the county but sees only their own school's students and rosters:
never the county's households, in pages, the API, search or writes (the one scope decides)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from accounts.scope import Scope
from enrollment import search
from enrollment.models import Household, Person
from tests.matrix.enrollment_review import TUNLI, make_household, make_person, unique_number

pytestmark = pytest.mark.django_db

SCHOOL_REGION = "141002000000"  # 尧都区: where 学校a registers its students


@pytest.fixture
def school_clerk(world):
    return world.user_for(Role.SCHOOL_CLERK, "a")


@pytest.fixture
def village_family(world) -> Household:
    """A household of 屯里村, in the school clerk's county."""
    household = make_household(TUNLI)
    make_person(TUNLI, household=household, name="王村民", id_number="141002198001010011")
    return household


@pytest.fixture
def student(world, school_clerk) -> Person:
    return make_person(
        SCHOOL_REGION, name="王学生", id_number="141002201001010012", school=school_clerk.agency
    )


def test_given_a_village_household_of_the_county_then_the_school_clerk_gets_404_not_its_page(
    client, school_clerk, village_family
):
    client.force_login(school_clerk)

    statuses = [
        client.get(reverse(name, args=[village_family.pk])).status_code
        for name in ("enrollment:household-detail", "enrollment:household-edit")
    ]

    assert statuses == [404, 404]


def test_given_students_and_villagers_then_the_api_lists_the_school_clerk_only_their_students(
    client, school_clerk, village_family, student
):
    client.force_login(school_clerk)

    persons = client.get("/api/persons/").json()["results"]
    households = client.get("/api/households/").json()["results"]

    assert [person["name"] for person in persons] == ["王学生"]
    assert households == []


def test_given_another_schools_student_then_the_school_clerk_does_not_see_them(world, school_clerk, student):
    other_school = world.agencies["school_b"]
    make_person(SCHOOL_REGION, name="王他校", id_number=unique_number(), school=other_school)

    scope = Scope.for_user(school_clerk)

    assert list(scope.filter(Person.objects.all()).values_list("name", flat=True)) == ["王学生"]


def test_given_a_name_then_the_school_clerk_search_finds_their_student_and_no_villager(
    school_clerk, village_family, student
):
    found = search.persons(scope=Scope.for_user(school_clerk), query="王", by_identifier=False, limit=20)

    assert [person.name for person in found] == ["王学生"]


def test_given_a_village_then_the_school_clerk_may_not_register_a_household_there(school_clerk):
    scope = Scope.for_user(school_clerk)

    assert (scope.covers_region_code(TUNLI), scope.covers_region_code(SCHOOL_REGION)) == (False, True)


def test_given_the_new_household_page_then_a_school_clerk_is_sent_to_the_school_roster(client, school_clerk):
    client.force_login(school_clerk)

    response = client.get(reverse("enrollment:household-new"))

    assert (response.status_code, response["Location"]) == (302, reverse("enrollment:school-roster"))
