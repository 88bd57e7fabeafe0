"""Reads of the sharing platform, always through a scope (messages are filtered by region)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from accounts.roles import Bureau
from accounts.scope import Scope

from . import topics
from .models import (
    DifferenceKind,
    InboxEntry,
    MessageStatus,
    OutboxMessage,
    PendingDelivery,
    ReconciliationDifference,
    ReconciliationLine,
    ReconciliationReport,
)


def start_of_today() -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def monitor_stats(*, scope: Scope, since: datetime | None = None) -> dict[str, Any]:
    """Per topic and per bureau: sent and delivered since ``since`` (default: today), and now
    pending, dead, and the age of the oldest pending message. Cheap enough to poll: the counts
    of today use the BRIN indexes on send time, the backlog the partial indexes of the queue."""
    since = since or start_of_today()
    now = timezone.now()
    sent = dict(
        scope.filter(OutboxMessage.objects.filter(created_at__gte=since))
        .order_by()
        .values_list("topic")
        .annotate(n=Count("id"))
    )
    delivered = dict(
        scope.filter(InboxEntry.objects.filter(sent_at__gte=since))
        .order_by()
        .values_list("topic")
        .annotate(n=Count("message_id"))
    )
    backlog: dict[tuple[str, int], tuple[int, datetime | None]] = {
        (topic, status): (n, oldest)
        for topic, status, n, oldest in scope.filter(PendingDelivery.objects.all())
        .order_by()
        .values_list("topic", "status")
        .annotate(n=Count("message_id"), oldest=Min("sent_at"))
    }
    rows = []
    for topic in topics.all_topics():
        pending, oldest = backlog.get((topic.name, MessageStatus.PENDING), (0, None))
        dead, _oldest_dead = backlog.get((topic.name, MessageStatus.DEAD), (0, None))
        rows.append(
            {
                "topic": topic.name,
                "description": str(topic.description),
                "sender": topic.sender,
                "receiver": topic.receiver,
                "sender_label": str(Bureau(topic.sender).label),
                "receiver_label": str(Bureau(topic.receiver).label),
                "sent": sent.get(topic.name, 0),
                "delivered": delivered.get(topic.name, 0),
                "pending": pending,
                "dead": dead,
                "oldest_pending_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
            }
        )
    bureaus = []
    for bureau in Bureau:
        outgoing = [row for row in rows if row["sender"] == bureau.value]
        incoming = [row for row in rows if row["receiver"] == bureau.value]
        ages = [
            row["oldest_pending_seconds"] for row in incoming if row["oldest_pending_seconds"] is not None
        ]
        bureaus.append(
            {
                "bureau": bureau.value,
                "label": str(bureau.label),
                "sent": sum(row["sent"] for row in outgoing),
                "delivered": sum(row["delivered"] for row in incoming),
                "pending": sum(row["pending"] for row in incoming),
                "dead": sum(row["dead"] for row in incoming),
                "oldest_pending_seconds": max(ages) if ages else None,
            }
        )
    # In the portal's time zone, as every time a user reads (the page shows its clock time).
    return {
        "since": timezone.localtime(since).isoformat(),
        "at": timezone.localtime(now).isoformat(),
        "topics": rows,
        "bureaus": bureaus,
    }


def dead_letter_list(*, scope: Scope, topic: str | None = None) -> QuerySet[PendingDelivery]:
    queryset = scope.filter(
        PendingDelivery.objects.filter(status=MessageStatus.DEAD).select_related("message")
    ).order_by("topic", "message_id")
    if topic:
        queryset = queryset.filter(topic=topic)
    return queryset


def dead_letter_topics(*, scope: Scope) -> list[tuple[str, int]]:
    return list(
        scope.filter(PendingDelivery.objects.filter(status=MessageStatus.DEAD))
        .order_by("topic")
        .values_list("topic")
        .annotate(n=Count("message_id"))
    )


def dead_letter_detail(*, scope: Scope, pk: int) -> PendingDelivery:
    return scope.get_object_or_404(
        PendingDelivery.objects.filter(status=MessageStatus.DEAD).select_related("message"), message_id=pk
    )


def reconciliation_report_list() -> QuerySet[ReconciliationReport]:
    """Reports cover the whole installation; their differences are filtered by scope."""
    return ReconciliationReport.objects.order_by("-day", "-created_at")


def reconciliation_report_latest() -> ReconciliationReport | None:
    return reconciliation_report_list().first()


def reconciliation_lines(*, report: ReconciliationReport) -> QuerySet[ReconciliationLine]:
    return report.lines.order_by("topic")


def reconciliation_differences(
    *, scope: Scope, report: ReconciliationReport, kind: str | None = None
) -> QuerySet[ReconciliationDifference]:
    queryset = scope.filter(report.differences.all()).order_by("topic", "message_id")
    if kind in DifferenceKind.values:
        queryset = queryset.filter(kind=kind)
    return queryset
