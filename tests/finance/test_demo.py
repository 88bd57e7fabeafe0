"""The demo's over-collections go the whole way through the services of the three bureaus: tax
reports four a county, insurance plans last month's and this month's and submits both, finance
approves and funds the older one; each demo user has something to see."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from collection.models import OvercollectionRequest
from refunds.finance.models import ReceivedPlan
from refunds.models import FundPlan

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def demo_settings(settings):
    """As `scripts/portal.py run` serves the demo: DEBUG off, the demo flag on."""
    settings.DEBUG = False
    settings.PORTAL_DEMO = True


def test_given_the_demo_then_yaodu_has_a_funded_plan_and_one_waiting_for_finance(monkeypatch):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    for command in ("demo_data", "demo_records", "demo_payments", "demo_refunds", "demo_finance"):
        call_command(command, stdout=None)

    call_command("demo_refunds", stdout=None)  # safe to repeat
    call_command("demo_finance", stdout=None)

    yaodu = list(
        FundPlan.objects.filter(county_code="141002").order_by("period").values_list("status", "refund_count")
    )
    assert yaodu == [("funded", 2), ("submitted", 2)]
    assert list(
        ReceivedPlan.objects.filter(region_code="141002000000")
        .order_by("period")
        .values_list("status", flat=True)
    ) == [
        "transferred",
        "received",
    ]
    statuses = sorted(
        OvercollectionRequest.objects.filter(region_code__startswith="141002").values_list(
            "status", flat=True
        )
    )
    assert statuses == ["funded", "funded", "planned", "planned"]
