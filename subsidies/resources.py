"""django-import-export resources of the subsidies app.

- ``RosterResource``: the admin's roster import ("导入" on the roster imports' admin page). It is
  the portal's upload page behind import-export's forms: import-export never reads the file (the
  admin hands the resource a ``RosterFile``, not a tablib dataset), and the resource calls the very
  services of the portal page. The dry run keeps the upload with ``services.roster_import_create``
  (the same size cap, type and roster-field checks) and checks it with
  ``services.roster_import_process`` (the same streaming reader and its findings, the same row
  checks, the same report): in the request for a file up to ``IN_REQUEST_BYTES``, by a worker for
  a larger one (the admin is then taken to the import's portal page, which shows the check's
  progress and then its preview). The preview shows the counts, the rows that cannot be imported
  (import-export's validation errors) and the tags the file adds, keeps and ends. The
  confirmation carries the checked import's id and the mode the administrator chose ("all or
  nothing" is refused while any row cannot be imported) and confirms that import with
  ``services.roster_import_confirm``; a worker applies it, and the admin is taken to the import's
  portal page, where the progress bar and then the result and its report are shown. If another
  file of the roster was applied in between, the worker refuses it, as on the portal.
- ``SubsidyTagResource``: django-import-export's default ``ModelResource`` for subsidy tags with
  the roster's columns mapped to the model's fields — what an import without this app's
  pipeline looks like: one row at a time, no roster replacement, no messages to tax. It is the
  baseline of ``manage.py bench roster``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils import translation
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets
from import_export.formats.base_formats import Format
from import_export.results import Error, Result, RowResult

from accounts.scope import Scope
from enrollment.imports import text_of
from enrollment.models import ImportStatus, Person

from . import rosters, selectors, services
from .models import RosterImport, RosterOutcome, SubsidyTag

PREVIEW_ROWS = 500
# Files up to this size are checked in the admin's request (about 50,000 rows of xlsx, a second or
# two); a larger one is checked by a worker, as on the portal page, so no request runs for minutes.
IN_REQUEST_BYTES = int(getattr(settings, "PORTAL_ADMIN_ROSTER_IN_REQUEST_BYTES", 2 * 1024 * 1024))


class RosterFile:
    """What import-export hands ``RosterResource`` in place of a dataset: the uploaded file (the dry
    run) or the id of the roster import it became (the confirmation). Never the rows: the portal's
    services keep the upload and read it with the portal's streaming reader."""

    def __init__(self, *, upload: UploadedFile | None = None, import_id: int | None = None) -> None:
        self.upload = upload
        self.import_id = import_id

    def __bool__(self) -> bool:
        return True


class RosterFileFormat(Format):
    """The admin's one import format: an Excel workbook (.xlsx, .xls) or a CSV file, told apart by its
    content as on the portal page (``enrollment.imports.upload_checked``), not by a choice in the form."""

    def __init__(self, encoding: str | None = None) -> None:
        self.encoding = encoding

    def get_title(self) -> str:
        return _("Excel workbook (.xlsx, .xls) or CSV file")

    def create_dataset(self, in_stream: Any) -> RosterFile:
        if not isinstance(in_stream, RosterFile):
            raise TypeError("the roster import reads only a RosterFile")
        return in_stream

    def can_import(self) -> bool:
        return True


