"""The tour: one story through the portal in a real Chromium, each role handing work to the next.

A village clerk of 屯里村 registers a new household with the keyboard; county insurance staff
approve it and run the yearly assessment, whose amounts due reach tax over the sharing platform;
the tax clerk looks the head of the household up, records the payment and opens the payment
certificate (a PDF); the payment reaches insurance, the clerk applies for a refund of it and
insurance staff (someone else: four-eyes) approve it; finance staff approve the month's fund-usage
plan insurance submitted and record the transfer; the administrator imports the city's 低保 roster
(upload, preview, confirm) that tags the household's wife.

Background work runs in this process as a worker would run it: the assessment and the roster
import call their Celery tasks, and the sharing platform's messages are delivered with
``delivery_drain`` between the steps. Every page the tour opens is checked for console errors and
content-security-policy violations. Screenshots: test-artifacts/tour/NN-role-step.png; the
certificate: test-artifacts/tour/certificate.pdf.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import Role
from accounts.scope import Scope
from collection.models import DueItem, Payer, Payment, PaymentCertificate
from enrollment.models import Assessment, DepositRecord, Person, RegistrationApplication
from refunds import services as refunds
from refunds.finance.models import ReceivedPlan
from sharing.services import delivery_drain
from subsidies.models import SubsidyTag
from tests.browser_fixtures import PageLog, full_page_screenshot
from tests.matrix.enrollment_registration import resident_id
from tests.refunds.overcollection_support import tax_payment, this_month
from tests.subsidies.support import HEADER, INDIVIDUAL, ROSTER_DATE, YEAR, row, xlsx_bytes

pytestmark = pytest.mark.browser

TOUR = Path(__file__).resolve().parents[2] / "test-artifacts" / "tour"
KEY_DELAY_MS = 20
FAMILY = [  # name, ID number, phone
    ("赵国庆", resident_id("141002", dt.date(1979, 10, 1), 21, male=True), "13800000021"),
    ("钱秀梅", resident_id("141002", dt.date(1981, 5, 17), 22, male=False), "13800000022"),
]


def _path(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


@pytest.fixture
def snap(page: Page) -> Callable[[str], Path]:
    """test-artifacts/tour/NN-<name>.png, numbered in the order the story takes them."""
    TOUR.mkdir(parents=True, exist_ok=True)
    for old in TOUR.glob("*.png"):
        old.unlink()
    taken = [0]

    def take(name: str) -> Path:
        taken[0] += 1
        path = TOUR / f"{taken[0]:02d}-{name}.png"
        full_page_screenshot(page, path)
        return path

    return take


def _sign_in_as(page: Page, sign_in: Callable[..., None], username: str) -> None:
    page.context.clear_cookies()
    sign_in(username)


def _linfen_policy_open_today() -> None:
    """Linfen's rules moved to next year, the counter open every day of a window around today (the
    preset takes payments on the 1st to the 25th only), so the tour runs whatever the date."""
    from enrollment.demo import _shifted
    from enrollment.policies import policy_save

    document = _shifted("linfen-tour", YEAR - 2021, INDIVIDUAL, 70000)
    today = timezone.localdate()
    document["collection"].update(
        {
            "from": (today - dt.timedelta(days=30)).isoformat(),
            "to": (today + dt.timedelta(days=30)).isoformat(),
            "days_of_month": [1, 31],
        }
    )
    policy_save(document=document, note="tour")


def _fund_plan_submitted_by_insurance(world) -> int:  # type: ignore[no-untyped-def]
    """Earlier this month tax reported 120 yuan charged too much; insurance put it in the month's
    plan and submitted it: finance has received it."""
    from collection import services as tax

    payment = tax_payment(world, amount_fen=40000)
    # Written straight to the ledger: a receipt number far from the counter's sequence of the year.
    Payment.objects.filter(pk=payment.pk).update(receipt_number=900_000 + payment.pk)
    payment.refresh_from_db()
    tax.overcollection_request(
        scope=Scope.for_user(world.user_for(Role.TAX_STAFF)), receipt=payment.receipt, amount_fen=12000,
        reason="charged_twice", note="同一收据重复扣款",
    )  # fmt: skip
    delivery_drain(seconds=30)
    insurance = Scope.for_user(world.user_for(Role.INSURANCE_STAFF))
    plan = refunds.fund_plan_prepare(scope=insurance, county_code="141002", period=this_month())
    refunds.fund_plan_submit(scope=insurance, plan_id=plan.pk, amount_fen=plan.amount_fen)
    delivery_drain(seconds=30)
    return ReceivedPlan.objects.get(plan_id=plan.pk).pk


def test_given_every_role_when_they_hand_a_household_through_the_portal_then_each_step_shows_its_result(
    page: Page, sign_in, snap, page_log: PageLog, transactional_world, monkeypatch, tmp_path: Path
):
    world = transactional_world
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    queued_runs: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued_runs.append)
    queued_imports: list[dict[str, int]] = []

    def queue_import(*, kwargs: dict[str, int], **options: object) -> None:
        queued_imports.append(kwargs)

    monkeypatch.setattr("subsidies.tasks.process_roster_import.apply_async", queue_import)
    _linfen_policy_open_today()
    received_plan = _fund_plan_submitted_by_insurance(world)
    page.on("dialog", lambda dialog: dialog.accept())

    # --- 1. the village clerk registers the household, keyboard only ------------------------------
    sign_in("clerk_a")
    page.goto("/enrollment/")
    expect(page.locator("#q")).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Alt+n")
    expect(page.locator("#id_kind")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.type("屯里村五组8号", delay=KEY_DELAY_MS)
    page.keyboard.press("Tab")
    for index, (name, id_number, phone) in enumerate(FAMILY):
        expect(page.locator(f"#id_members-{index}-name")).to_be_focused()
        page.keyboard.type(name, delay=KEY_DELAY_MS)
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.type(id_number, delay=KEY_DELAY_MS)
        expect(page.locator(f"#id_members-{index}-relation")).to_be_focused()
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.type("汉族", delay=KEY_DELAY_MS)
        page.keyboard.press("Tab")
        page.keyboard.type(phone, delay=KEY_DELAY_MS)
        if index < len(FAMILY) - 1:
            page.keyboard.press("Enter")
    expect(page.locator("#id_members-1-birth_date")).to_have_value("1981-05-17")
    snap("clerk-household-form")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    expect(page.locator("[data-testid=open-application] [data-status=submitted]")).to_be_visible()
    expect(page.locator("[data-testid=members] tbody tr")).to_have_count(2)
    application = RegistrationApplication.objects.get()
    assert _path(page) == f"/enrollment/households/{application.household_id}/"
    snap("clerk-household-submitted")

    # --- 2. insurance staff approve it and run the yearly assessment -------------------------------
    _sign_in_as(page, sign_in, "insurance_a")
    page.goto(reverse("enrollment:application-queue"))
    row_ = page.locator(f"[data-testid=application-row][data-household='{application.household.number}']")
    expect(row_).to_contain_text("屯里村")
    snap("insurance-queue")
    row_.get_by_role("link").click()
    expect(page.locator("[data-testid=member-row]")).to_have_count(2)
    expect(page.locator("[data-testid=member-table]")).to_contain_text(FAMILY[0][1])  # in full, for insurance
    page.fill("#id_enrollment_date", f"{YEAR - 1}-01-01")
    snap("insurance-application")
    page.locator("[data-testid=approve-form] button[type=submit]").click()
    expect(page.locator(".message.success")).to_be_visible()
    head = Person.objects.get(id_number=FAMILY[0][1])
    wife = Person.objects.get(id_number=FAMILY[1][1])

    page.goto(reverse("enrollment:assessment-runs"))
    page.select_option("#id_county_code", "141002")
    page.fill("#id_insurance_year", str(YEAR))
    with page.expect_navigation():
        page.get_by_test_id("start-submit").click()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "queued")
    snap("insurance-assessment-queued")
    assert len(queued_runs) == 1
    from enrollment.tasks import run_assessment

    run_assessment(queued_runs[0])  # the worker's job, in this process
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.get_by_test_id("counts").locator("[data-key=pushed]")).not_to_have_attribute(
        "data-value", "0"
    )
    snap("insurance-assessment-done")
    assert Assessment.objects.get(person=head, insurance_year=YEAR).payable_fen == 40000

    # The amounts due travel to tax over the sharing platform.
    assert DueItem.objects.filter(person_id=head.id_number).count() == 0
    assert delivery_drain(seconds=30)["dead"] == 0
    assert DueItem.objects.filter(person_id=head.id_number, insurance_year=YEAR).count() == 1

    # --- 3. tax looks the payer up, records the payment, opens the certificate ---------------------
    _sign_in_as(page, sign_in, "tax_a")
    page.goto("/collection/counter/")
    expect(page.get_by_test_id("payer-q")).to_be_focused()
    page.keyboard.type(head.id_number)
    page.keyboard.press("Enter")
    payer_key = str(Payer.objects.get(person_id=head.id_number).pk)
    expect(page.get_by_test_id("payer")).to_have_attribute("data-payer", payer_key)  # the one match, opened
    assert page.url.endswith(f"/collection/counter/?payer={payer_key}")  # by tax's key, not the ID number
    expect(page.get_by_test_id("payer")).to_contain_text("赵国庆")
    form = page.get_by_test_id("pay-form")
    expect(form.locator("input[name$=amount_yuan]")).to_have_value("400")
    form.locator("select[name$=channel]").select_option("counter_cash")
    snap("tax-counter")
    form.get_by_test_id("pay-submit").click()
    expect(page.get_by_test_id("receipt-amount")).to_contain_text("400.00")
    payment = Payment.objects.get(person_id=head.id_number)
    snap("tax-receipt")
    pdf_url = f"/collection/payments/{payment.pk}/certificate/"
    with page.expect_response(lambda response: response.url.endswith(pdf_url)) as opened:
        page.get_by_test_id("certificate-issue").click()
    assert (opened.value.status, opened.value.headers["content-type"]) == (200, "application/pdf")
    pdf = page.context.request.get(pdf_url).body()
    assert pdf.startswith(b"%PDF-")
    (TOUR / "certificate.pdf").write_bytes(pdf)
    certificate = PaymentCertificate.objects.get(payment=payment)
    page.goto(f"/collection/payments/{payment.pk}/receipt/")
    expect(page.get_by_test_id("certificate")).to_have_attribute("data-code", certificate.code)
    snap("tax-certificate-issued")

    # The payment reaches insurance: the year is paid.
    delivery_drain(seconds=30)
    assert Assessment.objects.get(person=head, insurance_year=YEAR).status == "paid"
    assert DepositRecord.objects.filter(id_number=head.id_number, insurance_year=YEAR).count() == 1

    # --- 4. the clerk applied for a refund; insurance staff (someone else) approve it ----------------
    # (An agency's error: with the one deposit insurance holds, "paid twice" is refused on the spot.)
    refund = refunds.refund_apply(
        scope=Scope.for_user(world.users["clerk_a"]), person_id=head.pk, insurance_year=YEAR,
        reason="agency_error", event_on=timezone.localdate(), note="村里代收时多收了一次",
    )  # fmt: skip
    _sign_in_as(page, sign_in, "insurance_a")
    page.goto("/refunds/")
    refund_row = page.locator(f"[data-testid=refund-row][data-pk='{refund.pk}']")
    expect(refund_row).to_be_visible()
    snap("insurance-refund-list")
    refund_row.get_by_role("link").click()
    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "submitted")
    snap("insurance-refund-application")
    page.get_by_test_id("approve-submit").click()
    expect(page.get_by_test_id("refund-status")).to_have_attribute("data-status", "approved")
    expect(page.get_by_test_id("timeline-event")).to_have_count(2)
    snap("insurance-refund-approved")
    refund.refresh_from_db()
    assert (refund.applied_by.username, refund.status) == ("clerk_a", "approved")

    # --- 5. finance approves the month's fund-usage plan and records the transfer -------------------
    _sign_in_as(page, sign_in, "finance_a")
    expect(page.get_by_test_id("waiting-fund-plans")).to_have_attribute("data-count", "1")
    page.goto("/finance/plans/")
    plan_row = page.locator(f"[data-testid=plan-row][data-pk='{received_plan}']")
    expect(plan_row).to_have_attribute("data-status", "received")
    snap("finance-plans")
    plan_row.get_by_role("link").click()
    page.get_by_test_id("approve-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "approved")
    page.get_by_test_id("transfer-form").locator("input[name=voucher]").fill("财拨-2026-201")
    page.get_by_test_id("transfer-submit").click()
    expect(page.get_by_test_id("plan-status")).to_have_attribute("data-status", "transferred")
    snap("finance-plan-transferred")
    assert ReceivedPlan.objects.get(pk=received_plan).status == "transferred"

    # --- 6. the administrator imports the city's 低保 roster: upload, preview, confirm ---------------
    roster = tmp_path / "低保名单.xlsx"
    roster.write_bytes(xlsx_bytes([["临汾市城乡低保对象名单"], HEADER, row(1, wife)]))
    _sign_in_as(page, sign_in, "admin")
    page.goto(reverse("subsidies:roster-upload"))
    page.fill("#id_source", "临汾市民政局")
    page.fill("#id_insurance_year", str(YEAR))
    page.fill("#id_roster_date", ROSTER_DATE.isoformat())
    page.set_input_files("[data-testid=file-input]", str(roster))
    snap("admin-roster-upload")
    with page.expect_navigation():
        page.get_by_test_id("upload-submit").click()
    from subsidies.tasks import process_roster_import

    process_roster_import(**queued_imports.pop())  # the check, as the worker runs it
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "checked", timeout=30_000)
    expect(page.get_by_test_id("counts").locator("[data-key=added]")).to_have_attribute("data-value", "1")
    page.get_by_test_id("mode-all").check()
    snap("admin-roster-preview")
    with page.expect_navigation():
        page.get_by_test_id("confirm").click()
    process_roster_import(**queued_imports.pop())  # the import itself
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.get_by_test_id("effects").locator("[data-key=tagged]")).to_have_attribute("data-value", "1")
    snap("admin-roster-imported")
    assert list(SubsidyTag.objects.values_list("person__name", "category")) == [("钱秀梅", "dibao")]

    assert page_log.errors == []
    assert page_log.console == []
