"""A deposit from tax that arrives while a run reassesses the same year, on real connections
(threads, real commits).

A run reads what it will change (its temporary tables) and writes some time later; for a county
that is seconds to minutes. A deposit committed in between must stand: the year stays paid, with
its day, amount and cover, and the run sends tax nothing for it (tax has the payment).

Each race is played in a fixed order (helpers in tests/refunds/race_support.py): the run is held
after it has read what it changes and before it writes; the deposit is recorded and committed;
then the run goes on. Policies: the Linfen 2021 preset moved to insurance year 2027 (I 400 yuan;
dibao a fixed 160 yuan), stored for 临汾市, so they apply to 尧都区 (141002)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from accounts.scope import Scope
from enrollment import assessment
from enrollment import services as enrollment_services
from enrollment.assessment import Deposit, assessment_record_deposits, assessment_run_now
from enrollment.demo import _shifted
from enrollment.models import Assessment, ChangeReason, Person
from enrollment.policies import policy_save
from sharing.models import OutboxMessage
from subsidies.models import SubsidyTag
from tests.conftest import World
from tests.enrollment import resident_id
from tests.matrix.enrollment_review import TUNLI, make_enrollment, make_person
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True)]

YEAR = 2027
TODAY = dt.date(2026, 11, 20)
PAID_ON = dt.date(2026, 11, 18)


@pytest.fixture(autouse=True)
def _one_part_on_a_fixed_day(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The county in one part (one held transaction), on 20 November 2026; delivery not nudged."""
    settings.ASSESSMENT_WORKERS = 1
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args: TODAY)
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    yield


@pytest.fixture
def zhang(world: World) -> Person:
    """张三 of 屯里村, enrolled, his 2027 assessed: 400 yuan due."""
    policy_save(document=_shifted("linfen-2027-test", 6, 40000, 70000), note="test")
    person = make_person(
        TUNLI, name="张三", id_number=resident_id(address=TUNLI[:6], birth="19800101", sequence="001")
    )
    person.hukou_region_code = TUNLI
    person.save()
    make_enrollment(person)
    assessment_run_now(county_code="141002", insurance_year=YEAR)
    assert Assessment.objects.get(person=person, insurance_year=YEAR).status == "due"
    return person


def _run_held_before_writing(monkeypatch: pytest.MonkeyPatch) -> Held:
    """The run, once it has read what it changes and cancels, waits before it writes."""
    held = Held(assessment._back_payment_applications_cancel)
    monkeypatch.setattr(assessment, "_back_payment_applications_cancel", held)
    return held


def _deposit(person: Person) -> str:
    return str(
        assessment_record_deposits(deposits=[Deposit(person.id_number, YEAR, 40000, PAID_ON, "R-0001")])
    )


def _dibao_tag(person: Person) -> None:
    """A dibao tag (160 yuan off 400) the county's next run applies."""
    SubsidyTag.objects.create(
        person=person, category="dibao", region_code=TUNLI, source="民政", valid_from=dt.date(2026, 6, 1)
    )


def _last_message_id() -> int | None:
    return OutboxMessage.objects.order_by("-id").values_list("id", flat=True).first()


def _run_and_deposit(person: Person, held: Held) -> tuple[str, str, bool]:
    """The county's run, held by ``held``, and a deposit of the person's 400 yuan meanwhile: the
    run's status, the deposits recorded, and whether the deposit waited for a lock."""
    return race(
        lambda: assessment_run_now(county_code="141002", insurance_year=YEAR).status,
        lambda: _deposit(person),
        held,
    )


def _due_items_sent_for(person: Person, since: int | None) -> list[dict]:
    found = []
    for message in OutboxMessage.objects.filter(
        topic__startswith="assessment.due", id__gt=since or 0
    ).order_by("id"):
        items = message.payload["items"] if message.topic == "assessment.due_batch" else [message.payload]
        found += [item for item in items if item["person_id"] == person.id_number]
    return found


def test_given_a_run_about_to_change_the_amount_when_the_deposit_arrives_first_then_the_year_stays_paid(
    zhang: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: a dibao tag (160 yuan off) that the county's run will apply, the run held before it writes
    _dibao_tag(zhang)
    sent_before = _last_message_id()
    held = _run_held_before_writing(monkeypatch)

    # When: the run and a deposit of the 400 yuan, the deposit committed while the run waits
    run, deposited, waited = _run_and_deposit(zhang, held)

    # Then: the payment stands, and the run sent tax nothing for the paid year
    assert (run, deposited, waited) == ("done", "1", False)
    row = Assessment.objects.get(person=zhang, insurance_year=YEAR)
    assert (row.status, row.paid_on, row.paid_fen, row.payable_fen) == ("paid", PAID_ON, 40000, 40000)
    assert row.benefit_start is not None
    assert _due_items_sent_for(zhang, sent_before) == []


def test_given_a_run_about_to_cancel_the_year_when_the_deposit_arrives_first_then_the_year_stays_paid(
    zhang: Person, world: World, monkeypatch: pytest.MonkeyPatch
):
    # Given: 张三's enrollment ends by death (his reassessment cancels the year at once), and the
    # year made due again by hand, as a run that had not yet seen the death would leave it
    enrollment_services.enrollment_terminate(
        scope=Scope.for_user_id(world.users["insurance_a"].pk),
        enrollment_id=zhang.enrollments.get().pk,
        reason=ChangeReason.DEATH,
        effective_on=dt.date(2026, 11, 19),
        note="测试",
    )
    Assessment.objects.filter(person=zhang, insurance_year=YEAR).update(
        status="due", assessed_at=timezone.now()
    )
    sent_before = _last_message_id()
    held = _run_held_before_writing(monkeypatch)

    # When: the county's run (which cancels the year) and the deposit, the deposit committed first
    run, deposited, waited = _run_and_deposit(zhang, held)

    # Then: the payment stands, not cancelled, and nothing went to tax for it
    assert (run, deposited, waited) == ("done", "1", False)
    row = Assessment.objects.get(person=zhang, insurance_year=YEAR)
    assert (row.status, row.paid_on, row.paid_fen) == ("paid", PAID_ON, 40000)
    assert _due_items_sent_for(zhang, sent_before) == []


def test_given_a_run_holding_the_rows_it_rewrites_when_the_deposit_arrives_then_it_waits_and_pays_the_new_year(
    zhang: Person, monkeypatch: pytest.MonkeyPatch
):
    # Given: a dibao tag the county's run applies (400 -> 240 yuan), the run held once it has
    # locked the rows it rewrites
    _dibao_tag(zhang)
    held = Held(assessment._hold_rows_as_read)
    monkeypatch.setattr(assessment, "_hold_rows_as_read", held)

    # When: a deposit of the 400 yuan arrives while the run holds the row
    run, deposited, waited = _run_and_deposit(zhang, held)

    # Then: the deposit waited for the run, then paid the year as the run left it (240 yuan due,
    # 400 paid: what tax took beyond it is tax's over-collection to give back)
    assert (run, deposited, waited) == ("done", "1", True)
    row = Assessment.objects.get(person=zhang, insurance_year=YEAR)
    assert (row.status, row.paid_on, row.paid_fen, row.payable_fen, row.revision) == (
        "paid",
        PAID_ON,
        40000,
        24000,
        2,
    )
