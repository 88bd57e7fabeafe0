"""The one scope mechanism: region subtree and role actions."""

from accounts import services
from accounts.models import Agency, Region, User
from accounts.roles import Action
from accounts.scope import Scope


def test_given_a_village_clerk_then_their_scope_is_the_village_and_their_role_actions(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert (scope.region_prefix, scope.role, scope.bureau) == ("141002100201", "village_clerk", "insurance")
    assert scope.allows(Action.REGION_VIEW) and not scope.allows(Action.USER_VIEW)


def test_given_county_insurance_staff_when_listing_regions_then_only_their_county_subtree_is_returned(world):
    scope = Scope.for_user(world.users["insurance_a"])
    codes = list(scope.filter(Region.objects.all()).values_list("code", flat=True).order_by("code"))
    assert codes == ["141002000000", "141002100000", "141002100201"]


def test_given_a_city_administrator_when_listing_users_then_another_citys_users_are_absent(world):
    scope = Scope.for_user(world.users["admin"])
    usernames = set(scope.filter(User.objects.all()).values_list("username", flat=True))
    assert "admin_other" not in usernames
    assert {"admin", "clerk_a", "clerk_b", "tax_a", "tax_b"} <= usernames


def test_given_tax_staff_when_listing_agencies_then_only_their_countys_agencies_are_returned(world):
    scope = Scope.for_user(world.users["tax_b"])
    names = sorted(scope.filter(Agency.objects.all()).values_list("name", flat=True))
    assert names == [
        "洪洞县医疗保障服务中心",
        "洪洞县税务局",
        "洪洞县第一中学",
        "洪洞县财政局",
        "秦壁村村民委员会",
    ]


def test_given_an_inactive_agency_then_its_users_may_do_nothing(world):
    services.agency_update(agency=world.agencies["tax_a"], is_active=False)
    user = User.objects.select_related("agency__region").get(pk=world.users["tax_a"].pk)
    assert Scope.for_user(user).actions == frozenset()


def test_given_a_deactivated_user_then_the_scope_is_empty(world):
    services.user_update(user=world.users["clerk_a"], is_active=False)
    user = User.objects.get(pk=world.users["clerk_a"].pk)
    scope = Scope.for_user(user)
    assert scope.region_prefix is None and scope.filter(Region.objects.all()).count() == 0


def test_given_a_task_with_a_user_id_when_the_scope_is_rebuilt_then_it_equals_the_request_scope(world):
    assert Scope.for_user_id(world.users["insurance_b"].pk) == Scope.for_user(world.users["insurance_b"])
