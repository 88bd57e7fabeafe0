"""A worksheet too large for calamine is parsed as a stream (expat); it must give the very rows
calamine gives, whatever markup the file's writer chose: shared, rich and inline strings, phonetic
runs, formulas with their results, booleans, dates, gaps, cells and rows without a reference, and
a namespace prefix."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import pytest

from enrollment import imports, spreadsheets

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"


def _package(path: Path, *, p: str, shared: list[str], sheet_data: str) -> Path:
    """An xlsx whose parts use the prefix ``p`` (``"x:"`` or none) for the spreadsheet namespace."""
    xmlns = f'xmlns{":x" if p else ""}="{MAIN}"'
    content_types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    )
    root_rels = (
        f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" '
        f'Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'<{p}workbook {xmlns} xmlns:r="{RELATIONSHIPS}"><{p}sheets>'
        f'<{p}sheet name="名单" sheetId="1" r:id="rId1"/></{p}sheets></{p}workbook>'
    )
    workbook_rels = (
        f'<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
        f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId3" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    # Style 1 shows a date (a custom format), style 2 one of Excel's built-in date formats (14).
    styles = (
        f'<{p}styleSheet {xmlns}><{p}numFmts count="1"><{p}numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
        f'</{p}numFmts><{p}cellXfs count="3"><{p}xf numFmtId="0"/><{p}xf numFmtId="164" applyNumberFormat="1"/>'
        f'<{p}xf numFmtId="14" applyNumberFormat="1"/></{p}cellXfs></{p}styleSheet>'
    )
    strings = f'<{p}sst {xmlns} count="{len(shared)}">' + "".join(shared) + f"</{p}sst>"
    sheet = f"<{p}worksheet {xmlns}><{p}sheetData>{sheet_data}</{p}sheetData></{p}worksheet>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        archive.writestr("xl/styles.xml", styles)
        archive.writestr("xl/sharedStrings.xml", strings)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return path


def _every_kind(p: str) -> tuple[list[str], str]:
    """Shared strings and rows holding every kind of cell a writer may use."""
    shared = [
        f"<{p}si><{p}t>序号</{p}t></{p}si>",
        # Rich text: the runs' texts joined; the phonetic run (rPh) is not part of the text.
        f'<{p}si><{p}r><{p}t>张</{p}t></{p}r><{p}r><{p}t xml:space="preserve"> 三</{p}t></{p}r>'
        f'<{p}rPh sb="0" eb="1"><{p}t>ちょう</{p}t></{p}rPh></{p}si>',
        f"<{p}si><{p}t>低保&amp;特困</{p}t></{p}si>",
    ]
    rows = (
        # Shared strings, an inline string with a phonetic run, a formula's text result.
        f'<{p}row r="1"><{p}c r="A1" t="s"><{p}v>0</{p}v></{p}c><{p}c r="B1" t="s"><{p}v>1</{p}v></{p}c>'
        f'<{p}c r="C1" t="inlineStr"><{p}is><{p}t>李四</{p}t><{p}rPh><{p}t>り</{p}t></{p}rPh></{p}is></{p}c>'
        f'<{p}c r="D1" t="str"><{p}f>A1&amp;"x"</{p}f><{p}v>序号x</{p}v></{p}c></{p}row>'
        # Numbers: an integer, a decimal, a formula's number result, dates in two styles.
        f'<{p}row r="2"><{p}c r="A2"><{p}v>7</{p}v></{p}c><{p}c r="B2"><{p}v>1.5</{p}v></{p}c>'
        f'<{p}c r="C2"><{p}f>A2*2</{p}f><{p}v>14</{p}v></{p}c>'
        f'<{p}c r="D2" s="1"><{p}v>46023</{p}v></{p}c><{p}c r="E2" s="2"><{p}v>45292</{p}v></{p}c></{p}row>'
        # Booleans, then a gap: A and D only, with an empty cell in between that has a style alone.
        f'<{p}row r="3"><{p}c r="A3" t="b"><{p}v>1</{p}v></{p}c><{p}c r="B3" s="1"/>'
        f'<{p}c r="D3" t="b"><{p}v>0</{p}v></{p}c></{p}row>'
        # A row further down, and cells without a reference (each follows the one before).
        f'<{p}row r="6"><{p}c t="s"><{p}v>2</{p}v></{p}c><{p}c><{p}v>3</{p}v></{p}c>'
        f'<{p}c r="E6" t="inlineStr"><{p}is><{p}t>末</{p}t></{p}is></{p}c></{p}row>'
        # A row without a reference follows the one before.
        f'<{p}row><{p}c r="B7" t="inlineStr"><{p}is><{p}r><{p}t>甲</{p}t></{p}r><{p}r><{p}t>乙</{p}t></{p}r></{p}is></{p}c>'
        f"</{p}row>"
    )
    return shared, rows


def _read(path: Path) -> tuple[str, list[tuple[int, list[Any]]]]:
    sheet = spreadsheets.read_sheet(path, "xlsx")
    return sheet.reader, [(number, list(cells)) for number, cells in sheet.rows]


def _padded(rows: list[tuple[int, list[Any]]], fill: Any = None) -> list[tuple[int, list[Any]]]:
    width = max(len(cells) for _number, cells in rows)
    return [(number, cells + [fill] * (width - len(cells))) for number, cells in rows]


def _as_imported(rows: list[tuple[int, list[Any]]]) -> list[tuple[int, list[str]]]:
    """The rows as the importers take them: each cell as text, blank rows left out (calamine gives
    the rows between as empty, and a whole number as a float)."""
    texts = [(number, [imports.text_of(cell) for cell in cells]) for number, cells in rows]
    return _padded([(number, cells) for number, cells in texts if any(cells)], fill="")


@pytest.mark.parametrize("cached", [spreadsheets.CACHED_VALUES, 0], ids=["cached", "caches-full"])
@pytest.mark.parametrize("p", ["", "x:"], ids=["plain", "prefixed"])
def test_given_every_kind_of_cell_when_streamed_then_the_rows_are_calamines(p, cached, tmp_path, monkeypatch):
    shared, rows = _every_kind(p)
    path = _package(tmp_path / "book.xlsx", p=p, shared=shared, sheet_data=rows)
    calamine_reader, by_calamine = _read(path)

    monkeypatch.setattr(spreadsheets, "CALAMINE_MAX_SHEET_BYTES", 0)
    # At 0, every name, column and style is worked out each time, as for a file with more than fit.
    monkeypatch.setattr(spreadsheets, "CACHED_VALUES", cached)
    stream_reader, streamed = _read(path)

    assert (calamine_reader, stream_reader) == ("calamine", "stream")
    assert _as_imported(streamed) == _as_imported(by_calamine)


def test_given_every_kind_of_cell_when_streamed_then_each_value_is_the_one_written(tmp_path, monkeypatch):
    shared, rows = _every_kind("")
    path = _package(tmp_path / "book.xlsx", p="", shared=shared, sheet_data=rows)
    monkeypatch.setattr(spreadsheets, "CALAMINE_MAX_SHEET_BYTES", 0)

    _reader, streamed = _read(path)

    assert _padded(streamed) == [
        (1, ["序号", "张 三", "李四", "序号x", None]),
        (2, [7, 1.5, 14, dt.datetime(2026, 1, 1), dt.datetime(2024, 1, 1)]),
        (3, [True, None, None, False, None]),
        (6, ["低保&特困", 3, None, None, "末"]),
        (7, [None, "甲乙", None, None, None]),
    ]
