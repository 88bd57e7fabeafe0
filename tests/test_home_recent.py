"""The home page's "your recent changes": the user's own requests and tasks that changed records,
newest first, each with how many records of each kind it added, changed or removed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.urls import reverse
from pghistory.models import Context

from accounts import selectors, services
from accounts.audit import acting
from accounts.models import Region, RegionLevel

pytestmark = pytest.mark.django_db


def _home_in_english(client, user) -> list[str]:  # type: ignore[no-untyped-def]
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(reverse("home"))
    return [" ".join(change["changes"]) for change in response.context["recent"]]


def test_given_an_administrator_who_renamed_an_agency_then_their_home_lists_that_change(world, client):
    admin = world.users["admin"]
    client.force_login(admin)
    client.post(
        reverse("admin:accounts_agency_change", args=[world.agencies["tax_a"].pk]),
        {"name": "尧都区税务局（新址）", "is_active": "on"},
    )

    assert _home_in_english(client, admin) == ["Agency: 1 changed"]


def test_given_changes_by_someone_else_then_they_are_not_in_my_recent_changes(world, client):
    with acting(user_id=world.users["admin_other"].pk, source="test"):
        services.region_create(code="141002100202", name="新村", parent=world.regions["tunli"])

    assert _home_in_english(client, world.users["admin"]) == []


def test_given_one_task_that_added_more_records_than_the_cap_then_the_count_stops_past_it(world, monkeypatch):
    monkeypatch.setattr(selectors, "RECENT_COUNT_CAP", 3)
    admin = world.users["admin"]
    with acting(user_id=admin.pk, source="test"):
        Region.objects.bulk_create(
            Region(
                code=f"141002100{number}",
                name=f"村{number}",
                level=RegionLevel.VILLAGE,
                parent=world.regions["tunli"],
            )
            for number in range(301, 306)
        )
    # A test is one transaction, whose now() does not move: the first task a minute before the next.
    Context.objects.update(created_at=F("created_at") - dt.timedelta(minutes=1))
    with acting(user_id=admin.pk, source="test"):
        services.region_rename(region=world.regions["tunli"], name="屯里镇（新）")

    recent = selectors.recent_changes_by(user_id=admin.pk)

    assert [change.changes for change in recent] == [[("区划", "update", 1)], [("区划", "insert", 4)]]


def test_given_many_users_history_then_a_users_contexts_are_found_by_their_index():
    sql = "SELECT id FROM pghistory_context WHERE (metadata -> 'user') = '7'::jsonb ORDER BY created_at DESC LIMIT 10"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "accounts_history_context_by_user" in plan
