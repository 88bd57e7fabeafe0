"""A back-payment application made while a reassessment cancels the year, on real connections
(threads, real commits).

The reassessment withdraws the year's open applications first, then locks the assessment and
writes. An application made between the two (it locks the assessment only for its own moment)
used to stay open on the cancelled year. Now the run withdraws again once it holds the row, and an
application that comes after that waits for the run and is refused: nothing is due any more.

Played in a fixed order (tests/refunds/race_support.py). Linfen 2027 test policy
(tests/refunds/backpay_support.py): back-payments F = 1,100 yuan from 26 December 2026."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from accounts.roles import Role
from enrollment import assessment
from enrollment import services as enrollment_services
from enrollment.models import Assessment, ChangeReason, Enrollment, Person
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import YEAR, due_person, scope_of, timeline
from tests.refunds.overcollection_support import no_nudge  # noqa: F401
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]

APPLIED_ON = dt.date(2026, 12, 27)
ENDED_ON = dt.date(2027, 1, 10)
ENDED_NOTE = "因参保已于2027年1月10日终止，2027年度的缴费已取消，无需补缴：本补缴申请按规则撤销。"


class _HeldIn2027(Held):
    """Held in the reassessment of 2027 alone (ending the enrollment reassesses 2026 first), at
    the step's first call."""

    def __call__(self, cursor: Any, params: dict[str, Any], **kwargs: Any) -> Any:
        if params["year"] != YEAR or self.reached.is_set():
            return self.original(cursor, params, **kwargs)
        return super().__call__(cursor, params, **kwargs)


def _terminate(world: World, person: Person) -> str:
    enrollment_services.enrollment_terminate(
        scope=scope_of(world, Role.INSURANCE_STAFF),
        enrollment_id=Enrollment.objects.get(person=person).pk,
        reason=ChangeReason.DEATH,
        effective_on=ENDED_ON,
    )
    return "terminated"


def _apply(world: World, person: Person) -> str:
    try:
        services.back_payment_apply(
            scope=scope_of(world, Role.VILLAGE_CLERK), person_id=person.pk, insurance_year=YEAR,
            reason="外出务工，错过了集中征缴期", today=APPLIED_ON,
        )  # fmt: skip
    except ValidationError as refused:
        return f"refused: {refused.messages[0]}"
    return "applied"


def test_given_a_reassessment_past_its_withdrawals_when_a_back_payment_is_applied_for_then_the_run_withdraws_it_too(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # Given: 李四 owes 2027; his enrollment is being ended, the reassessment held just after it
    # withdrew the year's open applications (none yet), before it holds the year's row
    person = due_person(TUNLI)
    held = _HeldIn2027(assessment._back_payment_applications_cancel)
    monkeypatch.setattr(assessment, "_back_payment_applications_cancel", held)

    # When: a village clerk applies for his 2027 back-payment meanwhile (committed at once)
    ended, applied, waited = race(lambda: _terminate(world, person), lambda: _apply(world, person), held)

    # Then: the year is cancelled and the application withdrawn by the rules, saying why
    assert (ended, applied, waited) == ("terminated", "applied", False)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "cancelled"
    application = BackPaymentApplication.objects.get(person=person, insurance_year=YEAR)
    assert application.status == "withdrawn"
    assert timeline(application)[-1] == ("cancel_withdraw", "submitted", "withdrawn", None, ENDED_NOTE)


def test_given_a_reassessment_holding_the_year_when_a_back_payment_is_applied_for_then_it_waits_and_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    # Given: 李四's enrollment being ended, the reassessment held once it holds the year's row
    person = due_person(TUNLI)
    held = _HeldIn2027(assessment._hold_rows_as_read)
    monkeypatch.setattr(assessment, "_hold_rows_as_read", held)

    # When: a village clerk applies for his 2027 back-payment meanwhile
    ended, applied, waited = race(lambda: _terminate(world, person), lambda: _apply(world, person), held)

    # Then: the application waited for the reassessment and was refused; nothing was recorded
    assert (ended, waited) == ("terminated", True)
    assert applied.startswith("refused: ")
    assert "2027" in applied
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "cancelled"
    assert not BackPaymentApplication.objects.filter(person=person).exists()
