"""The payment certificate in a real Chromium: from the receipt a tax clerk gets the certificate
(a PDF), signs out, and — as anyone shown the certificate — checks its code on the public page,
typed carelessly; after a reversal the same code shows the certificate no longer valid. Checks
read data-testid hooks and numbers, whatever the message catalogue says."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.models import PaymentCertificate
from tests.collection.support import AMOUNT, due, open_today, payer

pytestmark = pytest.mark.browser

ZHANG = "141002198001010011"
# Beside the screenshots, to look at the PDF the browser got (pdftoppm -png -r 80).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_given_a_receipt_when_the_clerk_gets_the_certificate_then_anyone_can_check_its_code(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    tax = Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)
    payer("张小三", ZHANG)
    item = due(ZHANG, schedule=open_today())
    payment = services.payment_record(
        scope=tax, due_item_id=item.pk, amount_fen=AMOUNT, channel="wechat", paid_by="张小三"
    ).payment

    sign_in("tax_a")
    page.goto(f"/collection/payments/{payment.pk}/receipt/")
    expect(page.get_by_test_id("receipt")).to_have_attribute("data-number", payment.receipt)
    expect(page.get_by_test_id("certificate")).to_have_count(0)
    shoot("1-receipt")
    pdf_url = f"/collection/payments/{payment.pk}/certificate/"
    # POST, then the redirect to the PDF, which Chromium opens in its viewer.
    with page.expect_response(lambda response: response.url.endswith(pdf_url)) as opened:
        page.get_by_test_id("certificate-issue").click()

    certificate = PaymentCertificate.objects.get()
    assert opened.value.status == 200
    assert opened.value.headers["content-type"] == "application/pdf"
    assert opened.value.headers["content-disposition"].startswith("inline;")
    assert page.url.endswith(pdf_url)
    # The viewer takes the body; ask again with the browser's own session for the bytes.
    again = page.context.request.get(pdf_url)
    assert again.body().startswith(b"%PDF-")
    (ARTIFACTS / "certificate.pdf").write_bytes(again.body())
    page.goto(f"/collection/payments/{payment.pk}/receipt/")
    expect(page.get_by_test_id("certificate")).to_have_attribute("data-code", certificate.code)
    shoot("2-issued")

    page.locator("form[action='/logout/'] button").click()
    page.goto("/verify/")
    expect(page.get_by_test_id("whoami")).to_have_count(0)
    expect(page.get_by_test_id("verify-code")).to_be_focused()
    shoot("3-public-form")
    page.keyboard.type(certificate.code.replace("-", " ").lower())
    page.keyboard.press("Enter")
    result = page.get_by_test_id("verify-result")
    expect(result).to_have_attribute("data-valid", "true")
    expect(page.get_by_test_id("verify-year")).to_have_text("2027")
    expect(page.get_by_test_id("verify-name")).to_have_text("张*三")
    expect(page.get_by_test_id("verify")).not_to_contain_text("张小三")
    expect(page.get_by_test_id("verify")).not_to_contain_text(ZHANG[-4:])
    shoot("4-valid")

    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收错人")
    page.reload()
    expect(result).to_have_attribute("data-valid", "false")
    shoot("5-reversed")

    page.get_by_test_id("verify-code").fill("7KQ2-M9XD-4TRB-HW3C")
    page.get_by_test_id("verify-submit").click()
    expect(result).to_have_attribute("data-valid", "unknown")
    shoot("6-unknown")
    assert page_log.errors == [] and page_log.csp_violations() == []
