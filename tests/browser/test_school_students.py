"""A school's clerk opens the list of their students in a real Chromium: from the workspace, page
by page, by tab, searched by name and by ID number, exported — no ID number in any address, and
nothing the content-security policy refuses.

The scene is tests/enrollment/school_students_support.py's: six students of 学校a (尧都区); the
pages hold four rows here, so the list has two.
"""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from enrollment import students
from tests.addresses import ID_NUMBER, record_addresses
from tests.enrollment.school_students_support import make_school_scene, student_id

pytestmark = pytest.mark.browser


def _names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        text.strip()
        for text in page.get_by_test_id("student-row").locator("td:first-child").all_inner_texts()
    ]


def test_given_the_school_s_students_when_its_clerk_walks_the_list_then_pages_tabs_search_and_export_work(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch, tmp_path
):
    make_school_scene(transactional_world)
    monkeypatch.setattr(students, "PAGE_SIZE", 4)
    addresses = record_addresses(page)

    sign_in("school_a")
    page.goto("/enrollment/")
    with page.expect_navigation():
        page.get_by_test_id("school-students").click()
    expect(page.get_by_test_id("count-total")).to_have_text("6")
    expect(page.get_by_test_id("student-row")).to_have_count(4)
    assert _names(page) == ["张六", "李五", "李四", "王一"]
    expect(page.get_by_test_id("student-row").nth(3)).to_contain_text("2026-10-10 · 400.00 元")
    shoot("first-page")

    with page.expect_navigation():
        page.get_by_test_id("next-page").click()
    assert _names(page) == ["王三", "王二"]
    expect(page.get_by_test_id("student-row").nth(1)).to_contain_text("应缴 400.00 元")

    with page.expect_navigation():
        page.get_by_test_id("tab-unenrolled").click()
    assert _names(page) == ["张六", "李五"]
    expect(page.get_by_test_id("tab-unenrolled")).to_have_attribute("aria-current", "page")
    shoot("not-yet-enrolled")

    with page.expect_navigation():
        page.get_by_test_id("tab-all").click()
    page.locator("#q").fill("王")
    with page.expect_navigation():
        page.locator("#q").press("Enter")
    assert _names(page) == ["王一", "王三", "王二"]
    page.get_by_test_id("payment").select_option("due")
    with page.expect_navigation():
        page.get_by_test_id("student-filter").get_by_role("button").click()
    assert _names(page) == ["王二"]
    shoot("searched-and-due")

    with page.expect_download() as download:
        page.get_by_test_id("students-xlsx").click()
    path = tmp_path / "students.xlsx"
    download.value.save_as(path)
    rows = list(load_workbook(path).active.iter_rows(min_row=4, values_only=True))
    assert [(row[0], row[1], row[7]) for row in rows] == [("王二", student_id(12), "待缴")]

    with page.expect_navigation():
        page.get_by_test_id("clear-search").click()
    assert _names(page) == ["王二"]  # the due ones, searched for nothing
    page.locator("#q").fill(student_id(12)[:10])
    with page.expect_navigation():
        page.locator("#q").press("Enter")
    assert _names(page) == ["王二"]

    assert [address for address in addresses if ID_NUMBER.search(address)] == []
    assert page_log.errors == []
    assert page_log.console == []
