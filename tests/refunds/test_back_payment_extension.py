"""A back-payment approved before insurance and tax extend the collection period (Linfen 2027 test
policy of tests/refunds/backpay_support.py: I 400 yuan, collection 1 Sep – 25 Dec 2026, back-payments
F = 1,100 yuan from 26 December, cover 90 days after the deposit).

While the extended period runs the year is not missed: the person may pay 400 yuan with cover from
1 January. So the county's reassessment withdraws a back-payment approved before the extension and
not yet paid — the application by the rules, with the reason, on its timeline; the assessment's
back-payment (kept in its history); tax's back-payment line, replaced by the normal item with the
extended schedule. A back-payment already paid stands.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from collection.models import DueItem
from collection.rules import acceptance_on
from enrollment import assessment
from enrollment.assessment import assessment_reassess
from enrollment.demo import _shifted
from enrollment.models import (
    Assessment,
    AssessmentRun,
    ChangeReason,
    Enrollment,
    EnrollmentStatus,
    Person,
    Policy,
)
from enrollment.policies import policy_extend_collection
from enrollment.rules import engine
from enrollment.rules import policy as rules
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication, WorkflowEvent
from sharing.services import delivery_drain
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import (
    AMOUNT,
    DUE_ON_TIME,
    YEAR,
    due_person,
    pay_at_tax,
    scope_of,
    timeline,
)

pytestmark = pytest.mark.django_db

APPLIED_ON = dt.date(2026, 12, 27)
APPROVED_ON = dt.date(2026, 12, 28)
EXTENDED_ON = dt.date(2027, 1, 5)
EXTENDED_TO = dt.date(2027, 1, 25)
REASON = (
    "2027年度集中征缴期已延长至2027年1月25日，在此之前可按正常标准缴费、享受正常待遇："
    "延长前批准的补缴予以撤销。2027年1月26日起可重新申请补缴。"
)


@pytest.fixture
def run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's part runs at once when a run is queued (the task would, a moment later)."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment.assessment_run_execute(run_id=run_id),
    )


def approved_back_payment(world: World, person: Person) -> BackPaymentApplication:
    """Applied for on 27 December 2026 (the period ended on the 25th), approved on the 28th; tax holds
    the back-payment line."""
    application = services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="外出务工，错过了集中征缴期", today=APPLIED_ON,
    )  # fmt: skip
    services.back_payment_approve(
        scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk, today=APPROVED_ON
    )
    delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.amount_fen, item.schedule[0]["rule"]) == (AMOUNT, "back_payment")
    application.refresh_from_db()
    return application


def extend(captured, *, on: dt.date = EXTENDED_ON) -> None:  # type: ignore[no-untyped-def]
    """Insurance and tax extend the period to 25 January 2027 on ``on``; the county's run (queued by
    the extension) runs on that day, and tax applies what it sent."""
    record = Policy.objects.get(code="refund-test-141000")
    with mock.patch("enrollment.assessment.timezone.localdate", return_value=on), captured(execute=True):
        policy_extend_collection(policy=record, extended_to=EXTENDED_TO, note="医保税务协商延长", today=on)
    delivery_drain(seconds=30)


def test_given_an_approved_unpaid_back_payment_when_the_period_is_extended_then_it_is_withdrawn_with_the_reason(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: last year's payer who missed 2027's period; a back-payment of 1,100 yuan approved on
    # 28 December 2026 and not paid
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)

    # when: on 5 January 2027 the period is extended to 25 January
    extend(django_capture_on_commit_callbacks)

    # then: the application is withdrawn by the rules, the reason naming the extension on its timeline
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("extension_withdraw", "approved", "withdrawn", None, REASON)
    # and: the assessment is the normal 400 yuan again, its back-payment gone from the row (kept in
    # the row's history)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (year.status, year.payable_fen, year.back_payment_fen, year.back_payment_pay_until) == (
        "due", DUE_ON_TIME, None, None,
    )  # fmt: skip
    assert year.events.filter(back_payment_fen=AMOUNT).exists()


def test_given_a_back_payment_withdrawn_by_an_extension_then_tax_collects_the_normal_amount_until_the_extended_day(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: the back-payment of 28 December approved, then withdrawn by the extension to 25 January
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approved_back_payment(world, person)
    extend(django_capture_on_commit_callbacks)

    # then: tax's item is the normal one — 400 yuan, no back-payment line, payable until 25 January
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (item.status, item.amount_fen, item.revision) == ("due", DUE_ON_TIME, year.revision)
    assert [line["rule"] for line in item.schedule if line.get("back_payment")] == []
    assert item.schedule[-1]["to"] == "2027-01-25"
    answers = [
        acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day)
        for day in (dt.date(2027, 1, 10), dt.date(2027, 1, 25), dt.date(2027, 1, 26))
    ]
    assert [(a.accepted, a.amount_fen) for a in answers] == [
        (True, DUE_ON_TIME),
        (True, DUE_ON_TIME),
        (False, 0),
    ]

    # and when: the person pays 400 yuan at the counter on 10 January
    pay_at_tax(world, person, DUE_ON_TIME, dt.date(2027, 1, 10))

    # then: the year is paid at the normal price with the normal cover, from 1 January
    year.refresh_from_db()
    assert (year.status, year.paid_fen, year.benefit_start, year.benefit_end) == (
        "paid", DUE_ON_TIME, dt.date(2027, 1, 1), dt.date(2027, 12, 31),
    )  # fmt: skip


def test_given_a_back_payment_already_paid_when_the_period_is_extended_then_it_stands(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: the back-payment of 28 December paid at tax on 30 December (1,100 yuan)
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    pay_at_tax(world, person, AMOUNT, dt.date(2026, 12, 30))
    paid = Assessment.objects.get(person=person, insurance_year=YEAR)
    events_before = timeline(application)

    # when: the period is extended
    extend(django_capture_on_commit_callbacks)

    # then: the application, the paid year and tax's item are as they were
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (application.status, timeline(application)) == ("approved", events_before)
    assert (year.status, year.paid_fen, year.back_payment_fen, year.revision) == (
        "paid", AMOUNT, AMOUNT, paid.revision,
    )  # fmt: skip
    assert (item.status, item.amount_fen) == ("paid", AMOUNT)


def test_given_a_county_without_approved_back_payments_when_the_period_is_extended_then_only_the_schedules_change(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: two persons owing 2027, one of them with an application still waiting for a decision
    waiting_for = due_person(TUNLI, name="王五")
    other = due_person(TUNLI, name="赵六")
    delivery_drain(seconds=30)
    submitted = services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=waiting_for.pk, insurance_year=YEAR,
        reason="外出务工", today=APPLIED_ON,
    )  # fmt: skip
    events = WorkflowEvent.objects.count()

    # when: the period is extended
    extend(django_capture_on_commit_callbacks)

    # then: nothing is withdrawn and no application moves; both owe 400 yuan until 25 January
    submitted.refresh_from_db()
    assert (submitted.status, WorkflowEvent.objects.count()) == ("submitted", events)
    items = DueItem.objects.filter(
        person_id__in=[waiting_for.id_number, other.id_number], insurance_year=YEAR
    )
    assert sorted(
        (i.amount_fen, i.schedule[-1]["to"], i.schedule[0]["rule"] != "back_payment") for i in items
    ) == [
        (DUE_ON_TIME, "2027-01-25", True),
        (DUE_ON_TIME, "2027-01-25", True),
    ]
    assert not Assessment.objects.filter(insurance_year=YEAR, back_payment_fen__isnull=False).exists()


def test_given_a_back_payment_approved_after_the_extension_ended_when_the_person_is_reassessed_then_it_stands(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: the period extended to 25 January; the person still did not pay, applied on 27 January
    # and was approved on the 28th (1,100 yuan until 31 August)
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    extend(django_capture_on_commit_callbacks)
    application = services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="外出务工，错过了延长后的征缴期", today=dt.date(2027, 1, 27),
    )  # fmt: skip
    services.back_payment_approve(
        scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk, today=dt.date(2027, 1, 28)
    )

    # when: the person is reassessed on 2 February (their facts changed)
    assessment_reassess(person_id=person.pk, reason="信息变更", today=dt.date(2027, 2, 2))
    delivery_drain(seconds=30)

    # then: the back-payment stands, at tax as on the application
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (application.status, year.back_payment_fen) == ("approved", AMOUNT)
    assert (item.amount_fen, item.schedule[0]["rule"], item.schedule[0]["from"]) == (
        AMOUNT, "back_payment", "2027-01-28",
    )  # fmt: skip


def test_given_a_back_payment_withdrawn_by_an_extension_then_its_page_says_so_and_why(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: the back-payment of 28 December withdrawn by the extension
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    extend(django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(world.user_for(Role.INSURANCE_STAFF, "a"))

    # when: insurance staff open the application
    page = client.get(reverse("refunds:backpay-detail", args=[application.pk]))

    # then: it is withdrawn, by the rules, and says why at the top and on its timeline
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-status="withdrawn"' in text
    assert 'data-testid="backpay-withdrawn"' in text and REASON in text
    assert 'data-action="extension_withdraw"' in text and "撤销：集中征缴期已延长" in text
    assert 'data-testid="pay-until"' not in text


def _linfen(**collection: str) -> rules.Policy:
    document = _shifted("withdrawn-until-test", 6, 40000, 70000)
    document["collection"] = {**document["collection"], **collection}
    return rules.Policy.from_document(document)


def test_the_days_an_extension_withdraws_back_payments_are_those_of_the_extended_period():
    # Linfen's back-payment opens after the period: an extension to 25 January withdraws those
    # approved up to that day, while it runs
    extended = _linfen(extended_to="2027-01-25", extension_note="医保税务协商延长")
    assert engine.back_payment_withdrawn_until(extended) == EXTENDED_TO
    # without an extension nothing is withdrawn
    assert engine.back_payment_withdrawn_until(_linfen()) is None
    # nor where the back-payment opens within the period (a repair of a break, not a missed period)
    document = _shifted("withdrawn-until-test", 6, 40000, 70000)
    document["collection"] = {**document["collection"], "extended_to": "2027-01-25", "extension_note": "延长"}
    document["back_payment"] = {**document["back_payment"], "apply_from": "2026-09-01"}
    assert engine.back_payment_withdrawn_until(rules.Policy.from_document(document)) is None


# --- an approval after the extension; the extension page ---------------------------------------


def test_given_the_period_extended_when_a_back_payment_applied_for_before_is_approved_then_it_is_refused_saying_why(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: an application of 27 December 2026, still waiting when the period is extended to 25 January
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="外出务工，错过了集中征缴期", today=APPLIED_ON,
    )  # fmt: skip
    extend(django_capture_on_commit_callbacks)

    # when: insurance staff approve it on 6 January
    with pytest.raises(ValidationError) as refused:
        services.back_payment_approve(
            scope=scope_of(world, Role.INSURANCE_STAFF),
            application_id=application.pk,
            today=dt.date(2027, 1, 6),
        )

    # then: refused — the period runs again, the person pays the normal amount — and nothing changed
    assert refused.value.messages == [
        "2027年度集中征缴期已延长至2027年1月25日：在此之前李四按正常标准到税务缴费，不按补缴办理，"
        "因此该补缴不能批准。2027年1月26日起可重新申请补缴。"
    ]
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (application.status, year.back_payment_fen) == ("submitted", None)


def _extension_page(world: World) -> tuple[Client, str]:
    client = Client()
    client.force_login(world.users["admin"])
    return client, reverse("enrollment:policy-extend", args=["refund-test-141000"])


def test_given_approved_unpaid_back_payments_when_the_extension_is_checked_then_the_page_says_how_many_it_withdraws(
    world: World,
):
    # given: in 尧都区, two persons with a back-payment approved on 28 December and not paid, one who
    # paid hers, and one whose application still waits
    for name in ("李四", "王五"):
        approved_back_payment(world, due_person(TUNLI, name=name))
    paid = due_person(TUNLI, name="钱七")
    delivery_drain(seconds=30)
    approved_back_payment(world, paid)
    pay_at_tax(world, paid, AMOUNT, dt.date(2026, 12, 30))
    services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=due_person(TUNLI, name="赵六").pk,
        insurance_year=YEAR, reason="外出务工", today=APPLIED_ON,
    )  # fmt: skip
    client, url = _extension_page(world)

    # when: the administrator checks an extension to 25 January (on 5 January)
    with mock.patch("django.utils.timezone.localdate", return_value=EXTENDED_ON):
        page = client.post(url, {"extended_to": "2027-01-25", "note": "医保税务协商延长", "step": "check"})

    # then: the confirmation says 尧都区's two approved, unpaid back-payments are withdrawn, and that
    # those persons pay the normal amount until 25 January; nothing is extended yet
    text = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="withdrawals-county" data-county="141002" data-count="2"' in text
    assert 'data-testid="withdrawals-said" data-count="2"' in text
    assert "延长将撤销2件已批准但尚未缴费的补缴申请" in text
    assert "2027年1月25日前这些参保人按正常标准到税务缴费" in text
    assert 'data-testid="extend-confirm"' in text
    assert "extended_to" not in Policy.objects.get(code="refund-test-141000").document["collection"]


def test_given_the_extension_confirmed_then_the_policy_page_says_how_many_back_payments_its_runs_withdraw(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: two back-payments approved on 28 December and not paid
    people = [due_person(TUNLI, name=name) for name in ("李四", "王五")]
    delivery_drain(seconds=30)
    applications = [approved_back_payment(world, person) for person in people]
    client, url = _extension_page(world)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)

    # when: the administrator confirms the extension to 25 January on 5 January (the county's run
    # is queued: a worker takes it up after the page answered)
    with (
        mock.patch("django.utils.timezone.localdate", return_value=EXTENDED_ON),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            url, {"extended_to": "2027-01-25", "note": "医保税务协商延长", "step": "confirm"}
        )
    page = client.get(response["Location"])

    # then: the policy page says the county is being reassessed and its run withdraws both
    # (counted as the extension committed)
    text = page.content.decode()
    assert response.status_code == 302
    assert 'data-state="running"' in text and "正在重新核定" in text
    assert (
        "随各县重新核定撤销已批准但尚未缴费的补缴申请2件；2027年1月25日前这些参保人按正常标准缴费。" in text
    )

    # when: the worker has run it, and the administrator shows the policy page again
    [run_id] = queued
    with mock.patch("enrollment.assessment.timezone.localdate", return_value=EXTENDED_ON):
        assessment.assessment_run_execute(run_id=run_id)
    text = client.get(response["Location"]).content.decode()

    # then: it says the county was reassessed and the run withdrew both, by the run's own figure
    assert 'data-state="done"' in text and "以下区县已重新核定" in text and "正在重新核定" not in text
    assert "已撤销已批准但尚未缴费的补缴申请2件；2027年1月25日前这些参保人按正常标准缴费。" in text
    assert [BackPaymentApplication.objects.get(pk=a.pk).status for a in applications] == ["withdrawn"] * 2
    run = AssessmentRun.objects.get(pk=run_id)
    assert (run.status, run.back_payments_withdrawn) == ("done", 2)


def test_given_a_person_whose_enrollment_the_run_skips_then_the_confirmation_counts_what_the_run_withdraws(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: in 尧都区, two persons with a back-payment approved on 28 December and not paid; the
    # enrollment of one of them is no longer normal (suspended in the register, not yet reassessed:
    # the county run does not assess that enrollment, so it does not withdraw her back-payment)
    kept, suspended = (due_person(TUNLI, name=name) for name in ("李四", "王五"))
    delivery_drain(seconds=30)
    applications = [approved_back_payment(world, person) for person in (kept, suspended)]
    Enrollment.objects.filter(person=suspended).update(
        status=EnrollmentStatus.SUSPENDED, status_reason=ChangeReason.EMPLOYMENT
    )
    client, url = _extension_page(world)
    posted = {"extended_to": "2027-01-25", "note": "医保税务协商延长"}

    # when: the administrator checks the extension to 25 January on 5 January, then confirms it
    # (the county's run runs at once)
    with mock.patch("django.utils.timezone.localdate", return_value=EXTENDED_ON):
        check = client.post(url, {**posted, "step": "check"})
        with django_capture_on_commit_callbacks(execute=True):
            client.post(url, {**posted, "step": "confirm"})

    # then: the confirmation announced one back-payment in 尧都区, and the county's run withdrew one
    text = check.content.decode()
    assert 'data-testid="withdrawals-county" data-county="141002" data-count="1"' in text
    assert 'data-testid="withdrawals-said" data-count="1"' in text
    run = AssessmentRun.objects.filter(reason="集中征缴期延长至2027-01-25，重新核定").get()
    assert (run.status, run.back_payments_withdrawn) == ("done", 1)
    # and: the extension withdrew the back-payment of the person the run assessed; the other's year
    # the run cancelled (her enrollment is not normal), and her application with it, by that rule
    assert [
        (BackPaymentApplication.objects.get(pk=a.pk).status, timeline(a)[-1][0]) for a in applications
    ] == [("withdrawn", "extension_withdraw"), ("withdrawn", "cancel_withdraw")]


def test_the_extension_counts_the_back_payments_by_the_runs_condition(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: two approved, unpaid back-payments in 尧都区, one of a person whose enrollment is suspended
    kept, suspended = (due_person(TUNLI, name=name) for name in ("李四", "王五"))
    delivery_drain(seconds=30)
    for person in (kept, suspended):
        approved_back_payment(world, person)
    Enrollment.objects.filter(person=suspended).update(
        status=EnrollmentStatus.SUSPENDED, status_reason=ChangeReason.EMPLOYMENT
    )
    record = Policy.objects.get(code="refund-test-141000")
    extended = rules.Policy.from_document(record.document).with_collection_extended(
        to=EXTENDED_TO, note="医保税务协商延长"
    )

    # when: the extension is counted beforehand, then made (the county's run runs at once)
    counted = assessment.back_payments_an_extension_withdraws(
        policy=record, extended=extended, today=EXTENDED_ON
    )
    announced = list(counted.values_list("person_id", flat=True))
    with (
        mock.patch("enrollment.assessment.timezone.localdate", return_value=EXTENDED_ON),
        django_capture_on_commit_callbacks(execute=True),
    ):
        extension = policy_extend_collection(
            policy=record, extended_to=EXTENDED_TO, note="医保税务协商延长", today=EXTENDED_ON
        )

    # then: counted beforehand, counted by the extension and withdrawn by the run are the same one
    [run] = AssessmentRun.objects.filter(pk__in=[r.pk for r in extension.runs])
    run.refresh_from_db()
    assert announced == [kept.pk]
    assert (extension.back_payments_withdrawn, run.back_payments_withdrawn) == (1, 1)
