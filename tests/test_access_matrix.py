"""The access matrix: every endpoint × every role × own region / other region.

The endpoints come from the URL configuration itself, so a new page or API endpoint is in the
matrix the moment it is routed: it must declare its action (or be on the public list below)
and, if it takes an object from the URL, say here how to pick one in and out of scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib import admin
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.admin_scope import ScopedAdminMixin
from accounts.roles import ROLE_ACTIONS, Action, Role
from tests.conftest import World
from tests.matrix import all_object_kwargs
from tests.matrix.admin_site import ADMIN_OBJECTS

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
# A school's clerk registers students on the school roster page and is sent there from these.
SCHOOL_ROSTER_INSTEAD = {"enrollment:household-new"}


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
            elif role == Role.SCHOOL_CLERK and endpoint.name in SCHOOL_ROSTER_INSTEAD:
                outcomes[(role, method)] = response.status_code == 302
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
        for method, action in endpoint.methods.items():
            response = (
                client.get(url)
                if method == "get"
                else client.generic(method.upper(), url, "{}", content_type="application/json")
            )
            statuses[(role, method)] = (response.status_code, 404 if action in ROLE_ACTIONS[role] else 403)
        client.logout()
    assert {key: got for key, (got, _) in statuses.items()} == {
        key: want for key, (_, want) in statuses.items()
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


def _portal_app_labels() -> set[str]:
    """Every app whose code lives in this repository (a new app, or refunds.finance, is in at once)."""
    root = Path(settings.BASE_DIR).resolve()
    return {
        config.label
        for config in django_apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(root) and ".venv" not in Path(config.path).parts
    }


PORTAL_APP_LABELS = _portal_app_labels()
PORTAL_MODEL_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in PORTAL_APP_LABELS
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


def test_given_the_portals_apps_then_the_admin_matrix_covers_all_of_them():
    assert {
        "accounts",
        "sharing",
        "enrollment",
        "subsidies",
        "collection",
        "refunds",
        "finance",
    } == PORTAL_APP_LABELS


# Every URL of the admin site: its own pages, and every page of every model admin (changelist, add,
# change, history, delete, and whatever a model admin adds, such as the roster import's pages).
ADMIN_SITE_URL_NAMES = {
    "index", "login", "logout", "password_change", "password_change_done", "autocomplete", "jsi18n",
    "view_on_site", "app_list",
}  # fmt: skip


def _admin_model_urls() -> list[tuple[str, str, bool]]:
    """(model label, URL name, takes an object) for every URL of every portal model admin."""
    found = []
    for model, model_admin in PORTAL_MODEL_ADMINS:
        for pattern in model_admin.get_urls():
            if not pattern.name:  # Django's redirect of <id>/ to <id>/change/
                continue
            found.append(
                (model._meta.label_lower, pattern.name, "object_id" in pattern.pattern.regex.groupindex)
            )
    return found


ADMIN_MODEL_URLS = _admin_model_urls()


def test_given_the_admin_sites_own_urls_then_each_is_known_to_the_matrix():
    site_names = {pattern.name for pattern in admin.site.get_urls() if isinstance(pattern, URLPattern)}
    assert site_names - {None} == ADMIN_SITE_URL_NAMES


def test_given_every_portal_model_admin_then_the_matrix_knows_how_to_pick_its_objects():
    missing = sorted({label for label, _name, _takes in ADMIN_MODEL_URLS} - set(ADMIN_OBJECTS))
    assert missing == []


def _expected_admin_status(model_admin, name: str, user) -> int | None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/admin/")
    request.user = user
    suffix = name.rsplit("_", 1)[-1]
    allowed = {
        "changelist": model_admin.has_view_permission,
        "change": model_admin.has_view_permission,
        "history": model_admin.has_view_permission,
        "add": model_admin.has_add_permission,
        "delete": model_admin.has_delete_permission,
    }.get(suffix)
    if allowed is None:
        return None  # a model admin's own page (an import): any refusal or page, never an error
    return 200 if allowed(request) else 403


ADMIN_MODELS = sorted({label for label, _name, _takes in ADMIN_MODEL_URLS})


@pytest.mark.parametrize("label", ADMIN_MODELS)
def test_given_each_role_and_area_when_it_opens_each_admin_page_of_a_model_then_only_administrators_get_their_own_areas_data(
    label: str, world: World, client
) -> None:
    model = django_apps.get_model(label)
    model_admin = admin.site._registry[model]
    own, other = ADMIN_OBJECTS[label](world, True), ADMIN_OBJECTS[label](world, False)
    got, want = {}, {}
    for role in ROLES:
        user = world.user_for(role, "a")
        client.force_login(user)
        for _label, name, takes_object in (entry for entry in ADMIN_MODEL_URLS if entry[0] == label):
            for side, pk in (("own", own), ("other", other)) if takes_object else (("own", None),):
                response = client.get(reverse(f"admin:{name}", args=[pk] if takes_object else []))
                key = (role, name, side)
                if role != Role.ADMINISTRATOR:
                    got[key] = (response.status_code, response.get("Location", "").split("?")[0])
                    want[key] = (302, reverse("admin:login"))
                elif side == "other":
                    # Django's admin sends a missing (out-of-scope) object to the index, or refuses it.
                    got[key], want[key] = response.status_code in (302, 403, 404), True
                else:
                    expected = _expected_admin_status(model_admin, name, user)
                    got[key] = response.status_code if expected else response.status_code < 500
                    want[key] = expected if expected else True
        client.logout()
    assert got == want


@pytest.mark.parametrize(
    "app_label", sorted({model._meta.app_label for model, _admin in PORTAL_MODEL_ADMINS})
)
def test_given_each_role_when_it_opens_the_admin_index_and_an_apps_page_then_only_administrators_get_in(
    app_label: str, world: World, client
) -> None:
    got = {}
    for role in ROLES:
        client.force_login(world.user_for(role, "a"))
        got[role] = tuple(
            client.get(url).status_code
            for url in (reverse("admin:index"), reverse("admin:app_list", args=[app_label]))
        )
        client.logout()
    assert got == {role: (200, 200) if role == Role.ADMINISTRATOR else (302, 302) for role in ROLES}


# --- lists and exports: nothing of another area, whatever the query asks for ---------------------

SENTINEL_NAME = "越界哨兵"
SENTINEL_PHONE = "13700009999"
SENTINEL_ID = "141024198002020072"  # a 洪洞县 resident ID number (its check digit is right)
OTHER_VILLAGE = "141024100201"  # 秦壁村, 洪洞县: outside every 尧都区 user's area, and outside 太原市's


def _sentinel_world(world: World) -> None:
    """One resident of 洪洞县 in every bureau's records: household, person, enrollment, registration,
    assessment, refund and back-payment (insurance); payer and amount due (tax)."""
    from collection.models import DueItem, Payer
    from enrollment.models import Person
    from tests.matrix.enrollment_review import make_application, make_enrollment, make_person
    from tests.refunds.backpay_support import make_back_payment
    from tests.refunds.support import make_refund

    application = make_application(world, OTHER_VILLAGE, members=1)
    person = application.persons.get()
    Person.objects.filter(pk=person.pk).update(
        name=SENTINEL_NAME, id_number=SENTINEL_ID, phone=SENTINEL_PHONE
    )
    make_enrollment(make_person(OTHER_VILLAGE, name=SENTINEL_NAME, phone=SENTINEL_PHONE))
    refund = make_refund(OTHER_VILLAGE, world.users["clerk_b"])
    back_payment = make_back_payment(OTHER_VILLAGE, world.users["clerk_b"])
    Person.objects.filter(pk__in=[refund.person_id, back_payment.person_id]).update(name=SENTINEL_NAME)
    Payer.objects.create(
        person_id=SENTINEL_ID,
        name=SENTINEL_NAME,
        region_code=OTHER_VILLAGE,
        source_message_id=990001,
        sequence=1,
    )
    DueItem.objects.create(
        person_id=SENTINEL_ID, insurance_year=2027, region_code=OTHER_VILLAGE, amount_fen=40000,
        source_message_id=990001, sequence=1,
    )  # fmt: skip


# Every filter a list might take, all pointing at the other area and the sentinel's ID number. A page
# may echo the query back (a search box, a language switch's "next"), so only what the query does not
# contain counts: the sentinel's name and phone.
PROBING_QUERY = {
    "region": OTHER_VILLAGE, "region_code": OTHER_VILLAGE, "county": "141024", "county_code": "141024",
    "code": OTHER_VILLAGE, "q": SENTINEL_ID, "person": SENTINEL_ID, "id_number": SENTINEL_ID,
    "search": SENTINEL_ID, "lookup": SENTINEL_ID, "year": "2027",
}  # fmt: skip


def _text_of(response) -> str:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        import io

        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(body), read_only=True)
        return " ".join(
            str(value)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
        )
    return body.decode("utf-8", errors="replace")


def _outsider(world: World, role: str):  # type: ignore[no-untyped-def]
    """A user of the role for whom 洪洞县 is another area: 尧都区's, or 太原市's administrator."""
    return world.user_for(role, "b" if role == Role.ADMINISTRATOR else "a")


# The schema and its documentation describe the API and hold no records (and take seconds to build).
LISTS = [
    e for e in SCOPED if not e.kwargs and "get" in e.methods and e.name not in {"api-schema", "api-docs"}
]


def test_given_the_sentinel_when_a_user_of_its_own_county_lists_persons_then_it_is_there(
    world: World, client
):
    """The control: the sentinel is findable, so its absence below means something."""
    _sentinel_world(world)
    client.force_login(world.users["insurance_b"])
    assert SENTINEL_ID in _text_of(client.get(reverse("person-list"), {"q": SENTINEL_ID}))
    assert SENTINEL_NAME in _text_of(client.get(reverse("enrollment:application-queue")))
    client.force_login(world.users["tax_b"])
    assert SENTINEL_NAME in _text_of(
        client.post(reverse("collection:counter"), {"q": SENTINEL_ID}, follow=True)
    )


def test_given_a_resident_of_another_area_when_each_role_opens_every_list_and_export_then_nothing_of_them_shows(
    world: World, client
) -> None:
    _sentinel_world(world)
    leaks = {}
    for role in ROLES:
        client.force_login(_outsider(world, role))
        for endpoint in LISTS:
            response = client.get(reverse(endpoint.name), PROBING_QUERY)
            text = _text_of(response) if response.status_code < 500 else ""
            found = [needle for needle in (SENTINEL_NAME, SENTINEL_PHONE) if needle in text]
            if found or response.status_code >= 500:
                leaks[(endpoint.name, role)] = (response.status_code, found)
        client.logout()
    assert len(LISTS) > 70
    assert leaks == {}
