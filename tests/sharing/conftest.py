from __future__ import annotations

from collections.abc import Iterator

import pytest

from sharing import handlers


@pytest.fixture
def recorded_handler() -> Iterator[list[list[int]]]:
    """Replace the handler of enrollment.registered by one that records the batches it gets."""
    calls: list[list[int]] = []
    previous = handlers.HANDLERS.get("enrollment.registered")

    def record(batch: handlers.Batch) -> None:
        calls.append([message.id for message in batch])

    handlers.HANDLERS["enrollment.registered"] = record
    yield calls
    if previous is None:
        handlers.HANDLERS.pop("enrollment.registered", None)
    else:
        handlers.HANDLERS["enrollment.registered"] = previous


@pytest.fixture
def no_nudge(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Delivery started on commit is recorded instead of queued (these tests deliver in-process)."""
    started: list[int] = []
    monkeypatch.setattr(
        "sharing.services.delivery_start", lambda *, fanout=1: started.append(fanout) or fanout
    )
    # No task clears the queued-delivery mark here: an earlier test's would hold this one's nudge.
    from sharing.services import delivery_nudge_clear

    delivery_nudge_clear()
    return started
