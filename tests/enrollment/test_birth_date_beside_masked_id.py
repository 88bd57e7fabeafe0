"""The identifier's mask hides exactly its eight birth-date digits: wherever it is shown masked, the
birth date beside it is cut to the year (``accounts.masking.birth_date_for``), and the admin's search
no longer answers prefixes of a number the viewer sees masked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.matrix.enrollment_registration import make_household

pytestmark = pytest.mark.django_db

YAODU_VILLAGE = "141002100201"


def _resident():  # type: ignore[no-untyped-def]
    """One person of 尧都区's village, born 1970-03-01."""
    return make_household(YAODU_VILLAGE, members=1).members.get()


def _masked(number: str) -> str:
    return number[:6] + "********" + number[-4:]


def test_given_an_administrator_when_listing_persons_through_the_api_then_only_the_birth_year_is_given(
    world, client
):
    # given
    person = _resident()
    client.force_login(world.users["admin"])
    # when
    answer = client.get("/api/persons/", {"household": person.household_id}, HTTP_ACCEPT="application/json")
    # then
    row = answer.json()["results"][0]
    assert (row["id_number"], row["birth_date"]) == (_masked(person.id_number), "1970")


def test_given_the_villages_clerk_when_listing_persons_through_the_api_then_the_full_birth_date_is_given(
    world, client
):
    # given the clerk sees the village's identifiers in full
    person = _resident()
    client.force_login(world.users["clerk_a"])
    # when
    answer = client.get("/api/persons/", {"household": person.household_id}, HTTP_ACCEPT="application/json")
    # then
    row = answer.json()["results"][0]
    assert (row["id_number"], row["birth_date"]) == (person.id_number, "1970-03-01")


def test_given_an_administrator_when_opening_a_persons_page_then_the_birth_date_is_cut_to_the_year(
    world, client
):
    # given
    person = _resident()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("enrollment:person-detail", args=[person.pk])).content.decode()
    # then
    assert "1970-03-01" not in page
    assert "<tr><th>出生日期</th><td>1970</td></tr>" in page


def test_given_an_administrator_when_opening_the_household_page_then_members_show_their_birth_year(
    world, client
):
    # given
    person = _resident()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("enrollment:household-detail", args=[person.household_id])).content.decode()
    # then
    assert "1970-03-01" not in page
    assert '<td class="nowrap">1970</td>' in page


def test_given_an_administrator_when_listing_persons_in_the_admin_then_only_the_birth_year_is_shown(
    world, client
):
    # given
    person = _resident()
    client.force_login(world.users["admin"])
    # when
    changelist = client.get(reverse("admin:enrollment_person_changelist")).content.decode()
    change = client.get(reverse("admin:enrollment_person_change", args=[person.pk])).content.decode()
    # then
    assert "1970-03-01" not in changelist and "1970年3月1日" not in changelist
    assert '<td class="field-shown_birth_date">1970</td>' in changelist
    assert "1970-03-01" not in change and "1970年3月1日" not in change
    assert '<div class="readonly">1970</div>' in change


def test_given_an_administrator_when_searching_the_admin_by_a_prefix_of_an_identifier_then_nothing_is_found(
    world, client
):
    # given
    person = _resident()
    client.force_login(world.users["admin"])
    url = reverse("admin:enrollment_person_changelist")
    # when
    by_prefix = client.get(url, {"q": person.id_number[:10]}).content.decode()
    by_number = client.get(url, {"q": person.id_number}).content.decode()
    by_name = client.get(url, {"q": person.name[:2]}).content.decode()
    # then a prefix answers nothing; the whole number and a name's beginning still find the person
    assert person.name not in by_prefix
    assert person.name in by_number
    assert person.name in by_name


def test_given_an_administrator_when_an_import_reports_a_row_then_its_birth_date_cell_is_cut_to_the_year(
    world,
):
    # given the report echoes the row's cells: identifier, birth date, phone
    from accounts.scope import Scope
    from enrollment import imports

    masker = imports._Masker(
        scope=Scope.for_user(world.users["admin"]), id_index=0, phone_index=2, birth_index=1
    )
    # when
    shown = masker.values(["14100219800131001X", "1980-01-31", "13912345678"], YAODU_VILLAGE)
    # then
    assert shown == ["141002********001X", "1980", "139****5678"]
