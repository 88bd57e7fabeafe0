"""The menu shows each role its own work and marks exactly one entry as the current page."""

from django.urls import reverse

from accounts.navigation import menu_for
from accounts.roles import Role
from accounts.scope import Scope


def _active(menu: list[dict]) -> list[str]:
    return [str(item["url"]) for section in menu for item in section["items"] if item["active"]]


def test_given_a_nested_page_when_the_menu_is_built_then_only_the_longest_matching_entry_is_active(world):
    scope = Scope.for_user(world.users["admin"])
    assert _active(menu_for(scope, "/sharing/dead-letters/")) == ["/sharing/dead-letters/"]
    assert _active(menu_for(scope, "/sharing/")) == ["/sharing/"]


def test_given_the_home_page_then_home_alone_is_active(world):
    scope = Scope.for_user(world.users["clerk_a"])
    assert _active(menu_for(scope, "/")) == ["/"]


def test_given_a_tax_officer_then_the_menu_holds_no_administration_entries(world):
    urls = [
        str(item["url"])
        for section in menu_for(Scope.for_user(world.users["tax_a"]))
        for item in section["items"]
    ]
    assert "/system/" not in urls and "/users/" not in urls and "/sharing/" not in urls


def test_given_a_drilled_down_collection_progress_page_then_its_menu_entry_is_active(world):
    scope = Scope.for_user(world.users["tax_a"])
    assert _active(menu_for(scope, "/collection/reports/progress/141002100000/")) == [
        "/collection/reports/progress/"
    ]


def test_given_each_role_then_only_administrators_have_the_api_documentation_in_their_menu(world, client):
    """Clerks and counter staff do not connect systems: the English schema pages are not their work."""
    docs = reverse("api-docs")
    in_menu, on_page = {}, {}
    for role in Role:
        user = world.user_for(role)
        in_menu[role.value] = docs in [
            str(item["url"]) for section in menu_for(Scope.for_user(user)) for item in section["items"]
        ]
        client.force_login(user)
        on_page[role.value] = f'href="{docs}"' in client.get(reverse("home")).content.decode()
        client.logout()
    expected = {role.value: role == Role.ADMINISTRATOR for role in Role}
    assert (in_menu, on_page) == (expected, expected)


def test_given_a_school_clerk_then_the_home_pages_work_lists_the_sidebars_entries_and_no_exports(
    world, client
):
    client.force_login(world.users["school_a"])

    response = client.get(reverse("home"))

    sidebar = [str(item["url"]) for section in response.context["menu"] for item in section["items"]]
    work = [reverse(entry.url_name) for entry in response.context["work"]]
    assert work == [url for url in sidebar if url != "/"]
    assert reverse("accounts:export-list") not in work
