"""With DEBUG off, as deployed and as the demo runs, errors show the portal's own pages in Chinese:
never Django's technical page with settings and paths. Under /api/ they answer the API's error."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from accounts.roles import Role
from accounts.views import server_error

TECHNICAL_PAGE_MARKS = ("Traceback", "DEBUG = True", "Request information", "Using the URLconf")


@pytest.fixture(autouse=True)
def deployed(settings):
    settings.DEBUG = False


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def _technical(body: str) -> list[str]:
    return [mark for mark in TECHNICAL_PAGE_MARKS if mark in body]


def test_given_a_missing_page_when_a_visitor_opens_it_then_the_portals_404_page_shows_in_chinese(db, client):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en-US")
    body = _text(response)
    assert response.status_code == 404
    assert "<title>未找到 · 城乡居民医保经办平台</title>" in body
    assert "<h1>未找到</h1>" in body
    assert "您的辖区内没有该页面或记录。" in body
    assert '<a href="/">返回首页</a>' in body
    assert _technical(body) == []


def test_given_a_signed_in_clerk_when_a_page_is_missing_then_the_404_keeps_their_menu(world, client):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))
    body = _text(client.get("/no-such-page/"))
    assert '<nav class="sidebar" aria-label="主菜单">' in body
    assert "<h1>未找到</h1>" in body


def test_given_a_page_the_role_may_not_open_then_the_portals_403_page_shows_in_chinese(world, client):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))
    response = client.get(reverse("system-status"))
    body = _text(response)
    assert response.status_code == 403
    assert "<title>无权访问 · 城乡居民医保经办平台</title>" in body
    assert "<p>您的角色无权进行此操作。</p>" in body
    assert _technical(body) == []


def test_given_a_village_clerk_when_opening_the_api_docs_then_the_portals_403_page_shows(world, client):
    """In Chinese although the browser asks for English: a page of the menu, not an API call."""
    client.force_login(world.user_for(Role.VILLAGE_CLERK))
    response = client.get(
        reverse("api-docs"),
        HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8",
        HTTP_ACCEPT_LANGUAGE="en-US",
    )
    body = _text(response)
    assert response.status_code == 403
    assert "<h1>无权访问</h1>" in body
    assert "<p>您的角色无权进行此操作。</p>" in body
    assert "swagger" not in body.lower()


def test_given_an_api_client_asking_for_english_when_refused_the_schema_then_the_error_is_in_english(
    world, client
):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))
    response = client.get(reverse("api-schema"), {"format": "json"}, HTTP_ACCEPT_LANGUAGE="en")
    assert (response.status_code, response.json()["error"]["message"]) == (403, "Your role may not do this.")


@pytest.mark.urls("tests.failing_urls")
def test_given_a_page_that_fails_then_the_portals_500_page_shows_in_chinese(world, client):
    client.raise_request_exception = False
    client.force_login(world.user_for(Role.TAX_STAFF))
    response = client.get("/failing/")
    body = _text(response)
    assert response.status_code == 500
    assert "<title>服务器错误 · 城乡居民医保经办平台</title>" in body
    assert "<h1>系统出错了</h1>" in body
    assert "平台未能完成您的请求，错误已记录。请稍后再试；如果问题一再出现，请联系系统管理员。" in body
    assert '<a href="/">返回首页</a>' in body
    # Drawn without the request: no menu, no signed-in name, no form without its CSRF token.
    assert ("sidebar" in body, "whoami" in body, "<form" in body) == (False, False, False)
    assert _technical(body) == []


@pytest.mark.urls("tests.failing_urls")
def test_given_the_language_switch_set_to_english_when_a_page_fails_then_the_500_page_is_in_english(
    db, client
):
    client.raise_request_exception = False
    client.cookies["django_language"] = "en"
    body = _text(client.get("/failing/"))
    assert "<h1>Something went wrong</h1>" in body
    assert '<html lang="en">' in body


@pytest.mark.urls("tests.failing_urls")
def test_given_the_api_fails_then_it_answers_the_apis_error_in_chinese(db, client):
    client.raise_request_exception = False
    response = client.get("/api/failing/")
    assert (response.status_code, response.json()) == (
        500,
        {
            "error": {
                "status": 500,
                "code": "server_error",
                "message": "服务器未能完成该请求。",
                "fields": None,
            }
        },
    )


def test_given_no_database_and_no_user_then_the_500_page_still_renders():
    """No ``db`` fixture: pytest-django refuses any query, so a page that needed one would fail here."""
    request = RequestFactory().get("/enrollment/")  # no session, no user: the middleware never ran
    response = server_error(request)
    body = _text(response)
    assert response.status_code == 500
    assert "<h1>系统出错了</h1>" in body
    assert '<link rel="stylesheet" href="/static/css/portal.css">' in body


def test_given_a_host_the_portal_does_not_serve_then_the_portals_400_page_shows_in_chinese(db, client):
    response = client.get("/", HTTP_HOST="portal.example.invalid")
    body = _text(response)
    assert response.status_code == 400
    assert "<title>请求无效 · 城乡居民医保经办平台</title>" in body
    assert "<h1>无法读取该请求</h1>" in body
    assert "门户无法读取此请求。请从平台的常用地址重新打开；如果反复出现，请告知系统管理员。" in body
    assert _technical(body) == []


def test_given_an_unreadable_api_request_then_the_apis_400_error_answers(db, client):
    response = client.get("/api/persons/", HTTP_HOST="portal.example.invalid")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
