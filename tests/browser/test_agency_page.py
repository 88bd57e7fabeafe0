"""A village clerk opens their committee's page from the home page in a real Chromium: where it
is, what it does, who works there and the village's coverage and collection of the year.

The scene is tests/enrollment/test_reports.py's: 屯里村, five persons on its household register,
three enrolled, two of them paid (one by the government), one due.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.enrollment.test_reports import make_scene

pytestmark = pytest.mark.browser


def test_given_the_village_s_figures_when_its_clerk_opens_their_committee_then_the_page_is_not_empty(
    page, sign_in, shoot, page_log, transactional_world
):
    make_scene(transactional_world)

    sign_in("clerk_a")
    with page.expect_navigation():
        page.get_by_test_id("home-agency").click()
    expect(page.get_by_test_id("agency-region")).to_contain_text("屯里镇 › 屯里村")
    expect(page.get_by_test_id("agency-duties")).to_contain_text("代收年度个人缴费")
    expect(page.get_by_test_id("colleague")).to_have_count(1)
    expect(page.get_by_test_id("figure-registered-enrolled")).to_have_text("3 (60.0%)")
    expect(page.get_by_test_id("figure-collection-rate")).to_have_text("75.0%")
    shoot("committee")

    with page.expect_navigation():
        page.get_by_test_id("village-collection").get_by_role("link").nth(2).click()
    expect(page.get_by_test_id("follow-up-row")).to_have_count(1)
    expect(page.get_by_test_id("follow-up-row")).to_contain_text("张乙")

    assert page_log.errors == []
    assert page_log.console == []
