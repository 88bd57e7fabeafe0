"""Refunds in a real Chromium: a village clerk finds the payer, applies with a PDF as evidence and
sees the rules' decision and the deadline at once; insurance staff (another user) see the overdue
count on their home page, open the application, approve it and record the payout; the timeline
shows each step with who took it. Checks read data-testid hooks, whatever the catalogue says."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from refunds.models import RefundApplication, RefundEvidence
from tests.addresses import ID_NUMBER, record_addresses
from tests.matrix.enrollment_review import PDF_BYTES, TUNLI
from tests.refunds.support import YEAR, make_refund, paid_person

pytestmark = pytest.mark.browser


def test_given_a_clerk_and_insurance_staff_when_a_refund_is_applied_approved_and_paid_then_each_step_shows(
    page, sign_in, shoot, page_log, transactional_world, tmp_path, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    world = transactional_world
    person = paid_person(TUNLI, "李四", deposits=2)  # insurance holds two deposits for the year
    make_refund(TUNLI, world.users["clerk_a"], due_on=dt.date(2026, 1, 5))  # an older one, overdue
    receipt = tmp_path / "second-receipt.pdf"
    receipt.write_bytes(PDF_BYTES)

    sign_in("clerk_a")
    page.goto("/refunds/apply/")
    addresses = record_addresses(page)
    page.get_by_test_id("person-q").fill(person.id_number)
    page.get_by_test_id("person-q").press("Enter")  # POSTed: the address holds a key, not the number
    expect(page.get_by_test_id("person-result")).to_have_count(1)
    assert re.search(r"/refunds/apply/\?search=[\w-]{12}$", page.url), page.url
    page.get_by_test_id("person-result").get_by_role("link").click()
    expect(page.get_by_test_id("chosen-person")).to_have_attribute("data-person", str(person.pk))
    page.go_back()  # the results again, from the address the search left
    expect(page.get_by_test_id("person-result")).to_have_count(1)
    page.get_by_test_id("person-q").fill("李四")
    with page.expect_navigation():
        page.get_by_test_id("person-q").press("Enter")
    expect(page.get_by_test_id("person-q")).to_have_value("李四")
    expect(page.get_by_test_id("person-result")).to_have_count(1)
    page.get_by_test_id("person-result").get_by_role("link").click()
    expect(page.get_by_test_id("chosen-person")).to_have_attribute("data-person", str(person.pk))
    assert [address for address in addresses if ID_NUMBER.search(address)] == []
    form = page.get_by_test_id("apply-form")
    expect(form.locator("select[name=insurance_year]")).to_have_value(str(YEAR))
    form.locator("select[name=reason]").select_option("paid_twice")
    form.locator("input[name=event_on]").fill("2026-10-12")
    form.locator("input[name=note]").fill("同日在村里和APP各缴一次")
    form.get_by_test_id("evidence").set_input_files(str(receipt))
    shoot("1-clerk-applies")
    form.get_by_test_id("apply-submit").click()

    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "submitted")
    expect(page.get_by_test_id("engine-decision")).to_have_attribute("data-refundable", "yes")
    expect(page.get_by_test_id("engine-rule")).to_have_text("重复缴费：均可退费")
    expect(page.get_by_test_id("engine-rule")).to_have_attribute("data-rule", "refunds.reasons.paid_twice")
    expect(page.get_by_test_id("evidence-list").get_by_role("link")).to_have_text("second-receipt.pdf")
    expect(page.get_by_test_id("withdraw-form")).to_be_visible()
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    application = RefundApplication.objects.get(person=person)
    expect(page.get_by_test_id("due-on")).to_have_attribute("data-date", application.due_on.isoformat())
    # The second of the two deposits is the one given back, by its receipt.
    second = application.given_back_deposit.receipt_number
    assert second.endswith("-1")
    expect(page.get_by_test_id("given-back-deposit")).to_have_attribute("data-receipt", second)
    expect(page.get_by_test_id("given-back-deposit")).to_contain_text(f"{second} · 2026-10-10 · 400.00")
    shoot("2-clerk-sees-the-decision")

    page.context.clear_cookies()
    sign_in("insurance_a")
    alert = page.get_by_test_id("overdue-refunds")
    expect(alert).to_have_attribute("data-count", "1")
    shoot("3-insurance-home-overdue")
    page.goto("/refunds/")
    row = page.locator(f"[data-testid=refund-row][data-pk='{application.pk}']")
    expect(row).to_have_attribute("data-status", "submitted")
    shoot("4-insurance-list")
    row.get_by_role("link").click()
    page.get_by_test_id("approve-submit").click()
    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "approved")
    page.get_by_test_id("payout-form").locator("input[name=bank_reference]").fill("ICBC-20261120-0007")
    shoot("5-insurance-approved")
    page.get_by_test_id("payout-submit").click()

    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "paid_out")
    expect(page.get_by_test_id("payout")).to_contain_text("ICBC-20261120-0007")
    events = page.get_by_test_id("timeline-event")
    expect(events).to_have_count(3)
    assert [events.nth(i).get_attribute("data-action") for i in range(3)] == ["apply", "approve", "pay_out"]
    expect(events.nth(0)).to_contain_text("村经办a")
    expect(events.nth(1)).to_contain_text("医保a")
    expect(page.get_by_test_id("steps")).to_have_count(0)
    shoot("6-paid-out-timeline")

    application.refresh_from_db()
    assert (application.status, application.applied_by.username, application.decided_by.username) == (
        "paid_out",
        "clerk_a",
        "insurance_a",
    )
    assert RefundEvidence.objects.get(application=application).file.read() == PDF_BYTES
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_a_death_in_linfen_when_the_clerk_applies_then_the_refusal_and_its_reason_show_at_once(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    person = paid_person(TUNLI, "王五")

    sign_in("clerk_a")
    page.goto(f"/refunds/apply/?person={person.pk}")
    form = page.get_by_test_id("apply-form")
    form.locator("select[name=reason]").select_option("death")
    form.locator("input[name=event_on]").fill("2026-11-02")
    form.get_by_test_id("apply-submit").click()

    application = RefundApplication.objects.get(person=person)
    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "rejected")
    expect(page.get_by_test_id("engine-decision")).to_have_attribute("data-refundable", "no")
    expect(page.get_by_test_id("engine-reason")).to_have_text(application.rule_reason)
    expect(page.locator(".message.error")).to_contain_text(application.rule_reason)
    expect(page.get_by_test_id("timeline-event")).to_have_count(2)
    expect(page.get_by_test_id("steps")).to_have_count(0)
    shoot("1-refused-on-the-spot")
    assert (application.refundable, application.decided_by) == (False, None)
    assert page_log.errors == [] and page_log.csp_violations() == []
