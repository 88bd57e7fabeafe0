"""Tax's ledger for the collection tests: payers and due items as insurance's messages leave them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from collection.models import DueItem, Payer

TUNLI = "141002100201"
QINBI = "141024100201"
YEAR = 2027
AMOUNT = 40000
LATE_AMOUNT = 40000 + 5000
OPEN, CLOSE, LATE_END = dt.date(2026, 9, 1), dt.date(2026, 12, 31), dt.date(2027, 6, 30)
# Paid on time at 400 yuan; from January to June 450 yuan (collected on the 1st–25th only).
SCHEDULE: list[dict[str, Any]] = [
    {
        "from": OPEN.isoformat(),
        "to": CLOSE.isoformat(),
        "amount_fen": AMOUNT,
        "subsidy_fen": 0,
        "rule": "on_time",
    },
    {
        "from": "2027-01-01",
        "to": LATE_END.isoformat(),
        "amount_fen": LATE_AMOUNT,
        "subsidy_fen": 0,
        "rule": "late",
        "days_of_month": [1, 25],
    },
]
_counter = iter(range(1, 10**6))


def payer(name: str, person_id: str, region: str = TUNLI) -> Payer:
    return Payer.objects.create(
        person_id=person_id, name=name, region_code=region, source_message_id=next(_counter), sequence=1
    )


def due(
    person_id: str, *, region: str = TUNLI, amount: int = AMOUNT, status: str = "due", schedule=None
) -> DueItem:
    return DueItem.objects.create(
        person_id=person_id,
        insurance_year=YEAR,
        region_code=region,
        amount_fen=amount,
        schedule=SCHEDULE if schedule is None else schedule,
        status=status,
        source_message_id=next(_counter),
        sequence=1,
        revision=1,
    )


def open_today() -> list[dict[str, Any]]:
    """A schedule whose on-time window holds today, whatever day the tests run."""
    from django.utils import timezone

    today = timezone.localdate()
    return [
        {
            "from": (today - dt.timedelta(days=30)).isoformat(),
            "to": (today + dt.timedelta(days=30)).isoformat(),
            "amount_fen": AMOUNT,
            "subsidy_fen": 0,
            "rule": "on_time",
        }
    ]
