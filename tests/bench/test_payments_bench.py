"""The payments benchmark at a small size: a real gunicorn on the test database, clients in
several processes; every payment recorded, receipts without a gap, the figures reported."""

from __future__ import annotations

import pytest

from bench.payments import run_inner
from tests.conftest import database_url_for_subprocess

pytestmark = pytest.mark.slow


@pytest.mark.django_db(transaction=True)
def test_given_a_small_load_when_the_payments_bench_runs_then_every_payment_is_recorded_once(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url_for_subprocess())

    result = run_inner(size=40, clients=8)

    assert {"name", "requests", "ours_per_s", "baseline_per_s", "ratio", "p99_ms", "errors"} <= result.keys()
    assert (result["name"], result["requests"], result["errors"], result["baseline_errors"]) == (
        "payments",
        40,
        0,
        0,
    )
    # The 200 warm-up payments before the timed rounds are recorded too, not counted as requests.
    assert (result["warm_up"], result["payments_recorded"], result["receipts_without_gap"]) == (
        200,
        240,
        True,
    )
    # Last year's ledger stood in the tables before: one payment per payer, with its own receipts.
    assert result["payments_of_last_year"] == 240
    assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
    assert result["rounds"] == 4
    assert len(result["round_ratios"]) == 4 and all(ratio > 0 for ratio in result["round_ratios"])
