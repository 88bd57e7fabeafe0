"""Texts that must fit where they stand, measured in a real Chromium (Chinese, 1366 px wide): the
person finder's placeholder of 申请退费 / 申请补缴 is not cut off, and 申请补缴 beside the list's
title stays on one line; in English too, the rulebook's buttons beside a title are one line each and
inside the page; the assessment list fits without a scroll bar in both languages, also while a
reason is open, and so does Django admin's user list beside its menu and filter."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Agency, User
from enrollment.assessment import assessment_run_now
from enrollment.policies import policy_load_presets, policy_save
from subsidies.services import subsidy_tag_add
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person
from tests.matrix.enrollment_rulebook import policy_document

pytestmark = pytest.mark.browser

# The width the placeholder needs and the width the input offers for text, in CSS pixels.
PLACEHOLDER_FIT = """el => {
  const style = getComputedStyle(el);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [Math.ceil(context.measureText(el.placeholder).width), Math.floor(room)];
}"""
# How many lines the element's text takes.
TEXT_LINES = """el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size;
}"""


@pytest.mark.parametrize("address", ["/refunds/apply/", "/refunds/back-payments/apply/"])
def test_given_the_person_finder_then_its_placeholder_fits_the_search_box(
    page, sign_in, shoot, transactional_world, address
):
    sign_in("clerk_a")
    page.goto(address)

    finder = page.get_by_test_id("person-q")
    needed, room = finder.evaluate(PLACEHOLDER_FIT)
    shoot("finder")

    assert finder.get_attribute("placeholder") == "身份证号或姓名（开头部分）"
    assert needed <= room, (needed, room)


def test_given_the_back_payment_list_then_its_apply_button_is_one_line(
    page, sign_in, shoot, transactional_world
):
    sign_in("insurance_a")
    page.goto("/refunds/back-payments/")

    button = page.locator(".review-head > a.button")
    shoot("list")

    assert button.inner_text() == "申请补缴"
    assert button.evaluate(TEXT_LINES) == 1


# Each button's lines, and how far its right edge passes the content's (negative: inside).
BUTTON_FIT = """buttons => buttons.map(el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const lines = new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size;
  const main = document.querySelector("main").getBoundingClientRect();
  return [el.innerText, lines, Math.round(el.getBoundingClientRect().right - main.right)];
})"""


@pytest.mark.parametrize("address", ["/enrollment/rulebook/", "/enrollment/rulebook/linfen-2021/"])
def test_given_the_rulebook_in_english_then_each_button_beside_the_title_is_one_line_inside_the_page(
    page, sign_in, shoot, transactional_world, address
):
    policy_load_presets()
    sign_in("admin")
    page.get_by_role("button", name="English").click()
    page.goto(address)
    expect(page.locator("html")).to_have_attribute("lang", "en")

    fits = page.locator(".review-head > .actions .button").evaluate_all(BUTTON_FIT)
    shoot("head")

    assert len(fits) >= 2, fits
    assert [(label, lines) for label, lines, _past in fits] == [(label, 1) for label, _l, _p in fits]
    assert all(past <= 0 for _label, _lines, past in fits), fits


# --- the assessment list ----------------------------------------------------------------------

# The scroller's and the page's width needed and offered, in CSS pixels.
TABLE_FIT = """() => {
  const scroller = document.querySelector(".table-scroll");
  const page = document.documentElement;
  return [scroller.scrollWidth, scroller.clientWidth, page.scrollWidth, page.clientWidth];
}"""


def _assessed_county() -> None:
    """屯里村's three enrolled persons — one without a subsidy, one 低保, one 特困 (the government
    pays all) — the last paid for, with a benefit period, and 尧都区's 2027 assessment."""
    policy_save(document=policy_document(code="linfen-2027", year=2027), note="测试")
    plain, dibao, tekun = (make_person(TUNLI, name=name) for name in ("王一", "李二", "张三"))
    for person in (plain, dibao, tekun):
        make_enrollment(person, enrolled_on=dt.date(2024, 1, 1))
    subsidy_tag_add(person=dibao, category="dibao", source="测试名单", valid_from=dt.date(2026, 6, 1))
    subsidy_tag_add(person=tekun, category="tekun", source="测试名单", valid_from=dt.date(2026, 6, 1))
    assessment_run_now(county_code="141002", insurance_year=2027)


@pytest.mark.parametrize("language", ["简体中文", "English"])
def test_given_the_assessment_list_at_1366_px_then_it_fits_without_scrolling_also_with_a_reason_open(
    page, sign_in, shoot, transactional_world, language
):
    _assessed_county()
    sign_in("insurance_a")
    page.get_by_role("button", name=language).click()
    page.goto("/enrollment/assessment/141002/2027/")
    expect(page.get_by_test_id("assessment-row")).to_have_count(3)
    closed = page.evaluate(TABLE_FIT)
    shoot("closed")
    page.locator("[data-testid=assessment-row][data-category=tekun] details.why summary").click()
    opened = page.evaluate(TABLE_FIT)
    shoot("open")

    scroll_needed, scroll_room, page_needed, page_room = closed
    assert scroll_needed <= scroll_room and page_needed <= page_room, closed
    scroll_needed, scroll_room, page_needed, page_room = opened
    assert scroll_needed <= scroll_room and page_needed <= page_room, opened


# --- Django admin's change lists ---------------------------------------------------------------


def test_given_the_admins_user_list_in_english_at_1366_px_then_it_fits_beside_the_menu_and_filter(
    page, sign_in, shoot, transactional_world
):
    # As in a county that has worked a while: everyone has signed in, the tax bureau has its full name.
    User.objects.update(last_login=timezone.now())
    Agency.objects.filter(pk=transactional_world.agencies["tax_a"].pk).update(
        name="国家税务总局临汾市尧都区税务局"
    )
    sign_in("admin")
    page.get_by_role("button", name="English").click()
    page.goto("/admin/accounts/user/")
    expect(page.locator("#result_list tbody tr")).not_to_have_count(0)

    needed, room = page.locator("#changelist .results").evaluate("el => [el.scrollWidth, el.clientWidth]")
    shoot("users")

    assert needed <= room, (needed, room)


def test_given_the_admins_outbox_list_at_1280_px_then_long_subjects_wrap_and_it_fits_beside_the_menu_and_filter(
    page, sign_in, shoot, transactional_world
):
    # The subjects and topics of finance's totals: long words without a space, which had widened
    # their columns until the list scrolled sideways by 160 px at 1,280 px (74 px at 1,366).
    from sharing.models import OutboxMessage

    OutboxMessage.objects.bulk_create(
        OutboxMessage(
            topic="refund.overcollection_requested", version=2, sender="insurance", receiver="finance",
            subject=f"subsidy_totals:14102{county}000000:2027:", seq=2, lane=0,
            region_code=f"14102{county}000000"[:12], amount_fen=33_600_000, payload={},
        )
        for county in range(4)
    )  # fmt: skip
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in("admin")
    page.goto("/admin/sharing/outboxmessage/")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)

    needed, room = page.locator("#changelist .results").evaluate("el => [el.scrollWidth, el.clientWidth]")
    shoot("outbox")

    assert needed <= room, (needed, room)
