"""Background jobs of the tax bureau's app: thin; the work is in services."""

from __future__ import annotations

from celery import shared_task

from accounts.audit import acting
from accounts.scope import Scope

from . import services


@shared_task(name="collection.tasks.process_bank_file", ignore_result=True, acks_late=True)
def process_bank_file(batch_id: int, user_id: int) -> str | None:
    """Match one bank debit file, as the tax clerk who uploaded it.

    Idempotent: a file no longer queued (matched by an earlier delivery of this task) is left alone.
    """
    scope = Scope.for_user_id(user_id)
    with acting(user_id=user_id, source="task:collection.process_bank_file", payment_batch=batch_id):
        batch = services.bank_debit_process(scope=scope, batch_id=batch_id)
    return batch.status if batch is not None else None


@shared_task(name="collection.tasks.refresh_progress", ignore_result=True, acks_late=True)
def refresh_progress() -> dict[str, float] | None:
    """The collection-progress summary recomputed from the ledger: every few minutes (beat) and on
    demand. Idempotent (the same ledger gives the same summary); skipped while another runs."""
    from .progress import progress_refresh

    with acting(user_id=None, source="task:collection.refresh_progress"):
        done = progress_refresh()
    return (
        None if done is None else {"seconds": done.seconds, "written": done.written, "deleted": done.deleted}
    )
