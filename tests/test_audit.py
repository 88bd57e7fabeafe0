"""Database-level history: every write, bulk ones too, with who, where and what changed."""

import pytest
from django.db import DatabaseError, transaction
from django.urls import reverse

from accounts import services
from accounts.audit import acting
from accounts.models import Region, RegionEvent


def test_given_a_rename_by_a_user_when_history_is_read_then_it_names_the_user_and_the_change(world):
    admin = world.users["admin"]
    with acting(user_id=admin.pk, source="test"):
        services.region_rename(region=world.regions["tunli"], name="屯里镇新")
    event = RegionEvent.objects.filter(pgh_obj=world.regions["tunli"], pgh_label="update").get()
    assert (event.name, event.pgh_context.metadata["user"], event.pgh_context.metadata["source"]) == (
        "屯里镇新",
        admin.pk,
        "test",
    )


def test_given_a_bulk_update_that_bypasses_save_then_every_row_still_gets_history(world):
    with acting(user_id=None, source="bulk-test"):
        changed = Region.objects.filter(code__startswith="141024").update(name="改名")
    events = RegionEvent.objects.filter(pgh_label="update", code__startswith="141024")
    assert changed == 3
    assert events.count() == 3
    assert {e.pgh_context.metadata["source"] for e in events} == {"bulk-test"}


def test_given_a_deletion_then_the_deleted_row_is_kept_in_history(world):
    region = services.region_create(code="141024100202", name="临时村", parent=world.regions["dahuaishu"])
    code = region.code
    region.delete()
    assert RegionEvent.objects.filter(code=code, pgh_label="delete").count() == 1


def test_given_history_rows_then_nobody_can_rewrite_them(world):
    event = RegionEvent.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        RegionEvent.objects.filter(pk=event.pk).update(name="篡改")
    with pytest.raises(DatabaseError), transaction.atomic():
        RegionEvent.objects.filter(pk=event.pk).delete()


def test_given_a_change_made_through_the_admin_site_then_history_records_the_user_and_url(world, client):
    admin = world.users["admin"]
    agency = world.agencies["tax_a"]
    client.force_login(admin)
    url = reverse("admin:accounts_agency_change", args=[agency.pk])
    response = client.post(url, {"name": "尧都区税务局（新址）", "is_active": "on"})
    assert response.status_code == 302
    event = agency.events.filter(pgh_label="update").get()
    assert event.name == "尧都区税务局（新址）"
    assert (event.pgh_context.metadata["user"], event.pgh_context.metadata["url"]) == (admin.pk, url)


def test_given_insurance_staff_when_opening_their_county_then_they_see_its_history(world, client):
    client.force_login(world.users["insurance_a"])
    page = client.get(reverse("accounts:region-detail", args=["141002000000"])).content.decode()
    assert 'data-testid="history"' in page


def test_given_tax_staff_when_opening_their_county_then_the_history_is_not_shown(world, client):
    client.force_login(world.users["tax_a"])
    page = client.get(reverse("accounts:region-detail", args=["141002000000"])).content.decode()
    assert 'data-testid="history"' not in page


def test_given_an_administrator_when_asking_for_another_citys_history_by_api_then_it_is_not_found(
    world, client
):
    client.force_login(world.users["admin"])
    response = client.get(reverse("region-history", args=["140105000000"]))
    assert response.status_code == 404


def test_given_an_administrator_when_reading_a_users_history_by_api_then_changes_are_listed(world, client):
    admin = world.users["admin"]
    with acting(user_id=admin.pk, source="test"):
        services.user_update(user=world.users["clerk_a"], full_name="村经办甲")
    client.force_login(admin)
    rows = client.get(reverse("user-history", args=[world.users["clerk_a"].pk])).json()
    assert [(row["label"], row["user"], row["diff"]) for row in rows] == [
        ("update", "管理员甲", {"full_name": ["村经办a", "村经办甲"]}),
        ("insert", "", {}),
    ]


@pytest.mark.django_db
def test_given_every_history_table_then_it_is_indexed_by_its_key_object_and_context_only():
    # History is read by object and by context; an index on a copied foreign key (pghistory's
    # default) would cost every tracked write an index entry nobody reads.
    import pghistory.models
    from django.apps import apps
    from django.db import connection

    event_tables = sorted(
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, pghistory.models.Event) and not model._meta.proxy and model._meta.managed
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT t.relname, array_agg(a.attname ORDER BY a.attname)
               FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
               WHERE t.relname = ANY(%s) GROUP BY t.relname""",
            [event_tables],
        )
        indexed = dict(cursor.fetchall())

    assert len(event_tables) >= 30
    assert {table: sorted(indexed.get(table, [])) for table in event_tables} == {
        table: ["pgh_context_id", "pgh_id", "pgh_obj_id"] for table in event_tables
    }
