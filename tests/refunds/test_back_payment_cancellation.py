"""A back-payment still open when the year's contribution is cancelled (Linfen 2027 test policy of
tests/refunds/backpay_support.py: back-payments F = 1,100 yuan from 26 December 2026).

Ending or suspending the enrollment reassesses the person, which cancels the unpaid 2027
assessment: nothing is left to pay back. So the open application (approved and not paid, or
still waiting for a decision) is withdrawn by the rules in the same transaction, saying why on its
timeline and its page; the assessment's back-payment goes with it; tax's item is the cancelled
one (no back-payment line), which tax refuses to take money for. A back-payment already paid
stands.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from collection.models import DueItem
from enrollment import services as enrollment_services
from enrollment.models import Assessment, AssessmentRun, ChangeReason, Enrollment, Person
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
    withdrawn_page_says,
)

pytestmark = pytest.mark.django_db

APPLIED_ON = dt.date(2026, 12, 27)
APPROVED_ON = dt.date(2026, 12, 28)
ENDED_ON = dt.date(2027, 1, 10)
ENDED_NOTE = "因参保已于2027年1月10日终止，2027年度的缴费已取消，无需补缴：本补缴申请按规则撤销。"
SUSPENDED_NOTE = "因参保已于2027年1月10日暂停，2027年度的缴费已取消，无需补缴：本补缴申请按规则撤销。"


def applied_back_payment(world: World, person: Person) -> BackPaymentApplication:
    """Applied for on 27 December 2026 (the period ended on the 25th), waiting for a decision."""
    return services.back_payment_apply(
        scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
        reason="外出务工，错过了集中征缴期", today=APPLIED_ON,
    )  # fmt: skip


def approved_back_payment(world: World, person: Person) -> BackPaymentApplication:
    """Applied for on 27 December 2026, approved on the 28th; tax holds the back-payment line."""
    application = applied_back_payment(world, person)
    services.back_payment_approve(
        scope=scope_of(world, Role.INSURANCE_STAFF), application_id=application.pk, today=APPROVED_ON
    )
    delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (item.amount_fen, item.schedule[0]["rule"]) == (AMOUNT, "back_payment")
    application.refresh_from_db()
    return application


def terminate(world: World, person: Person) -> None:
    """Insurance staff end the enrollment on 10 January 2027 (death), through the real service; tax
    applies what it sent."""
    enrollment_services.enrollment_terminate(
        scope=scope_of(world, Role.INSURANCE_STAFF),
        enrollment_id=Enrollment.objects.get(person=person).pk,
        reason=ChangeReason.DEATH,
        effective_on=ENDED_ON,
    )
    delivery_drain(seconds=30)


def suspend(world: World, person: Person) -> None:
    enrollment_services.enrollment_suspend(
        scope=scope_of(world, Role.INSURANCE_STAFF),
        enrollment_id=Enrollment.objects.get(person=person).pk,
        reason=ChangeReason.EMPLOYMENT,
        effective_on=ENDED_ON,
    )
    delivery_drain(seconds=30)


def test_given_an_approved_unpaid_back_payment_when_the_enrollment_is_ended_then_it_is_withdrawn_saying_why(
    world: World,
):
    # given: a back-payment of 1,100 yuan for 2027 approved on 28 December 2026, not paid
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)

    # when: the enrollment is ended on 10 January 2027
    terminate(world, person)

    # then: the application is withdrawn by the rules (no actor), the note saying why
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("cancel_withdraw", "approved", "withdrawn", None, ENDED_NOTE)
    # and: the year is cancelled, its back-payment gone from the row (kept in its history)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (year.status, year.back_payment_fen, year.back_payment_pay_until) == ("cancelled", None, None)
    assert year.events.filter(back_payment_fen=AMOUNT).exists()


def test_given_a_back_payment_cancelled_with_its_year_then_tax_holds_no_back_payment_line_and_takes_no_money(
    world: World,
):
    # given: the back-payment of 28 December, then the enrollment ended on 10 January
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approved_back_payment(world, person)
    terminate(world, person)

    # then: tax's item is the cancelled one, at the assessment's revision, without the back-payment line
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (item.status, item.amount_fen, item.schedule, item.revision) == ("cancelled", 0, [], year.revision)
    # and: the counter refuses the 1,100 yuan on 12 January
    with pytest.raises(ValidationError):
        pay_at_tax(world, person, AMOUNT, dt.date(2027, 1, 12))
    item.refresh_from_db()
    assert item.status == "cancelled"


def test_given_a_back_payment_cancelled_with_its_year_then_its_page_says_so_and_why(world: World):
    # given: the back-payment of 28 December withdrawn when the enrollment ended
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    terminate(world, person)

    # then: insurance staff opening it read that it was withdrawn by the rules, and why, at the top
    # and on its timeline
    assert withdrawn_page_says(
        world, application, note=ENDED_NOTE, action="cancel_withdraw", label="撤销：该年度缴费已取消"
    )


def test_given_an_application_waiting_for_a_decision_when_the_enrollment_is_suspended_then_it_is_withdrawn(
    world: World,
):
    # given: an application for 2027 made on 27 December 2026, not yet decided
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = applied_back_payment(world, person)

    # when: the enrollment is suspended on 10 January 2027 (employment)
    suspend(world, person)

    # then: the application is withdrawn by the rules, the note naming the suspension
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("cancel_withdraw", "submitted", "withdrawn", None, SUSPENDED_NOTE)


def test_given_a_back_payment_cancelled_by_a_suspension_when_the_enrollment_resumes_then_the_normal_amount_is_due(
    world: World,
):
    # given: the back-payment of 28 December withdrawn by a suspension on 10 January
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    suspend(world, person)

    # when: the enrollment resumes on 20 January
    enrollment_services.enrollment_resume(
        scope=scope_of(world, Role.INSURANCE_STAFF),
        enrollment_id=Enrollment.objects.get(person=person).pk,
        effective_on=dt.date(2027, 1, 20),
    )
    delivery_drain(seconds=30)

    # then: 2027 is due at the normal 400 yuan, not as the withdrawn back-payment, here and at tax
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    assert (year.status, year.payable_fen, year.back_payment_fen) == ("due", DUE_ON_TIME, None)
    assert (item.status, item.amount_fen) == ("due", DUE_ON_TIME)
    assert [line for line in item.schedule if line.get("back_payment")] == []
    application.refresh_from_db()
    assert application.status == "withdrawn"


def test_given_a_paid_back_payment_when_the_enrollment_is_ended_then_it_stands(world: World):
    # given: the back-payment of 28 December paid at tax on 30 December (1,100 yuan)
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    pay_at_tax(world, person, AMOUNT, dt.date(2026, 12, 30))
    events = timeline(application)

    # when: the enrollment is ended on 10 January 2027
    terminate(world, person)

    # then: the application, its timeline and the paid year are as they were
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert application.status == "approved"
    assert timeline(application) == events
    assert (year.status, year.paid_fen, year.back_payment_fen) == ("paid", AMOUNT, AMOUNT)


def test_given_three_back_payments_when_their_enrollments_end_then_only_the_two_open_ones_are_withdrawn(
    world: World,
):
    # given: in 尧都区, one approved and unpaid, one waiting for a decision, one approved and paid
    approved = due_person(TUNLI, name="张三")
    waiting = due_person(TUNLI, name="李四")
    paid = due_person(TUNLI, name="王五")
    delivery_drain(seconds=30)
    approved_application = approved_back_payment(world, approved)
    waiting_application = applied_back_payment(world, waiting)
    paid_application = approved_back_payment(world, paid)
    pay_at_tax(world, paid, AMOUNT, dt.date(2026, 12, 30))

    # when: the three enrollments are ended on 10 January 2027
    for person in (approved, waiting, paid):
        terminate(world, person)

    # then: two applications are withdrawn by the rules, the paid one stands
    withdrawn = WorkflowEvent.objects.filter(kind="back_payment", action="cancel_withdraw")
    assert sorted(withdrawn.values_list("object_id", flat=True)) == sorted(
        [approved_application.pk, waiting_application.pk]
    )
    statuses = dict(
        BackPaymentApplication.objects.filter(
            pk__in=[approved_application.pk, waiting_application.pk, paid_application.pk]
        ).values_list("pk", "status")
    )
    assert statuses == {
        approved_application.pk: "withdrawn",
        waiting_application.pk: "withdrawn",
        paid_application.pk: "approved",
    }


def test_given_a_back_payment_cancelled_with_its_year_then_the_reassessments_run_counts_it_on_its_page(
    world: World,
):
    # given: the back-payment of 28 December
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approved_back_payment(world, person)

    # when: the enrollment is ended on 10 January 2027
    terminate(world, person)

    # then: the reassessment's run of 2027 counts the application it withdrew, and its page says so
    run = AssessmentRun.objects.filter(insurance_year=YEAR, person=person).latest("pk")
    assert (run.cancelled, run.back_payment_applications_withdrawn) == (1, 1)
    client = Client()
    client.force_login(world.users["admin"])
    page = client.get(reverse("enrollment:assessment-run", args=[run.pk])).content.decode()
    assert 'data-key="back_payment_applications_withdrawn"' in page
    assert "撤销的补缴申请（无需补缴）" in page
