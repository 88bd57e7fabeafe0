from accounts.scope import Scope


def test_given_the_world_when_the_village_clerk_looks_then_only_the_village_is_in_scope(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert scope.region_prefix == "141002100201"
