"""Insurance's reports in a real Chromium: coverage drilled down from the county to the village,
the follow-up lists and their exports, with nothing the content-security policy refuses.

The scene is tests/enrollment/test_reports.py's: 屯里村 with five persons on its household
register, three enrolled, two of them paid (one by the government), one due.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import ExportJob
from tests.enrollment.test_reports import TUNLI, make_scene
from tests.refunds.support import YEAR

pytestmark = pytest.mark.browser


def test_given_the_scene_when_insurance_staff_drill_down_the_coverage_then_chart_table_and_lists_agree(
    page, sign_in, shoot, page_log, transactional_world
):
    make_scene(transactional_world)

    sign_in("insurance_a")
    page.goto(f"/enrollment/reports/coverage/?year={YEAR}&area=141002000000")
    expect(page.get_by_test_id("coverage-rate")).to_have_text("60.0%")
    expect(page.get_by_test_id("coverage-chart").locator("svg rect.bar.below-target")).to_have_count(1)
    shoot("county")

    page.get_by_test_id("coverage-table").get_by_role("link", name="屯里镇").click()
    expect(page.get_by_test_id("coverage-table").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("paid-rate")).to_have_text("40.0%")
    shoot("township")

    page.get_by_test_id("tab-unenrolled").click()
    expect(page.get_by_test_id("follow-up-row")).to_have_count(2)
    shoot("unenrolled")
    # The whole list is written in the background: the button lands on the job's page (a worker
    # building it and the download are tests/browser/test_background_exports.py's).
    with page.expect_navigation():
        page.get_by_test_id("list-xlsx").click()
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "queued")
    assert ExportJob.objects.get().params == {"area": "141002100000"}
    page.go_back()

    page.get_by_test_id("tab-unpaid").click()
    expect(page.get_by_test_id("follow-up-row")).to_have_count(1)
    expect(page.get_by_test_id("follow-up-row")).to_contain_text("张乙")
    expect(page.get_by_test_id("follow-up-row")).to_contain_text("400.00")
    shoot("unpaid")

    assert page_log.errors == []
    assert page_log.console == []


def test_given_a_village_clerk_then_the_coverage_page_shows_only_their_village_with_full_phones(
    page, sign_in, shoot, page_log, transactional_world
):
    make_scene(transactional_world)

    sign_in("clerk_a")
    page.goto(f"/enrollment/reports/unenrolled/?year={YEAR}")
    expect(page.get_by_test_id("follow-up-row").nth(1)).to_contain_text("13912340004")
    response = page.goto(f"/enrollment/reports/coverage/?year={YEAR}&area=141024100201")
    assert response is not None and response.status == 404
    expect(page.locator("body")).not_to_contain_text("秦壁村")
    page.goto(f"/enrollment/reports/coverage/?year={YEAR}&area={TUNLI}")
    expect(page.get_by_test_id("coverage-rate")).to_have_text("60.0%")
    shoot("village")

    assert page_log.errors == []
