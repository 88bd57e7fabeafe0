"""Tax's counter in a real Chromium: a tax clerk finds the payer by a name prefix, records the
payment of the amount due today, prints the receipt; a second submission of the same item is
refused with the first receipt named. Checks read data-testid hooks and numbers, whatever the
message catalogue says."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import Payer, Payment
from collection.progress import progress_refresh
from sharing.models import OutboxMessage
from tests.collection.support import due, open_today, payer

pytestmark = pytest.mark.browser

ZHANG = "141002198001010011"


def test_given_a_payer_at_the_counter_when_the_clerk_takes_the_payment_then_the_receipt_is_printed(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    payer("张三", ZHANG)
    payer("张三丰", "141002198001010022")
    item = due(ZHANG, schedule=open_today())

    sign_in("tax_a")
    page.goto("/collection/counter/")
    page.get_by_test_id("payer-q").fill("张三")
    page.get_by_test_id("payer-q").press("Enter")
    expect(page.get_by_test_id("payer-result")).to_have_count(2)
    shoot("1-search")
    page.get_by_test_id("payer-result").first.get_by_role("link").click()
    zhang = Payer.objects.get(person_id=ZHANG)
    expect(page.get_by_test_id("payer")).to_have_attribute("data-payer", str(zhang.pk))
    page.go_back()  # the results again, from the address the search left (no form resent)
    expect(page.get_by_test_id("payer-result")).to_have_count(2)
    assert re.search(r"/collection/counter/\?search=[\w-]+$", page.url), page.url
    page.go_forward()
    expect(page.get_by_test_id("payer")).to_have_attribute("data-payer", str(zhang.pk))
    form = page.get_by_test_id("pay-form")
    expect(form.locator("input[name$=amount_yuan]")).to_have_value("400")
    form.locator("select[name$=channel]").select_option("wechat")
    shoot("2-due")
    form.get_by_test_id("pay-submit").click()

    receipt = page.get_by_test_id("receipt")
    payment = Payment.objects.get()
    expect(receipt).to_have_attribute("data-number", payment.receipt)
    expect(page.get_by_test_id("receipt-amount")).to_contain_text("400.00")
    shoot("3-receipt")
    assert (payment.channel, payment.due_item_id, payment.receipt_number) == ("wechat", item.pk, 1)
    assert OutboxMessage.objects.filter(topic="payment.deposited").count() == 1

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("void-form").locator("input[name=void-reason]").fill("打印错位")
    page.get_by_test_id("void-submit").click()
    expect(page.get_by_test_id("voided")).to_have_count(1)
    payment.refresh_from_db()
    expect(receipt).to_have_attribute("data-number", payment.receipt)
    assert payment.receipt_number == 2
    shoot("4-reissued")

    page.get_by_test_id("back-to-counter").click()
    expect(page).to_have_url(re.compile(rf"/collection/counter/\?payer={zhang.pk}$"))
    expect(page.get_by_test_id("due-item")).to_have_attribute("data-status", "paid")
    expect(page.get_by_test_id("receipt-link")).to_be_visible()
    expect(page.get_by_test_id("pay-form")).to_have_count(0)
    shoot("5-paid")

    page.goto("/collection/reports/daily/")
    expect(page.get_by_test_id("daily-total")).to_have_attribute("data-count", "1")
    expect(page.get_by_test_id("channel-row")).to_have_attribute("data-fen", "40000")
    shoot("6-daily")
    # The dashboard reads tax's summary, which beat brings up to date every few minutes.
    progress_refresh()
    page.goto("/collection/reports/progress/")
    expect(page.get_by_test_id("persons-card")).to_have_attribute("data-paid", "1")
    shoot("7-progress")
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_a_receipt_when_printed_then_its_lines_stand_inside_its_border(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    payer("张三", ZHANG)
    item = due(ZHANG, schedule=open_today())
    tax = transactional_world.user_for(Role.TAX_STAFF)
    payment = services.payment_record(
        scope=Scope.for_user_id(tax.pk),
        due_item_id=item.pk,
        amount_fen=40000,
        channel="wechat",
        paid_by="张三",
    ).payment

    sign_in("tax_a")
    page.goto(f"/collection/payments/{payment.pk}/receipt/")
    page.emulate_media(media="print")
    shoot("1-printed")

    receipt = page.get_by_test_id("receipt")
    expect(page.locator(".sidebar")).to_be_hidden()
    box = receipt.bounding_box()
    first_line = receipt.locator("dt").first.bounding_box()
    assert receipt.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"
    assert first_line["x"] - box["x"] >= 12, (box, first_line)  # was 1: the text touched the border
    assert page_log.errors == []