class RosterResource(resources.Resource):
    """A roster file checked and applied by the portal's own services (see the module's docstring)."""

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
        mode: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.scope = scope
        self.source = source
        self.insurance_year = insurance_year
        self.roster_date = roster_date
        self.mode = mode

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
        if self.scope is None or not isinstance(dataset, RosterFile):
            _refuse(result, PermissionDenied(_("Your role may not do this.")))
            return result
        if dry_run:
            self._check(dataset, result)
        else:
            self._apply(dataset, result)
        return result

    def _check(self, dataset: RosterFile, result: Result) -> None:
        """The dry run: the upload kept and checked as the portal's upload page and worker do."""
        assert self.scope is not None
        if dataset.upload is None or self.insurance_year is None or self.roster_date is None:
            _refuse(
                result,
                ValidationError(_("Say which office sent the roster, its insurance year and its date.")),
            )
            return
        in_request = (dataset.upload.size or 0) <= IN_REQUEST_BYTES
        try:
            job = services.roster_import_create(
                scope=self.scope,
                upload=dataset.upload,
                source=self.source,
                insurance_year=self.insurance_year,
                roster_date=self.roster_date,
                language=translation.get_language() or "zh-hans",
                queue=not in_request,
            )
        except (ValidationError, PermissionDenied) as error:
            _refuse(result, error)
            return
        if not in_request:
            result.queued_import_id = job.pk  # type: ignore[attr-defined]
            return
        checked = services.roster_import_process(scope=self.scope, import_id=job.pk) or job
        dataset.import_id = result.roster_import_id = checked.pk  # type: ignore[attr-defined]
        result.total_rows = checked.rows_total
        if checked.status != ImportStatus.CHECKED:
            _refuse(result, ValidationError(checked.message or _("The file could not be checked.")))
            return
        self._preview(checked, result)

    def _apply(self, dataset: RosterFile, result: Result) -> None:
        """The confirmation: the import the dry run checked, confirmed in the chosen mode; a worker applies
        it as on the portal (the admin follows it on the import's portal page)."""
        assert self.scope is not None
        try:
            job = services.roster_import_confirm(
                scope=self.scope,
                import_id=dataset.import_id,  # type: ignore[arg-type]
                mode=self.mode,
            )
        except (ValidationError, PermissionDenied) as error:
            _refuse(result, error)
            return
        result.roster_import_id = job.pk  # type: ignore[attr-defined]
        result.total_rows = job.rows_total

    def _preview(self, job: RosterImport, result: Result) -> None:
        """The checked import as import-export shows a dry run: the first rows of each kind, identifiers
        masked for the viewer as on the portal's page (which lists every row, with the xlsx report)."""
        assert self.scope is not None
        counts = job.counts or {}
        for key, import_type in (("added", RowResult.IMPORT_TYPE_NEW), ("unchanged", RowResult.IMPORT_TYPE_SKIP),
                                 ("removed", RowResult.IMPORT_TYPE_DELETE)):  # fmt: skip
            result.totals[import_type] = int(counts.get(key, 0))
        result.totals[RowResult.IMPORT_TYPE_INVALID] = int(counts.get("blocking", 0))
        masker = rosters.masker_for(scope=self.scope, roster_import=job)
        names = rosters.CategoryNames(job.insurance_year)
        labels = dict(RosterOutcome.choices)
        headers = result.diff_headers

        def diff(
            number: Any, id_number: str, name: str, code: str, region: str, outcome: str, reason: str
        ) -> list[Any]:
            region = region or job.region_code
            shown = names.name(code, region) if code else ""
            return [
                number,
                masker.id_number(id_number, region),
                name,
                shown,
                labels.get(outcome, outcome),
                reason,
            ]

        reported = selectors.roster_rows(roster_import=job).exclude(outcome=RosterOutcome.REMOVED)
        for line in reported[:PREVIEW_ROWS]:
            values = diff(line.row_number, line.id_number, line.name, line.category, line.region_code,
                          line.outcome, line.message)  # fmt: skip
            result.append_invalid_row(
                line.row_number, dict(zip(headers, values, strict=True)), ValidationError(line.message)
            )
        # Something to confirm: with rows that cannot be imported, only "import the valid rows".
        result.importable = any(counts.get(key) for key in ("added", "unchanged", "removed"))  # type: ignore[attr-defined]
        preview = selectors.roster_preview(scope=self.scope, roster_import=job)
        for outcome, import_type in ((RosterOutcome.ADDED, RowResult.IMPORT_TYPE_NEW),
                                     (RosterOutcome.UNCHANGED, RowResult.IMPORT_TYPE_SKIP)):  # fmt: skip
            for kept in preview.rows(outcome.value)[0:PREVIEW_ROWS] if preview else []:
                row = RowResult()
                row.import_type = import_type
                period = f"{kept.valid_from.isoformat()} – {kept.valid_to.isoformat()}"
                row.diff = diff(kept.row_number, kept.id_number, kept.name, kept.category, kept.region_code,
                                outcome.value, period if outcome == RosterOutcome.ADDED else "")  # fmt: skip
                result.append_row_result(row)
        for line in selectors.roster_rows(roster_import=job, outcome=RosterOutcome.REMOVED)[:PREVIEW_ROWS]:
            row = RowResult()
            row.import_type = RowResult.IMPORT_TYPE_DELETE
            row.diff = diff(
                "—", line.id_number, line.name, line.category, line.region_code, line.outcome, line.message
            )
            result.append_row_result(row)


def _refuse(result: Result, error: ValidationError | PermissionDenied) -> None:
    """Each message of a refusal as an error of the whole file (import-export then offers no confirmation)."""
    found = getattr(error, "messages", None) or [str(error)]
    for message in found:
        result.append_base_error(Error(ValidationError(str(message))))


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
