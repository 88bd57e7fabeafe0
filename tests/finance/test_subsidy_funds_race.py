"""Two version-1 ``subsidy.fund_totals`` messages of one county and year (one category each) applied
at the same moment by two delivery workers, on real connections (threads, real commits). Their
subjects differ by the category, so they sit on different lanes and the platform does not order
them: finance's handler must. Played in a fixed order (tests/refunds/race_support.py)."""

from __future__ import annotations

from unittest import mock

import pytest

from refunds.finance import handlers
from sharing.models import OutboxMessage
from sharing.services import delivery_run_batch, message_send
from tests.finance.test_subsidy_funds import _held
from tests.refunds.overcollection_support import deliver, no_nudge  # noqa: F401
from tests.refunds.race_support import Held, race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]

COUNTY = "141002000000"
YEAR = 2027


def _one_category(category: str, persons: int, fen: int) -> int:
    return message_send(
        topic="subsidy.fund_totals",
        version=1,
        payload={
            "region_code": COUNTY, "insurance_year": YEAR, "category": category,
            "person_count": persons, "amount_fen": fen,
        },
    )  # fmt: skip


def _work() -> str:
    """One delivery worker: claims a lane and applies one batch of it."""
    result = delivery_run_batch()
    return "no lane to claim" if result is None else f"applied {result.applied}"


def test_given_two_categories_applied_at_once_by_two_workers_then_the_totals_count_both():
    # Given: finance holds the county's 2027 report (dibao); tekun and severe_disability are sent,
    # each on its own lane
    _one_category("dibao", 2, 32000)
    deliver()
    sent = [_one_category("tekun", 1, 40000), _one_category("severe_disability", 3, 60000)]
    assert OutboxMessage.objects.filter(pk__in=sent).values("lane").distinct().count() == 2
    held = Held(handlers._record_one_category)

    # When: one worker applies its category and is held before it commits; another worker applies
    # the other category meanwhile
    with mock.patch.object(handlers, "_record_one_category", held):
        first, second, waited = race(_work, _work, held)

    # Then: the second waited for the first, and the totals are those of the three lines
    assert (first, second, waited) == ("applied 1", "applied 1", True)
    assert _held() == [
        (COUNTY, YEAR, 6, 132000,
         [("dibao", 2, 32000), ("severe_disability", 3, 60000), ("tekun", 1, 40000)])
    ]  # fmt: skip
