"""What every subsidies test shares."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run the worker's service themselves; no Celery queue, no delivery nudge."""
    monkeypatch.setattr("subsidies.services._queue", lambda job, user_id: None)
    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
