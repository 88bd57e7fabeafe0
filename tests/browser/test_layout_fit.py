"""Texts that must fit where they stand, measured in a real Chromium (Chinese, 1366 px wide): the
person finder's placeholder of 申请退费 / 申请补缴 is not cut off, and 申请补缴 beside the list's
title stays on one line."""

from __future__ import annotations

import pytest

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
