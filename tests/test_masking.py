"""Masking of personal data: full only for roles that need it, inside their own area."""

import pytest

from accounts.masking import id_number_for, mask_id_number, mask_name, mask_phone, mask_region_for, phone_for
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
