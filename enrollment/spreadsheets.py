"""Reading a worksheet as a stream of rows, and what a person cannot see in it.

``read_sheet(path, file_format)`` opens an .xlsx, .xls or .csv file and returns its rows as
``(row number in the sheet, cells from column A)`` together with what the importer must report
rather than silently read:

- **which sheet**: the first *visible* worksheet (never a hidden one, whatever its position);
  the other sheets are named so the preview can say they were not read;
- **hidden rows** (a filtered list uploaded as it was on screen): their row numbers;
- **formulas without a saved result** (files written by programs; Excel always saves results)
  and **cells holding an Excel error** (#N/A, #REF! …): their positions;
- **merged cells**: their ranges (only the first cell of a range holds the value).

xlsx is read with python-calamine (Rust, about ten times faster than openpyxl's read-only mode)
when the worksheet's XML is small enough for calamine to hold in memory
(``CALAMINE_MAX_SHEET_BYTES``); a larger sheet is parsed as a stream with expat in constant
memory, so a million-row roster never loads whole. Either way a first pass over the sheet's XML
(zlib and regular expressions in C, constant memory) finds the hidden rows, formulas, errors,
merged ranges and the sheet's size. xls (at most 65,536 rows by format) is read with xlrd, csv
line by line (UTF-8 or GB18030). Every failure of a file as a whole is an ``ImportFileError`` with
a message for the person who uploaded it.

What is found is told in the same words to every importer that reads through here (the
enrollment imports of ``enrollment.imports`` and the subsidy rosters): ``SheetRows.problems`` for
a data row, ``SheetRows.notes`` for the file (the sheets not read).
"""

from __future__ import annotations

import codecs
import csv
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat

from django.utils.translation import gettext as _

# An .xlsx is a zip: refuse one that would unpack to more than this, or that packs too tightly.
MAX_UNZIPPED_BYTES = 2 * 1024 * 1024 * 1024
MAX_ZIP_RATIO = 150
# Columns read of a row: a header is found among the first ones, and a row is kept no wider.
MAX_COLUMNS = 64
MAX_LINE_BYTES = 1024 * 1024
# A worksheet whose XML unpacks to at most this many bytes is read by calamine (about 100 bytes
# of memory per cell); larger sheets are streamed.
CALAMINE_MAX_SHEET_BYTES = 64 * 1024 * 1024
# xls is read whole by xlrd; the format holds at most 65,536 rows, and larger files are refused.
MAX_XLS_BYTES = 32 * 1024 * 1024
CHUNK = 1 << 20
# Distinct element names, column letters and styles the streamed reader remembers (a sheet has a
# handful; a crafted file could have millions).
CACHED_VALUES = 4096
# Rows of merged ranges looked at, in all: a file cannot make the importer map more than this.
MAX_MERGED_ROWS = 2_000_000
# Built-in number formats that show dates: the international ones and those of Chinese Excel.
_DATE_FORMAT_IDS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})

_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_HIDDEN_ROW = re.compile(rb"<" + _PREFIX + rb"row\b[^>]*?\bhidden\s*=\s*[\"'](?:1|true)[\"'][^>]*>")
_ROW_NUMBER = re.compile(rb"\br\s*=\s*[\"'](\d+)[\"']")
_ROW_SEGMENT = re.compile(rb"<" + _PREFIX + rb"row\b[^>]*?(?:/>|>.*?</" + _PREFIX + rb"row\s*>)", re.S)
_CELL = re.compile(rb"<" + _PREFIX + rb"c\b([^>]*?)(?:/>|>(.*?)</" + _PREFIX + rb"c\s*>)", re.S)
_CELL_REF = re.compile(rb"\br\s*=\s*[\"']([A-Za-z]{1,3})(\d+)[\"']")
_ERROR_TYPE = re.compile(rb"\bt\s*=\s*[\"']e[\"']")
_FORMULA = re.compile(rb"<" + _PREFIX + rb"f\b")
# A literal every match of the pattern above it contains (the tag's "<f" or a prefix's ":f"; the
# attribute's "hidden"; the error type's quoted e), looked for before the pattern runs.
_HIDDEN_ROW_NEEDLES = (b"hidden",)
_ERROR_TYPE_NEEDLES = (b'"e"', b"'e'")
_FORMULA_NEEDLES = (b"<f", b":f")
_VALUE = re.compile(rb"<" + _PREFIX + rb"v\b[^>]*>([^<]*)</")
_MERGE = re.compile(
    rb"<"
    + _PREFIX
    + rb"mergeCell\b[^>]*?\bref\s*=\s*[\"']\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?[\"']"
)
_DIMENSION = re.compile(rb"<" + _PREFIX + rb"dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']*)[\"']")
_DIMENSION_END = re.compile(r"(\d+)$")
# A row's opening tag with its number: the last one of a sheet tells how many rows it has.
_ROW_OPENING = re.compile(rb"<" + _PREFIX + rb"row\b[^>]*?\br\s*=\s*[\"'](\d+)[\"']")


