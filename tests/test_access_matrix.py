"""The access matrix: every endpoint × every role × own region / other region.

The endpoints come from the URL configuration itself, so a new page or API endpoint is in the
matrix the moment it is routed: it must declare its action (or be on the public list below)
and, if it takes an object from the URL, say here how to pick one in and out of scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.admin_scope import ScopedAdminMixin
from accounts.roles import ROLE_ACTIONS, Action, Role
from tests.conftest import World
from tests.matrix import all_object_kwargs

PUBLIC = "public"

# Views anyone may reach without signing in. Adding one here is a security decision.
PUBLIC_URL_NAMES = {
    "accounts:login",
    "accounts:logout",
    "health",
    "set_language",
    "token-login",
    "favicon",
    # The check of a payment certificate's code: year, status and masked name only (throttled).
    "certificate-verify",
}

ROLES = list(Role.values)


@dataclass(frozen=True)
class Endpoint:
    name: str
    # HTTP method -> required action, or PUBLIC
    methods: dict[str, str]
    kwargs: tuple[str, ...]


def _walk(patterns: list, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue  # the admin site is checked through its registry below
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, inner)
        else:
            yield namespace, pattern


def _declared(pattern: URLPattern) -> dict[str, str]:
    callback = pattern.callback
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if getattr(callback, "access_public", False) or getattr(view_class, "access_public", False):
        return {"get": PUBLIC, "post": PUBLIC}
    drf_actions = getattr(callback, "actions", None)
    if drf_actions:  # a ViewSet route: {"get": "list", "post": "create"}
        per_action = getattr(view_class, "required_actions", {})
        return {method: per_action.get(name, "") for method, name in drf_actions.items()}
    if view_class is not None:
        action = getattr(view_class, "required_action", "")
        methods = {"get": action}
        if hasattr(view_class, "post"):
            methods["post"] = action
        return methods
    return {"get": getattr(callback, "required_action", "")}


def endpoints() -> list[Endpoint]:
    found = []
    for namespace, pattern in _walk(get_resolver().url_patterns):
        if "format" in pattern.pattern.regex.groupindex:
            continue  # DRF's ".json" suffix twins resolve to the same view
        name = f"{namespace}{pattern.name}" if pattern.name else f"<unnamed {pattern.pattern}>"
        found.append(Endpoint(name, _declared(pattern), tuple(pattern.pattern.regex.groupindex)))
    return found


ENDPOINTS = endpoints()


# How to pick an object inside / outside the caller's area for each endpoint that takes one.
def _region_code(world: World, user, own: bool) -> dict[str, str]:  # type: ignore[no-untyped-def]
    if own:
        return {"code": user.agency.region.code}
    return {
        "code": world.regions["xiaodian" if user.role == Role.ADMINISTRATOR else _other(world, user)].code
    }


def _other(world: World, user) -> str:  # type: ignore[no-untyped-def]
    return "qinbi_village" if user.agency.region.code.startswith("141002") else "tunli_village"


def _agency_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    if own:
        return {"pk": user.agency.pk}
    other = world.agencies["taiyuan_insurance" if user.role == Role.ADMINISTRATOR else "village_b"]
    return {"pk": other.pk}


def _user_pk(world: World, user, own: bool) -> dict[str, int]:  # type: ignore[no-untyped-def]
    if own:
        return {"pk": user.pk}
    return {"pk": world.users["admin_other" if user.role == Role.ADMINISTRATOR else "clerk_b"].pk}


OBJECT_KWARGS: dict[str, Callable] = {
    "accounts:region-detail": _region_code,
    "region-detail": _region_code,
    "region-history": _region_code,
    "accounts:agency-detail": _agency_pk,
    "agency-detail": _agency_pk,
    "agency-history": _agency_pk,
    "accounts:user-detail": _user_pk,
    "user-detail": _user_pk,
    "user-history": _user_pk,
    **all_object_kwargs(),
}


def test_given_the_role_table_then_it_grants_exactly_what_the_domain_brief_says():
    everyone = {Action.PORTAL_USE, Action.REGION_VIEW, Action.AGENCY_VIEW}
    assert ROLE_ACTIONS[Role.VILLAGE_CLERK] >= everyone
    assert Action.USER_MANAGE not in ROLE_ACTIONS[Role.VILLAGE_CLERK]
    assert Action.USER_MANAGE not in ROLE_ACTIONS[Role.INSURANCE_STAFF]
    assert Action.SYSTEM_MONITOR not in ROLE_ACTIONS[Role.TAX_STAFF]
    assert {
        Action.USER_MANAGE,
        Action.AGENCY_MANAGE,
        Action.REGION_MANAGE,
        Action.SYSTEM_MONITOR,
    } <= ROLE_ACTIONS[Role.ADMINISTRATOR]
    assert all(role in ROLE_ACTIONS for role in Role.values)


def test_given_every_routed_view_then_each_declares_an_action_or_is_on_the_public_list():
    undeclared = [e.name for e in ENDPOINTS if any(not action for action in e.methods.values())]
    unexpected_public = [
        e.name for e in ENDPOINTS if PUBLIC in e.methods.values() and e.name not in PUBLIC_URL_NAMES
    ]
    unnamed = [e.name for e in ENDPOINTS if e.name.startswith("<unnamed")]
    assert undeclared == []
    assert unexpected_public == []
    assert unnamed == []


def test_given_every_endpoint_that_takes_an_object_then_the_matrix_knows_how_to_pick_one():
    missing = [
        e.name
        for e in ENDPOINTS
        if e.kwargs and e.name not in OBJECT_KWARGS and PUBLIC not in e.methods.values()
    ]
    assert missing == []


def _is_api(name: str, url: str) -> bool:
    return url.startswith("/api/")


SCOPED = [e for e in ENDPOINTS if PUBLIC not in e.methods.values()]


@pytest.mark.parametrize("endpoint", SCOPED, ids=[e.name for e in SCOPED])
def test_given_each_role_in_its_own_area_when_it_calls_the_endpoint_then_only_granted_roles_get_data(
    endpoint: Endpoint, world: World, client
) -> None:
    outcomes = {}
    for role in ROLES:
        user = world.user_for(role, "a")
        kwargs = OBJECT_KWARGS[endpoint.name](world, user, True) if endpoint.kwargs else {}
        url = reverse(endpoint.name, kwargs=kwargs)
        client.force_login(user)
        for method, action in endpoint.methods.items():
            response = (
                client.get(url)
                if method == "get"
                else client.generic(method.upper(), url, "{}", content_type="application/json")
            )
            allowed = action in ROLE_ACTIONS[role]
            if not allowed:
                outcomes[(role, method)] = response.status_code == 403
            elif method == "get":
                outcomes[(role, method)] = response.status_code == 200
            else:  # an empty body is refused as invalid, not as forbidden
                outcomes[(role, method)] = response.status_code in (400, 404)
        client.logout()
    failures = sorted(key for key, ok in outcomes.items() if not ok)
    assert failures == []


OBJECT_ENDPOINTS = [e for e in SCOPED if e.kwargs]


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=[e.name for e in OBJECT_ENDPOINTS])
def test_given_each_role_when_it_asks_for_an_object_of_another_area_then_it_gets_no_data(
    endpoint: Endpoint, world: World, client
) -> None:
    statuses = {}
    for role in ROLES:
        user = world.user_for(role, "a")
        url = reverse(endpoint.name, kwargs=OBJECT_KWARGS[endpoint.name](world, user, False))
        client.force_login(user)
        method = "get" if "get" in endpoint.methods else "post"
        allowed = endpoint.methods[method] in ROLE_ACTIONS[role]
        response = (
            client.get(url) if method == "get" else client.post(url, {}, content_type="application/json")
        )
        statuses[role] = (response.status_code, 404 if allowed else 403)
        client.logout()
    assert {role: got for role, (got, _) in statuses.items()} == {
        role: want for role, (_, want) in statuses.items()
    }


@pytest.mark.parametrize("endpoint", SCOPED, ids=[e.name for e in SCOPED])
def test_given_no_sign_in_when_the_endpoint_is_called_then_it_refuses(
    endpoint: Endpoint, world: World, client
):
    user = world.user_for(Role.ADMINISTRATOR)
    kwargs = OBJECT_KWARGS[endpoint.name](world, user, True) if endpoint.kwargs else {}
    url = reverse(endpoint.name, kwargs=kwargs)
    response = client.get(url)
    if url.startswith("/api/"):
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


# --- the admin site -------------------------------------------------------------------------


PORTAL_MODEL_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in {"accounts", "sharing", "enrollment", "subsidies", "collection", "refunds"}
]


def test_given_every_admin_page_of_the_portal_then_it_is_scoped():
    unscoped = [
        model.__name__
        for model, model_admin in PORTAL_MODEL_ADMINS
        if not isinstance(model_admin, ScopedAdminMixin)
    ]
    assert unscoped == []


@pytest.mark.parametrize("model", [m for m, _ in PORTAL_MODEL_ADMINS], ids=lambda m: m.__name__)
def test_given_each_role_when_it_opens_an_admin_list_then_only_administrators_see_their_own_area(
    model, world: World, client
) -> None:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    for role in ROLES:
        client.force_login(world.user_for(role, "a"))
        response = client.get(url)
        if role == Role.ADMINISTRATOR:
            assert response.status_code == 200
            shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
            model_admin = admin.site._registry[model]
            in_scope = set(model_admin.get_queryset(response.wsgi_request).values_list("pk", flat=True))
            outside = set(model.objects.exclude(pk__in=in_scope).values_list("pk", flat=True))
            assert shown == in_scope
            assert shown.isdisjoint(outside)
        else:
            assert response.status_code == 302  # not staff: sent to the admin sign-in
        client.logout()


def test_given_an_administrator_when_they_open_another_citys_record_in_the_admin_then_no_data_is_shown(
    world: World, client
) -> None:
    client.force_login(world.users["admin"])
    other_agency = world.agencies["taiyuan_insurance"]
    response = client.get(reverse("admin:accounts_agency_change", args=[other_agency.pk]))
    assert response.status_code == 302
    assert other_agency.name not in response.content.decode()


def test_given_non_portal_admin_models_when_an_administrator_opens_them_then_they_are_refused(
    world: World, client
) -> None:
    client.force_login(world.users["admin"])
    others = [m for m in admin.site._registry if (m, admin.site._registry[m]) not in PORTAL_MODEL_ADMINS]
    statuses = {
        m.__name__: client.get(
            reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
        ).status_code
        for m in others
    }
    assert statuses and set(statuses.values()) == {403}
