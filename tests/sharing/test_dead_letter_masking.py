"""Dead letters name persons (payload, subject, traceback): administrators, who monitor the platform
but hold no ``person.full_view``, see them masked on the pages, in the API and in the admin."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from sharing import services
from sharing.models import MessageStatus, PendingDelivery

pytestmark = pytest.mark.django_db

FULL_ID = "141002198001010011"
MASKED_ID = "141002********0011"


def _dead_registration() -> int:
    """A registration insurance sent to tax, dead with a traceback that quotes the person."""
    with transaction.atomic():
        message_id = services.message_send(
            topic="enrollment.registered",
            payload={
                "person_id": FULL_ID,
                "region_code": "141002100201",
                "enrollment_id": 1,
                "person_name": "王小明",
                "category": "rural",
                "enrolled_on": "2026-01-01",
            },
        )
    PendingDelivery.objects.filter(message_id=message_id).update(
        status=MessageStatus.DEAD,
        attempts=8,
        dead_at=timezone.now(),
        last_error=f"no payer {FULL_ID}",
        last_traceback=f'Traceback…\nKeyError: "{FULL_ID}" (13912345678)',
    )
    return message_id


def test_given_a_dead_registration_when_the_administrator_opens_its_page_then_the_person_is_masked(
    no_nudge, world, client
):
    # given
    letter = _dead_registration()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("sharing:dead-letter-detail", args=[letter])).content.decode()
    # then neither the identity number nor the name is readable; their masked forms are shown
    assert FULL_ID not in page and "王小明" not in page and "13912345678" not in page
    assert f"&#x27;person_id&#x27;: &#x27;{MASKED_ID}&#x27;" in page
    assert "&#x27;person_name&#x27;: &#x27;王**&#x27;" in page
    assert f"KeyError: &quot;{MASKED_ID}&quot; (139****5678)" in page
    assert f"person:{MASKED_ID} #1" in page


def test_given_a_dead_registration_when_the_administrator_lists_dead_letters_then_subject_and_error_are_masked(
    no_nudge, world, client
):
    # given
    _dead_registration()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("sharing:dead-letters")).content.decode()
    # then
    assert FULL_ID not in page
    assert f"<td>person:{MASKED_ID}</td>" in page
    assert f"no payer {MASKED_ID}" in page


def test_given_a_dead_registration_when_read_through_the_api_then_payload_subject_and_traceback_are_masked(
    no_nudge, world, client
):
    # given
    letter = _dead_registration()
    client.force_login(world.users["admin"])
    # when
    detail = client.get(f"/api/sharing/dead-letters/{letter}/", HTTP_ACCEPT="application/json").json()
    listed = client.get("/api/sharing/dead-letters/", HTTP_ACCEPT="application/json")
    # then
    assert detail["payload"] == {
        "person_id": MASKED_ID,
        "region_code": "141002100201",
        "enrollment_id": 1,
        "person_name": "王**",
        "category": "rural",
        "enrolled_on": "2026-01-01",
    }
    assert detail["subject"] == f"person:{MASKED_ID}"
    assert detail["last_error"] == f"no payer {MASKED_ID}"
    assert detail["last_traceback"] == f'Traceback…\nKeyError: "{MASKED_ID}" (139****5678)'
    assert FULL_ID not in listed.content.decode() and "王小明" not in listed.content.decode()


def test_given_a_dead_registration_when_the_administrator_opens_it_in_the_admin_then_the_person_is_masked(
    no_nudge, world, client
):
    # given
    letter = _dead_registration()
    client.force_login(world.users["admin"])
    # when
    message_page = client.get(reverse("admin:sharing_outboxmessage_change", args=[letter])).content.decode()
    delivery_page = client.get(
        reverse("admin:sharing_pendingdelivery_change", args=[letter])
    ).content.decode()
    messages_list = client.get(reverse("admin:sharing_outboxmessage_changelist")).content.decode()
    # then
    for page in (message_page, delivery_page, messages_list):
        assert FULL_ID not in page and "王小明" not in page
    assert f"&quot;person_id&quot;: &quot;{MASKED_ID}&quot;" in message_page
    assert "&quot;person_name&quot;: &quot;王**&quot;" in message_page
    assert "(139****5678)" in delivery_page
    assert f"person:{MASKED_ID}" in messages_list