# --- the file as a whole ------------------------------------------------------------------------


class ImportFileError(Exception):
    """What is wrong with the file as a whole; the message is for the person who uploaded it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_zip(path: Path) -> None:
    """Refuse a workbook that is not a zip, or that would unpack to far more than a roster holds."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if total > MAX_UNZIPPED_BYTES or (info.file_size > 1024 * 1024 and ratio > MAX_ZIP_RATIO):
                    raise ImportFileError(
                        _(
                            "The workbook unpacks to far more data than a roster holds; it is refused as unsafe."
                        )
                    )
                # Parts of a workbook never declare a DTD (entities, the "billion laughs"); a
                # declaration comes before the root element, so the start of each part tells.
                if info.filename.endswith((".xml", ".rels")):
                    with archive.open(info) as part:
                        head = part.read(4096)
                    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                        raise ImportFileError(_("The file is damaged or is not an Excel workbook (.xlsx)."))
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ImportFileError(_("The file is damaged or is not an Excel workbook (.xlsx).")) from error


def _csv_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, judged by the first line (the header is Chinese),
    else by the whole sample."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    first = head.split(b"\n", 1)[0]
    for sample, final in ((first, True), (head, False)):
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=final)
        except UnicodeDecodeError:
            return "gb18030"
        if any(byte >= 0x80 for byte in sample):
            return "utf-8"
    return "utf-8"


class _UnreadableLineError(Exception):
    """A line of a CSV file too long or not in its encoding; the reader names the row."""

    def __init__(self, *, too_long: bool) -> None:
        super().__init__()
        self.too_long = too_long


