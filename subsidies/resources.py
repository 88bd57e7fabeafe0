"""django-import-export resources of the subsidies app.

- ``RosterResource``: the admin's roster import ("导入" on the roster imports' admin page). The
  admin reads the file with import-export (xlsx, xls or csv), and this resource hands the rows
  to the very pipeline of the portal page (``subsidies.rosters`` through ``subsidies.services``):
  the dry run is the preview (new tags, ended tags as "delete", rows that cannot be imported as
  validation errors, so import-export offers no confirmation while there are any — the admin
  import is all or nothing); the confirmation checks the file again and applies it in the
  request, with its tags, messages to tax and reassessment, recorded as a roster import whose
  report the portal shows.
- ``SubsidyTagResource``: django-import-export's default ``ModelResource`` for subsidy tags with
  the roster's columns mapped to the model's fields — what an import without this app's
  pipeline looks like: one row at a time, no roster replacement, no messages to tax. It is the
  baseline of ``manage.py bench roster``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.results import Result, RowResult

from accounts.scope import Scope
from enrollment.imports import ImportFileError, text_of
from enrollment.models import ImportStatus, Person
from enrollment.spreadsheets import SheetRows

from . import rosters, selectors, services
from .models import RosterImport, RosterMode, SubsidyTag

PREVIEW_ROWS = 500


class RosterResource(resources.Resource):
    """A roster file checked and applied by the portal's own pipeline (see the module's docstring)."""

    id_number = fields.Field(column_name="身份证号码")
    name = fields.Field(column_name="姓名")
    category = fields.Field(column_name="资助类别")
    recognised_on = fields.Field(column_name="认定日期")

    class Meta:
        name = "roster"

    def __init__(
        self,
        *,
        scope: Scope | None = None,
        source: str = "",
        insurance_year: int | None = None,
        roster_date: dt.date | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.scope = scope
        self.source = source
        self.insurance_year = insurance_year
        self.roster_date = roster_date

    @classmethod
    def get_display_name(cls) -> str:
        return _("Subsidy roster")

    def import_data(
        self,
        dataset: Any,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = False,
        **kwargs: Any,
    ) -> Result:
        result = Result()
        result.diff_headers = [_("Row"), "身份证号码", "姓名", "资助类别", _("Outcome"), _("Reason")]
        result.total_rows = len(dataset)
        if self.scope is None or self.insurance_year is None or self.roster_date is None:
            result.append_base_error(
                _invalid(_("Say which office sent the roster, its insurance year and its date."))
            )
            return result
        user = kwargs.get("user")
        name = PurePath(str(kwargs.get("file_name") or "roster.xlsx")).name[:255]
        suffix = PurePath(name).suffix.lower().lstrip(".")
        rows = [list(dataset.headers or []), *(list(row) for row in dataset)]
        sheet = SheetRows(rows=iter(enumerate(rows, start=1)), estimated_rows=len(rows), reader="tablib")
        try:
            with transaction.atomic():
                job = RosterImport.objects.create(
                    source=self.source,
                    insurance_year=self.insurance_year,
                    roster_date=self.roster_date,
                    original_name=name,
                    file_format=suffix if suffix in ("xlsx", "xls", "csv") else "xlsx",
                    region_code=self.scope.region_code or "000000000000",
                    created_by_id=getattr(user, "pk", None) or self.scope.user_id,
                    file="",
                )
                with connection.cursor() as cursor:
                    if dry_run:
                        staged = services.roster_check(
                            scope=self.scope, roster_import=job, sheet=sheet, cursor=cursor
                        )
                        self._preview(cursor, staged, result)
                        transaction.set_rollback(True)
                        return result
                    roster = selectors.roster_of(job)
                    job.based_on_id = roster.current_import_id if roster else None
                    job.status, job.mode = ImportStatus.CONFIRMED, RosterMode.ALL_OR_NOTHING
                    job.confirmed_by_id, job.confirmed_at = job.created_by_id, timezone.now()
                    applied = services.roster_apply(
                        scope=self.scope,
                        roster_import=job,
                        sheet=sheet,
                        cursor=cursor,
                        actor_id=job.created_by_id,
                    )
                    if not applied:
                        raise ValidationError(job.message)
                    job.status, job.finished_at, job.checked_at = (
                        ImportStatus.DONE,
                        timezone.now(),
                        timezone.now(),
                    )
                    job.save()
                    result.roster_import_id = job.pk  # type: ignore[attr-defined]
                    for key, import_type in (("added", RowResult.IMPORT_TYPE_NEW),
                                             ("unchanged", RowResult.IMPORT_TYPE_SKIP),
                                             ("removed", RowResult.IMPORT_TYPE_DELETE)):  # fmt: skip
                        result.totals[import_type] = int(job.counts.get(key, 0))
        except ImportFileError as error:
            result.append_base_error(_invalid(error.message))
        except ValidationError as error:
            result.append_base_error(_invalid("; ".join(error.messages)))
        return result

    def _preview(self, cursor: Any, staged: rosters.Staged, result: Result) -> None:
        counts = staged.counts
        for key, import_type in (("added", RowResult.IMPORT_TYPE_NEW), ("unchanged", RowResult.IMPORT_TYPE_SKIP),
                                 ("removed", RowResult.IMPORT_TYPE_DELETE)):  # fmt: skip
            result.totals[import_type] = int(counts.get(key, 0))
        result.totals[RowResult.IMPORT_TYPE_INVALID] = int(counts.get("blocking", 0))
        cursor.execute(
            f"""SELECT row_number, id_number, name, category_text, outcome, coalesce(message, '')
            FROM {staged.table} WHERE outcome IS NOT NULL ORDER BY row_number LIMIT %s""",  # noqa: S608
            [PREVIEW_ROWS],
        )
        for number, id_number, name, category, _outcome, message in cursor.fetchall():
            values = {"身份证号码": id_number or "", "姓名": name or "", "资助类别": category or ""}
            result.append_invalid_row(number, values, ValidationError(message))
        labels = {"added": _("New tag"), "unchanged": _("Already tagged by this roster")}
        cursor.execute(
            f"""SELECT s.row_number, s.id_number, s.name, s.category_text,
                   CASE WHEN t.id IS NULL THEN 'added' ELSE 'unchanged' END
            FROM {staged.table} s LEFT JOIN subsidies_subsidytag t ON t.roster_id = %s AND t.end_reason = ''
                AND t.person_id = s.person_id AND t.category = s.tag_code
            WHERE s.outcome IS NULL ORDER BY s.row_number LIMIT %s""",  # noqa: S608
            [staged.roster_id, PREVIEW_ROWS],
        )
        for number, id_number, name, category, outcome in cursor.fetchall():
            row = RowResult()
            row.import_type = RowResult.IMPORT_TYPE_NEW if outcome == "added" else RowResult.IMPORT_TYPE_SKIP
            row.diff = [number, id_number, name, category, labels[outcome], ""]
            result.append_row_result(row)
        cursor.execute(
            f"SELECT id_number, name, category, new_valid_to FROM {staged.removed_table} ORDER BY id_number LIMIT %s",  # noqa: S608
            [PREVIEW_ROWS],
        )
        for id_number, name, category, valid_to in cursor.fetchall():
            row = RowResult()
            row.import_type = RowResult.IMPORT_TYPE_DELETE
            row.diff = [
                "—",
                id_number,
                name,
                category,
                _("No longer on the roster: tag ends"),
                valid_to.isoformat(),
            ]
            result.append_row_result(row)


def _invalid(message: str) -> Any:
    from import_export.results import Error

    return Error(ValidationError(message))


class SubsidyTagResource(resources.ModelResource):
    """The default ModelResource for subsidy tags, with the roster's columns (the benchmark's baseline)."""

    person = fields.Field(
        attribute="person",
        column_name="身份证号码",
        widget=widgets.ForeignKeyWidget(Person, field="id_number"),
    )
    category = fields.Field(attribute="category", column_name="资助类别")
    valid_from = fields.Field(attribute="valid_from", column_name="认定日期", widget=widgets.DateWidget())

    class Meta:
        model = SubsidyTag
        fields = ("person", "category", "valid_from")
        import_id_fields = ("person", "category", "valid_from")

    def __init__(
        self,
        *,
        source: str = "",
        roster_date: dt.date | None = None,
        valid_to: dt.date | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.roster_date = roster_date
        self.valid_to = valid_to

    def before_save_instance(self, instance: SubsidyTag, row: Any, **kwargs: Any) -> None:
        instance.region_code = instance.person.region_code
        instance.source = self.source
        instance.valid_to = self.valid_to

    def import_row(self, row: Any, instance_loader: Any, **kwargs: Any) -> RowResult:
        if not text_of(row.get("认定日期")):
            row["认定日期"] = self.roster_date.isoformat() if self.roster_date else None
        return super().import_row(row, instance_loader, **kwargs)
