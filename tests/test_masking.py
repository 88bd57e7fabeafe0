"""Masking of personal data: full only for roles that need it, inside their own area."""

import datetime as dt

import pytest

from accounts.masking import (
    birth_date_for,
    id_number_for,
    mask_birth_date_text,
    mask_id_number,
    mask_name,
    mask_payload,
    mask_phone,
    mask_region_for,
    mask_text,
    payload_for,
    phone_for,
)
from accounts.scope import Scope


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("H12345678", "H1*****78"),
        ("AB1234", "AB****"),
    ],
)
def test_given_an_identifier_then_only_its_ends_stay_visible(number, masked):
    assert mask_id_number(number) == masked


def test_given_a_mobile_number_then_the_middle_four_digits_are_hidden():
    assert mask_phone("13912345678") == "139****5678"


def test_given_a_name_then_only_the_surname_stays_visible():
    assert (mask_name("张三"), mask_name("欧阳小明")) == ("张*", "欧***")


def test_given_a_village_clerk_in_their_village_then_identifiers_and_phones_are_shown_in_full(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert id_number_for(scope, "11010519491231002X", "141002100201") == "11010519491231002X"
    assert phone_for(scope, "13912345678", "141002100201") == "13912345678"


def test_given_a_village_clerk_looking_at_another_village_then_identifiers_are_masked(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert id_number_for(scope, "11010519491231002X", "141024100201") == "110105********002X"


def test_given_tax_staff_then_identifiers_are_masked_even_in_their_county(world):
    scope = Scope.for_user(world.users["tax_a"])
    assert phone_for(scope, "13912345678", "141002100201") == "139****5678"


def test_given_a_record_outside_the_area_then_its_place_is_named_down_to_the_county_only(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert mask_region_for(scope, "141024100201") == "临汾市洪洞县（不在您的辖区）"
    assert mask_region_for(scope, "141002100201") == "临汾市尧都区屯里镇屯里村"


def test_given_a_message_payload_then_its_identity_phone_and_name_fields_are_masked_at_any_depth():
    # given a batch message whose items name persons
    payload = {
        "county_code": "141002",
        "items": [{"person_id": "141002198001010011", "person_name": "王小明", "phone": "13912345678"}],
        "amount_fen": 40000,
    }
    # when masked / then the keys that say who someone is keep only their ends; the rest is unchanged
    assert mask_payload(payload) == {
        "county_code": "141002",
        "items": [{"person_id": "141002********0011", "person_name": "王**", "phone": "139****5678"}],
        "amount_fen": 40000,
    }


def test_given_free_text_then_identity_and_mobile_numbers_in_it_are_masked_and_the_rest_kept():
    # given a traceback line naming a person by identity number and mobile
    text = "KeyError: person 14100219900101001X (tel 13912345678) not in ledger 20261130123456789012"
    # when masked / then both numbers keep only their ends; a longer digit run is not an identity number
    assert mask_text(text) == (
        "KeyError: person 141002********001X (tel 139****5678) not in ledger 20261130123456789012"
    )


def test_given_an_administrator_then_a_payload_is_masked_and_a_clerk_of_the_area_sees_it_in_full(world):
    # given one payload about a resident of 尧都区's village
    payload = {"person_id": "141002198001010011", "person_name": "王小明"}
    # then the administrator (no person.full_view) sees it masked, the village's clerk in full
    assert payload_for(Scope.for_user(world.users["admin"]), payload, "141002100201") == {
        "person_id": "141002********0011",
        "person_name": "王**",
    }
    assert payload_for(Scope.for_user(world.users["clerk_a"]), payload, "141002100201") == payload


def test_given_an_administrator_then_only_the_birth_year_is_shown_and_the_clerk_of_the_area_sees_the_date(
    world,
):
    # given a resident born 1980-01-31 in 尧都区's village
    born = dt.date(1980, 1, 31)
    # then beside the administrator's masked identifier only the year; the clerk sees the whole date
    assert birth_date_for(Scope.for_user(world.users["admin"]), born, "141002100201") == "1980"
    assert birth_date_for(Scope.for_user(world.users["clerk_a"]), born, "141002100201") == "1980-01-31"


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("1980-01-31", "1980"), ("19800131", "1980"), ("1980年1月31日", "1980"), ("31.01.", "******")],
)
def test_given_a_birth_date_as_typed_in_an_import_then_it_is_cut_to_its_year(typed, shown):
    assert mask_birth_date_text(typed) == shown
