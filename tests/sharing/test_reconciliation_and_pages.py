"""Reconciliation (对账), its xlsx export, the monitor, and the pages and API around them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from accounts import exports
from sharing import services
from sharing.models import DifferenceKind, InboxEntry, MessageStatus
from tests.exports_support import exported
from tests.sharing.support import XIAODIAN, bulk_send_due, make_dead_letter, send_due

pytestmark = pytest.mark.django_db


def test_given_everything_applied_when_reconciled_then_the_day_balances(no_nudge):
    bulk_send_due(50, prefix="R", amount=40000)
    services.delivery_drain(seconds=60)

    report = services.reconciliation_run(day=timezone.localdate())

    assert report.difference_count == 0
    line = report.lines.get()
    assert (
        line.topic,
        line.sent_count,
        line.sent_amount_fen,
        line.applied_count,
        line.applied_amount_fen,
    ) == (
        "assessment.due",
        50,
        2_000_000,
        50,
        2_000_000,
    )


def test_given_one_message_pending_and_one_amount_changed_when_reconciled_then_both_are_listed(no_nudge):
    applied = send_due("P000000700", amount=30000)
    services.delivery_drain(seconds=60)
    pending = send_due("P000000701", amount=20000)
    InboxEntry.objects.filter(message_id=applied).update(amount_fen=29999)

    report = services.reconciliation_run(day=timezone.localdate())

    assert report.difference_count == 2
    assert sorted(
        report.differences.values_list(
            "message_id", "kind", "sent_amount_fen", "applied_amount_fen", "status"
        )
    ) == [
        (applied, DifferenceKind.AMOUNT, 30000, 29999, MessageStatus.DELIVERED),
        (pending, DifferenceKind.NOT_APPLIED, 20000, None, MessageStatus.PENDING),
    ]


def test_given_a_text_that_looks_like_a_formula_when_exported_then_it_gets_a_leading_apostrophe():
    assert [exports.safe_cell(v) for v in ("=1+1", "+86", "-3", "@SUM(A1)", "张三", 5)] == [
        "'=1+1",
        "'+86",
        "'-3",
        "'@SUM(A1)",
        "张三",
        5,
    ]


def test_given_a_report_with_a_difference_when_downloaded_then_the_workbook_lists_it(no_nudge, world, client):
    pending = send_due("P000000800", amount=12345)
    report = services.reconciliation_run(day=timezone.localdate())
    client.force_login(world.users["admin"])

    book = exported(client, "sharing.reconciliation", report=report.pk)
    rows = list(book.worksheets[1].iter_rows(values_only=True))
    assert rows[1][:3] == ("assessment.due", str(DifferenceKind.NOT_APPLIED.label), pending)
    assert rows[1][5] == 123.45  # yuan, as a number


def test_given_messages_in_every_state_then_the_monitor_counts_them_per_topic_and_bureau(no_nudge, world):
    from accounts.scope import Scope
    from sharing import selectors

    bulk_send_due(5, prefix="M")
    services.delivery_drain(seconds=60)
    send_due("P000000900")
    make_dead_letter(person="P000000901")
    make_dead_letter(region=XIAODIAN, person="P000000902")  # another city: not the administrator's

    stats = selectors.monitor_stats(scope=Scope.for_user(world.users["admin"]))

    row = next(r for r in stats["topics"] if r["topic"] == "assessment.due")
    assert (row["sent"], row["delivered"], row["pending"], row["dead"]) == (7, 5, 1, 1)
    assert row["oldest_pending_seconds"] is not None
    tax = next(b for b in stats["bureaus"] if b["bureau"] == "tax")
    assert (tax["delivered"], tax["pending"], tax["dead"]) == (5, 1, 1)


def test_given_the_monitor_page_then_it_loads_its_static_script_and_the_json_endpoint_answers(world, client):
    client.force_login(world.users["admin"])

    page = client.get(reverse("sharing:monitor")).content.decode()
    data = client.get(reverse("sharing:monitor-data")).json()

    assert "sharing/monitor.js" in page
    assert "<script>" not in page
    assert {row["topic"] for row in data["topics"]} >= {"assessment.due", "payment.deposited"}


def test_given_the_monitor_then_bureaus_are_named_and_the_time_is_the_portals(world, client):
    client.force_login(world.users["admin"])

    with translation.override("zh-hans"):
        data = client.get(reverse("sharing:monitor-data"), HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    row = next(r for r in data["topics"] if r["topic"] == "payment.deposited")
    assert (row["sender"], row["sender_label"], row["receiver"]) == ("tax", "税务局", "insurance")
    assert data["at"].endswith("+08:00")
    assert data["at"][11:16] == timezone.localtime().strftime("%H:%M")


def test_given_chosen_dead_letters_when_the_administrator_re_drives_them_on_the_page_then_they_are_pending(
    no_nudge, world, client
):
    letter = make_dead_letter(person="P000001000")
    client.force_login(world.users["admin"])

    response = client.post(reverse("sharing:redrive"), {"ids": [str(letter)]})

    assert response.status_code == 302
    from sharing.models import PendingDelivery, Redrive

    assert PendingDelivery.objects.get(message_id=letter).status == MessageStatus.PENDING
    assert Redrive.objects.get().message_count == 1


def test_given_a_topic_when_re_driven_through_the_api_then_the_count_is_returned(no_nudge, world, client):
    make_dead_letter(person="P000001100")
    make_dead_letter(person="P000001101")
    client.force_login(world.users["admin"])

    response = client.post(
        reverse("sharing-dead-letter-redrive"), {"topic": "assessment.due"}, content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json() == {"redriven": 2}


def test_given_a_dead_letter_then_its_page_shows_why(no_nudge, world, client):
    letter = make_dead_letter(person="P000001200", error="ValueError: region unknown to tax")
    client.force_login(world.users["admin"])

    page = client.get(reverse("sharing:dead-letter-detail", args=[letter])).content.decode()

    assert "ValueError: region unknown to tax" in page


@pytest.mark.parametrize(
    ("language", "description"),
    [(None, "一笔缴费被冲正，含冲正原因。"), ("en", "A payment was reversed, with the reason.")],
    ids=["chinese-by-default", "english-chosen"],
)
def test_given_the_monitor_then_each_topic_is_described_in_the_language_of_the_page(
    world, client, language, description
):
    # Given the administrator, in Chinese (the portal's default) or with English chosen
    from django.conf import settings

    client.force_login(world.users["admin"])
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    # When the monitor is opened
    page = client.get(reverse("sharing:monitor")).content.decode()

    # Then the topic's description (the tooltip of its name) is in that language
    assert f'<th title="{description}">payment.reversed</th>' in page
