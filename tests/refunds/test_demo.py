"""The demo's refund applications are made through the services: waiting, closed by the rules, and
approved by someone other than the applicant."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from refunds.models import RefundApplication

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def development_settings(settings):
    settings.DEBUG = True


def test_given_the_demo_then_each_village_has_a_waiting_a_refused_and_an_approved_refund(monkeypatch):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    for command in ("demo_data", "demo_records", "demo_payments"):
        call_command(command, stdout=None)

    call_command("demo_refunds", stdout=None)
    call_command("demo_refunds", stdout=None)  # safe to repeat

    rows = list(
        RefundApplication.objects.order_by("region_code", "pk").values_list(
            "region_code", "reason", "status", "refundable"
        )
    )
    villages = sorted({region for region, *_rest in rows})
    assert len(villages) == 2
    for village in villages:
        assert [row[1:] for row in rows if row[0] == village] == [
            ("paid_twice", "submitted", True),
            ("death", "rejected", False),
            ("paid_twice", "approved", True),
        ]
    assert all(
        application.decided_by_id != application.applied_by_id
        for application in RefundApplication.objects.filter(status="approved")
    )
