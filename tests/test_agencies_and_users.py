"""Agencies sit at the right level; users hold a role that fits their agency."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import services
from accounts.models import User
from accounts.roles import AgencyKind, Role


def test_given_a_village_committee_at_county_level_when_created_then_it_is_refused(world):
    with pytest.raises(ValidationError) as error:
        services.agency_create(
            name="错位委员会", kind=AgencyKind.VILLAGE_COMMITTEE, region=world.regions["yaodu"]
        )
    assert error.value.message_dict == {"region": ["村（居）民委员会不能设在县（区）一级。"]}


def test_given_a_tax_bureau_in_a_village_when_created_then_it_is_refused(world):
    with pytest.raises(ValidationError) as error:
        services.agency_create(
            name="村税务局", kind=AgencyKind.TAX_BUREAU, region=world.regions["tunli_village"]
        )
    assert error.value.message_dict == {"region": ["税务局不能设在村（社区）一级。"]}


def test_given_two_agencies_of_one_name_in_one_region_then_the_second_is_refused(world):
    with pytest.raises(ValidationError) as error:
        services.agency_create(name="尧都区税务局", kind=AgencyKind.TAX_BUREAU, region=world.regions["yaodu"])
    assert error.value.message_dict == {"name": ["该区划内已有同名机构。"]}


def test_given_a_tax_role_for_an_insurance_agency_when_the_user_is_created_then_it_is_refused(world):
    with pytest.raises(ValidationError) as error:
        services.user_create(
            username="wrong",
            password="Long-enough-2026",
            full_name="错配",
            agency=world.agencies["insurance_a"],
            role=Role.TAX_STAFF,
        )
    assert error.value.message_dict == {"role": ["税务人员不能隶属于医保经办机构。"]}


def test_given_a_weak_password_when_a_user_is_created_then_it_is_refused(world):
    with pytest.raises(ValidationError):
        services.user_create(
            username="weak",
            password="123456",
            full_name="弱密码",
            agency=world.agencies["tax_a"],
            role=Role.TAX_STAFF,
        )
    assert not User.objects.filter(username="weak").exists()


def test_given_an_administrator_when_created_then_only_they_may_use_the_admin_site(world):
    assert world.users["admin"].is_staff is True
    assert world.users["insurance_a"].is_staff is False


def test_given_a_user_without_agency_who_is_not_superuser_then_the_database_refuses_it(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="orphan", role=None, agency=None, is_superuser=False)


def test_given_a_user_moved_to_another_agency_when_updated_then_the_role_must_still_fit(world):
    with pytest.raises(ValidationError):
        services.user_update(user=world.users["tax_a"], agency=world.agencies["finance_a"])
    world.users["tax_a"].refresh_from_db()
    assert world.users["tax_a"].agency == world.agencies["tax_a"]


def test_given_an_administrator_when_creating_an_agency_outside_their_city_then_it_is_refused(world):
    from accounts.scope import Scope

    scope = Scope.for_user(world.users["admin"])
    with pytest.raises(ValidationError) as error:
        services.agency_create(
            name="小店区税务局", kind=AgencyKind.TAX_BUREAU, region=world.regions["xiaodian"], scope=scope
        )
    assert error.value.messages == ["该区划不在您的辖区内。"]
