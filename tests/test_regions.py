"""Regions: national division codes, levels and subtrees."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import services
from accounts.models import Region, RegionLevel


@pytest.fixture
def shanxi(db):
    return services.region_create(code="140000", name="山西省")


def test_given_a_six_digit_county_code_when_created_then_it_is_stored_as_twelve_digits_at_county_level(
    shanxi,
):
    linfen = services.region_create(code="141000", name="临汾市", parent=shanxi)
    yaodu = services.region_create(code="141002", name="尧都区", parent=linfen)
    assert (yaodu.code, yaodu.level, yaodu.prefix, yaodu.national_code) == (
        "141002000000",
        RegionLevel.COUNTY,
        "141002",
        "141002",
    )


def test_given_township_and_village_codes_then_their_national_codes_have_nine_and_twelve_digits(shanxi):
    linfen = services.region_create(code="141000", name="临汾市", parent=shanxi)
    yaodu = services.region_create(code="141002", name="尧都区", parent=linfen)
    tunli = services.region_create(code="141002100", name="屯里镇", parent=yaodu)
    village = services.region_create(code="141002100201", name="屯里村", parent=tunli)
    assert (tunli.national_code, tunli.level) == ("141002100", RegionLevel.TOWNSHIP)
    assert (village.national_code, village.level) == ("141002100201", RegionLevel.VILLAGE)


@pytest.mark.parametrize("code", ["14100", "1410000", "14100a", "", "1410020000001"])
def test_given_a_code_of_the_wrong_length_when_created_then_it_is_refused_in_chinese(shanxi, code):
    with pytest.raises(ValidationError) as error:
        services.region_create(code=code, name="某地", parent=shanxi)
    assert error.value.message_dict == {"code": ["区划代码应为6位、9位或12位数字。"]}


def test_given_a_code_outside_the_parent_when_created_then_it_is_refused(shanxi):
    linfen = services.region_create(code="141000", name="临汾市", parent=shanxi)
    with pytest.raises(ValidationError) as error:
        services.region_create(code="140105", name="小店区", parent=linfen)
    assert error.value.message_dict == {"code": ["代码必须以上级代码 1410 开头。"]}


def test_given_a_county_code_under_a_province_when_created_then_the_level_gap_is_refused(shanxi):
    with pytest.raises(ValidationError) as error:
        services.region_create(code="141002", name="尧都区", parent=shanxi)
    assert error.value.message_dict == {"parent": ["县（区）级区划的直接上级应为市级。"]}


def test_given_an_existing_code_when_created_again_then_it_is_refused(shanxi):
    with pytest.raises(ValidationError) as error:
        services.region_create(code="140000", name="山西", parent=None)
    assert error.value.message_dict == {"code": ["区划 14 已存在。"]}


def test_given_a_row_that_bypasses_the_services_then_the_database_refuses_a_malformed_code(shanxi):
    with pytest.raises(IntegrityError), transaction.atomic():
        Region.objects.create(code="141002000001", name="坏代码", level=RegionLevel.COUNTY, parent=shanxi)


def test_given_a_non_province_without_parent_then_the_database_refuses_it(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Region.objects.create(code="141000000000", name="临汾市", level=RegionLevel.CITY, parent=None)


def test_given_the_world_when_filtering_by_a_county_prefix_then_exactly_its_subtree_is_returned(world):
    codes = list(
        Region.objects.filter(code__startswith="141002").values_list("code", flat=True).order_by("code")
    )
    assert codes == ["141002000000", "141002100000", "141002100201"]


def test_given_a_region_when_renamed_then_the_name_changes_and_the_code_does_not(world):
    region = services.region_rename(region=world.regions["tunli"], name="屯里镇（新）")
    region.refresh_from_db()
    assert (region.code, region.name) == ("141002100000", "屯里镇（新）")
