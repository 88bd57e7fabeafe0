"""The subsidies app's long export, built in the background (accounts/export_jobs.py): subsidised
persons not enrolled, the whole list of the user's area."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from openpyxl import Workbook

from accounts.export_jobs import ExportKind, Progress, register
from accounts.exports import Sheet
from accounts.roles import Action
from accounts.scope import Scope

from . import selectors

NOT_ENROLLED = "subsidies.not_enrolled"


def not_enrolled_note(in_registry: bool) -> str:
    return (
        _("In the registry, not enrolled")
        if in_registry
        else _("Not in the registry: register the household")
    )


def _params(scope: Scope, data: Mapping[str, str]) -> dict[str, Any]:
    return {"category": (data.get("category") or "")[:32]}


def write_not_enrolled(scope: Scope, params: dict[str, Any], book: Workbook, progress: Progress) -> str:
    names = dict(selectors.subsidised_categories(scope=scope))
    rows = selectors.subsidised_unenrolled(scope=scope, category=params.get("category", ""))
    sheet = Sheet(book, _("Not enrolled"), widths=(20, 12, 22, 15, 24, 24, 28))
    sheet.row(
        [_("Subsidised persons not enrolled (printed %(day)s)") % {"day": timezone.localdate().isoformat()}],
        bold=True,
    )
    sheet.row(
        [_("Village"), pgettext("person", "Name"), _("Identifier"), _("Phone"),
         _("Subsidy category"), _("Roster"), _("Note")],
        bold=True,
        boxed=True,
    )  # fmt: skip
    sheet.print_titles("2:2")
    for written, row in enumerate(rows, start=1):
        sheet.row(
            [row.village, row.name, row.id_number, row.phone, names.get(row.category, row.category),
             row.source, not_enrolled_note(row.in_registry)],
            boxed=True,
        )  # fmt: skip
        progress(written)
    return f"{_('Subsidised persons not enrolled')}.xlsx"


def register_exports() -> None:
    register(
        ExportKind(
            key=NOT_ENROLLED,
            label=gettext_lazy("Subsidised persons not enrolled"),
            action=Action.REPORT_VIEW,
            params=_params,
            write=write_not_enrolled,
        )
    )
