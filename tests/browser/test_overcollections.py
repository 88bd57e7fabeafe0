"""Over-collections caused by tax in a real Chromium, across the four roles of the flow: a tax
clerk reports one on a receipt; after delivery insurance staff prepare the month's fund-usage plan
and submit it; finance staff approve it and record the transfer; insurance staff record the payout;
the tax clerk sees the request paid out, with every step on its timeline. Messages between the
bureaus are delivered as the workers would. Checks read data-testid hooks, whatever the catalogue says."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from collection import services as tax
from collection.models import OvercollectionRequest, RefundPaid
from refunds import services as insurance
from refunds.finance.models import ReceivedPlan
from refunds.models import FundPlan
from tests.refunds.overcollection_support import deliver, scope, tax_payment, this_month

pytestmark = pytest.mark.browser


def test_given_tax_insurance_and_finance_when_an_over_collection_is_refunded_then_each_sees_its_part(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    world = transactional_world
    payment = tax_payment(world, amount_fen=40000)

    # Tax: report 120.00 yuan charged too much on the receipt.
    sign_in("tax_a")
    page.goto("/collection/overcollections/")
    page.get_by_test_id("overcollection-new").click()
    page.locator("#id_lookup").fill(payment.receipt)
    page.locator("#id_lookup").press("Enter")
    expect(page.get_by_test_id("payment")).to_have_attribute("data-pk", str(payment.pk))
    form = page.get_by_test_id("overcollection-form")
    form.locator("input[name=amount_yuan]").fill("120.00")
    form.locator("select[name=reason]").select_option("wrong_amount")
    form.locator("input[name=note]").fill("按旧标准多收")
    shoot("1-tax-reports")
    form.get_by_test_id("overcollection-submit").click()
    expect(page.get_by_test_id("overcollection-status")).to_have_attribute("data-status", "requested")
    request = OvercollectionRequest.objects.get()
    deliver()

    # Insurance: the pool shows it; prepare this month's plan, check the line, submit it.
    page.context.clear_cookies()
    sign_in("insurance_a")
    page.goto("/refunds/plans/")
    pool = page.locator("[data-testid=pool-row][data-county='141002']")
    expect(pool.get_by_test_id("pool-count")).to_have_text("1")
    shoot("2-insurance-pool")
    pool.get_by_test_id("prepare-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "draft")
    expect(page.get_by_test_id("plan-line")).to_have_count(1)
    expect(page.get_by_test_id("plan-amount")).to_have_attribute("data-fen", "12000")
    shoot("3-insurance-draft")
    page.get_by_test_id("submit-plan").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "submitted")
    plan = FundPlan.objects.get()
    deliver()

    # Finance: the plan waits on the home page and in the list; approve it, record the transfer.
    page.context.clear_cookies()
    sign_in("finance_a")
    expect(page.get_by_test_id("waiting-fund-plans")).to_have_attribute("data-count", "1")
    page.goto("/finance/plans/")
    received = ReceivedPlan.objects.get(plan_id=plan.pk)
    row = page.locator(f"[data-testid=plan-row][data-pk='{received.pk}']")
    expect(row).to_have_attribute("data-status", "received")
    shoot("4-finance-list")
    row.get_by_role("link").click()
    expect(page.get_by_test_id("plan-line")).to_have_count(1)
    shoot("5-finance-plan")
    page.get_by_test_id("approve-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "approved")
    page.get_by_test_id("transfer-form").locator("input[name=voucher]").fill("财拨-2026-118")
    page.get_by_test_id("transfer-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "transferred")
    expect(page.get_by_test_id("timeline-event")).to_have_count(3)
    shoot("6-finance-transferred")
    deliver()

    # Insurance: the plan is funded; record the payout.
    page.context.clear_cookies()
    sign_in("insurance_a")
    page.goto(f"/refunds/plans/{plan.pk}/")
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "funded")
    expect(page.get_by_test_id("transfer")).to_contain_text("财拨-2026-118")
    page.get_by_test_id("payout-form").locator("input[name=bank_reference]").fill("ICBC-OC-0001")
    page.get_by_test_id("payout-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "paid_out")
    events = page.get_by_test_id("timeline-event")
    expect(events).to_have_count(5)
    assert [events.nth(i).get_attribute("data-action") for i in range(5)] == [
        "apply", "submit", "finance_approve", "funds_transferred", "pay_out",
    ]  # fmt: skip
    shoot("7-insurance-paid-out")
    deliver()

    # Tax: the request is paid out, every step on its timeline, the refund in the month's details.
    page.context.clear_cookies()
    sign_in("tax_a")
    page.goto(f"/collection/overcollections/{request.pk}/")
    expect(page.get_by_test_id("overcollection-status")).to_have_attribute("data-status", "paid_out")
    expect(page.get_by_test_id("paid-out")).to_contain_text("ICBC-OC-0001")
    steps = page.get_by_test_id("timeline-event")
    expect(steps).to_have_count(6)
    assert [steps.nth(i).get_attribute("data-to") for i in range(6)] == [
        "requested", "received", "planned", "approved", "funded", "paid_out",
    ]  # fmt: skip
    shoot("8-tax-sees-paid-out")
    page.goto("/collection/refunds/")
    expect(page.get_by_test_id("refund-row")).to_have_count(1)
    expect(page.get_by_test_id("refund-row")).to_have_attribute("data-fen", "12000")
    shoot("9-tax-refund-details")

    assert list(RefundPaid.objects.values_list("kind", "refund_id", "amount_fen")) == [
        ("overcollection", request.pk, 12000)
    ]
    assert page_log.errors == [] and page_log.csp_violations() == []


def test_given_a_request_after_the_months_plan_when_insurance_opens_the_pool_then_the_draft_takes_it_or_it_waits(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    """The QA dead end: a new over-collection offered 编制 for a month that already had its plan.
    While the month's plan is a draft the row adds it to the draft; once the plan went to finance the
    row says which month's plan takes it and from when."""
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    world = transactional_world

    def report(amount_fen: int) -> None:
        tax.overcollection_request(
            scope=scope(world, Role.TAX_STAFF), receipt=tax_payment(world).receipt, amount_fen=amount_fen,
            reason="charged_twice",
        )  # fmt: skip
        deliver()

    report(12000)
    plan = insurance.fund_plan_prepare(
        scope=scope(world, Role.INSURANCE_STAFF), county_code="141002", period=this_month()
    )
    report(3000)

    sign_in("insurance_a")
    page.goto("/refunds/plans/")
    pool = page.locator("[data-testid=pool-row][data-county='141002']")
    expect(pool.get_by_test_id("prepare-form")).to_have_count(0)
    shoot("1-pool-with-a-draft")
    pool.get_by_test_id("gather-submit").click()
    expect(page.get_by_test_id("plan-line")).to_have_count(2)
    expect(page.get_by_test_id("plan-amount")).to_have_attribute("data-fen", "15000")
    shoot("2-draft-took-it")
    page.get_by_test_id("submit-plan").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "submitted")

    report(3050)
    page.goto("/refunds/plans/")
    waits = page.locator("[data-testid=pool-row][data-county='141002']").get_by_test_id("pool-waits")
    expect(waits).to_contain_text(f"编号 {plan.pk}")
    shoot("3-pool-waits-for-next-month")
    assert page_log.errors == [] and page_log.csp_violations() == []
