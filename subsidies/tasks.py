"""Background jobs of the subsidies app: thin; the work is in services."""

from __future__ import annotations

from celery import shared_task

from accounts.audit import acting
from accounts.scope import Scope

from . import services


@shared_task(name="subsidies.tasks.process_roster_import", ignore_result=True, acks_late=True)
def process_roster_import(import_id: int, user_id: int) -> str | None:
    """Check (preview) or apply one roster import, as the administrator who uploaded or confirmed it.

    Idempotent: an import that is no longer waiting (already checked or applied by an earlier
    delivery of this task) is left alone.
    """
    scope = Scope.for_user_id(user_id)
    with acting(user_id=user_id, source="task:subsidies.process_roster_import", roster_import=import_id):
        roster_import = services.roster_import_process(scope=scope, import_id=import_id)
    return roster_import.status if roster_import is not None else None


@shared_task(name="subsidies.tasks.prune_kept_rows", ignore_result=True)
def prune_kept_rows() -> list[int]:
    """Every night: drop the rows kept from previews that were never confirmed (imports that failed,
    were discarded or applied elsewhere)."""
    return services.roster_rows_prune()


@shared_task(name="subsidies.tasks.send_hand_tag_marks", ignore_result=True, acks_late=True)
def send_hand_tag_marks(county_code: str, insurance_year: int) -> int:
    """After a county's yearly run: tax's marks of the county's tags given by hand for that year.
    Idempotent: a second delivery sends the same marks again, under a newer revision."""
    with acting(user_id=None, source="task:subsidies.send_hand_tag_marks"):
        return services.subsidy_marks_send(county_code=county_code, insurance_year=insurance_year)
