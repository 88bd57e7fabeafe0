"""Tax follows insurance's correction of an identifier (``person.identifier_corrected``): its payer,
due items, payments, subsidy marks and refunds move from the old identifier to the new one in the
delivery transaction; a second delivery changes nothing; another person's records under the new
identifier stop it; and insurance's messages sent before the correction that still name the old
identifier land on the new one, while those sent after it (the number's next holder) do not."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.roles import Role
from accounts.scope import Scope
from collection import services
from collection.handlers import (
    IdentifierConflictError,
    apply_assessment_due,
    apply_enrollment_changed,
    apply_enrollment_registered,
    apply_identifier_corrected,
)
from collection.models import DueItem, IdentifierCorrection, Payer, Payment, SubsidyMark
from sharing import services as sharing
from sharing.handlers import Batch
from sharing.models import OutboxMessage
from tests.collection.support import AMOUNT, TUNLI, YEAR, due, open_today, payer

pytestmark = pytest.mark.django_db

OLD = "141002198001010011"
NEW = "141002198001010038"
TOPIC = "person.identifier_corrected"


def send(topic: str, payload: dict) -> int:
    with transaction.atomic():
        return sharing.message_send(topic=topic, payload=payload)


def correction(old: str = OLD, new: str = NEW, *, at: dt.datetime | None = None) -> int:
    return send(
        TOPIC,
        {
            "old_person_id": old, "person_id": new, "region_code": TUNLI, "correction_id": 1,
            "id_kind": "resident_id", "corrected_at": (at or timezone.now()).isoformat(), "reason": "录入错误",
        },
    )  # fmt: skip


def apply(message_id: int) -> None:
    apply_identifier_corrected(Batch(topic=TOPIC, ids=[message_id]))


def due_message(person: str, *, amount: int, revision: int) -> int:
    return send(
        "assessment.due",
        {
            "person_id": person,
            "insurance_year": YEAR,
            "region_code": TUNLI,
            "amount_fen": amount,
            "revision": revision,
        },
    )


def registered(person: str, name: str) -> None:
    """A payer from insurance's message (sent now, so before any correction sent after it)."""
    message = send(
        "enrollment.registered",
        {
            "person_id": person, "region_code": TUNLI, "enrollment_id": 2, "person_name": name,
            "category": "rural", "enrolled_on": "2026-01-01",
        },
    )  # fmt: skip
    apply_enrollment_registered(Batch(topic="enrollment.registered", ids=[message]))


def test_given_a_payer_who_paid_when_the_correction_is_applied_then_payer_due_item_and_payment_move_to_the_new_identifier(
    world,
):
    # given: tax's payer, due item and payment under the old identifier
    payer("张三", OLD)
    item = due(OLD, schedule=open_today())
    services.payment_record(
        scope=Scope.for_user(world.user_for(Role.TAX_STAFF)), due_item_id=item.pk, amount_fen=AMOUNT,
        channel="counter_cash", paid_by="张三",
    )  # fmt: skip
    message = correction()

    # when
    apply(message)

    # then: everything is under the new identifier, the payer ready for the new subject's messages
    assert list(Payer.objects.values_list("person_id", "name", "sequence")) == [(NEW, "张三", 0)]
    assert list(DueItem.objects.values_list("person_id", "status")) == [(NEW, "paid")]
    assert list(Payment.objects.values_list("person_id", "due_item_id")) == [(NEW, item.pk)]
    kept = IdentifierCorrection.objects.get()
    assert (kept.old_person_id, kept.new_person_id, kept.current_person_id, kept.source_message_id) == (
        OLD, NEW, NEW, message,
    )  # fmt: skip
    assert kept.moved == {
        "due_items_merged": 0, "due_items": 1, "payments": 1, "subsidy_marks_merged": 0, "subsidy_marks": 0,
        "payers_merged": 0, "payers": 1, "overcollection_requests": 0, "refunds_paid": 0,
    }  # fmt: skip


def test_given_the_correction_applied_when_it_is_delivered_again_then_nothing_changes(world):
    payer("张三", OLD)
    due(OLD)
    message = correction()
    apply(message)
    before = list(DueItem.objects.values_list("id", "person_id", "updated_at"))

    apply(message)

    assert list(DueItem.objects.values_list("id", "person_id", "updated_at")) == before
    assert IdentifierCorrection.objects.count() == 1


