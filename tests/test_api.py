"""The REST API: token sign-in, one error format in Chinese, pagination, filtering, the schema."""

import yaml
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from accounts.roles import Role
from tests.conftest import PASSWORD


def _token_client(username: str) -> Client:
    anonymous = Client()
    token = anonymous.post(
        reverse("token-login"), {"username": username, "password": PASSWORD}, content_type="application/json"
    ).json()["token"]
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def test_given_a_token_when_asking_who_am_i_then_role_region_and_actions_are_returned(world):
    me = _token_client("clerk_b").get(reverse("me")).json()
    assert me == {
        "username": "clerk_b",
        "full_name": "村经办b",
        "role": "village_clerk",
        "agency": "秦壁村村民委员会",
        "region_code": "141024100201",
        "actions": [
            "agency.view",
            "backpayment.apply",
            "backpayment.view",
            "coverage.view",
            "enrollment.register",
            "enrollment.view",
            "person.full_view",
            "portal.use",
            "refund.apply",
            "refund.view",
            "region.view",
            "report.view",
        ],
    }


def test_given_an_object_outside_the_area_then_the_error_is_404_in_the_common_format(world):
    response = _token_client("insurance_a").get(reverse("region-detail", args=["141024000000"]))
    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "您的辖区内没有这条记录。", "fields": None}
    }


def test_given_a_role_without_the_action_then_the_error_is_403_in_the_common_format(world):
    response = _token_client("tax_a").get(reverse("user-list"))
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "status": 403,
            "code": "permission_denied",
            "message": "您的角色无权进行此操作。",
            "fields": None,
        }
    }


def test_given_an_invalid_body_then_the_error_lists_every_field_in_chinese(world):
    response = _token_client("admin").post(reverse("agency-list"), {}, content_type="application/json")
    body = response.json()["error"]
    assert (response.status_code, body["code"]) == (400, "invalid")
    assert body["fields"] == {
        "name": ["该字段是必填项。"],
        "kind": ["该字段是必填项。"],
        "region_code": ["该字段是必填项。"],
    }
    assert body["message"].startswith("请求有误：")


def test_given_a_service_rule_is_broken_then_its_message_comes_back_as_a_field_error(world):
    response = _token_client("admin").post(
        reverse("agency-list"),
        {"name": "错位委员会", "kind": "village_committee", "region_code": "141002"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"region": ["村（居）民委员会不能设在县（区）一级。"]}


def test_given_an_administrator_when_creating_an_agency_by_api_then_it_exists_in_their_city(world):
    response = _token_client("admin").post(
        reverse("agency-list"),
        {"name": "屯里镇中心学校", "kind": "school", "region_code": "141002100"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["region_code"]) == ("屯里镇中心学校", "141002100000")


def test_given_a_page_size_then_the_list_is_paginated_with_count_and_links(world):
    body = _token_client("admin").get(reverse("region-list"), {"page_size": 2}).json()
    assert (body["count"], len(body["results"]), body["previous"]) == (7, 2, None)
    assert body["next"].endswith("page=2&page_size=2")


def test_given_a_level_filter_then_only_that_level_is_listed(world):
    body = _token_client("admin").get(reverse("region-list"), {"level": 3}).json()
    assert [row["national_code"] for row in body["results"]] == ["141002", "141024"]


def test_given_the_schema_then_it_is_valid_openapi_and_lists_every_api_endpoint(world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert {"/api/regions/", "/api/agencies/", "/api/users/", "/api/me/", "/api/auth/token/"} <= set(
        schema["paths"]
    )


def test_given_an_administrator_then_the_schema_and_its_docs_page_are_served(world, client):
    client.force_login(world.user_for(Role.ADMINISTRATOR))
    schema = yaml.safe_load(client.get(reverse("api-schema")).content)
    docs = client.get(reverse("api-docs"))
    assert schema["info"]["title"] == "城乡居民医保经办平台 API"
    assert docs.status_code == 200


def test_given_english_chosen_then_the_docs_page_and_the_schema_it_loads_are_titled_in_english(
    world, client, settings
):
    client.force_login(world.user_for(Role.ADMINISTRATOR))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(reverse("api-docs")).content.decode()
    schema_url = client.get(reverse("api-docs"), {"script": ""}).data["schema_url"]
    schema = yaml.safe_load(client.get(schema_url).content)

    assert "<title>Urban-rural resident medical insurance portal API</title>" in page
    assert schema_url == "/api/schema/?lang=en"
    assert schema["info"]["title"] == "Urban-rural resident medical insurance portal API"
    assert schema["info"]["description"] == "The portal's API, scoped to the caller's region and role."


def test_given_an_english_browser_and_no_language_chosen_then_the_docs_and_their_schema_stay_chinese(
    world, client
):
    client.force_login(world.user_for(Role.ADMINISTRATOR))

    page = client.get(reverse("api-docs"), HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    schema_url = client.get(reverse("api-docs"), {"script": ""}, HTTP_ACCEPT_LANGUAGE="en-US").data[
        "schema_url"
    ]
    schema = yaml.safe_load(client.get(schema_url, HTTP_ACCEPT_LANGUAGE="en-US").content)

    assert "<title>城乡居民医保经办平台 API</title>" in page
    assert schema_url == "/api/schema/?lang=zh-hans"
    assert (schema["info"]["title"], schema["info"]["description"]) == (
        "城乡居民医保经办平台 API",
        "平台的 API，按调用者的行政区划和角色限定范围。",
    )


def test_given_each_role_then_only_administrators_may_open_the_schema_and_its_docs_page(world, client):
    statuses = {}
    for role in Role:
        client.force_login(world.user_for(role))
        statuses[role.value] = (
            client.get(reverse("api-schema")).status_code,
            client.get(reverse("api-docs"), HTTP_ACCEPT="text/html").status_code,
        )
        client.logout()
    assert statuses == {
        "village_clerk": (403, 403),
        "school_clerk": (403, 403),
        "insurance_staff": (403, 403),
        "tax_staff": (403, 403),
        "finance_staff": (403, 403),
        "administrator": (200, 200),
    }


def test_given_a_clerk_with_a_token_when_asking_for_the_schema_then_the_api_refuses_in_chinese(world):
    response = _token_client("clerk_a").get(reverse("api-schema"), {"format": "json"})
    assert (response.status_code, response.json()["error"]["message"]) == (403, "您的角色无权进行此操作。")


def test_given_each_role_then_the_api_root_lists_only_the_collections_its_role_may_use(world, client):
    listed = {}
    for role in (Role.VILLAGE_CLERK, Role.TAX_STAFF, Role.FINANCE_STAFF):
        client.force_login(world.user_for(role))
        listed[role.value] = sorted(client.get(reverse("api-root"), HTTP_ACCEPT="application/json").json())
        client.logout()

    assert listed == {
        "village_clerk": [
            "agencies", "applications", "back-payments", "enrollments", "households", "persons", "refunds",
            "regions",
        ],
        "tax_staff": [
            "agencies", "collection/due-items", "collection/overcollections", "collection/payers",
            "collection/payments", "regions",
        ],
        "finance_staff": ["agencies", "finance/plans", "regions"],
    }  # fmt: skip
