"""The reconciliation report (对账) as a workbook, built in the background (accounts/export_jobs.py):
a day's differences may run to as many messages as the day carried, one row each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from accounts.export_jobs import ExportKind, Progress, register
from accounts.exports import Sheet, money
from accounts.masking import text_for
from accounts.roles import Action
from accounts.scope import Scope

from . import selectors
from .models import DifferenceKind, MessageStatus, ReconciliationReport

RECONCILIATION = "sharing.reconciliation"


def report_of(raw: str | None) -> ReconciliationReport | None:
    """The report asked for (``report`` = its key), or the newest; an unknown key is 404."""
    if not raw:
        return selectors.reconciliation_report_latest()
    try:
        return selectors.reconciliation_report_list().get(pk=int(raw))
    except (ValueError, ReconciliationReport.DoesNotExist) as error:
        raise Http404(_("No such report.")) from error


def _params(scope: Scope, data: Mapping[str, str]) -> dict[str, Any]:
    report = report_of(data.get("report"))
    return {"report": report.pk if report else None}


def write_reconciliation(scope: Scope, params: dict[str, Any], book: Workbook, progress: Progress) -> str:
    """The summary per topic, then every difference in the user's area (rows stream through)."""
    report = report_of(str(params["report"])) if params.get("report") else None
    summary = Sheet(book, _("Summary"))
    summary.row([_("Day"), str(report.day) if report else ""])
    summary.row([_("Differences"), report.difference_count if report else 0])
    summary.row([])
    summary.row(
        [_("Topic"), _("Sender"), _("Receiver"), _("Sent"), _("Sent amount (yuan)"), _("Applied"),
         _("Applied amount (yuan)"), _("Balanced")]
    )  # fmt: skip
    if report is not None:
        for line in selectors.reconciliation_lines(report=report):
            summary.row(
                [line.topic, line.sender, line.receiver, line.sent_count, money(line.sent_amount_fen),
                 line.applied_count, money(line.applied_amount_fen), _("yes") if line.balanced else _("no")]
            )  # fmt: skip
    differences = Sheet(book, _("Differences"))
    differences.row(
        [_("Topic"), _("Difference"), _("Message"), _("Subject"), _("Region code"), _("Sent amount (yuan)"),
         _("Applied amount (yuan)"), _("Message status"), _("Last error")]
    )  # fmt: skip
    if report is not None:
        kinds = dict(DifferenceKind.choices)
        statuses = dict(MessageStatus.choices)
        rows = selectors.reconciliation_differences(scope=scope, report=report).values_list(
            "topic", "kind", "message_id", "subject", "region_code", "sent_amount_fen", "applied_amount_fen",
            "status", "last_error",
        )  # fmt: skip
        for written, (topic, kind, message_id, subject, region, sent, applied, status, error) in enumerate(
            rows.iterator(chunk_size=5000), start=1
        ):
            differences.row(
                [topic, str(kinds.get(kind, kind)), message_id, text_for(scope, subject, region), region,
                 money(sent), money(applied), str(statuses.get(status, "")) if status is not None else "",
                 text_for(scope, error[:500], region)]
            )  # fmt: skip
            progress(written)
    return f"{_('reconciliation report')}-{report.day if report else ''}.xlsx"


def register_exports() -> None:
    register(
        ExportKind(
            key=RECONCILIATION,
            label=gettext_lazy("Reconciliation report"),
            action=Action.SHARING_MONITOR,
            params=_params,
            write=write_reconciliation,
        )
    )
