"""Database-level history for every domain table: inserts, updates and deletes, by trigger.

Triggers catch bulk writes (``bulk_create``, ``update()``, COPY-then-merge) as well as
single saves; the request middleware and tasks attach who acted, from where, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pghistory


def tracked(**kwargs: Any) -> Callable[[type], type]:
    # Statement-level triggers (transition tables): one trigger call per statement, not per row,
    # so a bulk insert of a million persons costs one call, and the history stays complete.
    kwargs.setdefault("level", pghistory.Statement)
    return pghistory.track(
        pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), **kwargs
    )


def acting(*, user_id: int | None, source: str, **extra: Any) -> Any:
    """Context manager for tasks and commands: ``with acting(user_id=..., source="task:..."):``."""
    return pghistory.context(user=user_id, source=source, **extra)
