"""Back-payments (补缴) in a real Chromium, across the bureaus: a village clerk finds a resident who
missed the 2027 collection period, applies with a PDF and sees the rules' yes and amount at once;
insurance staff (another user) see the person's history and the rule the approval stands on, and
approve; the approval reaches tax, whose clerk takes the 1,100 yuan at the counter; the deposit
reaches insurance, and the application shows the year paid with cover from 90 days after the
deposit (Linfen). Messages are delivered in-process between the steps. Checks read data-testid
hooks, whatever the catalogue says."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from enrollment.back_payments import back_payment_facts
from enrollment.models import Assessment
from enrollment.policies import policy_for_county
from enrollment.rules import engine
from refunds.models import BackPaymentApplication, BackPaymentEvidence
from sharing.services import delivery_drain
from tests.collection.support import payer
from tests.matrix.enrollment_review import PDF_BYTES, TUNLI
from tests.refunds.backpay_support import AMOUNT, YEAR, due_person, window_around_today

pytestmark = pytest.mark.browser


def test_given_a_missed_year_when_applied_approved_and_paid_then_the_year_is_covered_after_the_waiting_period(
    page, sign_in, shoot, page_log, transactional_world, tmp_path, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    until = window_around_today()
    person = due_person(TUNLI, "赵补缴")
    payer(person.name, person.id_number)  # tax's ledger of payers (registration messages, elided here)
    delivery_drain(seconds=30)  # tax holds the on-time 2027 item
    proof = tmp_path / "外出务工证明.pdf"
    proof.write_bytes(PDF_BYTES)

    sign_in("clerk_a")
    page.goto("/refunds/back-payments/apply/")
    page.get_by_test_id("person-q").fill("赵补缴")
    with page.expect_navigation():
        page.get_by_test_id("person-q").press("Enter")  # POSTed: the address holds a key
    assert re.search(r"/refunds/back-payments/apply/\?search=[\w-]{12}$", page.url), page.url
    page.get_by_test_id("person-result").get_by_role("link").click()
    expect(page.get_by_test_id("history-paid")).to_have_text("2026")
    expect(page.get_by_test_id("history-unpaid")).to_have_text(str(YEAR))
    form = page.get_by_test_id("apply-form")
    expect(form.locator("select[name=insurance_year]")).to_have_value(str(YEAR))
    form.locator("textarea[name=reason]").fill("在外地务工，错过了集中征缴期")
    form.get_by_test_id("evidence").set_input_files(str(proof))
    shoot("1-clerk-applies")
    form.get_by_test_id("apply-submit").click()

    expect(page.get_by_test_id("backpay-status")).to_have_attribute("data-status", "submitted")
    expect(page.get_by_test_id("engine-heading")).to_have_text("规则判定")
    expect(page.get_by_test_id("engine-decision")).to_have_attribute("data-allowed", "yes")
    expect(page.get_by_test_id("engine-rule")).to_have_text("back_payment")
    expect(page.get_by_test_id("backpay-amount")).to_have_attribute("data-fen", str(AMOUNT))
    expect(page.get_by_test_id("pay-until")).to_have_text(until.isoformat())
    expect(page.get_by_test_id("evidence-list").get_by_role("link")).to_have_text("外出务工证明.pdf")
    expect(page.get_by_test_id("withdraw-form")).to_be_visible()
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    shoot("2-clerk-sees-the-rules-yes")
    application = BackPaymentApplication.objects.get(person=person)

    page.context.clear_cookies()
    sign_in("insurance_a")
    page.goto("/refunds/back-payments/?status=submitted")
    row = page.locator(f"[data-testid=backpay-row][data-pk='{application.pk}']")
    expect(row).to_have_attribute("data-status", "submitted")
    shoot("3-insurance-list")
    row.get_by_role("link").click()
    expect(page.get_by_test_id("today-amount")).to_have_attribute("data-fen", str(AMOUNT))
    expect(page.get_by_test_id("history").get_by_test_id("history-paid")).to_have_text("2026")
    expect(page.locator("[data-testid=history-year][data-year='2026']")).to_have_attribute(
        "data-status", "paid"
    )
    shoot("4-insurance-reviews-with-history")
    page.get_by_test_id("approve-submit").click()
    expect(page.get_by_test_id("backpay-status")).to_have_attribute("data-status", "approved")
    expect(page.get_by_test_id("steps")).to_have_count(0)
    events = page.get_by_test_id("timeline-event")
    expect(events).to_have_count(2)
    assert [events.nth(i).get_attribute("data-action") for i in range(2)] == ["apply", "approve"]
    expect(events.nth(0)).to_contain_text("村经办a")
    expect(events.nth(1)).to_contain_text("医保a")
    shoot("5-approved-timeline")

    delivery_drain(seconds=30)  # backpayment.due reaches tax
    page.context.clear_cookies()
    sign_in("tax_a")
    page.goto("/collection/counter/")
    page.get_by_test_id("payer-q").fill(person.id_number)
    page.get_by_test_id("payer-q").press("Enter")  # one match: the payer opens, by tax's key
    expect(page.get_by_test_id("payer")).to_be_visible()
    assert person.id_number not in page.url
    pay = page.get_by_test_id("pay-form")
    expect(pay.locator("input[name$=amount_yuan]")).to_have_value("1100")
    pay.locator("select[name$=channel]").select_option("counter_cash")
    shoot("6-tax-counter-back-payment")
    pay.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("receipt-amount")).to_contain_text("1,100.00")
    shoot("7-receipt")

    delivery_drain(seconds=30)  # the deposit record reaches insurance
    paid_on = timezone.localdate()
    rules = policy_for_county(county_code="141002", insurance_year=YEAR).rules
    expected = engine.benefit_period(
        rules, back_payment_facts(person=person, insurance_year=YEAR, rules=rules), paid_on, back_payment=True
    )
    assessment = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (assessment.status, assessment.paid_fen, assessment.paid_on) == ("paid", AMOUNT, paid_on)
    assert assessment.benefit_start == expected.start
    if expected.start is not None:  # 90 days later may lie beyond 2027 when the tests run late
        assert expected.start == paid_on + dt.timedelta(days=90)
    page.context.clear_cookies()
    sign_in("insurance_a")
    page.goto(f"/refunds/back-payments/{application.pk}/")
    expect(page.get_by_test_id("benefit-start")).to_have_text(
        expected.start.isoformat() if expected.start else "—"
    )
    shoot("8-paid-and-covered-after-90-days")
    assert BackPaymentEvidence.objects.get(application=application).file.read() == PDF_BYTES
    assert page_log.errors == [] and page_log.csp_violations() == []
