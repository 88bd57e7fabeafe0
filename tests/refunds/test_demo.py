"""The demo's refund applications are made through the services: waiting, closed by the rules, and
approved by someone other than the applicant."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from refunds.models import RefundApplication

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def demo_settings(settings):
    """As `scripts/portal.py run` serves the demo: DEBUG off, the demo flag on."""
    settings.DEBUG = False
    settings.PORTAL_DEMO = True


def test_given_the_demo_then_each_village_has_a_waiting_a_refused_and_an_approved_refund(monkeypatch):
    """The one "paid twice" is refused on the spot: the demo's payers paid once at tax's counter, so
    insurance's deposit records hold one deposit each."""
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
            ("agency_error", "submitted", True),
            ("paid_twice", "rejected", False),
            ("agency_error", "approved", True),
        ]
    assert set(RefundApplication.objects.filter(reason="paid_twice").values_list("rule", flat=True)) == {
        "refunds.reasons.paid_twice.deposits"
    }
    assert all(
        application.decided_by_id != application.applied_by_id
        for application in RefundApplication.objects.filter(status="approved")
    )


def test_given_the_demo_in_august_2026_then_back_payments_wait_get_approved_or_are_refused(monkeypatch):
    """Pinned to 20 August 2026: the demo 2026 policy takes back-payments (their cover, 90 days
    after payment, starts within 2026), the 2027 one not yet (from 26 December). Per clerk's village: the first person owing 2026 waits for
    insurance, the second is approved (payable at tax); one person owing 2027 is refused on the spot.
    Who owes 2026 and 2027 depends on the demo payments (random, seeded, their days drawn up to the
    real date), so the expectation counts them first."""
    import datetime as dt

    from enrollment.models import Assessment
    from refunds.demo import load_demo_back_payments
    from refunds.models import BackPaymentApplication

    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    for command in ("demo_data", "demo_records", "demo_payments"):
        call_command(command, stdout=None)
    BackPaymentApplication.objects.all().delete()  # the command ran with the real date; pin it
    owing, owing_next = (
        {
            village: Assessment.objects.filter(region_code=village, insurance_year=year, status="due").count()
            for village in ("141002100201", "141024100201")
        }
        for year in (2026, 2027)
    )

    counts = load_demo_back_payments(today=dt.date(2026, 8, 20))
    again = load_demo_back_payments(today=dt.date(2026, 8, 20))  # safe to repeat

    assert again.applied == 0
    for village, n in owing.items():
        rows = list(
            BackPaymentApplication.objects.filter(region_code=village)
            .order_by("pk")
            .values_list("insurance_year", "status", "rule")
        )
        expected = [(2026, "submitted", "back_payment"), (2026, "approved", "back_payment")][: min(n, 2)]
        assert rows[: len(expected)] == expected
        # Not open yet for last year's payers; not for first enrollments at all (Linfen). A village
        # whose nine persons all paid 2027 (the demo's payments draw their days up to today) has
        # no one to refuse.
        refused = [(year, status) for year, status, _rule in rows[len(expected) :]]
        assert refused == ([(2027, "rejected")] if owing_next[village] else [])
        if refused:
            assert rows[-1][2] in {"back_payment.apply_from", "back_payment.eligible"}
    assert counts.approved == sum(1 for n in owing.values() if n >= 2)
    assert all(
        a.decided_by_id != a.applied_by_id for a in BackPaymentApplication.objects.filter(status="approved")
    )
