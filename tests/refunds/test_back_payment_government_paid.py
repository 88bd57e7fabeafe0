"""A back-payment still open when a reassessment makes the government pay the year in full (Linfen
2027 test policy of tests/refunds/backpay_support.py: back-payments F = 1,100 yuan from 26 December
2026; 特困供养人员 ``tekun``, paid in full by the government).

A subsidy tag arriving for a person who owes 2027 reassesses them: the year is now the
government's, and tax is sent the cancelled item. Nothing is left for the person to pay back, so
the open application (approved and not paid, or still waiting for a decision) is withdrawn by the
rules in the same transaction, saying why on its timeline and its page, and the assessment's
back-payment goes with it. A back-payment already paid stands (a paid year is not reassessed).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from collection.models import DueItem
from enrollment.models import Assessment, AssessmentRun, Person
from refunds.models import BackPaymentApplication
from sharing.services import delivery_drain
from subsidies.services import subsidy_tag_add
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import AMOUNT, YEAR, due_person, pay_at_tax, timeline, withdrawn_page_says
from tests.refunds.test_back_payment_cancellation import applied_back_payment, approved_back_payment
from tests.subsidies import support as roster

pytestmark = pytest.mark.django_db

TAGGED_NOTE = "2027年度的个人缴费已改由政府全额资助（特困供养人员），无需补缴：本补缴申请按规则撤销。"


def tag_tekun(person: Person) -> None:
    """The civil-affairs roster tags the person 特困供养人员 from 1 January 2027, through the real
    service (which reassesses them); tax applies what insurance sent."""
    subsidy_tag_add(person=person, category="tekun", source="民政", valid_from=dt.date(2027, 1, 1))
    delivery_drain(seconds=30)


def test_given_an_approved_unpaid_back_payment_when_the_government_pays_the_year_then_it_is_withdrawn_saying_why(
    world: World,
):
    # given: a back-payment of 1,100 yuan for 2027 approved on 28 December 2026, not paid
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)

    # when: the person is tagged 特困供养人员, whose contribution the government pays in full
    tag_tekun(person)

    # then: the application is withdrawn by the rules (no actor), the note naming the category
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("government_withdraw", "approved", "withdrawn", None, TAGGED_NOTE)
    # and: the year is the government's, its back-payment gone from the row (kept in its history)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (year.status, year.payable_fen, year.back_payment_fen, year.back_payment_pay_until) == (
        "government",
        0,
        None,
        None,
    )
    assert year.events.filter(back_payment_fen=AMOUNT).exists()


def test_given_a_back_payment_withdrawn_for_the_government_then_tax_holds_no_back_payment_line_and_takes_no_money(
    world: World,
):
    # given: the back-payment of 28 December, then the 特困供养人员 tag
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    approved_back_payment(world, person)
    tag_tekun(person)

    # then: tax's item is the cancelled one, at the assessment's revision, without the back-payment line
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (item.status, item.amount_fen, item.schedule, item.revision) == ("cancelled", 0, [], year.revision)
    # and: the counter refuses the 1,100 yuan on 12 January
    with pytest.raises(ValidationError):
        pay_at_tax(world, person, AMOUNT, dt.date(2027, 1, 12))


def test_given_an_application_waiting_for_a_decision_when_the_government_pays_the_year_then_it_is_withdrawn(
    world: World,
):
    # given: an application for 2027 made on 27 December 2026, not yet decided
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = applied_back_payment(world, person)

    # when: the person is tagged 特困供养人员
    tag_tekun(person)

    # then: the application is withdrawn by the rules, with the same note
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("government_withdraw", "submitted", "withdrawn", None, TAGGED_NOTE)


def test_given_a_back_payment_withdrawn_for_the_government_then_its_page_says_so_and_why(world: World):
    # given: the back-payment of 28 December withdrawn when the 特困供养人员 tag arrived
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    tag_tekun(person)

    # then: insurance staff opening it read that it was withdrawn by the rules, and why, at the top
    # and on its timeline
    assert withdrawn_page_says(
        world,
        application,
        note=TAGGED_NOTE,
        action="government_withdraw",
        label="撤销：该年度个人缴费由政府全额资助",
    )


def test_given_a_paid_back_payment_when_the_person_is_tagged_then_it_stands(world: World):
    # given: the back-payment of 28 December paid at tax on 30 December (1,100 yuan)
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)
    pay_at_tax(world, person, AMOUNT, dt.date(2026, 12, 30))
    events = timeline(application)

    # when: the person is tagged 特困供养人员 from 1 January 2027
    tag_tekun(person)

    # then: the application, its timeline and the paid year are as they were
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert application.status == "approved"
    assert timeline(application) == events
    assert (year.status, year.paid_fen, year.back_payment_fen) == ("paid", AMOUNT, AMOUNT)


def test_given_another_persons_application_when_one_person_is_tagged_then_only_theirs_is_withdrawn(
    world: World,
):
    # given: two persons of 屯里 with approved, unpaid back-payments
    tagged = due_person(TUNLI, name="张三")
    other = due_person(TUNLI, name="李四")
    delivery_drain(seconds=30)
    tagged_application = approved_back_payment(world, tagged)
    other_application = approved_back_payment(world, other)

    # when: only 张三 is tagged 特困供养人员
    tag_tekun(tagged)

    # then: only 张三's application is withdrawn; 李四's stands, with its back-payment at tax
    statuses = dict(
        BackPaymentApplication.objects.filter(
            pk__in=[tagged_application.pk, other_application.pk]
        ).values_list("pk", "status")
    )
    assert statuses == {tagged_application.pk: "withdrawn", other_application.pk: "approved"}
    item = DueItem.objects.get(person_id=other.id_number, insurance_year=YEAR)
    assert (item.status, item.amount_fen, item.schedule[0]["rule"]) == ("due", AMOUNT, "back_payment")


def test_given_an_approved_back_payment_when_a_roster_lists_the_person_then_the_import_counts_the_withdrawal(
    world: World,
):
    # given: a back-payment of 1,100 yuan for 2027 approved on 28 December 2026, not paid
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    application = approved_back_payment(world, person)

    # when: the administrator imports civil affairs' 2027 roster listing the person as 特困供养人员
    job = roster.check(
        world, roster.xlsx_bytes([roster.HEADER, roster.row(1, person, "特困供养人员")]), year=YEAR
    )
    job = roster.confirm(world, job)

    # then: the application is withdrawn, and the import and its reassessment's run count it
    application.refresh_from_db()
    assert application.status == "withdrawn"
    assert roster.counts(job, "added", "persons", "back_payments_withdrawn") == {
        "added": 1,
        "persons": 1,
        "back_payments_withdrawn": 1,
    }
    run = AssessmentRun.objects.filter(insurance_year=YEAR).latest("pk")
    assert run.back_payment_applications_withdrawn == 1
    # and: the import's page shows it among what the import did
    client = Client()
    client.force_login(world.users["admin"])
    page = client.get(reverse("subsidies:roster-import", args=[job.pk])).content.decode()
    assert 'data-key="back_payments_withdrawn" data-value="1"' in page
    assert "撤销的补缴申请" in page


def test_given_no_open_back_payment_when_a_roster_is_imported_then_its_page_shows_no_withdrawals(
    world: World,
):
    # given: a person owing 2027, without a back-payment application
    person = due_person(TUNLI)
    delivery_drain(seconds=30)

    # when: the roster lists them as 特困供养人员
    job = roster.confirm(
        world,
        roster.check(
            world, roster.xlsx_bytes([roster.HEADER, roster.row(1, person, "特困供养人员")]), year=YEAR
        ),
    )

    # then: nothing was withdrawn, and the page does not show a zero for it
    assert roster.counts(job, "persons", "back_payments_withdrawn") == {
        "persons": 1,
        "back_payments_withdrawn": 0,
    }
    client = Client()
    client.force_login(world.users["admin"])
    page = client.get(reverse("subsidies:roster-import", args=[job.pk])).content.decode()
    assert 'data-key="persons" data-value="1"' in page
    assert 'data-key="back_payments_withdrawn"' not in page
