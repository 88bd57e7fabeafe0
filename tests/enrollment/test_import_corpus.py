"""The broken-spreadsheet corpus for the insurance bureau's own imports — the employee-insurance
list and the households from an old system — as the subsidy rosters get it
(tests/subsidies/test_corpus.py): every broken file gets a clear message and nothing is
half-imported (no household, person or application created, no enrollment ended, no message to
tax).

Each case says where its message appears: the upload refuses the file (``upload``), the worker
fails the file as a whole (``failed``), or the rows at fault are listed as errors (``rows``: row
number → part of the message) and nothing is applied. Messages are compared in English.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from openpyxl import Workbook

from enrollment import imports, services
from enrollment.models import (
    Enrollment,
    EnrollmentChange,
    EnrollmentStatus,
    Household,
    ImportKind,
    ImportOutcome,
    ImportRow,
    ImportStatus,
    Person,
    RegisteredResident,
    RegistrationApplication,
)
from sharing.models import OutboxMessage
from tests.enrollment.test_imports import (
    EMPLOYEE_HEADER,
    HOUSEHOLD_HEADER,
    member,
    scope_of,
    upload,
    xlsx_bytes,
)
from tests.matrix.enrollment_bulk import make_enrollment, make_person, resident_id

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@dataclass
class Kind:
    kind: str
    header: list[str]
    row: Callable[[int], list[Any]]  # a valid data row for the n-th person
    id_column: int  # 0-based column of the identifier
    name_column: int
    missing_all: str  # the header message for a file with none of the required columns


def _employee_row(n: int) -> list[Any]:
    return [resident_id(dt.date(1980, 1, n)), f"职工{n}", "2025-01-01", "某公司"]


REGISTER_HEADER = ["公民身份号码", "姓名", "户籍地村（社区）代码", "户号", "联系电话"]


def _numeral(n: int) -> str:
    """A name's distinguishing part without digits (a name holds letters only)."""
    return "".join("零一二三四五六七八九"[int(digit)] for digit in str(n))


def _register_row(n: int) -> list[Any]:
    return [resident_id(dt.date(1990, 1, n)), f"户籍{_numeral(n)}", "141002100201", f"{n:04d}", ""]


def _household_row(n: int) -> list[Any]:
    return member(str(n), "户主", f"户主{_numeral(n)}", dt.date(1970, 1, n))


KINDS = [
    Kind(ImportKind.EMPLOYEE_INSURANCE, EMPLOYEE_HEADER, _employee_row, 0, 1,
         "No header row with the required columns was found; missing: 身份证号码、姓名、参保日期."),
    Kind(ImportKind.HOUSEHOLDS, HOUSEHOLD_HEADER, _household_row, 4, 2,
         "No header row with the required columns was found; missing: "),
    Kind(ImportKind.HOUSEHOLD_REGISTER, REGISTER_HEADER, _register_row, 0, 1,
         "No header row with the required columns was found; missing: "),
]  # fmt: skip


@dataclass
class Case:
    key: str
    name: str
    build: Callable[[Kind], bytes]
    where: str  # upload | failed | rows
    message: str = ""
    rows: dict[int, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _book(fill: Callable[[Workbook], None]) -> bytes:
    book = Workbook()
    fill(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _nul_in_a_csv_line(kind: Kind) -> bytes:
    # Past the first 4 KB, which the upload looks at to tell a text file from a binary one: the
    # first row carries a long cell beyond the header's columns.
    first = ",".join(map(str, kind.row(1))) + "," + "x" * 5000
    second = _with(kind, kind.name_column, "李\x00四")
    return "\n".join([",".join(kind.header), first, ",".join(map(str, second))]).encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _valid(k: Kind) -> bytes:
    return xlsx_bytes([k.header, k.row(1), k.row(2)])


def _zip_bomb(_k: Kind) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            zeros = b"0" * (1 << 20)
            for _ in range(24):
                entry.write(zeros)
    return buffer.getvalue()


def _entity_bomb(k: Kind) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(_valid(k)))
    entries = {info.filename: source.read(info) for info in source.infolist()}
    entries["xl/workbook.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        + entries["xl/workbook.xml"].split(b"?>", 1)[-1]
    )
    return _zip(entries)


def _with(k: Kind, column: int, value: Any, n: int = 1) -> list[Any]:
    row = k.row(n)
    row[column] = value
    return row


def _formula(k: Kind) -> bytes:
    def fill(book: Workbook) -> None:
        book.active.append(k.header)
        book.active.append(_with(k, k.id_column, f'="{k.row(1)[k.id_column]}"'))

    return _book(fill)


def _error_value(k: Kind) -> bytes:
    def fill(book: Workbook) -> None:
        book.active.append(k.header)
        book.active.append(_with(k, k.name_column, "#N/A"))

    return _book(fill)


def _merged(k: Kind) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(k.header)
        sheet.append(k.row(1))
        sheet.append(_with(k, k.id_column, None, 2))
        letter = "ABCDEFGHIJK"[k.id_column]
        sheet.merge_cells(f"{letter}2:{letter}3")  # one identifier written once for two people

    return _book(fill)


def _hidden_row(k: Kind) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(k.header)
        sheet.append(_with(k, k.id_column, "14100219800101"))
        sheet.append(k.row(2))
        sheet.row_dimensions[3].hidden = True

    return _book(fill)


def _hidden_sheet_only(k: Kind) -> bytes:
    def fill(book: Workbook) -> None:
        book.active.title = "说明"
        hidden = book.create_sheet("名单")
        hidden.sheet_state = "hidden"
        hidden.append(k.header)
        hidden.append(k.row(1))

    return _book(fill)


def _all_hidden(k: Kind) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(_hidden_sheet_only(k)))
    entries = {info.filename: source.read(info) for info in source.infolist()}
    entries["xl/workbook.xml"] = entries["xl/workbook.xml"].replace(b'state="visible"', b'state="hidden"')
    return _zip(entries)


