"""Benchmark: a subsidy roster of N rows imported end to end, against django-import-export's default
ModelResource, and against the floor (reading the file and COPYing its raw rows).

Data: N + N/10 enrolled persons of one county (valid resident ID numbers, households in 60
villages), the Linfen policy for next year, and that year assessed (so the import's reassessment
is real). The roster: an N-row xlsx written here (inline strings, recognition dates as date cells,
the categories by name, short name and code), every row a registered person.

- **ours**: ``subsidies.services`` as the worker runs them, end to end as the user imports: the
  preview (the file read, each row checked, persons matched, compared with the roster;
  ``preview_seconds``) and then the import itself (the rows the preview kept checked anew against
  the registry, tags written, ``subsidy.marks_batch`` sent to tax, committed; ``confirm_seconds``).
  ``ours_per_s`` is size ÷ (preview + confirmation); ``preview_phases`` and ``confirm_phases`` are
  the phases each logged. The reassessment that follows in the confirmation's transaction is the
  assessment's own set-based run, timed apart (``reassess_seconds``; ``with_reassessment_per_s``
  counts it too), with its foreign-key checks: the tags', deferred to the commit, are checked
  just before it (on ours), and every check after is immediate (on its).
- **baseline**: ``subsidies.resources.SubsidyTagResource`` — django-import-export's default
  ModelResource with the roster's columns mapped — importing the first ``baseline_size`` rows
  of the same file (read by import-export, then one row at a time). It does less than ours (no
  checks, no messages, no reassessment), so the ratio flatters it.
- **floor**: the same file read with python-calamine and its raw rows COPYed into a table (each
  row one text value, its cells joined as ours stages them), in a process of its own, timed just
  before the preview and just after the import; ``floor_seconds`` is the mean of the two
  (``floor_seconds_each``).
- ``peak_rss_mb``: the process's high-water mark after ours, the reassessment included (data built by
  SQL inside PostgreSQL, the file streamed); ``peak_rss_before_reassessment_mb`` the mark when the reassessment began.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import random
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from unittest import mock
from xml.sax.saxutils import escape

from .assessment import _regions
from .city import households_and_persons
from .scratch import log, run_in_scratch_database

COUNTY = "141002"
CATEGORIES = ["城乡低保对象", "低保", "dibao", "特困供养人员", "特困", "重度残疾人"]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="名单" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def _text(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def write_roster(path: Path, persons: list[tuple[str, str]], *, roster_date: dt.date, seed: int = 6) -> None:
    """An xlsx roster (streamed into the zip: constant memory at any size) of (identifier, name) rows."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    epoch = dt.date(1899, 12, 30)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            header = ["序号", "姓名", "身份证号码", "资助类别", "认定日期", "备注"]
            sheet.write(
                (
                    '<row r="1">'
                    + "".join(_text(f"{chr(65 + i)}1", v) for i, v in enumerate(header))
                    + "</row>"
                ).encode()
            )
            buffer: list[str] = []
            for index, (id_number, name) in enumerate(persons, start=1):
                number = index + 1
                recognised = roster_date - dt.timedelta(days=rng.randint(0, 400))
                buffer.append(
                    f'<row r="{number}"><c r="A{number}"><v>{index}</v></c>{_text(f"B{number}", name)}'
                    f"{_text(f'C{number}', id_number)}{_text(f'D{number}', CATEGORIES[index % len(CATEGORIES)])}"
                    f'<c r="E{number}" s="1"><v>{(recognised - epoch).days}</v></c>{_text(f"F{number}", "民政局认定")}</row>'
                )
                if len(buffer) >= 5000:
                    sheet.write("".join(buffer).encode())
                    buffer.clear()
            sheet.write("".join(buffer).encode())
            sheet.write(b"</sheetData></worksheet>")


def _registry(size: int, offset: int = 0) -> list[tuple[str, str]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id_number, name FROM enrollment_person WHERE region_code LIKE %s ORDER BY id LIMIT %s OFFSET %s",
            [COUNTY + "%", size, offset],
        )
        return cursor.fetchall()


