"""What fuzzing the schema found, each pinned by the behaviour it fixed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.authtoken.models import Token

from accounts.models import User

pytestmark = pytest.mark.django_db

# Every route that looks a record up by its numeric id, a detail read and a workflow step each.
NUMERIC_ID_ROUTES = [
    ("get", "/api/refunds/{}/"),
    ("post", "/api/refunds/{}/approve/"),
    ("get", "/api/back-payments/{}/"),
    ("post", "/api/back-payments/{}/withdraw/"),
    ("get", "/api/fund-plans/{}/"),
    ("post", "/api/fund-plans/{}/submit/"),
    ("get", "/api/finance/plans/{}/"),
    ("post", "/api/finance/plans/{}/transfer/"),
    ("get", "/api/overcollections/{}/"),
    ("get", "/api/collection/payments/{}/"),
    ("post", "/api/collection/payments/{}/reverse/"),
    ("get", "/api/collection/overcollections/{}/"),
    ("get", "/api/sharing/dead-letters/{}/"),
]


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _client(username: str) -> Client:
    token, _created = Token.objects.get_or_create(user=User.objects.get(username=username))
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_ACCEPT_LANGUAGE="en")


@pytest.mark.parametrize(
    ("method", "route"), NUMERIC_ID_ROUTES, ids=[f"{m} {r}" for m, r in NUMERIC_ID_ROUTES]
)
def test_given_an_id_that_is_not_a_number_when_a_record_is_asked_for_then_the_answer_is_a_404_in_the_error_format(
    world, method, route
):
    response = getattr(_client("admin"), method)(route.format("null"), content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "status": 404,
            "code": "not_found",
            "message": "No such address in the API.",
            "fields": None,
        }
    }


def test_given_an_unknown_address_under_the_api_then_the_answer_is_a_404_in_the_error_format_not_a_page(
    world,
):
    response = _client("insurance_a").get("/api/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_given_an_unknown_address_outside_the_api_then_the_answer_is_still_the_404_page(world, client):
    client.force_login(world.users["insurance_a"])
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_given_a_role_without_the_rulebook_when_exporting_a_policy_then_the_403_says_why_in_json(world):
    response = _client("clerk_a").get("/api/policies/linfen/export/")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "permission_denied"
    assert response.json()["error"]["message"]


def test_given_an_unknown_policy_when_exporting_it_then_the_404_is_in_json_not_an_empty_file(world):
    response = _client("insurance_a").get("/api/policies/no-such-policy/export/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["message"] == "No such record in your area."


def test_given_the_schema_then_every_operation_declares_its_errors_with_the_error_body(world):
    schema = _client("admin").get("/api/schema/?format=json").json()
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}

    undeclared = [
        f"{method.upper()} {path} {status}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        for status in ("400", "401", "403", "404")
        if operation["responses"].get(status, {}).get("content") != error
    ]
    assert undeclared == []
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]


def test_given_the_schema_then_the_token_sign_in_needs_no_credentials_and_declares_throttling(world):
    operation = _client("admin").get("/api/schema/?format=json").json()["paths"]["/api/auth/token/"]["post"]

    assert "security" not in operation
    assert set(operation["responses"]) >= {"200", "400", "429"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Token"
    }


def test_given_an_unknown_topic_when_redriving_dead_letters_then_the_topic_field_is_named(world):
    response = _client("admin").post(
        "/api/sharing/dead-letters/redrive/", {"topic": "no.such.topic"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"topic": ["Unknown topic no.such.topic."]}


def test_given_a_huge_topic_when_redriving_dead_letters_then_it_is_refused_without_echoing_it(world):
    response = _client("admin").post(
        "/api/sharing/dead-letters/redrive/", {"topic": "名" * 100_000}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "topic": ["Ensure this field has no more than 100 characters."]
    }


def test_given_a_nul_character_in_a_search_when_tax_looks_a_payer_up_then_the_answer_is_a_400_in_the_error_format(
    world,
):
    response = _client("tax_a").get("/api/collection/payers/", {"q": "\x00张"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_given_a_nul_character_in_a_json_body_then_nothing_is_written_and_the_answer_is_a_400(world):
    from enrollment.models import Household

    response = _client("clerk_a").post(
        "/api/households/", '{"address": "a\\u0000b", "members": []}', content_type="application/json"
    )

    assert response.status_code == 400
    assert Household.objects.count() == 0


def test_given_a_nul_character_in_a_page_form_then_the_page_refuses_it(world):
    client = Client()
    client.force_login(User.objects.get(username="clerk_a"))

    response = client.get("/enrollment/", {"q": "王\x00"})

    assert response.status_code == 400


def test_given_a_body_django_cannot_read_under_the_api_then_the_answer_is_json():
    from django.test import RequestFactory

    from accounts.views import bad_request

    response = bad_request(RequestFactory().get("/api/persons/"), exception=None)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_given_a_username_longer_than_any_when_a_token_is_asked_for_then_the_answer_is_a_400_naming_the_field(
    world,
):
    # Given: a username of 300 characters (the sign-in's lockout records a username in 255 at most)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    # When: a token is asked for with it
    response = client.post(
        "/api/auth/token/", {"username": "a" * 300, "password": "x"}, content_type="application/json"
    )

    # Then: a 400 that names the field, not a server error
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "username": ["Ensure this field has no more than 150 characters."]
    }
