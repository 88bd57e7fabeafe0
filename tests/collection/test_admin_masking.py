"""Tax's due-item ledger in the Django admin: administrators (no ``person.full_view``) see the
persons' identity numbers masked, in the list and on an item's page; an exact number still finds it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from collection.models import DueItem

pytestmark = pytest.mark.django_db

FULL_ID = "141002198001010011"
MASKED_ID = "141002********0011"


def _due_item() -> DueItem:
    return DueItem.objects.create(
        person_id=FULL_ID,
        insurance_year=2027,
        region_code="141002100201",
        amount_fen=40000,
        source_message_id=987654,
        sequence=1,
    )


def test_given_a_due_item_when_the_administrator_lists_the_ledger_then_the_identity_number_is_masked(
    world, client
):
    # given
    item = _due_item()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("admin:collection_dueitem_changelist")).content.decode()
    # then
    assert FULL_ID not in page
    link = reverse("admin:collection_dueitem_change", args=[item.pk])
    assert f'<th class="field-identifier"><a href="{link}">{MASKED_ID}</a></th>' in page


def test_given_a_due_item_when_the_administrator_opens_it_then_the_identity_number_is_masked(world, client):
    # given
    item = _due_item()
    client.force_login(world.users["admin"])
    # when
    page = client.get(reverse("admin:collection_dueitem_change", args=[item.pk])).content.decode()
    # then
    assert FULL_ID not in page
    assert f'<div class="readonly">{MASKED_ID}</div>' in page


def test_given_a_full_identity_number_when_the_administrator_searches_the_ledger_then_its_item_is_found(
    world, client
):
    # given
    _due_item()
    client.force_login(world.users["admin"])
    # when
    hit = client.get(reverse("admin:collection_dueitem_changelist"), {"q": FULL_ID}).content.decode()
    prefix = client.get(reverse("admin:collection_dueitem_changelist"), {"q": FULL_ID[:10]}).content.decode()
    # then the exact number finds it, a prefix does not
    assert MASKED_ID in hit
    assert MASKED_ID not in prefix