def _floor_apart(path: Path) -> float:
    """``_floor`` in a process of its own (spawned: a fresh interpreter, set up as this one), so
    that calamine's whole sheet in memory never counts in this process's peak RSS, which is ours."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_floor_in_child, (str(path),))


def _floor_in_child(path: str) -> float:
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()  # as in the benchmark's own process: connected before the timing
    return _floor(Path(path))


def _floor(path: Path) -> float:
    """Read the file (calamine) and COPY its raw rows as text: what no importer can go below.

    Each row is one text value, its cells joined by the unit separator, as ours stages them
    (``enrollment.imports.raw_of``, less its checks). An array column
    (``text[]``), which this floor used until the tenth session, costs about 0.5 s more for
    100,000 rows in psycopg's formatting and PostgreSQL's parsing: a floor above what ours pays
    for the same step, which flattered the floor ratio.
    """
    from django.db import connection, transaction
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_floor (n integer, raw text) ON COMMIT DROP")
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).iter_rows()
        with cursor.cursor.copy("COPY bench_floor (n, raw) FROM STDIN") as copy:
            for number, row in enumerate(rows, start=1):
                copy.write_row((number, "\x1f".join([str(cell) for cell in row])))
        workbook.close()
    return time.perf_counter() - started


def _baseline(
    path: Path, sample: int, *, size: int, roster_date: dt.date, valid_to: dt.date
) -> tuple[float, int]:
    """django-import-export's default ModelResource on the first ``sample`` rows of the same file."""
    from django.db import transaction
    from import_export.formats.base_formats import XLSX

    from subsidies.models import SubsidyTag
    from subsidies.resources import SubsidyTagResource

    sample_path = path.with_name("sample.xlsx")
    # Persons the roster does not list (the registry holds a tenth more), so that the baseline creates
    # every tag it reads rather than finding the roster's.
    registry = _registry(sample, offset=size)
    write_roster(sample_path, registry, roster_date=roster_date)
    before = SubsidyTag.objects.count()
    started = time.perf_counter()
    dataset = XLSX().create_dataset(sample_path.read_bytes())
    resource_ = SubsidyTagResource(source="bench baseline", roster_date=roster_date, valid_to=valid_to)
    with transaction.atomic():
        result = resource_.import_data(dataset, dry_run=False, raise_errors=True, use_transactions=False)
    seconds = time.perf_counter() - started
    created = SubsidyTag.objects.count() - before
    assert not result.has_errors() and created == len(registry), (result.totals, created)
    return len(registry) / seconds if seconds else 0.0, created