def test_given_another_persons_payer_under_the_new_identifier_when_the_correction_arrives_then_it_is_refused_and_nothing_moves(
    world,
):
    payer("张三", OLD)
    due(OLD)
    registered(NEW, "李四")  # from a message before the correction: someone else
    message = correction()

    with pytest.raises(IdentifierConflictError, match=r"141002\*+0038"), transaction.atomic():
        apply(message)

    assert sorted(Payer.objects.values_list("person_id", "name")) == [(OLD, "张三"), (NEW, "李四")]
    assert list(DueItem.objects.values_list("person_id", flat=True)) == [OLD]
    assert not IdentifierCorrection.objects.exists()


def test_given_the_correction_arriving_through_the_platform_with_a_conflict_then_it_waits_as_a_failed_message_with_the_reason(
    world,
):
    payer("张三", OLD)
    registered(NEW, "李四")
    message = correction()

    sharing.delivery_drain(seconds=5)

    from sharing.models import PendingDelivery

    pending = PendingDelivery.objects.get(message_id=message)
    assert (pending.attempts, pending.last_error.split(":")[0]) == (1, "IdentifierConflictError")
    assert "141002********0038" in pending.last_error


def test_given_a_due_message_sent_before_the_correction_and_applied_after_it_then_it_lands_on_the_new_identifier(
    world,
):
    payer("张三", OLD)
    due(OLD)  # revision 1
    late = due_message(OLD, amount=35000, revision=2)  # sent before the correction
    apply(correction())

    apply_assessment_due(Batch(topic="assessment.due", ids=[late]))

    assert list(DueItem.objects.values_list("person_id", "amount_fen", "revision")) == [(NEW, 35000, 2)]


def test_given_a_due_message_for_the_old_number_sent_after_the_correction_then_it_is_its_next_holders(world):
    due(OLD)
    apply(correction(at=timezone.now() - dt.timedelta(seconds=1)))

    later = due_message(OLD, amount=20000, revision=1)  # a new holder of the old number
    apply_assessment_due(Batch(topic="assessment.due", ids=[later]))

    assert sorted(DueItem.objects.values_list("person_id", "amount_fen")) == [(OLD, 20000), (NEW, AMOUNT)]


def test_given_a_later_enrollment_message_that_overtook_the_correction_then_its_payer_stays_and_the_old_one_goes(
    world,
):
    # given: tax's payer under the old identifier, and a change insurance sent after the correction
    # (under the new identifier's subject) applied before the correction reached tax
    payer("张三", OLD)
    message = correction()
    overtaking = send(
        "enrollment.changed",
        {
            "person_id": NEW, "region_code": TUNLI, "enrollment_id": 1, "person_name": "张三",
            "category": "rural", "status": "suspended", "changed_on": "2026-10-01",
        },
    )  # fmt: skip
    apply_enrollment_changed(Batch(topic="enrollment.changed", ids=[overtaking]))

    # when
    apply(message)

    # then: one payer, the newer one
    assert list(Payer.objects.values_list("person_id", "status")) == [(NEW, "suspended")]


def test_given_subsidy_marks_and_a_chain_of_corrections_then_old_messages_follow_to_the_last_identifier(
    world,
):
    SubsidyMark.objects.create(
        person_id=OLD, insurance_year=YEAR, category="dibao", region_code=TUNLI, valid_from=dt.date(2026, 1, 1),
        source_message_id=1, sequence=1, revision=1,
    )  # fmt: skip
    late = due_message(OLD, amount=30000, revision=3)  # sent before both corrections
    last = "141002198001010054"
    apply(correction())
    apply(correction(NEW, last))

    apply_assessment_due(Batch(topic="assessment.due", ids=[late]))

    assert list(SubsidyMark.objects.values_list("person_id", flat=True)) == [last]
    assert list(DueItem.objects.values_list("person_id", "amount_fen")) == [(last, 30000)]
    assert sorted(IdentifierCorrection.objects.values_list("old_person_id", "current_person_id")) == [
        (OLD, last), (NEW, last),
    ]  # fmt: skip
    assert OutboxMessage.objects.filter(topic=TOPIC).count() == 2
