"""A Redis of a test's own for one Celery task: the page under test queues the task there and the
test's worker reads it there (the shared test Redis databases are flushed by every other test that
starts, which would lose a queued task)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from config.embedded import RedisServer


@contextmanager
def task_on_private_redis(task: Any, directory: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Route ``task`` (its ``delay`` and ``apply_async``) to a Redis started under ``directory``;
    yields that Redis's URL for the worker, and stops it at the end."""
    server = RedisServer(directory / "redis")
    server.ensure()
    url = server.url(0)
    original = task.apply_async

    def apply_async(*args: Any, **kwargs: Any) -> Any:
        with task.app.connection_for_write(url) as connection:
            return original(*args, connection=connection, **kwargs)

    monkeypatch.setattr(task, "apply_async", apply_async)
    try:
        yield url
    finally:
        server.stop()
