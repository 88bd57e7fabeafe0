"""Tax's long export, built in the background (accounts/export_jobs.py): a month's refund details
(退费明细) of the user's area, one row per refund."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook

from accounts.export_jobs import ExportKind, Progress, register
from accounts.exports import Sheet, money
from accounts.masking import mask_id_number
from accounts.roles import Action
from accounts.scope import Scope

from . import selectors

REFUND_DETAILS = "collection.refund_details"


def month_of(scope: Scope, asked: str, *, months: list[str] | None = None) -> str | None:
    """The month asked for if the area has refunds in it, else the newest: the page's and the
    export's choice (``months``: the area's months, where the caller has read them already)."""
    if months is None:
        months = selectors.refund_months(scope=scope)
    return asked if asked in months else (months[0] if months else None)


def _params(scope: Scope, data: Mapping[str, str]) -> dict[str, Any]:
    return {"month": month_of(scope, data.get("month", ""))}


def write_refund_details(scope: Scope, params: dict[str, Any], book: Workbook, progress: Progress) -> str:
    month = params.get("month")
    details = selectors.refunds_of_month(scope=scope, month=month) if month else None
    # Read in chunks: never the whole month in memory.
    refunds = details.refunds.iterator(chunk_size=2000) if details else iter(())
    sheet = Sheet(book, _("Refund details"), widths=(12, 22, 16, 14, 20, 12))
    sheet.row([_("Refund details"), month or ""], bold=True)
    sheet.row([])
    sheet.row(
        [_("Paid back on"), _("Identifier"), _("Region code"), _("Amount (yuan)"), _("Receipt"), _("Refund")],
        bold=True,
    )
    for written, refund in enumerate(refunds, start=1):
        sheet.row(
            [
                refund.paid_on,
                mask_id_number(refund.person_id),
                refund.region_code,
                money(refund.amount_fen),
                refund.receipt_number,
                refund.refund_id,
            ]
        )
        progress(written)
    sheet.row(
        [_("Total"), details.count if details else 0, "", money(details.fen if details else 0)], bold=True
    )
    return f"{_('refund details')}-{month or ''}.xlsx"


def register_exports() -> None:
    register(
        ExportKind(
            key=REFUND_DETAILS,
            label=gettext_lazy("Refund details"),
            action=Action.COLLECTION_VIEW,
            params=_params,
            write=write_refund_details,
        )
    )
