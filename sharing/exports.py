"""The reconciliation report as an xlsx workbook: openpyxl in write-only mode, streamed out.

Every text cell that a spreadsheet would read as a formula (starting with = + - @, or a tab or
carriage return before one) gets a leading apostrophe, so an exported value can never run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from typing import IO, Any

from django.utils.translation import gettext as _
from openpyxl import Workbook

from accounts.exports import money
from accounts.scope import Scope

from . import selectors
from .models import DifferenceKind, MessageStatus, ReconciliationReport

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(value) for value in values]


def reconciliation_workbook(*, scope: Scope, report: ReconciliationReport | None) -> IO[bytes]:
    """Write the workbook to a temporary file (rows stream through; nothing is held in memory)."""
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append(_row([_("Day"), str(report.day) if report else ""]))
    summary.append(_row([_("Differences"), report.difference_count if report else 0]))
    summary.append([])
    summary.append(
        _row(
            [
                _("Topic"),
                _("Sender"),
                _("Receiver"),
                _("Sent"),
                _("Sent amount (yuan)"),
                _("Applied"),
                _("Applied amount (yuan)"),
                _("Balanced"),
            ]
        )
    )
    if report is not None:
        for line in selectors.reconciliation_lines(report=report):
            summary.append(
                _row(
                    [
                        line.topic,
                        line.sender,
                        line.receiver,
                        line.sent_count,
                        money(line.sent_amount_fen),
                        line.applied_count,
                        money(line.applied_amount_fen),
                        _("yes") if line.balanced else _("no"),
                    ]
                )
            )
    differences = book.create_sheet(_("Differences"))
    differences.append(
        _row(
            [
                _("Topic"),
                _("Difference"),
                _("Message"),
                _("Subject"),
                _("Region code"),
                _("Sent amount (yuan)"),
                _("Applied amount (yuan)"),
                _("Message status"),
                _("Last error"),
            ]
        )
    )
    if report is not None:
        kinds = dict(DifferenceKind.choices)
        statuses = dict(MessageStatus.choices)
        rows = selectors.reconciliation_differences(scope=scope, report=report).values_list(
            "topic",
            "kind",
            "message_id",
            "subject",
            "region_code",
            "sent_amount_fen",
            "applied_amount_fen",
            "status",
            "last_error",
        )
        for topic, kind, message_id, subject, region, sent, applied, status, error in rows.iterator(
            chunk_size=5000
        ):
            differences.append(
                _row(
                    [
                        topic,
                        str(kinds.get(kind, kind)),
                        message_id,
                        subject,
                        region,
                        money(sent),
                        money(applied),
                        str(statuses.get(status, "")) if status is not None else "",
                        error[:500],
                    ]
                )
            )
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the streaming response once sent
    book.save(handle)
    handle.seek(0)
    return handle
