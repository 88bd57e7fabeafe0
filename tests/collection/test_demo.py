"""The demo's payments go through tax's counter and reach insurance as deposit records: the two
ledgers agree, as they would in service."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.core.management import call_command
from django.utils import timezone

from collection.demo import _counter_time
from collection.models import DueItem, Payment
from enrollment.models import Assessment
from sharing.models import PendingDelivery

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def demo_settings(settings):
    """As `scripts/portal.py run` serves the demo: DEBUG off, the demo flag on."""
    settings.DEBUG = False
    settings.PORTAL_DEMO = True


def test_given_the_demo_then_every_payment_is_tax_s_and_insurance_holds_the_same_ones_paid(monkeypatch):
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    call_command("demo_data", stdout=None)
    call_command("demo_records", stdout=None)

    call_command("demo_payments", stdout=None)

    payments = set(Payment.objects.filter(status="recorded").values_list("person_id", "insurance_year"))
    paid_items = set(DueItem.objects.filter(status="paid").values_list("person_id", "insurance_year"))
    paid_assessments = set(
        Assessment.objects.filter(status="paid").values_list("person__id_number", "insurance_year")
    )
    assert len(payments) > 100
    assert payments == paid_items == paid_assessments
    assert {year for _, year in payments} == {2026, 2027}
    assert PendingDelivery.objects.count() == 0


# --- the demo's payment times ---------------------------------------------------------------


def test_given_a_demo_built_just_after_midnight_then_today_s_payments_are_dated_before_now(monkeypatch):
    # given: 00:30 in Shanghai, the counters' hours of today still ahead
    now = timezone.make_aware(dt.datetime(2026, 12, 1, 0, 30))
    monkeypatch.setattr(timezone, "now", lambda: now)
    rng = random.Random(7)

    # when
    moments = [_counter_time(dt.date(2026, 12, 1), rng) for _ in range(200)]

    # then: all of them today so far, none in the future (the counter refuses those)
    assert min(moments) >= timezone.make_aware(dt.datetime(2026, 12, 1))
    assert max(moments) <= now


def test_given_an_earlier_day_then_its_payments_are_dated_within_the_counters_hours(monkeypatch):
    # given
    monkeypatch.setattr(timezone, "now", lambda: timezone.make_aware(dt.datetime(2026, 12, 1, 0, 30)))
    rng = random.Random(7)

    # when
    hours = {timezone.localtime(_counter_time(dt.date(2026, 11, 30), rng)).hour for _ in range(400)}

    # then
    assert hours == set(range(9, 17))
