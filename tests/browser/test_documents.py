"""The publicity-list page in a real Chromium: a village clerk chooses the posting period and
downloads the list as PDF and xlsx through the page's own links."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from enrollment.models import (
    ChangeReason,
    Enrollment,
    EnrollmentStatus,
    Household,
    Person,
    PersonCategory,
    Relation,
)

pytestmark = pytest.mark.browser

YAODU_VILLAGE = "141002100201"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _enrolled_household() -> None:
    household = Household.objects.create(
        number=f"{YAODU_VILLAGE}00001", region_code=YAODU_VILLAGE, address="三组12号"
    )
    for name, id_number, relation, sex in (
        ("王建国", "141002196803121234", Relation.HEAD, "male"),
        ("李秀兰", "14100219700701202X", Relation.SPOUSE, "female"),
    ):
        person = Person.objects.create(
            id_kind="resident_id",
            id_number=id_number,
            name=name,
            sex=sex,
            birth_date=dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
            category=PersonCategory.RURAL,
            household=household,
            relation=relation,
            region_code=YAODU_VILLAGE,
        )
        Enrollment.objects.create(
            person=person,
            county_code=YAODU_VILLAGE[:6],
            region_code=YAODU_VILLAGE,
            status=EnrollmentStatus.NORMAL,
            enrolled_on=dt.date(2026, 1, 1),
            status_reason=ChangeReason.NEW_REGISTRATION,
            status_changed_on=dt.date(2026, 1, 1),
        )


def test_given_a_village_clerk_when_they_choose_a_period_then_the_pdf_and_xlsx_download_from_the_links(
    page, sign_in, shoot, page_log, transactional_world
):
    _enrolled_household()
    sign_in("clerk_a")

    page.goto("/enrollment/publicity/")
    expect(page.locator("#id_village")).to_have_value(YAODU_VILLAGE)
    shoot("1-form")
    page.fill("#id_start", "2026-05-01")
    page.fill("#id_end", "2026-05-10")
    page.fill("#id_phone", "0357-2345678")
    page.get_by_test_id("show-list").click()

    expect(page.get_by_test_id("posting-total")).to_have_text("2")
    expect(page.get_by_test_id("publicity-preview").locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("publicity-preview")).to_contain_text("141002********1234")
    expect(page.get_by_test_id("publicity-preview")).not_to_contain_text("141002196803121234")
    shoot("2-result")
    with page.expect_download() as pdf_download:
        page.get_by_test_id("publicity-pdf").click()
    with page.expect_download() as xlsx_download:
        page.get_by_test_id("publicity-xlsx").click()
    # A download fires no response event; ask again with the browser's own session for the headers.
    pdf_head = page.context.request.get(page.get_by_test_id("publicity-pdf").get_attribute("href"))
    xlsx_head = page.context.request.get(page.get_by_test_id("publicity-xlsx").get_attribute("href"))

    assert Path(pdf_download.value.path()).read_bytes().startswith(b"%PDF-")
    assert re.fullmatch(r".+-2026-05-01\.pdf", pdf_download.value.suggested_filename)
    assert pdf_head.headers["content-type"] == "application/pdf"
    assert Path(xlsx_download.value.path()).read_bytes().startswith(b"PK")
    assert re.fullmatch(r".+-2026-05-01\.xlsx", xlsx_download.value.suggested_filename)
    assert xlsx_head.headers["content-type"] == XLSX
    assert page_log.errors == []
    assert page_log.csp_violations() == []


def test_given_a_six_day_period_when_the_clerk_asks_for_the_list_then_the_page_says_why_and_offers_no_download(
    page, sign_in, shoot, transactional_world
):
    sign_in("clerk_a")

    page.goto("/enrollment/publicity/")
    page.fill("#id_start", "2026-05-01")
    page.fill("#id_end", "2026-05-06")
    page.get_by_test_id("show-list").click()

    expect(page.get_by_test_id("period-error")).to_be_visible()
    expect(page.get_by_test_id("publicity-pdf")).to_have_count(0)
    shoot("refused")


def test_given_county_staff_when_they_find_a_village_by_name_then_it_is_the_one_offered(
    page, sign_in, shoot, transactional_world
):
    from accounts import services

    services.region_create(code="141002100202", name="东庄村", parent=transactional_world.regions["tunli"])
    _enrolled_household()
    sign_in("insurance_a")

    page.goto("/enrollment/publicity/")
    expect(page.locator("#id_village option[value]:not([value=''])")).to_have_count(2)
    page.fill("#id_q", "屯里")
    page.get_by_role("button", name=re.compile("Find|查找")).click()
    expect(page.locator("#id_village option[value]:not([value=''])")).to_have_count(1)
    page.select_option("#id_village", YAODU_VILLAGE)
    page.get_by_test_id("show-list").click()

    expect(page.get_by_test_id("posting-total")).to_have_text("2")
    shoot("found")
