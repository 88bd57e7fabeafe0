"""Background jobs of the sharing platform: thin and idempotent, all work in services."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import services


@shared_task(name="sharing.tasks.deliver", ignore_result=True, acks_late=True)
def deliver() -> dict[str, int]:
    """Apply batches until nothing is left for this worker, or hand over to a fresh task."""
    services.delivery_nudge_clear()
    totals = services.delivery_drain()
    if totals["more"]:
        services.delivery_start(fanout=1)
    return totals


@shared_task(name="sharing.tasks.sweep", ignore_result=True)
def sweep() -> int:
    """Scheduled by beat: start delivery for whatever is pending, whether or not anyone nudged."""
    services.lanes_ensure()
    if services.pending_ready_exists():
        return services.delivery_start(fanout=settings.SHARING["FANOUT"])
    return 0


@shared_task(name="sharing.tasks.reconcile", ignore_result=True, acks_late=True)
def reconcile(day: str | None = None) -> int:
    """Scheduled by beat every night for yesterday; a day (YYYY-MM-DD) may be given."""
    when = date.fromisoformat(day) if day else timezone.localdate() - timedelta(days=1)
    return services.reconciliation_run(day=when).pk


@shared_task(name="sharing.tasks.prune_beside_tables", ignore_result=True)
def prune_beside_tables() -> list[str]:
    """Every night: drop what bulk sends built beside a transaction left when it rolled back."""
    return services.beside_tables_prune()
