"""The error pages in a real Chromium, DEBUG off as deployed: the portal's own pages, in Chinese,
styled by its own static files, never Django's technical page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.roles import Role

pytestmark = pytest.mark.browser


def test_given_a_signed_in_clerk_when_opening_a_missing_page_then_the_portals_404_page_shows(
    page, sign_in, shoot, transactional_world, page_log
):
    sign_in(transactional_world.user_for(Role.VILLAGE_CLERK).username)

    response = page.goto("/enrollment/no-such-page/")

    assert response.status == 404
    expect(page).to_have_title("未找到 · 城乡居民医保经办平台")
    expect(page.locator("main h1")).to_have_text("未找到")
    expect(page.locator("main p").first).to_have_text("您的辖区内没有该页面或记录。")
    expect(page.locator("nav.sidebar a").first).to_have_text("首页")
    # The stylesheet came from the portal itself: the top bar is laid out, not bare HTML.
    assert page.locator("header.topbar").evaluate("e => getComputedStyle(e).display") == "flex"
    shoot("404")

    page.get_by_role("link", name="返回首页").click()
    expect(page.locator("[data-testid=home-role]")).to_be_visible()
    assert page_log.errors == []


def test_given_a_village_clerk_when_opening_the_api_docs_then_the_portals_403_page_shows(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.VILLAGE_CLERK).username)

    response = page.goto("/api/docs/")

    assert response.status == 403
    expect(page.locator("main h1")).to_have_text("无权访问")
    expect(page.locator("main p").first).to_have_text("您的角色无权进行此操作。")
    expect(page.locator(".swagger-ui")).to_have_count(0)
    expect(page.locator("nav.sidebar")).not_to_contain_text("接口文档")
    shoot("403")


def test_given_a_page_that_fails_then_the_portals_500_page_shows(
    page, sign_in, shoot, transactional_world, settings
):
    sign_in(transactional_world.user_for(Role.TAX_STAFF).username)
    settings.ROOT_URLCONF = "tests.failing_urls"

    response = page.goto("/failing/")

    assert response.status == 500
    expect(page).to_have_title("服务器错误 · 城乡居民医保经办平台")
    expect(page.locator("main h1")).to_have_text("系统出错了")
    expect(page.locator("main p").first).to_have_text(
        "平台未能完成您的请求，错误已记录。请稍后再试；如果问题一再出现，请联系系统管理员。"
    )
    expect(page.locator("nav.sidebar")).to_have_count(0)
    assert page.locator("header.topbar").evaluate("e => getComputedStyle(e).display") == "flex"
    shoot("500")
