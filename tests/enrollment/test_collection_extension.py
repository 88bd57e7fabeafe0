"""An extension of the collection period (Linfen: insurance and tax extend it jointly) reaches tax:
the counties the policy decides are assessed again, so tax's due items carry the extended window
and a payment within the extension is accepted at the normal price (Linfen 2027 test policy of
tests/refunds/backpay_support.py: I 400 yuan, collection 1 Sep – 25 Dec 2026 on days 1–25)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.scope import Scope
from collection import services as collection_services
from collection.models import DueItem
from enrollment import assessment
from enrollment.models import Assessment, AssessmentRun, Policy, RunStatus
from enrollment.policies import policy_extend_collection
from sharing.services import delivery_drain
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import DUE_ON_TIME, YEAR, due_person

pytestmark = pytest.mark.django_db

EXTENDED_TO = dt.date(2027, 1, 25)


def signed_in(world: World, key: str) -> Client:
    client = Client()
    client.force_login(world.users[key])
    return client


@pytest.fixture
def run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's part runs at once when a run is queued (the task would, a moment later)."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment.assessment_run_execute(run_id=run_id),
    )


def extend(*, today: dt.date = dt.date(2026, 12, 20)):  # type: ignore[no-untyped-def]
    record = Policy.objects.get(code="refund-test-141000")
    return policy_extend_collection(
        policy=record, extended_to=EXTENDED_TO, note="医保税务协商延长", today=today
    )


def test_given_the_period_extended_when_tax_takes_a_payment_within_the_extension_then_it_is_accepted(
    world: World, run_inline: None, django_capture_on_commit_callbacks
):
    # given: last year's payer who owes 2027, tax holding the item with the window to 25 December
    person = due_person(TUNLI)
    delivery_drain(seconds=30)
    # and: insurance and tax extend the period to 25 January 2027
    with django_capture_on_commit_callbacks(execute=True):
        extend()
    delivery_drain(seconds=30)

    # when: the person pays 400 yuan at tax's counter on 10 January 2027, within the extension
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    paid_at = timezone.make_aware(dt.datetime(2027, 1, 10, 10, 0))
    with mock.patch("django.utils.timezone.now", return_value=paid_at):
        collection_services.payment_record(
            scope=Scope.for_user(world.user_for(Role.TAX_STAFF, "a")), due_item_id=item.pk,
            amount_fen=DUE_ON_TIME, channel="counter_cash", paid_by=person.name, paid_at=paid_at,
        )  # fmt: skip
    delivery_drain(seconds=30)

    # then: accepted at the normal price, and insurance records the year paid
    item.refresh_from_db()
    assert (item.status, item.amount_fen, item.schedule[-1]["to"]) == ("paid", DUE_ON_TIME, "2027-01-25")
    paid = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (paid.status, paid.paid_fen, paid.paid_on) == ("paid", DUE_ON_TIME, dt.date(2027, 1, 10))


def test_given_a_county_assessed_for_the_year_when_the_period_is_extended_then_its_run_is_queued_again(
    world: World, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
):
    # given: 尧都区 (141002) assessed for 2027 by the Linfen city policy
    due_person(TUNLI)
    queued: list[int] = []
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", queued.append)

    # when: the period is extended
    with django_capture_on_commit_callbacks(execute=True):
        loaded, runs = extend()

    # then: one county run of 2027 is queued for 尧都区, under the new version, saying why
    assert [(run.county_code, run.insurance_year, run.status, run.policy_version_id) for run in runs] == [
        ("141002", YEAR, RunStatus.QUEUED, loaded.version.pk)
    ]
    assert queued == [runs[0].pk]
    assert runs[0].reason == "集中征缴期延长至2027-01-25，重新核定"


def test_given_the_insurance_year_over_when_its_period_is_extended_then_no_county_is_queued(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区 assessed for 2027, and today in 2028 (the year is over: nobody is reassessed for it)
    due_person(TUNLI)
    before = AssessmentRun.objects.count()

    # when: the 2027 period is extended (a correction of the record)
    _loaded, runs = extend(today=dt.date(2028, 1, 5))

    # then: nothing is queued
    assert (runs, AssessmentRun.objects.count()) == ([], before)


def test_given_an_extension_on_the_page_then_the_policy_page_says_the_counties_are_reassessed(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # given: 尧都区 assessed for 2027; the administrator signed in
    due_person(TUNLI)
    monkeypatch.setattr("enrollment.tasks.run_assessment.delay", lambda run_id: None)
    client = signed_in(world, "admin")

    # when: the period is extended on the page
    response = client.post(
        reverse("enrollment:policy-extend", args=["refund-test-141000"]),
        {"extended_to": EXTENDED_TO.isoformat(), "note": "医保税务协商延长"},
        follow=True,
    )

    # then: the policy page says 尧都区 is being reassessed, with a link to the runs
    text = response.content.decode()
    assert response.status_code == 200
    assert "正在重新核定" in text and "141002" in text
    assert f'href="{reverse("enrollment:assessment-runs")}"' in text