class _Phases(logging.Handler):
    """Collects the phases ``portal.subsidies`` logs for each step of an import (its ``_Timer``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.logged: list[tuple[str, dict[str, float]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], dict):
            self.logged.append((str(args[0]), dict(args[1])))

    def take(self) -> dict[str, float]:
        """The phases logged since the last take, one dict (a step's label prefixes its phases)."""
        phases: dict[str, float] = {}
        for label, logged in self.logged:
            step = label.rsplit(" ", 1)[-1]
            phases.update({f"{step}: {name}": seconds for name, seconds in logged.items()})
        self.logged.clear()
        return phases


def run_inner(*, size: int, baseline_size: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.utils import timezone

    from accounts.models import Agency, Region
    from accounts.roles import AgencyKind, Role
    from accounts.scope import Scope
    from enrollment.assessment import assessment_run_now
    from enrollment.demo import _shifted
    from enrollment.policies import policy_save
    from subsidies import reassessment, services
    from subsidies.models import SubsidyTag

    today = timezone.localdate()
    year = today.year + 1
    roster_date = today
    started = time.perf_counter()
    registry_size = size + size // 10
    log(f"building {registry_size:,} enrolled persons in {COUNTY}, the policy for {year} and its assessment")
    policy_save(document=_shifted("bench-roster", year - 2021, 40000, 70000), note="bench")
    villages = _regions(COUNTY, 60)
    households_and_persons(villages=[(village, 1.0) for village in villages], size=registry_size, seed=2026)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    assessed = assessment_run_now(county_code=COUNTY, insurance_year=year, reason="bench")
    city = Region.objects.get(code="141000000000")
    agency = Agency.objects.create(
        name="临汾市医疗保障事务中心", kind=AgencyKind.INSURANCE_AGENCY, region=city
    )
    admin = get_user_model().objects.create(username="bench-admin", role=Role.ADMINISTRATOR, agency=agency)
    scope = Scope.for_user_id(admin.pk)
    workdir = Path(tempfile.mkdtemp(prefix="bench-roster-"))
    path = workdir / "roster.xlsx"
    write_roster(path, _registry(size), roster_date=roster_date)
    # A settled database, as in service: vacuumed and checkpointed, so that neither autovacuum nor a
    # checkpoint of the freshly built data runs during the measured import.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    build_seconds = time.perf_counter() - started
    # The floor is timed twice, just before the preview and just after the import: the machine's
    # pace drifts within a minute (it is shared), and one timing of a second and a half took that
    # drift alone (1.2 to 2.0 s on one afternoon). Their mean is the floor; both are printed.
    log("floor, before: calamine read + COPY of the raw rows")
    floors = [_floor_apart(path)]
    log(
        f"built in {build_seconds:.1f} s ({assessed.created:,} assessed); roster {path.stat().st_size / 2**20:.1f} MB; "
        "checking (the preview)"
    )

    # The benchmark runs the worker's service itself: nothing is queued for a worker.
    with (
        path.open("rb") as handle,
        mock.patch.object(services, "_queue", lambda roster_import, user_id: None),
    ):
        job = services.roster_import_create(
            scope=scope,
            upload=File(handle, name="roster.xlsx"),
            source="临汾市民政局",
            insurance_year=year,
            roster_date=roster_date,
            language="zh-hans",
        )
    phases = _Phases()
    subsidies_logger = logging.getLogger("portal.subsidies")
    subsidies_logger.addHandler(phases)
    started = time.perf_counter()
    job = services.roster_import_process(scope=scope, import_id=job.pk)
    preview_seconds = time.perf_counter() - started
    preview_phases = phases.take()
    assert job is not None and job.status == "checked", (job and job.status, job and job.message)
    log(f"preview in {preview_seconds:.1f} s: {job.counts}")
    with mock.patch.object(services, "_queue", lambda roster_import, user_id: None):
        services.roster_import_confirm(scope=scope, import_id=job.pk, mode="all_or_nothing")
    reassessing: list[float] = []
    original = reassessment.reassess_persons

    rss_before_reassessment: list[float] = []

    def timed(**kwargs: Any) -> Any:
        # The tags' foreign keys, deferred to the commit, are checked here, on ours; from here on
        # every check is immediate, so the reassessment's own are on its time, not on the commit's.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        rss_before_reassessment.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        begun = time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            reassessing.append(time.perf_counter() - begun)

    started = time.perf_counter()
    with mock.patch.object(reassessment, "reassess_persons", timed):
        job = services.roster_import_process(scope=scope, import_id=job.pk)
    seconds = time.perf_counter() - started
    confirm_phases = phases.take()
    subsidies_logger.removeHandler(phases)
    reassess_seconds = sum(reassessing)
    confirm_seconds = seconds - reassess_seconds
    assert job is not None and job.status == "done", (job and job.status, job and job.message)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tags = SubsidyTag.objects.filter(roster__isnull=False).count()
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(*) FROM sharing_outbox m, jsonb_array_elements(m.payload->'items') i
            WHERE m.topic = 'subsidy.marks_batch'"""
        )
        (tagged,) = cursor.fetchone()
        # The reassessment's due items: in batches of their own ("list-" parts), apart from the yearly run's.
        cursor.execute(
            """SELECT count(*) FROM sharing_outbox m, jsonb_array_elements(m.payload->'items') i
            WHERE m.topic = 'assessment.due_batch' AND m.payload->>'part' LIKE 'list-%%'"""
        )
        (due,) = cursor.fetchone()
    log(f"imported in {seconds:.1f} s: {tags:,} tags, {tagged:,} sent to tax, {due:,} new amounts due sent")

    log("floor, after: calamine read + COPY of the raw rows")
    floors.append(_floor_apart(path))
    floor_seconds = sum(floors) / len(floors)
    log(
        f"floor in {floors[0]:.2f} and {floors[1]:.2f} s; "
        f"baseline: django-import-export ModelResource on {baseline_size:,} rows"
    )
    baseline_per_s, baseline_created = _baseline(
        path,
        min(baseline_size, registry_size - size),
        size=size,
        roster_date=roster_date,
        valid_to=dt.date(year, 12, 31),
    )
    file_mb = path.stat().st_size / 2**20
    job.file.delete(save=False)
    shutil.rmtree(workdir, ignore_errors=True)
    # ours, end to end as the user imports: the preview (the file read and checked) and the
    # confirmation (checked anew, tags, messages to tax, commit); the reassessment that follows in
    # the confirmation's transaction is the assessment's own set-based run, timed apart.
    end_to_end = preview_seconds + confirm_seconds
    ours_per_s = size / end_to_end if end_to_end else 0.0
    floor_per_s = size / floor_seconds if floor_seconds else 0.0
    return {
        "name": "roster",
        "size": size,
        "ours_per_s": round(ours_per_s, 1),
        "baseline_per_s": round(baseline_per_s, 1),
        "ratio": round(ours_per_s / baseline_per_s, 1) if baseline_per_s else None,
        "floor_per_s": round(floor_per_s, 1),
        "floor_ratio": round(floor_per_s / ours_per_s, 2) if ours_per_s else None,
        "peak_rss_mb": round(peak_rss_mb, 1),
        "peak_rss_before_reassessment_mb": round(rss_before_reassessment[0], 1)
        if rss_before_reassessment
        else None,
        "seconds": round(end_to_end, 2),
        "preview_seconds": round(preview_seconds, 2),
        "confirm_seconds": round(confirm_seconds, 2),
        "confirm_only_per_s": round(size / confirm_seconds, 1) if confirm_seconds else None,
        "reassess_seconds": round(reassess_seconds, 2),
        "with_reassessment_per_s": round(size / (preview_seconds + seconds), 1),
        "floor_seconds": round(floor_seconds, 2),
        "floor_seconds_each": [round(seconds, 2) for seconds in floors],
        "baseline_size": baseline_created,
        "registry": registry_size,
        "tags": tags,
        "tagged_sent": tagged,
        "due_sent": due,
        "reassessed_persons": job.counts.get("persons"),
        "file_mb": round(file_mb, 2),
        "preview_phases": preview_phases,
        "confirm_phases": confirm_phases,
        "build_seconds": round(build_seconds, 1),
    }


def run(*, size: int, baseline_size: int, keep: bool) -> dict[str, Any]:
    return run_in_scratch_database(
        "roster", ["--size", str(size), "--baseline-size", str(baseline_size)], keep=keep
    )
