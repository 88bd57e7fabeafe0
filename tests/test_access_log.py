"""Every view of a person's full record (identifier and phone in full) writes one access-log line:
who, when, which record, from where. Pages and API alike; tax's payer page too."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from tests.conftest import World
from tests.matrix import all_object_kwargs

OBJECTS = all_object_kwargs()

# URL name -> (the record kind logged, the role that sees it in full)
FULL_RECORD_VIEWS = {
    "enrollment:person-detail": ("person", Role.INSURANCE_STAFF),
    "person-detail": ("person", Role.INSURANCE_STAFF),
    "enrollment:household-detail": ("person", Role.VILLAGE_CLERK),
    "household-detail": ("person", Role.INSURANCE_STAFF),
    "refunds:detail": ("refund", Role.INSURANCE_STAFF),
    "refund-detail": ("refund", Role.INSURANCE_STAFF),
    "refunds:backpay-detail": ("back_payment", Role.INSURANCE_STAFF),
    "back-payment-detail": ("back_payment", Role.INSURANCE_STAFF),
}


def _logged(caplog) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.audit"]


@pytest.mark.parametrize("name", sorted(FULL_RECORD_VIEWS))
def test_given_a_full_record_when_a_role_that_sees_it_in_full_opens_it_then_who_when_what_and_where_are_logged(
    name: str, world: World, client, caplog
) -> None:
    record, role = FULL_RECORD_VIEWS[name]
    user = world.user_for(role)
    kwargs = OBJECTS[name](world, user, True)
    client.force_login(user)
    before = timezone.now().replace(microsecond=0)

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        response = client.get(reverse(name, kwargs=kwargs), REMOTE_ADDR="10.8.1.23")

    assert response.status_code == 200
    entries = _logged(caplog)
    assert entries, "nothing was logged"
    first = entries[0]
    assert before <= dt.datetime.fromisoformat(first["at"]) <= timezone.now()
    assert {key: first[key] for key in ("event", "user_id", "username", "ip", "path")} == {
        "event": f"{record}.full_view",
        "user_id": user.pk,
        "username": user.username,
        "ip": "10.8.1.23",
        "path": reverse(name, kwargs=kwargs),
    }
    if record != "person":
        assert [entry["record_id"] for entry in entries] == [kwargs["pk"]]


def test_given_a_household_of_two_when_the_clerk_opens_it_then_each_member_is_logged(
    world: World, client, caplog
):
    from tests.matrix.enrollment_registration import make_household

    household = make_household("141002100201", members=2)
    client.force_login(world.users["clerk_a"])
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client.get(reverse("enrollment:household-detail", args=[household.pk]))
    assert sorted(entry["person_id"] for entry in _logged(caplog)) == sorted(
        household.members.values_list("pk", flat=True)
    )


def test_given_tax_staff_when_they_open_a_payer_at_the_counter_then_the_view_is_logged(
    world: World, client, caplog
) -> None:
    from collection.models import Payer

    payer = Payer.objects.create(
        person_id="141002198001010011",
        name="张三",
        region_code="141002100201",
        source_message_id=1,
        sequence=1,
    )
    client.force_login(world.users["tax_a"])
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client.get(reverse("collection:counter"), {"payer": payer.pk}, REMOTE_ADDR="10.8.1.24")
    assert [(e["event"], e["record_id"], e["user_id"], e["ip"]) for e in _logged(caplog)] == [
        ("payer.full_view", payer.pk, world.users["tax_a"].pk, "10.8.1.24")
    ]


def test_given_an_administrator_when_opening_a_refund_then_it_is_masked_and_nothing_is_logged(
    world: World, client, caplog
) -> None:
    """Administrators hold no ``person.full_view``: they see the masked record, which is not logged."""
    from tests.refunds.support import make_refund

    application = make_refund("141002100201", world.users["clerk_a"])
    client.force_login(world.users["admin"])
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        response = client.get(reverse("refund-detail", args=[application.pk]))
    assert response.status_code in (200, 403)
    assert _logged(caplog) == []