def csv_rows(path: Path) -> tuple[Iterator[tuple[int, list[Any]]], int | None]:
    """The rows of a CSV file (UTF-8 or GB18030, comma, tab or semicolon), streamed line by line."""
    with path.open("rb") as probe:
        head = probe.read(64 * 1024)
    encoding = _csv_encoding(head)
    first_line = head.split(b"\n", 1)[0].decode(encoding, errors="replace")
    delimiter = max([",", "\t", ";"], key=first_line.count)
    estimated = None
    if path.stat().st_size < 64 * 1024 * 1024:
        with path.open("rb") as counter:
            estimated = sum(chunk.count(b"\n") for chunk in iter(lambda: counter.read(1 << 20), b""))

    def lines() -> Iterator[str]:
        # Decoded line by line (a newline byte is never part of a UTF-8 or GB18030 character), so
        # a file without line breaks cannot fill the memory. A line that fails stops the reader,
        # which names the row it was reading.
        with path.open("rb") as raw:
            for line in iter(lambda: raw.readline(MAX_LINE_BYTES + 1), b""):
                if len(line) > MAX_LINE_BYTES:
                    raise _UnreadableLineError(too_long=True)
                try:
                    yield line.decode(encoding)
                except UnicodeDecodeError as error:
                    raise _UnreadableLineError(too_long=False) from error

    def rows() -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(lines(), delimiter=delimiter)
        # Numbered by record, as a spreadsheet shows the file: a quoted cell with line breaks
        # spans several lines of the text but is one row in Excel or WPS, where the report's row
        # numbers and these messages' are looked up.
        number = 0
        try:
            for number, row in enumerate(reader, start=1):
                yield number, row[:MAX_COLUMNS]
        except _UnreadableLineError as unreadable:
            if unreadable.too_long:
                raise ImportFileError(
                    _("Row %(row)s is longer than %(kb)s KB; this is not a roster.")
                    % {"row": number + 1, "kb": MAX_LINE_BYTES // 1024}
                ) from unreadable
            raise ImportFileError(
                _("Row %(row)s contains text that is neither UTF-8 nor GB18030; save the file as UTF-8 CSV.")
                % {"row": number + 1}
            ) from unreadable
        except csv.Error as error:
            raise ImportFileError(
                _("Row %(row)s cannot be read as CSV (%(problem)s).") % {"row": number + 1, "problem": error}
            ) from error

    return rows(), estimated


def column_index(letters: str) -> int:
    """A1-style column letters to a 0-based index: A → 0, Z → 25, AA → 26."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index - 1


def column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


@dataclass(frozen=True)
class Merged:
    first_row: int  # 1-based, inclusive
    first_column: int  # 0-based, inclusive
    last_row: int
    last_column: int

    @property
    def ref(self) -> str:
        return (
            f"{column_letters(self.first_column)}{self.first_row}:"
            f"{column_letters(self.last_column)}{self.last_row}"
        )


@dataclass
class SheetRows:
    """One worksheet's rows, streamed, and what is hidden or unreadable in them."""

    rows: Iterator[tuple[int, list[Any]]]
    estimated_rows: int | None
    reader: str
    sheet_name: str = ""
    # The sheets not read: (name, hidden).
    other_sheets: list[tuple[str, bool]] = field(default_factory=list)
    hidden_rows: set[int] = field(default_factory=set)
    # Row -> [(0-based column, "C5")]: formulas whose result was never saved.
    formula_cells: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    # Row -> [(0-based column, "C5", "#N/A")]: cells holding an Excel error.
    error_cells: dict[int, list[tuple[int, str, str]]] = field(default_factory=dict)
    merged: list[Merged] = field(default_factory=list)
    _merged_by_row: dict[int, list[Merged]] | None = field(default=None, repr=False)

    @property
    def has_findings(self) -> bool:
        """Anything hidden or unreadable in the rows; without any, no row needs to be looked up."""
        return bool(self.hidden_rows or self.formula_cells or self.error_cells or self.merged)

    def merged_at(self, row: int) -> list[Merged]:
        if self._merged_by_row is None:
            by_row: dict[int, list[Merged]] = {}
            budget = MAX_MERGED_ROWS
            for merged in self.merged:
                last = min(merged.last_row, merged.first_row + MAX_MERGED_ROWS)
                budget -= last - merged.first_row + 1
                if budget < 0:
                    raise ImportFileError(
                        _(
                            "The workbook merges more cells than a roster can hold; unmerge them and fill in every row."
                        )
                    )
                for number in range(merged.first_row, last + 1):
                    by_row.setdefault(number, []).append(merged)
            self._merged_by_row = by_row
        return self._merged_by_row.get(row, [])

    def problems(self, row: int, columns: dict[str, int]) -> list[str]:
        """What makes a data row unreliable, for the columns the importer reads (messages for the uploader)."""
        found: list[str] = []
        if row in self.hidden_rows:
            found.append(
                _(
                    "Row %(row)s is hidden in the workbook; unhide it (or delete it) so that what you "
                    "see is what is imported."
                )
                % {"row": row}
            )
        wanted = set(columns.values())
        for column, ref in self.formula_cells.get(row, ()):
            if column in wanted:
                found.append(
                    _(
                        "Cell %(cell)s holds a formula whose result was never saved; open the file in "
                        "Excel and save it again, or paste the values."
                    )
                    % {"cell": ref}
                )
        for column, ref, code in self.error_cells.get(row, ()):
            if column in wanted:
                found.append(
                    _("Cell %(cell)s holds the Excel error %(error)s instead of a value.")
                    % {"cell": ref, "error": code}
                )
        for merged in self.merged_at(row):
            if any(merged.first_column <= column <= merged.last_column for column in wanted):
                found.append(
                    _("Row %(row)s lies in the merged cells %(range)s; unmerge them and fill in every row.")
                    % {"row": row, "range": merged.ref}
                )
                break
        return found

    def hidden_sheets(self) -> list[str]:
        return [name for name, hidden in self.other_sheets if hidden]

    def notes(self) -> list[str]:
        """What the uploader should know about the file as a whole: which sheet was read, which not."""
        if not self.other_sheets:
            return []
        return [
            _("Read the sheet “%(sheet)s”; not read: %(others)s.")
            % {
                "sheet": self.sheet_name,
                "others": "、".join(
                    f"“{name}”" + (_(" (hidden)") if hidden else "") for name, hidden in self.other_sheets
                ),
            }
        ]


def read_sheet(path: Path, file_format: str) -> SheetRows:
    if file_format == "xlsx":
        return _xlsx(path)
    if file_format == "xls":
        return _xls(path)
    rows, estimated = csv_rows(path)
    return SheetRows(rows=rows, estimated_rows=estimated, reader="csv")


# --- xlsx: the workbook's structure -------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _damaged() -> ImportFileError:
    return ImportFileError(_("The file is damaged or is not an Excel workbook (.xlsx)."))


def _xml(archive: zipfile.ZipFile, name: str, limit: int = 32 * 1024 * 1024) -> ElementTree.Element:
    try:
        info = archive.getinfo(name)
        if info.file_size > limit:
            raise _damaged()
        data = archive.read(info)
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise _damaged()  # parts of a workbook never declare entities; one that does is refused
        # Without a DTD there is nothing to expand, and ElementTree never fetches external resources.
        return ElementTree.fromstring(data)  # noqa: S314 - DTDs refused above
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged() from error


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type's last segment, path in the archive) of a part."""
    folder = PurePosixPath(part).parent
    rels = folder / "_rels" / (PurePosixPath(part).name + ".rels")
    if str(rels) not in archive.NameToInfo:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for element in _xml(archive, str(rels)):
        target = element.get("Target") or ""
        kind = (element.get("Type") or "").rpartition("/")[2]
        path = target.lstrip("/") if target.startswith("/") else str(folder / target)
        parts: list[str] = []
        for piece in path.split("/"):
            if piece == "..":
                if parts:
                    parts.pop()
            elif piece not in ("", "."):
                parts.append(piece)
        found[element.get("Id") or ""] = (kind, "/".join(parts))
    return found


@dataclass(frozen=True)
class _Book:
    sheets: list[tuple[str, str, str]]  # (name, state, path) of the worksheets, in order
    shared_strings: str | None
    styles: str | None
    date1904: bool


def _book(archive: zipfile.ZipFile) -> _Book:
    root_rels = _relationships(archive, "")
    workbook = next(
        (path for kind, path in root_rels.values() if kind == "officeDocument"), "xl/workbook.xml"
    )
    if workbook not in archive.NameToInfo:
        raise _damaged()
    rels = _relationships(archive, workbook)
    root = _xml(archive, workbook)
    sheets: list[tuple[str, str, str]] = []
    date1904 = False
    for element in root.iter():
        name = _local(element.tag)
        if name == "workbookPr":
            date1904 = (element.get("date1904") or "").lower() in ("1", "true")
        elif name == "sheet":
            rid = next((value for key, value in element.attrib.items() if _local(key) == "id"), "")
            kind, path = rels.get(rid, ("", ""))
            if kind == "worksheet" and path in archive.NameToInfo:
                sheets.append((element.get("name") or "", element.get("state") or "visible", path))
    kinds = {kind: path for kind, path in rels.values()}
    return _Book(
        sheets=sheets,
        shared_strings=kinds.get("sharedStrings")
        if kinds.get("sharedStrings") in archive.NameToInfo
        else None,
        styles=kinds.get("styles") if kinds.get("styles") in archive.NameToInfo else None,
        date1904=date1904,
    )


# --- xlsx: the first pass (what cannot be seen) -------------------------------------------------


@dataclass
class _Scan:
    hidden_rows: set[int] = field(default_factory=set)
    formula_cells: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    error_cells: dict[int, list[tuple[int, str, str]]] = field(default_factory=dict)
    merged: list[Merged] = field(default_factory=list)
    last_row: int | None = None


def _may_hold(segment: bytes, needles: tuple[bytes, ...]) -> bool:
    return any(needle in segment for needle in needles)


def _scan_rows(segment: bytes, scan: _Scan) -> None:
    # Each pattern runs only where its literal part occurs: searching bytes for a literal is a
    # hundred times faster than a pattern tried at every tag (the pass took a second at 100,000 rows).
    if _may_hold(segment, _HIDDEN_ROW_NEEDLES):
        for match in _HIDDEN_ROW.finditer(segment):
            number = _ROW_NUMBER.search(match.group(0))
            if number:
                scan.hidden_rows.add(int(number.group(1)))
    formulas = _may_hold(segment, _FORMULA_NEEDLES) and _FORMULA.search(segment)
    if not formulas and not (_may_hold(segment, _ERROR_TYPE_NEEDLES) and _ERROR_TYPE.search(segment)):
        return
    for row in _ROW_SEGMENT.finditer(segment):
        text = row.group(0)
        if not (_FORMULA.search(text) or _ERROR_TYPE.search(text)):
            continue
        for cell in _CELL.finditer(text):
            attributes, inner = cell.group(1), cell.group(2) or b""
            ref = _CELL_REF.search(attributes)
            if ref is None:
                continue
            letters, number = ref.group(1).decode(), int(ref.group(2))
            value = _VALUE.search(inner)
            if _ERROR_TYPE.search(attributes):
                code = value.group(1).decode("utf-8", "replace") if value else "#N/A"
                scan.error_cells.setdefault(number, []).append(
                    (column_index(letters), f"{letters}{number}", code)
                )
            elif _FORMULA.search(inner) and (value is None or value.group(1) == b""):
                scan.formula_cells.setdefault(number, []).append(
                    (column_index(letters), f"{letters}{number}")
                )


def _prescan(archive: zipfile.ZipFile, part: str) -> _Scan:
    scan = _Scan()
    tail = b""
    first = True
    rows_seen, rows_end = b"", 0  # the last data read that held whole rows, and where they end
    try:
        with archive.open(part) as handle:
            while chunk := handle.read(CHUNK):
                data = tail + chunk
                if first:
                    dimension = _DIMENSION.search(data[:4096])
                    if dimension:
                        end = _DIMENSION_END.search(dimension.group(1).decode("ascii", "replace"))
                        scan.last_row = int(end.group(1)) if end else None
                    first = False
                cut = _last_row_end(data, max(0, len(tail) - 64))
                if cut:
                    _scan_rows(data[:cut], scan)
                    _scan_merges(data[:cut], scan)
                    rows_seen, rows_end = data, cut
                    tail = data[cut:]
                else:
                    tail = data
                if len(tail) > 64 * CHUNK:
                    raise ImportFileError(
                        _("The workbook has a row larger than 64 MB; this is not a roster.")
                    )
            _scan_rows(tail, scan)
            _scan_merges(tail, scan)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged() from error
    # Many writers (openpyxl's write-only mode, streaming exporters) leave out the dimension or
    # write "A1": the last row's own number then tells the progress bar how far the reading is.
    last = _last_row_number(rows_seen, rows_end)
    if last is not None:
        scan.last_row = max(scan.last_row or 0, last)
    return scan


def _last_row_number(data: bytes, end: int) -> int | None:
    """The number of the last row opening before ``end``: looked for in the last 64 KB first."""
    for start in dict.fromkeys((max(0, end - 65536), 0)):
        numbers = [match.group(1) for match in _ROW_OPENING.finditer(data, start, end)]
        if numbers:
            return int(numbers[-1])
    return None


def _last_row_end(data: bytes, start: int) -> int:
    """The position just after the last ``</row>`` (with or without a prefix) at or after ``start``; 0 if none."""
    end = len(data)
    while (found := data.rfind(b"row", start, end)) >= 0:
        opening = data.rfind(b"<", max(0, found - 64), found)
        closing = data.find(b">", found + 3, found + 16)
        between = data[opening + 2 : found] if opening >= 0 else b"-"
        if (
            opening >= 0
            and data[opening + 1 : opening + 2] == b"/"
            and (between == b"" or (between.endswith(b":") and between[:-1].replace(b"_", b"").isalnum()))
            and closing >= 0
            and data[found + 3 : closing].strip() == b""
        ):
            return closing + 1
        end = found
    return 0


def _scan_merges(segment: bytes, scan: _Scan) -> None:
    if b"mergeCell" not in segment:
        return
    for match in _MERGE.finditer(segment):
        first_column, first_row = column_index(match.group(1).decode()), int(match.group(2))
        last_column = column_index(match.group(3).decode()) if match.group(3) else first_column
        last_row = int(match.group(4)) if match.group(4) else first_row
        scan.merged.append(
            Merged(first_row, first_column, max(first_row, last_row), max(first_column, last_column))
        )


# --- xlsx: the values ---------------------------------------------------------------------------


def _xlsx(path: Path) -> SheetRows:
    check_zip(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise _damaged() from error
    try:
        book = _book(archive)
        if not book.sheets:
            raise ImportFileError(_("The workbook has no worksheet."))
        visible = [sheet for sheet in book.sheets if sheet[1] == "visible"]
        if not visible:
            raise ImportFileError(
                _("Every worksheet of this workbook is hidden; unhide the one with the roster.")
            )
        name, _state, part = visible[0]
        others = [(other, state != "visible") for other, state, _path in book.sheets if other != name]
        size = archive.getinfo(part).file_size
        if size <= CALAMINE_MAX_SHEET_BYTES:
            # calamine parses the sheet without holding the GIL: on a thread of its own, beside the
            # first pass over the same XML here (on two cores, the longer of the two, not their sum).
            loading = _Loading(path, name)
            try:
                scan = _prescan(archive, part)
            except BaseException:
                loading.wait()  # the first pass's refusal is the one to report
                raise
            rows = loading.rows()
            reader = "calamine"
        else:
            scan = _prescan(archive, part)
            rows = _streamed_rows(path, part, book)
            reader = "stream"
    except BaseException:
        archive.close()
        raise
    archive.close()
    return SheetRows(
        rows=rows,
        estimated_rows=scan.last_row,
        reader=reader,
        sheet_name=name,
        other_sheets=others,
        hidden_rows=scan.hidden_rows,
        formula_cells=scan.formula_cells,
        error_cells=scan.error_cells,
        merged=scan.merged,
    )


class _Loading:
    """``_calamine_rows`` started on a thread; ``rows()`` waits for it and raises what it raised."""

    def __init__(self, path: Path, sheet_name: str) -> None:
        self._result: Iterator[tuple[int, list[Any]]] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._load, args=(path, sheet_name), name="calamine", daemon=True
        )
        self._thread.start()

    def _load(self, path: Path, sheet_name: str) -> None:
        try:
            self._result = _calamine_rows(path, sheet_name)
        except BaseException as error:  # handed to the caller's thread
            self._error = error

    def wait(self) -> None:
        self._thread.join()

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _calamine_rows(path: Path, sheet_name: str) -> Iterator[tuple[int, list[Any]]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_name(sheet_name)
        start = sheet.start
    except Exception as error:
        raise _damaged() from error

    def rows() -> Iterator[tuple[int, list[Any]]]:
        # calamine yields the rows from the first one and the cells from the sheet's first used column.
        pad = [None] * (start[1] if start else 0)
        try:
            for index, row in enumerate(sheet.iter_rows(), start=1):
                yield index, (pad + row) if pad else row
        except ImportFileError:
            raise
        except Exception as error:
            raise ImportFileError(
                _("The workbook could not be read to the end; it may be damaged.")
            ) from error
        finally:
            workbook.close()

    return rows()


def _shared_strings(archive: zipfile.ZipFile, part: str | None) -> list[str]:
    """The shared strings, in order; phonetic runs (rPh) are not part of the text."""
    if part is None:
        return []
    strings: list[str] = []
    text: list[str] = []
    depth = {"t": 0, "rPh": 0}

    def start(name: str, _attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local in depth:
            depth[local] += 1
        elif local == "si":
            text.clear()

    def end(name: str) -> None:
        local = name.rpartition(":")[2]
        if local in depth:
            depth[local] -= 1
        elif local == "si":
            strings.append("".join(text))

    def characters(data: str) -> None:
        if depth["t"] and not depth["rPh"]:
            text.append(data)

    _parse(archive, part, start, end, characters, lambda: None)
    return strings


def _date_styles(archive: zipfile.ZipFile, part: str | None) -> list[bool]:
    """For each cell format (xf) index: does it show a date?"""
    if part is None:
        return []
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    root = _xml(archive, part)
    custom: dict[int, str] = {}
    flags: list[bool] = []
    for element in root.iter():
        if _local(element.tag) == "numFmt":
            try:
                custom[int(element.get("numFmtId") or -1)] = element.get("formatCode") or ""
            except ValueError:
                continue
    for element in root.iter():
        if _local(element.tag) != "cellXfs":
            continue
        for xf in element:
            try:
                number_format = int(xf.get("numFmtId") or 0)
            except ValueError:
                number_format = 0
            if number_format in custom:
                flags.append(is_date_format(custom[number_format]))
            else:
                code = BUILTIN_FORMATS.get(number_format)
                flags.append(number_format in _DATE_FORMAT_IDS or bool(code and is_date_format(code)))
    return flags


def _no_doctype(*_arguments: Any) -> None:
    """Parts of a workbook never declare a DTD; a part that does (entity expansion) is refused."""
    raise _damaged()


def _parser() -> Any:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.EntityDeclHandler = _no_doctype
    return parser


def _parse(archive: zipfile.ZipFile, part: str, start: Any, end: Any, characters: Any, flush: Any) -> None:
    parser = _parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        with archive.open(part) as handle:
            while chunk := handle.read(CHUNK):
                parser.Parse(chunk, False)
                flush()
            parser.Parse(b"", True)
            flush()
    except expat.ExpatError as error:
        raise _damaged() from error
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise _damaged() from error


def _streamed_rows(path: Path, part: str, book: _Book) -> Iterator[tuple[int, list[Any]]]:
    """A large worksheet parsed as a stream (expat): constant memory, the same values calamine gives."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

    epoch = CALENDAR_MAC_1904 if book.date1904 else CALENDAR_WINDOWS_1900

    def rows() -> Iterator[tuple[int, list[Any]]]:
        with zipfile.ZipFile(path) as archive:
            strings = _shared_strings(archive, book.shared_strings)
            dates = _date_styles(archive, book.styles)
            done: list[tuple[int, list[Any]]] = []
            row: list[Any] = []
            buffer: list[str] = []
            # expat calls back for every element: a million rows are seventeen million calls, so the
            # handlers keep their state in closure variables and look up, once per distinct value,
            # an element's local name, a reference's column and a style's number. A sheet has a
            # handful of each; the caches stop growing at CACHED_VALUES, whatever a file holds.
            row_number = column = style = collect = phonetic = 0
            kind = ""
            text: str | None = None
            names: dict[str, str] = {}
            columns: dict[str, int] = {}
            styles: dict[str, int] = {}

            def local_name(name: str) -> str:
                local = name.rpartition(":")[2]
                if len(names) < CACHED_VALUES:
                    names[name] = local
                return local

            def column_of(letters: str) -> int:
                index = column_index(letters)
                if len(columns) < CACHED_VALUES:
                    columns[letters] = index
                return index

            def style_of(value: str) -> int:
                try:
                    number = int(value)
                except ValueError:
                    number = 0
                if len(styles) < CACHED_VALUES:
                    styles[value] = number
                return number

            def start(name: str, attributes: dict[str, str]) -> None:
                nonlocal row_number, column, style, collect, phonetic, kind, text
                local = names.get(name) or local_name(name)
                if local == "c":
                    ref = attributes.get("r")
                    letters = ref.rstrip("0123456789") if ref else ""
                    if letters:
                        found = columns.get(letters)
                        column = found if found is not None else column_of(letters)
                    else:
                        column = len(row)
                    kind = attributes.get("t", "n")
                    value = attributes.get("s")
                    if value is None:
                        style = 0
                    else:
                        found = styles.get(value)
                        style = found if found is not None else style_of(value)
                    text = None
                elif local == "v" or local == "t":
                    if not phonetic:
                        collect += 1
                        buffer.clear()
                elif local == "rPh":
                    phonetic += 1
                elif local == "row":
                    row.clear()
                    number = attributes.get("r")
                    row_number = (
                        int(number) if number and number.isascii() and number.isdigit() else row_number + 1
                    )

            def characters(data: str) -> None:
                if collect:
                    buffer.append(data)

            def end(name: str) -> None:
                nonlocal collect, phonetic, text
                local = names.get(name) or local_name(name)
                if local == "c":
                    if column < 16384:
                        while len(row) < column:
                            row.append(None)
                        row.append(_cell_value(kind, style, text))
                elif local == "v" or local == "t":
                    if collect:
                        collect -= 1
                        joined = "".join(buffer)
                        text = joined if text is None else text + joined
                elif local == "rPh":
                    phonetic -= 1
                elif local == "row":
                    done.append((row_number, list(row)))

            def _cell_value(kind: str, style: int, text: str | None) -> Any:
                if text is None or text == "":
                    return None
                if kind == "s":
                    try:
                        return strings[int(text)]
                    except (ValueError, IndexError):
                        return None
                if kind in ("inlineStr", "str", "e"):
                    return text
                if kind == "b":
                    return text.strip() in ("1", "true")
                if kind == "d":
                    return text
                try:
                    number: int | float = int(text)
                except ValueError:
                    try:
                        number = float(text)
                    except ValueError:
                        return text
                if style < len(dates) and dates[style]:
                    try:
                        return from_excel(number, epoch)
                    except (ValueError, OverflowError):
                        return number
                return number

            parser = _parser()
            parser.StartElementHandler = start
            parser.EndElementHandler = end
            parser.CharacterDataHandler = characters
            try:
                with archive.open(part) as handle:
                    while chunk := handle.read(CHUNK):
                        parser.Parse(chunk, False)
                        if done:
                            yield from done
                            done.clear()
                    parser.Parse(b"", True)
                    yield from done
            except expat.ExpatError as error:
                raise ImportFileError(
                    _("The workbook could not be read to the end; it may be damaged.")
                ) from error
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise ImportFileError(
                    _("The workbook could not be read to the end; it may be damaged.")
                ) from error

    return rows()


# --- xls ----------------------------------------------------------------------------------------


def _xls(path: Path) -> SheetRows:
    import xlrd

    if path.stat().st_size > MAX_XLS_BYTES:
        raise ImportFileError(
            _(
                "An old Excel file (.xls) larger than %(mb)s MB is not read; save it as an Excel workbook (.xlsx)."
            )
            % {"mb": MAX_XLS_BYTES // 2**20}
        )
    try:
        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    except xlrd.XLRDError as error:
        if "encrypt" in str(error).lower():
            raise ImportFileError(
                _(
                    "The workbook is protected by a password; save it without the password and upload it again."
                )
            ) from error
        raise ImportFileError(
            _("The file is not an Excel workbook (.xls or .xlsx), or it is damaged.")
        ) from error
    except Exception as error:
        raise ImportFileError(
            _("The file is not an Excel workbook (.xls or .xlsx), or it is damaged.")
        ) from error
    try:
        sheets = [book.sheet_by_index(index) for index in range(book.nsheets)]
    except Exception as error:
        raise ImportFileError(_("The workbook could not be read to the end; it may be damaged.")) from error
    if not sheets:
        raise ImportFileError(_("The workbook has no worksheet."))
    visible = [sheet for sheet in sheets if sheet.visibility == 0]
    if not visible:
        raise ImportFileError(
            _("Every worksheet of this workbook is hidden; unhide the one with the roster.")
        )
    sheet = visible[0]
    hidden_rows = {index + 1 for index, info in sheet.rowinfo_map.items() if getattr(info, "hidden", 0)}
    merged = [
        Merged(first_row + 1, first_column, max(first_row + 1, last_row), max(first_column, last_column - 1))
        for first_row, last_row, first_column, last_column in sheet.merged_cells
    ]
    errors: dict[int, list[tuple[int, str, str]]] = {}
    datemode = book.datemode

    def value(cell: Any, number: int, column: int) -> Any:
        kind = cell.ctype
        if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
            return None
        if kind == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate.xldate_as_datetime(cell.value, datemode)
            except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                return cell.value
        if kind == xlrd.XL_CELL_BOOLEAN:
            return bool(cell.value)
        if kind == xlrd.XL_CELL_ERROR:
            code = xlrd.error_text_from_code.get(cell.value, "#N/A")
            errors.setdefault(number, []).append((column, f"{column_letters(column)}{number}", code))
            return None
        number_value = cell.value
        if isinstance(number_value, float) and number_value.is_integer() and abs(number_value) < 1e15:
            return int(number_value)
        return number_value

    # Error cells are listed before the rows are read, so a row's problems are known when it is.
    rows_data = [
        (index + 1, [value(cell, index + 1, column) for column, cell in enumerate(sheet.row(index))])
        for index in range(sheet.nrows)
    ]
    book.release_resources()

    return SheetRows(
        rows=iter(rows_data),
        estimated_rows=sheet.nrows or None,
        reader="xlrd",
        sheet_name=sheet.name,
        other_sheets=[(other.name, other.visibility != 0) for other in sheets if other is not sheet],
        hidden_rows=hidden_rows,
        error_cells=errors,
        merged=merged,
    )
