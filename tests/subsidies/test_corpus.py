"""A corpus of broken roster files, each written by the test: every one gets a clear message, and
nothing is half-imported — no tag, no message to tax, no reassessment, no roster in force.

Each case says where its message appears: the upload form refuses the file (``upload``), the
worker fails the file as a whole (``failed``), or the preview lists rows that cannot be imported
(``rows``: row number → the start of the message), after which "all or nothing" is refused.
Messages are compared in English (the msgids).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from openpyxl import Workbook

from enrollment import imports
from enrollment.models import AssessmentRun, ImportStatus
from sharing.models import OutboxMessage
from subsidies import services
from subsidies.models import RosterRow, SubsidyRoster, SubsidyTag
from tests.subsidies.support import (
    HEADER,
    assess,
    check,
    enrolled,
    linfen_policy,
    row,
    scope_of,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@dataclass
class Case:
    key: str
    name: str
    build: Callable[[dict[str, Any]], bytes]
    where: str  # upload | failed | rows
    message: str = ""  # the start of the message (upload, failed)
    rows: dict[int, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _book(fill: Callable[[Workbook], None]) -> bytes:
    book = Workbook()
    fill(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb(_p: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            zeros = b"0" * (1 << 20)
            for _ in range(24):  # 24 MB of zeros pack into a few dozen KB
                entry.write(zeros)
    return buffer.getvalue()


def _valid(p: dict[str, Any]) -> bytes:
    return xlsx_bytes([HEADER, row(1, p["zhang"]), row(2, p["li"])])


def _formulas(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(HEADER)
        sheet.append([1, "张三", f'="{p["zhang"].id_number}"', "低保", None])  # no saved result
        sheet.append([2, "李四", p["li"].id_number, "低保", None])

    return _book(fill)


def _merged(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(HEADER)
        for number, key in enumerate(("zhang", "li", "wang"), start=1):
            sheet.append([number, p[key].name, p[key].id_number, "低保" if number == 1 else None, None])
        sheet.merge_cells("D2:D4")  # one category written once for three rows

    return _book(fill)


def _hidden_sheet_only(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        book.active.title = "说明"
        hidden = book.create_sheet("名单")
        hidden.sheet_state = "hidden"
        hidden.append(HEADER)
        hidden.append(row(1, p["zhang"]))

    return _book(fill)


def _hidden_sheet_first(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        old = book.active
        old.title = "旧名单"
        old.append(HEADER)
        old.append(row(1, p["wang"]))
        old.sheet_state = "hidden"
        current = book.create_sheet("名单")
        current.append(HEADER)
        current.append(row(1, p["zhang"]))
        current.append([2, "李四", p["li"].id_number, "低保", "not a date"])
        book.active = 1

    return _book(fill)


def _all_hidden(p: dict[str, Any]) -> bytes:
    # openpyxl keeps one sheet visible; hide it in the workbook part itself.
    source = zipfile.ZipFile(io.BytesIO(_hidden_sheet_only(p)))
    entries = {info.filename: source.read(info) for info in source.infolist()}
    assert b'state="visible"' in entries["xl/workbook.xml"]
    entries["xl/workbook.xml"] = entries["xl/workbook.xml"].replace(b'state="visible"', b'state="hidden"')
    return _zip(entries)


def _hidden_rows(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(HEADER)
        sheet.append(row(1, p["zhang"]))
        sheet.append(row(2, p["li"]))
        sheet.row_dimensions[3].hidden = True  # filtered out on screen, still in the file

    return _book(fill)


def _error_values(p: dict[str, Any]) -> bytes:
    def fill(book: Workbook) -> None:
        sheet = book.active
        sheet.append(HEADER)
        sheet.append([1, "#N/A", p["zhang"].id_number, "低保", None])

    return _book(fill)


def _nul_in_a_cell(p: dict[str, Any]) -> bytes:
    # A cell written _x0000_ (OOXML's escape of a character): calamine hands over a NUL.
    source = zipfile.ZipFile(
        io.BytesIO(xlsx_bytes([HEADER, row(1, p["zhang"]), [2, "李NUL四", p["li"].id_number, "低保", None]]))
    )
    entries = {info.filename: source.read(info) for info in source.infolist()}
    parts = [name for name, data in entries.items() if "NUL四".encode() in data]
    assert parts, entries.keys()
    for name in parts:
        entries[name] = entries[name].replace("李NUL四".encode(), "李_x0000_四".encode())
    return _zip(entries)


def _nul_in_a_csv_line(p: dict[str, Any]) -> bytes:
    # Past the first 4 KB, which the upload looks at to tell a text file from a binary one.
    rows = [f"{n},张三,{p['zhang'].id_number},低保,," for n in range(1, 200)]
    return (
        "序号,姓名,身份证号码,资助类别,认定日期,备注\n" + "\n".join(rows) + "\n200,李四,x,低保,,坏\x00字\n"
    ).encode()


def _entity_bomb(p: dict[str, Any]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(_valid(p)))
    entries = {info.filename: source.read(info) for info in source.infolist()}
    entries["xl/workbook.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        + entries["xl/workbook.xml"].split(b"?>", 1)[-1]
    )
    return _zip(entries)


CASES = [
    Case("empty", "名单.xlsx", lambda p: b"", "upload", "The file is empty."),
    Case("pdf-named-xlsx", "名单.xlsx", lambda p: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "upload",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("png-named-csv", "名单.csv", lambda p: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "upload",
         "The file is neither an Excel workbook (.xlsx) nor a CSV text file."),
    Case("zip-not-workbook", "名单.xlsx", lambda p: _zip({"readme.txt": b"hello"}), "failed",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("zip-bomb", "名单.xlsx", _zip_bomb, "failed",
         "The workbook unpacks to far more data than a roster holds; it is refused as unsafe."),
    Case("truncated", "名单.xlsx", lambda p: _valid(p)[: len(_valid(p)) * 3 // 5], "failed",
         "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("entity-bomb", "名单.xlsx", _entity_bomb, "failed", "The file is damaged or is not an Excel workbook (.xlsx)."),
    Case("damaged-xls", "名单.xls", lambda p: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "failed",
         "The file is not an Excel workbook (.xls or .xlsx), or it is damaged."),
    Case("header-only", "名单.xlsx", lambda p: xlsx_bytes([HEADER]), "failed", "The file has a header but no data rows."),
    Case("missing-column", "名单.xlsx", lambda p: xlsx_bytes([["姓名", "身份证号码"], ["张三", p["zhang"].id_number]]),
         "failed", "No header row with the required columns was found; missing: 资助类别."),
    Case("wrong-columns", "名单.xlsx", lambda p: xlsx_bytes([["户编号", "与户主关系", "出生日期"], ["1", "户主", "1980-01-01"]]),
         "failed", "No header row with the required columns was found; missing: 身份证号码、姓名、资助类别."),
    Case("hidden-sheet-only", "名单.xlsx", _hidden_sheet_only, "failed",
         "The file has no rows. The hidden sheets “名单” were not read; unhide the sheet that holds the roster."),
    Case("all-sheets-hidden", "名单.xlsx", _all_hidden, "failed",
         "Every worksheet of this workbook is hidden; unhide the one with the roster."),
    Case("bad-identifiers", "名单.xlsx",
         lambda p: xlsx_bytes([HEADER, [1, "张三", p["zhang"].id_number[:-1] + "Y", "低保", None],
                               [2, "李四", "14100219800101", "低保", None], [3, "王五", "", "低保", None]]),
         "rows", rows={2: "The resident ID number", 3: "“14100219800101” has 14 digits; a resident ID number has 18.", 4: "The identifier is missing."}),
    Case("identifier-as-number", "名单.xlsx",
         lambda p: xlsx_bytes([HEADER, [1, "张三", float(p["zhang"].id_number), "低保", None]]),
         "rows", rows={2: "The identifier was stored as a number and has lost its last digits"}),
    Case("formulas", "名单.xlsx", _formulas, "rows",
         rows={2: "Cell C2 holds a formula whose result was never saved"}),
    Case("excel-errors", "名单.xlsx", _error_values, "rows", rows={2: "Cell B2 holds the Excel error #N/A instead of a value."}),
    Case("merged-cells", "名单.xlsx", _merged, "rows",
         rows={2: "Row 2 lies in the merged cells D2:D4", 3: "Row 3 lies in the merged cells D2:D4",
               4: "Row 4 lies in the merged cells D2:D4"}),
    Case("hidden-rows", "名单.xlsx", _hidden_rows, "rows", rows={3: "Row 3 is hidden in the workbook"}),
    Case("hidden-sheet-first", "名单.xlsx", _hidden_sheet_first, "rows", rows={3: "“not a date” is not a date"}),
    Case("dates-as-text", "名单.xlsx",
         lambda p: xlsx_bytes([HEADER, [1, "张三", p["zhang"].id_number, "低保", "六月一日"],
                               [2, "李四", p["li"].id_number, "低保", "2026/02/30"]]),
         "rows", rows={2: "“六月一日” is not a date", 3: "“2026/02/30” is not a date"}),
    Case("duplicates", "名单.xlsx",
         lambda p: xlsx_bytes([HEADER, row(1, p["zhang"]), row(2, p["zhang"], "城乡低保对象")]),
         "rows", rows={3: "The same person and category as row 2."}),
    Case("nul-in-a-cell", "名单.xlsx", _nul_in_a_cell, "failed",
         "A cell of the file holds a NUL character (0x00), which no text of a roster or a list has"),
    Case("nul-in-a-csv-line", "名单.csv", _nul_in_a_csv_line, "failed",
         "A cell of the file holds a NUL character (0x00), which no text of a roster or a list has"),
    Case("csv-bad-encoding", "名单.csv", lambda p: "姓名,身份证号码,资助类别\n".encode() + b"\xff\xfe\xff,1,2\n", "failed",
         "Row 2 contains text that is neither UTF-8 nor GB18030"),
    Case("csv-one-endless-line", "名单.csv", lambda p: b"a," * (600 * 1024), "failed", "Row 1 is longer than 1024 KB"),
    Case("too-many-rows", "名单.csv",
         lambda p: ("姓名,身份证号码,资助类别\n" + f"张三,{p['zhang'].id_number},低保\n" * 6).encode(),
         "failed", "The file has more than 5 data rows; split it into smaller files.", settings={"MAX_ROWS": 5}),
    Case("too-large", "名单.csv", lambda p: b"x" * (1024 * 1024 + 10), "upload",
         "The file is larger than 1 MB; split it.", settings={"MAX_UPLOAD_BYTES": 1024 * 1024}),
]  # fmt: skip


@pytest.fixture
def persons(world) -> dict[str, Any]:
    linfen_policy()
    found = {"zhang": enrolled("张三", 1), "li": enrolled("李四", 3), "wang": enrolled("王五", 5)}
    assess("141002")
    return found


def test_given_the_corpus_then_it_holds_at_least_twenty_broken_files():
    assert len(CASES) >= 20
    assert len({case.key for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])
def test_given_a_broken_file_when_it_is_uploaded_then_it_gets_a_clear_message_and_nothing_is_half_imported(
    case: Case, world, persons, monkeypatch: pytest.MonkeyPatch
):
    for name, value in case.settings.items():
        monkeypatch.setattr(imports, name, value)
    content = case.build(persons)
    runs_before = AssessmentRun.objects.count()

    if case.where == "upload":
        with pytest.raises(ValidationError) as refused:
            check(world, content, name=case.name)
        assert refused.value.message_dict["file"][0].startswith(case.message)
    else:
        job = check(world, content, name=case.name)
        if case.where == "failed":
            assert job.status == ImportStatus.FAILED
            assert job.message.startswith(case.message), job.message
        else:
            assert job.status == ImportStatus.CHECKED, job.message
            found = {
                r.row_number: r.message
                for r in RosterRow.objects.filter(roster_import=job, row_number__isnull=False)
            }
            assert set(found) == set(case.rows), found
            for number, start in case.rows.items():
                assert start in found[number], found[number]
            with pytest.raises(ValidationError):
                services.roster_import_confirm(scope=scope_of(world), import_id=job.pk, mode="all_or_nothing")
            job.refresh_from_db()
            assert job.status == ImportStatus.CHECKED

    assert SubsidyTag.objects.count() == 0
    assert not OutboxMessage.objects.filter(topic__startswith="subsidy.").exists()
    assert not SubsidyRoster.objects.filter(current_import__isnull=False).exists()
    assert AssessmentRun.objects.count() == runs_before


def test_given_a_hidden_sheet_before_the_roster_then_the_preview_says_it_was_not_read(world, persons):
    job = check(world, _hidden_sheet_first(persons))

    assert (job.sheet_name, job.rows_total, job.notes) == (
        "名单",
        2,
        ["Read the sheet “名单”; not read: “旧名单” (hidden)."],
    )
    assert job.counts["added"] == 1


def test_given_a_large_sheet_then_the_streaming_reader_gives_the_same_rows_as_calamine(
    world, persons, tmp_path, monkeypatch
):
    import datetime as dt

    from enrollment import spreadsheets

    rows = [HEADER, *(
        [n, f"姓名{n}", persons["zhang"].id_number, "低保" if n % 2 else "tekun", dt.date(2026, 1, 1) + dt.timedelta(days=n)]
        for n in range(1, 301)
    ), [301, True, 1.5, None, "=1+1"]]  # fmt: skip
    path = tmp_path / "large.xlsx"
    path.write_bytes(xlsx_bytes(rows))

    def read() -> list[tuple[int, list[str]]]:
        sheet = spreadsheets.read_sheet(path, "xlsx")
        return sheet.reader, [
            (number, [imports.text_of(cell) for cell in cells]) for number, cells in sheet.rows
        ]

    calamine_reader, by_calamine = read()
    monkeypatch.setattr(spreadsheets, "CALAMINE_MAX_SHEET_BYTES", 0)
    stream_reader, streamed = read()

    assert (calamine_reader, stream_reader) == ("calamine", "stream")
    trimmed = [(n, [c for c in cells]) for n, cells in by_calamine]
    assert [(n, cells + [""] * (5 - len(cells))) for n, cells in streamed] == [
        (n, cells + [""] * (5 - len(cells))) for n, cells in trimmed
    ]
    assert streamed[1] == (2, ["1", "姓名1", persons["zhang"].id_number, "低保", "2026-01-02"])
