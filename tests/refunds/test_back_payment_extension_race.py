"""A back-payment approval and an extension of the collection period at the same moment, on real
connections (threads, real commits). Both take the policy's row — the approval FOR SHARE from
reading the rules to its commit, the extension FOR UPDATE as it saves the new version — so one
waits for the other, and no approval read before an extension commits after it:

- the approval first: the extension waits; the approval commits; the county's run the extension
  queues then withdraws it (the person pays the normal 400 yuan until 25 January);
- the extension first: the approval waits, reads the extended rules and is refused, saying so.

Each race is played in a fixed order, as in test_overcollection_race.py (helpers in race_support.py): the first transaction is
held, with its lock, at a point inside it; the second is started and seen waiting for the lock in
PostgreSQL; then the first goes on. Linfen 2027 test policy (tests/refunds/backpay_support.py):
collection 1 Sep – 25 Dec 2026, back-payments F = 1,100 yuan from 26 December."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from accounts.roles import Role
from accounts.scope import Scope
from collection.models import DueItem
from enrollment import assessment
from enrollment.models import Assessment, Person, Policy
from enrollment.policies import policy_extend_collection
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication
from sharing.services import delivery_drain
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import DUE_ON_TIME, YEAR, due_person
from tests.refunds.overcollection_support import no_nudge  # noqa: F401
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]

APPROVED_ON = dt.date(2026, 12, 28)
EXTENDED_ON = dt.date(2027, 1, 5)
EXTENDED_TO = dt.date(2027, 1, 25)


@pytest.fixture(autouse=True)
def _runs_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The county run the extension queues runs as soon as the extension commits, on its thread
    (the worker would, a moment later), on 5 January 2027; finance's totals are not sent."""
    monkeypatch.setattr(
        "enrollment.tasks.run_assessment.delay",
        lambda run_id: assessment.assessment_run_execute(run_id=run_id),
    )
    monkeypatch.setattr("enrollment.tasks.send_fund_totals.delay", lambda **kwargs: None)
    with mock.patch("enrollment.assessment.timezone.localdate", return_value=EXTENDED_ON):
        yield


def _own_connection(work: Callable[[], str]) -> Callable[[], str]:
    def run() -> str:
        try:
            with translation.override(settings.LANGUAGE_CODE):
                return work()
        finally:
            connection.close()

    return run


def _submitted(world: World) -> tuple[Person, BackPaymentApplication]:
    """Last year's payer who missed 2027's period, applied on 27 December 2026; tax holds the
    normal item."""
    person = due_person(TUNLI)
    application = services.back_payment_apply(
        scope=Scope.for_user(world.user_for(Role.VILLAGE_CLERK, "a")), person_id=person.pk,
        insurance_year=YEAR, reason="外出务工，错过了集中征缴期", today=dt.date(2026, 12, 27),
    )  # fmt: skip
    delivery_drain(seconds=30)
    return person, application


def _approve(world: World, application_id: int) -> str:
    try:
        services.back_payment_approve(
            scope=Scope.for_user(world.user_for(Role.INSURANCE_STAFF, "a")),
            application_id=application_id,
            today=APPROVED_ON,
        )
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "approved"


def _extend() -> str:
    policy_extend_collection(
        policy=Policy.objects.get(code="refund-test-141000"), extended_to=EXTENDED_TO,
        note="医保税务协商延长", today=EXTENDED_ON,
    )  # fmt: skip
    return "extended"


def _normal_at_tax(person: Person) -> tuple[str, int, str, list[str]]:
    """Tax's item for 2027, once what insurance sent is applied: status, amount, last day, and
    the rules of its back-payment lines."""
    delivery_drain(seconds=30)
    item = DueItem.objects.get(person_id=person.id_number, insurance_year=YEAR)
    back = [line["rule"] for line in item.schedule if line.get("back_payment")]
    return item.status, item.amount_fen, item.schedule[-1]["to"], back


def test_given_an_approval_holding_the_policy_when_the_period_is_extended_then_the_extension_waits_and_its_run_withdraws_the_approval(
    transactional_world: World,
):
    # given: an application waiting for a decision; the approval has read the rules (not extended)
    # and is held there, before its commit
    world = transactional_world
    person, application = _submitted(world)
    held = Held(services.back_payment_decide)

    # when: the extension comes meanwhile
    with mock.patch.object(services, "back_payment_decide", held):
        approving, extending, waited = race(
            _own_connection(lambda: _approve(world, application.pk)), _own_connection(_extend), held
        )

    # then: the approval went through, and the county's run, after the extension, withdrew it: the
    # person owes the normal 400 yuan until 25 January, with no back-payment left at insurance or tax
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert (approving, extending, application.status) == ("approved", "extended", "withdrawn")
    assert (year.status, year.payable_fen, year.back_payment_fen) == ("due", DUE_ON_TIME, None)
    assert _normal_at_tax(person) == ("due", DUE_ON_TIME, "2027-01-25", [])
    # and: the extension had waited for the approval's lock
    assert waited


def test_given_an_extension_holding_the_policy_when_a_back_payment_is_approved_then_the_approval_waits_and_is_refused(
    transactional_world: World,
):
    # given: an application waiting for a decision; the extension has saved the new version and is
    # held before its commit
    world = transactional_world
    person, application = _submitted(world)
    held = Held(assessment.assessment_runs_queue_for_policy)

    # when: the approval comes meanwhile
    with mock.patch.object(assessment, "assessment_runs_queue_for_policy", held):
        extending, approving, waited = race(
            _own_connection(_extend), _own_connection(lambda: _approve(world, application.pk)), held
        )

    # then: the approval read the extended rules and was refused, saying why
    assert (extending, approving) == (
        "extended",
        "refused: 2027年度集中征缴期已延长至2027年1月25日：在此之前李四按正常标准到税务缴费，"
        "不按补缴办理，因此该补缴不能批准。2027年1月26日起可重新申请补缴。",
    )
    # and: the application still waits; the person owes the normal 400 yuan until 25 January
    application.refresh_from_db()
    year = Assessment.objects.get(person=person, insurance_year=YEAR)
    assert application.status == "submitted"
    assert (year.status, year.payable_fen, year.back_payment_fen) == ("due", DUE_ON_TIME, None)
    assert _normal_at_tax(person) == ("due", DUE_ON_TIME, "2027-01-25", [])
    # and: it had waited for the extension's lock
    assert waited
