"""Extending the collection period in a real Chromium: the administrator enters the new last day
and the reason; the confirmation says how many approved, unpaid back-payments the extension
withdraws in 尧都区 and that those persons pay the normal amount; after it, the policy page says the
county is being reassessed while its run (queued by the extension) waits for a worker, and once the
worker has run it, shown again, that the county was reassessed and how many were withdrawn; the
run's page counts them. Linfen 2027 test policy (tests/refunds/backpay_support.py):
collection 1 Sep – 25 Dec 2026, back-payments of 1,100 yuan from 26 December. Checks read
data-testid hooks and numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import Role
from accounts.scope import Scope
from enrollment import assessment
from enrollment.models import Assessment, AssessmentRun, Policy
from enrollment.rules import engine
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication
from sharing.services import delivery_drain
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import DUE_ON_TIME, YEAR, due_person

pytestmark = pytest.mark.browser


def test_given_approved_unpaid_back_payments_when_the_period_is_extended_then_the_pages_say_how_many_are_withdrawn(
    page, sign_in, shoot, page_log, transactional_world, monkeypatch
):
    world = transactional_world
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    queued: list[int] = []  # the worker's queue: run below, after the page answered
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: None)
    # given: in 尧都区, two persons whose back-payment of 2027 was approved on 28 December 2026 and
    # is not paid, and one who owes 2027 without having applied
    applications = []
    for name in ("李补缴", "王补缴"):
        person = due_person(TUNLI, name=name)
        application = services.back_payment_apply(
            scope=Scope.for_user(world.user_for(Role.VILLAGE_CLERK, "a")), person_id=person.pk,
            insurance_year=YEAR, reason="外出务工，错过了集中征缴期", today=dt.date(2026, 12, 27),
        )  # fmt: skip
        services.back_payment_approve(
            scope=Scope.for_user(world.user_for(Role.INSURANCE_STAFF, "a")),
            application_id=application.pk,
            today=dt.date(2026, 12, 28),
        )
        applications.append(application)
    due_person(TUNLI, name="赵正常")
    delivery_drain(seconds=30)
    # The extension runs while it is not over (the pages decide "today" themselves).
    extended_to = max(dt.date(2027, 1, 25), timezone.localdate() + dt.timedelta(days=30))
    until = engine.say_date(extended_to)

    # when: the administrator fills in the extension and checks it
    sign_in("admin")
    page.goto(reverse("enrollment:policy-extend", args=["refund-test-141000"]))
    form = page.get_by_test_id("extend-form")
    form.locator("input[name=extended_to]").fill(extended_to.isoformat())
    form.locator("textarea[name=note]").fill("医保局、税务局联合通知延长集中征缴期")
    shoot("1-form")
    form.get_by_test_id("extend-submit").click()

    # then: the confirmation says 尧都区's two approved, unpaid back-payments are withdrawn and the
    # persons pay the normal amount until the new last day; nothing is saved yet
    preview = page.get_by_test_id("extend-preview")
    expect(preview.locator("[data-testid=withdrawals-county][data-county='141002']")).to_have_attribute(
        "data-count", "2"
    )
    said = preview.get_by_test_id("withdrawals-said")
    expect(said).to_have_attribute("data-count", "2")
    expect(said).to_contain_text(until)
    expect(preview.get_by_test_id("preview-window")).to_contain_text(until)
    assert Policy.objects.get(code="refund-test-141000").version == 1
    shoot("2-confirmation")

    # when: the administrator confirms
    with page.expect_navigation():
        preview.get_by_test_id("extend-confirm-submit").click()

    # then: the policy page says 尧都区 is being reassessed and that its run withdraws the two
    followup = page.get_by_test_id("extension-followup")
    expect(followup).to_have_attribute("data-state", "running")
    expect(followup).to_contain_text("正在重新核定")
    expect(followup).to_contain_text("141002")
    expect(followup).to_contain_text("随各县重新核定撤销已批准但尚未缴费的补缴申请2件")
    expect(page.get_by_test_id("policy-version")).to_have_attribute("data-version", "2")
    shoot("3-extended-running")

    # when: a worker runs the county's run, and the administrator reloads the policy page
    [run_id] = queued
    assessment.assessment_run_execute(run_id=run_id)
    page.reload()

    # then: it says 尧都区 was reassessed and the two were withdrawn, no longer "being reassessed"
    expect(followup).to_have_attribute("data-state", "done")
    expect(followup).to_contain_text("以下区县已重新核定")
    expect(followup).to_contain_text("已撤销已批准但尚未缴费的补缴申请2件")
    expect(followup).not_to_contain_text("正在重新核定")
    shoot("4-extended-done")
    # and: said once the run has ended, a further reload says nothing more of it
    page.reload()
    expect(page.get_by_test_id("policy-version")).to_be_visible()
    expect(followup).to_have_count(0)
    # and: both applications are withdrawn; both persons owe the normal 400 yuan
    assert [BackPaymentApplication.objects.get(pk=a.pk).status for a in applications] == ["withdrawn"] * 2
    assert set(
        Assessment.objects.filter(
            person_id__in=[a.person_id for a in applications], insurance_year=YEAR
        ).values_list("payable_fen", "back_payment_fen")
    ) == {(DUE_ON_TIME, None)}

    # and: the county's run counts the two back-payments it withdrew
    run = AssessmentRun.objects.filter(county_code="141002", insurance_year=YEAR).latest("pk")
    page.goto(reverse("enrollment:assessment-run", args=[run.pk]))
    expect(page.locator("[data-testid=counts] [data-key=back_payments_withdrawn]")).to_have_attribute(
        "data-value", "2"
    )
    shoot("5-run")
    assert page_log.errors == [] and page_log.csp_violations() == []
