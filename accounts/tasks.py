"""Background jobs of the accounts app."""

from __future__ import annotations

import time

from celery import shared_task

from .health import record_heartbeat


@shared_task(name="accounts.tasks.heartbeat", ignore_result=True)
def heartbeat() -> float:
    """Scheduled by beat, run by a worker: proves both are alive (shown on the health endpoint)."""
    now = time.time()
    record_heartbeat(now)
    return now
