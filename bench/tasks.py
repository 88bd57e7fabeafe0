"""Baseline tasks for the benchmarks (loaded by the benchmark's workers with ``-I bench.tasks``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from collection.models import DueItem


@shared_task(name="bench.baseline_due_item", ignore_result=True, acks_late=True)
def baseline_due_item(payload: dict[str, Any], sequence: int) -> None:
    """One Celery task per record: what a platform without batching or an outbox would do."""
    with transaction.atomic():
        item = (
            DueItem.objects.select_for_update()
            .filter(person_id=payload["person_id"], insurance_year=payload["insurance_year"])
            .first()
        )
        if item is None:
            DueItem.objects.create(
                person_id=payload["person_id"],
                insurance_year=payload["insurance_year"],
                region_code=payload["region_code"],
                amount_fen=payload["amount_fen"],
                source_message_id=0,
                sequence=sequence,
            )
        elif item.sequence < sequence:
            item.amount_fen = payload["amount_fen"]
            item.sequence = sequence
            item.updated_at = timezone.now()
            item.save(update_fields=["amount_fen", "sequence", "updated_at"])
