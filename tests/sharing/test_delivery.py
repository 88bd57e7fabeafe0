"""Delivery in-process: batches, exactly-once effect, order per subject, retries, dead letters, re-drive."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.scope import Scope
from collection.models import DueItem
from sharing import services
from sharing.models import InboxEntry, MessageStatus, OutboxMessage, PendingDelivery
from tests.sharing.support import bulk_send_due, send_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Subjects written to the returned file fail in their handler while they are listed."""
    fail_file = tmp_path / "fail"
    fail_file.write_text("")
    settings.SHARING = {
        **settings.SHARING,
        "FAULTS": {"fail_file": str(fail_file)},
        "MAX_ATTEMPTS": 3,
        "RETRY_BASE_SECONDS": 60,
    }
    return fail_file


def _make_due_now() -> None:
    PendingDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_given_pending_due_messages_when_drained_then_tax_ledger_holds_each_once(no_nudge):
    bulk_send_due(300, prefix="D", amount=41000)

    totals = services.delivery_drain(seconds=60)

    assert totals["applied"] == 300
    assert DueItem.objects.count() == 300
    assert InboxEntry.objects.count() == 300
    assert PendingDelivery.objects.count() == 0
    item = DueItem.objects.get(person_id="D000000007", insurance_year=2026)
    assert (item.amount_fen, item.region_code, item.status, item.sequence) == (
        41000,
        "141002100201",
        "due",
        1,
    )


def test_given_two_messages_about_one_due_item_then_the_later_amount_stands(no_nudge):
    send_due("P000000100", amount=40000)
    second = send_due("P000000100", amount=35000)

    services.delivery_drain(seconds=60)

    item = DueItem.objects.get(person_id="P000000100")
    assert (item.amount_fen, item.sequence, item.source_message_id) == (35000, 2, second)


def test_given_an_applied_message_delivered_again_then_the_handler_does_not_see_it(
    no_nudge, recorded_handler
):
    from django.db import transaction

    with transaction.atomic():
        message_id = services.message_send(
            topic="enrollment.registered",
            payload={
                "person_id": "P000000200",
                "region_code": "141002100201",
                "enrollment_id": 1,
                "person_name": "张三",
                "category": "rural",
                "enrolled_on": "2026-01-01",
            },
        )
    services.delivery_drain(seconds=60)
    message = OutboxMessage.objects.get(pk=message_id)
    PendingDelivery.objects.create(
        message=message,
        topic=message.topic,
        subject=message.subject,
        lane=message.lane,
        region_code=message.region_code,
        sent_at=message.created_at,
    )

    totals = services.delivery_drain(seconds=60)

    assert recorded_handler == [[message_id]]
    assert totals["duplicates"] == 1
    assert PendingDelivery.objects.count() == 0


def test_given_one_failing_message_in_a_batch_then_the_others_are_applied_and_it_waits_for_a_retry(
    no_nudge, failing
):
    bulk_send_due(10, prefix="F")
    failing.write_text("due:F000000004:2026\n")

    totals = services.delivery_drain(seconds=60)

    assert (totals["applied"], totals["retried"]) == (9, 1)
    waiting = PendingDelivery.objects.get()
    assert waiting.subject == "due:F000000004:2026"
    assert (waiting.status, waiting.attempts) == (MessageStatus.PENDING, 1)
    assert "InjectedFault: injected failure for due:F000000004:2026" in waiting.last_error
    assert waiting.next_attempt_at > timezone.now() + timedelta(seconds=30)


def test_given_a_failing_message_then_a_later_message_of_its_subject_is_not_applied_before_it(
    no_nudge, failing
):
    failing.write_text("due:P000000300:2026\n")
    send_due("P000000300", amount=1)
    send_due("P000000300", amount=2)
    send_due("P000000301", amount=3)

    services.delivery_drain(seconds=60)

    assert list(DueItem.objects.values_list("person_id", "amount_fen")) == [("P000000301", 3)]
    assert PendingDelivery.objects.filter(subject="due:P000000300:2026").count() == 2


def test_given_a_message_that_always_fails_then_after_the_last_attempt_it_is_a_dead_letter_with_its_traceback(
    no_nudge, failing
):
    failing.write_text("due:P000000400:2026\n")
    send_due("P000000400")

    for _ in range(3):
        services.delivery_drain(seconds=60)
        _make_due_now()

    letter = PendingDelivery.objects.get()
    assert (letter.status, letter.attempts) == (MessageStatus.DEAD, 3)
    assert letter.dead_at is not None
    assert "faults.py" in letter.last_traceback
    assert DueItem.objects.count() == 0


def test_given_a_dead_letter_when_re_driven_and_fixed_then_it_and_the_messages_behind_it_are_applied_once(
    no_nudge, failing, world
):
    failing.write_text("due:P000000500:2026\n")
    first = send_due("P000000500", amount=100)
    for _ in range(3):
        services.delivery_drain(seconds=60)
        _make_due_now()
    send_due("P000000500", amount=200)
    services.delivery_drain(seconds=60)
    assert DueItem.objects.count() == 0
    failing.write_text("")

    count = services.dead_letter_redrive(scope=Scope.for_user(world.users["admin"]), ids=[first])
    services.delivery_drain(seconds=60)

    assert count == 1
    assert InboxEntry.objects.filter(message_id=first).count() == 1
    assert list(DueItem.objects.values_list("amount_fen", "sequence")) == [(200, 2)]
    assert PendingDelivery.objects.count() == 0


def test_given_dead_letters_in_two_cities_when_an_administrator_re_drives_all_then_only_their_own_move(
    no_nudge, world
):
    from tests.sharing.support import XIAODIAN, make_dead_letter

    make_dead_letter(person="P000000600")
    other = make_dead_letter(region=XIAODIAN, person="P000000601")

    count = services.dead_letter_redrive(scope=Scope.for_user(world.users["admin"]), everything=True)

    assert count == 1
    assert PendingDelivery.objects.get(status=MessageStatus.DEAD).message_id == other


def test_given_a_tax_user_when_re_driving_then_it_is_refused(no_nudge, world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.dead_letter_redrive(scope=Scope.for_user(world.users["tax_a"]), everything=True)
