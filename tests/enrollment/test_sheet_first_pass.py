"""The first pass over an xlsx sheet finds what calamine does not report (hidden rows, formulas
without a saved result, error cells), whatever the markup's prefix and quotes: it looks for a
literal part of each pattern before running the pattern, and must not skip what the pattern finds."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from enrollment.spreadsheets import _prescan, _Scan

PART = "xl/worksheets/sheet1.xml"


def _scan_of(sheet_xml: str) -> _Scan:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(PART, sheet_xml)
    with zipfile.ZipFile(buffer) as archive:
        return _prescan(archive, PART)


MARKUP = pytest.mark.parametrize(
    ("p", "q"),
    [("", '"'), ("x:", "'"), ("x:", '"'), ("", "'")],
    ids=["plain-double", "prefixed-single", "prefixed-double", "plain-single"],
)


def _sheet(p: str, q: str, second_row: str) -> str:
    """A sheet whose second row is ``second_row`` (with the sheet's prefix ``p`` and quote ``q``)."""
    return (
        f"<{p}worksheet xmlns{':x' if p else ''}={q}http://schemas.openxmlformats.org/spreadsheetml/2006/main{q}>"
        f"<{p}sheetData>"
        f"<{p}row r={q}1{q}><{p}c r={q}A1{q} t={q}inlineStr{q}><{p}is><{p}t>姓名</{p}t></{p}is></{p}c></{p}row>"
        f"{second_row}</{p}sheetData></{p}worksheet>"
    )


@MARKUP
def test_given_a_hidden_row_alone_then_it_is_found(p, q):
    scan = _scan_of(
        _sheet(p, q, f"<{p}row r={q}2{q} hidden={q}1{q}><{p}c r={q}A2{q}><{p}v>7</{p}v></{p}c></{p}row>")
    )

    assert (scan.hidden_rows, scan.formula_cells, scan.error_cells) == ({2}, {}, {})


@MARKUP
def test_given_a_formula_without_its_result_alone_then_it_is_found(p, q):
    scan = _scan_of(
        _sheet(
            p, q, f"<{p}row r={q}2{q}><{p}c r={q}B2{q}><{p}f>SUM(A1:A2)</{p}f><{p}v></{p}v></{p}c></{p}row>"
        )
    )

    assert (scan.hidden_rows, scan.formula_cells, scan.error_cells) == (set(), {2: [(1, "B2")]}, {})


@MARKUP
def test_given_an_error_cell_alone_then_it_is_found(p, q):
    scan = _scan_of(
        _sheet(p, q, f"<{p}row r={q}2{q}><{p}c r={q}C2{q} t={q}e{q}><{p}v>#N/A</{p}v></{p}c></{p}row>")
    )

    assert (scan.hidden_rows, scan.formula_cells, scan.error_cells) == (set(), {}, {2: [(2, "C2", "#N/A")]})


def test_given_plain_values_then_nothing_is_found():
    sheet = (
        '<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>hidden "e" f</t></is></c></row>'
        '<row r="2"><c r="A2"><v>2</v></c></row></sheetData></worksheet>'
    )

    scan = _scan_of(sheet)

    assert (scan.hidden_rows, scan.formula_cells, scan.error_cells) == (set(), {}, {})


# --- how many rows: what the progress bar's percentage is counted against ---------------------


def _rows(p: str, q: str, count: int) -> str:
    return "".join(
        f"<{p}row r={q}{n}{q}><{p}c r={q}A{n}{q}><{p}v>{n}</{p}v></{p}c></{p}row>"
        for n in range(2, count + 1)
    )


@MARKUP
def test_given_a_sheet_without_a_dimension_then_its_last_row_number_is_the_estimate(p, q):
    # Given a sheet as openpyxl's write-only mode writes it: no <dimension>, rows 1 to 5
    scan = _scan_of(_sheet(p, q, _rows(p, q, 5)))

    # Then the last row's number is taken as the sheet's size
    assert scan.last_row == 5


@pytest.mark.parametrize(("dimension", "expected"), [("A1", 3), ("A1:B10", 10)])
def test_given_a_sheet_with_a_dimension_then_the_larger_of_it_and_the_last_row_is_the_estimate(
    dimension, expected
):
    # Given a sheet of rows 1 to 3 whose dimension says "A1" (a streaming writer's) or "A1:B10"
    sheet = _sheet("", '"', _rows("", '"', 3)).replace(
        "<sheetData>", f'<dimension ref="{dimension}"/><sheetData>', 1
    )

    scan = _scan_of(sheet)

    # Then a dimension smaller than the rows does not hide them; a larger one stands
    assert scan.last_row == expected


def test_given_a_sheet_longer_than_one_chunk_then_the_last_row_of_the_last_chunk_is_the_estimate():
    # Given 60,000 rows (several megabytes, read in chunks of one megabyte) and no dimension
    scan = _scan_of(_sheet("", '"', _rows("", '"', 60_000)))

    # Then the estimate is the last row's number
    assert scan.last_row == 60_000


# --- calamine parses the sheet on a thread of its own, beside the first pass ----------------------


def _workbook(tmp_path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["姓名", "身份证号码"])
    book.active.append(["张三", "141002198001010018"])
    path = tmp_path / "book.xlsx"
    book.save(path)
    return path


def test_given_a_sheet_when_read_then_calamine_parses_it_on_another_thread_than_the_first_pass(
    tmp_path, monkeypatch
):
    import threading

    from enrollment import spreadsheets

    threads: dict[str, str] = {}
    calamine_rows, prescan = spreadsheets._calamine_rows, spreadsheets._prescan

    def parse(*args):
        threads["calamine"] = threading.current_thread().name
        return calamine_rows(*args)

    def first_pass(*args):
        threads["first pass"] = threading.current_thread().name
        return prescan(*args)

    monkeypatch.setattr(spreadsheets, "_calamine_rows", parse)
    monkeypatch.setattr(spreadsheets, "_prescan", first_pass)

    sheet = spreadsheets.read_sheet(_workbook(tmp_path), "xlsx")

    assert [row for _number, row in sheet.rows] == [["姓名", "身份证号码"], ["张三", "141002198001010018"]]
    assert threads == {"calamine": "calamine", "first pass": threading.current_thread().name}


def test_given_calamine_refusing_the_sheet_then_its_refusal_reaches_the_reader(tmp_path, monkeypatch):
    from enrollment import spreadsheets
    from enrollment.imports import ImportFileError

    def refuse(*args):
        raise ImportFileError("calamine refused it")

    monkeypatch.setattr(spreadsheets, "_calamine_rows", refuse)

    with pytest.raises(ImportFileError, match="calamine refused it"):
        spreadsheets.read_sheet(_workbook(tmp_path), "xlsx")


def test_given_both_refusing_then_the_first_passs_refusal_is_the_one_reported(tmp_path, monkeypatch):
    from enrollment import spreadsheets
    from enrollment.imports import ImportFileError

    def refuse(message):
        def raising(*args):
            raise ImportFileError(message)

        return raising

    monkeypatch.setattr(spreadsheets, "_calamine_rows", refuse("calamine refused it"))
    monkeypatch.setattr(spreadsheets, "_prescan", refuse("the first pass refused it"))

    with pytest.raises(ImportFileError, match="the first pass refused it"):
        spreadsheets.read_sheet(_workbook(tmp_path), "xlsx")
