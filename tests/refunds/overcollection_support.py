"""Over-collection test data: tax's payments recorded straight into its ledger (the payment itself
is not under test), and the three bureaus' scopes; messages are delivered as the workers would."""

from __future__ import annotations

import datetime as dt
from itertools import count

import pytest
from django.utils import timezone

from accounts.roles import Role
from accounts.scope import Scope
from collection.models import DueItem, Payer, Payment
from sharing import services as sharing
from tests.conftest import World
from tests.refunds.support import paid_person

TUNLI = "141002100201"
QINBI = "141024100201"
_numbers = count(1)


@pytest.fixture
def no_nudge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)


def tax_payment(
    world: World, region: str = TUNLI, amount_fen: int = 40000, side: str = "a", *, insured: bool = True
) -> Payment:
    """A 2027 contribution of ``amount_fen`` paid at tax's counter of the county, receipt and all;
    ``insured``: insurance holds it too (the person enrolled, assessed alone and the year paid by
    this amount), as the payment's deposit record leaves it — what insurance checks an
    over-collection request against."""
    number = next(_numbers)
    # Born 1975: apart from the residents other fixtures plant (14100219800101xxxx), whatever ran
    # before in this process (the counter is per process and reached their numbers).
    person_id = f"14100219750101{number:04d}"
    Payer.objects.create(
        person_id=person_id, name="张三", region_code=region, source_message_id=number, sequence=1
    )
    item = DueItem.objects.create(
        person_id=person_id, insurance_year=2027, region_code=region, amount_fen=amount_fen,
        source_message_id=number, sequence=1, status="paid",
    )  # fmt: skip
    tax = world.user_for(Role.TAX_STAFF, side)
    payment = Payment.objects.create(
        due_item=item, person_id=person_id, insurance_year=2027, region_code=region, amount_fen=amount_fen,
        channel="counter_cash", paid_at=timezone.now() - dt.timedelta(days=1), paid_by="张三",
        agency=tax.agency, collector=tax, receipt_year=2026, receipt_number=number,
    )  # fmt: skip
    if insured:
        paid_person(region, id_number=person_id, amount_fen=amount_fen, county_run=False)
    return payment


def scope(world: World, role: str, side: str = "a") -> Scope:
    return Scope.for_user(world.user_for(role, side))


def deliver() -> dict[str, int]:
    return sharing.delivery_drain(seconds=60)


def this_month() -> str:
    return f"{timezone.localdate():%Y-%m}"
