"""Django's admin site writes through the services; what a service refuses (a weak password, a role
the agency does not have, a malformed region code) comes back on the form, nothing written."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.models import Region, User
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def _sign_in(world, client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(world.users["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def _add_user(world, client, **fields: str):  # type: ignore[no-untyped-def]
    _sign_in(world, client)
    body = {
        "username": "new.clerk",
        "full_name": "新用户",
        "is_active": "on",
        "password": "Strong-Pass-2026!",
    }
    return client.post(reverse("admin:accounts_user_add"), {**body, **fields})


def _errors(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    form = response.context["adminform"].form
    return {field: list(errors) for field, errors in form.errors.items()}


def test_given_a_weak_password_when_adding_a_user_then_the_form_says_so_and_no_user_is_created(world, client):
    response = _add_user(
        world, client, agency=str(world.agencies["tax_a"].pk), role=Role.TAX_STAFF, password="123"
    )

    assert response.status_code == 200
    assert (
        "This password is too short. It must contain at least 10 characters." in _errors(response)["__all__"]
    )
    assert not User.objects.filter(username="new.clerk").exists()


def test_given_a_role_the_agency_does_not_have_when_adding_a_user_then_the_role_is_refused(world, client):
    response = _add_user(world, client, agency=str(world.agencies["tax_a"].pk), role=Role.VILLAGE_CLERK)

    assert response.status_code == 200
    assert _errors(response) == {"role": ["A Village clerk cannot belong to a Tax bureau."]}
    assert not User.objects.filter(username="new.clerk").exists()


def test_given_no_agency_when_adding_a_user_then_the_agency_is_required(world, client):
    response = _add_user(world, client, agency="", role=Role.TAX_STAFF)

    assert response.status_code == 200
    assert _errors(response) == {"agency": ["This field is required."]}


def test_given_a_valid_user_when_added_then_it_is_created_at_its_agency(world, client):
    response = _add_user(world, client, agency=str(world.agencies["tax_a"].pk), role=Role.TAX_STAFF)

    assert response.status_code == 302
    created = User.objects.get(username="new.clerk")
    assert (created.agency_id, created.role) == (world.agencies["tax_a"].pk, Role.TAX_STAFF)


def test_given_a_malformed_region_code_when_adding_a_region_then_the_code_is_refused(world, client):
    _sign_in(world, client)

    response = client.post(
        reverse("admin:accounts_region_add"),
        {"code": "99X", "name": "测试区", "parent": str(world.regions["linfen"].pk)},
    )

    assert response.status_code == 200
    assert list(_errors(response)) == ["code"]
    assert not Region.objects.filter(code="99X").exists()


def test_given_a_clerks_export_then_the_administrator_sees_who_exported_what_but_not_the_file(world, client):
    from django.core.files.base import ContentFile

    from accounts.export_jobs import kind_of
    from accounts.models import ExportJob

    job = ExportJob.objects.create(
        user=world.users["clerk_a"],
        kind="enrollment.unpaid",
        params={"area": "141002100201", "year": 2027},
        language="zh-hans",
        filename="参保名单.xlsx",
        status="done",
        rows_written=120,
    )
    job.file.save("exports/secret-roster.xlsx", ContentFile(b"PK"), save=True)
    _sign_in(world, client)

    listed = client.get(reverse("admin:accounts_exportjob_changelist")).content.decode()
    shown = client.get(reverse("admin:accounts_exportjob_change", args=[job.pk])).content.decode()

    label = str(kind_of("enrollment.unpaid").label)  # the export's name, as 我的导出 shows it
    assert label in listed and str(world.users["clerk_a"]) in listed
    assert "参保名单.xlsx" in shown and "141002100201" in shown
    assert "secret-roster" not in shown and "secret-roster" not in listed
    assert reverse("admin:accounts_exportjob_add") not in listed  # nothing to add or change by hand
    assert 'name="_save"' not in shown