def _hidden_sheet_first(k: Kind) -> bytes:
    """Last year's list on a hidden first sheet (with rows that would fail), this year's after it."""

    def fill(book: Workbook) -> None:
        old = book.active
        old.title = "旧名单"
        old.sheet_state = "hidden"
        old.append(k.header)
        old.append(_with(k, k.id_column, "not an identifier"))
        current = book.create_sheet("名单")
        current.append(k.header)
        current.append(k.row(3))
        current.append(k.row(4))
        book.active = 1

    return _book(fill)


CASES = [
    Case("empty", "名单.xlsx", lambda k: b"", "upload", "The file is empty."),
    Case("pdf-named-xlsx", "名单.xlsx", lambda k: b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", "upload",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("png-named-csv", "名单.csv", lambda k: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "upload",
         "The file is neither an Excel workbook (.xlsx) nor a CSV text file."),
    Case("text-named-docx", "名单.docx", lambda k: b"hello", "upload", "Upload an Excel workbook (.xlsx) or a CSV file."),
    Case("old-xls", "名单.csv", lambda k: bytes.fromhex("d0cf11e0a1b11ae1") + bytes(600), "upload",
         "This is an old Excel file (.xls) or another Office file; save it as an Excel workbook (.xlsx)."),
    Case("too-large", "名单.csv", lambda k: b"x" * (1024 * 1024 + 10), "upload",
         "The file is larger than 1 MB; split it.", settings={"MAX_UPLOAD_BYTES": 1024 * 1024}),
    Case("zip-not-workbook", "名单.xlsx", lambda k: _zip({"readme.txt": b"hello"}), "failed",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("zip-bomb", "名单.xlsx", _zip_bomb, "failed",
         "The workbook unpacks to far more data than a roster holds; it is refused as unsafe."),
    Case("truncated", "名单.xlsx", lambda k: _valid(k)[: len(_valid(k)) * 3 // 5], "failed",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("entity-bomb", "名单.xlsx", _entity_bomb, "failed", "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("header-only", "名单.xlsx", lambda k: xlsx_bytes([k.header]), "failed", "The file has a header but no data rows."),
    Case("no-rows", "名单.xlsx", lambda k: xlsx_bytes([]), "failed", "The file has no rows."),
    Case("wrong-columns", "名单.xlsx", lambda k: xlsx_bytes([["甲", "乙", "丙"], ["1", "2", "3"]]), "failed",
         "No header row with the required columns was found; missing: "),
    Case("hidden-sheet-only", "名单.xlsx", _hidden_sheet_only, "failed",
         "The file has no rows. The hidden sheets “名单” were not read; unhide the sheet that holds the roster."),
    Case("all-sheets-hidden", "名单.xlsx", _all_hidden, "failed",
         "Every worksheet of this workbook is hidden; unhide the one with the roster."),
    Case("nul-in-a-csv-line", "名单.csv", _nul_in_a_csv_line, "failed",
         "A cell of the file holds a NUL character (0x00), which no text of a roster or a list has"),
    Case("csv-bad-encoding", "名单.csv", lambda k: (",".join(k.header) + "\n").encode() + b"\xff\xfe\xfa,\xff\n",
         "failed", "Row 2 contains text that is neither UTF-8 nor GB18030"),
    Case("csv-one-endless-line", "名单.csv", lambda k: b"a," * (600 * 1024), "failed", "Row 1 is longer than 1024 KB"),
    Case("too-many-rows", "名单.csv",
         lambda k: "\n".join([",".join(k.header), *(",".join(map(str, k.row(n))) for n in range(1, 8))]).encode(),
         "failed", "The file has more than 5 data rows; split it into smaller files.", settings={"MAX_ROWS": 5}),
    Case("bad-check-digit", "名单.xlsx",
         lambda k: xlsx_bytes([k.header, _with(k, k.id_column, k.row(1)[k.id_column][:-1] + "Y")]),
         "rows", rows={2: "The resident ID number"}),
    Case("short-identifier", "名单.xlsx", lambda k: xlsx_bytes([k.header, _with(k, k.id_column, "14100219800101")]),
         "rows", rows={2: "The resident ID number should have 18 characters; you entered 14."
                        # the employee list takes any identifier kind, so it is only not found:
                        "|No person with this identifier is in the registry."}),
    Case("missing-identifier", "名单.xlsx", lambda k: xlsx_bytes([k.header, _with(k, k.id_column, "")]),
         "rows", rows={2: "The identifier is missing.|The resident ID number is required."}),
    Case("identifier-as-number", "名单.xlsx",
         # (a number ending in X, as the shared sequence sometimes gives, becomes one ending in 0)
         lambda k: xlsx_bytes([k.header, _with(k, k.id_column, float(k.row(1)[k.id_column].replace("X", "0")))]),
         "rows", rows={2: "The identifier was stored as a number and has lost its last digits"}),
    # The reader's own words, as the subsidy rosters give them (enrollment.spreadsheets.SheetRows.problems):
    Case("formulas", "名单.xlsx", _formula, "rows", rows={2: "holds a formula whose result was never saved"}),
    Case("excel-errors", "名单.xlsx", _error_value, "rows", rows={2: "holds the Excel error #N/A instead of a value."}),
    Case("merged-cells", "名单.xlsx", _merged, "rows",
         rows={2: "Row 2 lies in the merged cells", 3: "Row 3 lies in the merged cells"}),
    Case("hidden-rows", "名单.xlsx", _hidden_row, "rows",
         rows={2: "you entered 14|No person with this identifier is in the registry.",
               3: "Row 3 is hidden in the workbook; unhide it"}),
]  # fmt: skip


def test_given_the_corpus_then_it_holds_at_least_twenty_broken_files_for_each_import():
    assert len(CASES) >= 20
    assert len({case.key for case in CASES}) == len(CASES)
    assert {k.kind for k in KINDS} == set(ImportKind.values)


@pytest.fixture
def registry(world) -> dict[str, int]:
    """One person enrolled in the area, whom a broken employee list must not end."""
    person = make_person(name="职工1", birth=dt.date(1980, 1, 1), id_number=resident_id(dt.date(1980, 1, 1)))
    make_enrollment(person, enrolled_on=dt.date(2023, 1, 1))
    return _state()


def _state() -> dict[str, int]:
    return {
        "households": Household.objects.count(),
        "persons": Person.objects.count(),
        "applications": RegistrationApplication.objects.count(),
        "enrollments in force": Enrollment.objects.filter(status=EnrollmentStatus.NORMAL).count(),
        "changes": EnrollmentChange.objects.count(),
        "messages": OutboxMessage.objects.count(),
        "registered residents": RegisteredResident.objects.count(),
    }


PARAMS = [pytest.param(case, kind, id=f"{case.key}-{kind.kind}") for case in CASES for kind in KINDS]


@pytest.mark.parametrize(("case", "kind"), PARAMS)
def test_given_a_broken_file_for_an_enrollment_import_then_it_gets_a_clear_message_and_nothing_is_half_imported(
    world, registry, case: Case, kind: Kind, monkeypatch: pytest.MonkeyPatch
):
    for name, value in case.settings.items():
        monkeypatch.setattr(imports, name, value)
    scope = scope_of(world)
    content = case.build(kind)

    if case.where == "upload":
        with pytest.raises(ValidationError) as refused:
            services.import_job_create(
                scope=scope, kind=kind.kind, upload=upload(content, case.name), language="en"
            )
        assert refused.value.message_dict["file"][0].startswith(case.message)
    else:
        job = services.import_job_create(
            scope=scope, kind=kind.kind, upload=upload(content, case.name), language="en"
        )
        services.import_job_process(scope=scope, job_id=job.pk)
        job.refresh_from_db()
        if case.where == "failed":
            assert job.status == ImportStatus.FAILED
            assert job.message.startswith(case.message), job.message
        else:
            assert job.status in (ImportStatus.CHECKED, ImportStatus.DONE), job.message
            found = {r.row_number: (r.outcome, r.message) for r in ImportRow.objects.filter(job=job)}
            for number, part in case.rows.items():
                assert found[number][0] in (ImportOutcome.ERROR, ImportOutcome.NOT_FOUND), found
                assert any(p in found[number][1] for p in part.split("|")), found[number][1]
            if job.status == ImportStatus.CHECKED:
                with pytest.raises(ValidationError):
                    services.import_job_confirm(scope=scope, job_id=job.pk)

    assert _state() == registry


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_given_a_hidden_sheet_before_the_list_then_the_visible_one_is_read_and_the_job_says_so(
    world, client, kind: Kind
):
    scope = scope_of(world)
    job = services.import_job_create(
        scope=scope, kind=kind.kind, upload=upload(_hidden_sheet_first(kind), "名单.xlsx"), language="en"
    )
    services.import_job_process(scope=scope, job_id=job.pk)
    job.refresh_from_db()

    assert job.status in (ImportStatus.CHECKED, ImportStatus.DONE), job.message
    assert (job.rows_total, job.message) == (2, "Read the sheet “名单”; not read: “旧名单” (hidden).")
    assert not ImportRow.objects.filter(job=job, row_number=2, outcome=ImportOutcome.ERROR).exists()
    client.force_login(world.users["insurance_a"])
    page = client.get(reverse("enrollment:import-detail", args=[job.pk]))
    assert "not read: “旧名单” (hidden)" in page.content.decode()
