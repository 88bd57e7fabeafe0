"""Spreadsheet exports shared by every bureau: streamed, never a whole table in memory, and safe
to open (a text a spreadsheet would run as a formula is escaped).

A workbook is written in openpyxl's write-only mode (rows go straight to a temporary file as they
are appended) and the file is then streamed to the browser in blocks.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Iterable, Iterator
from copy import copy
from decimal import Decimal
from typing import IO, Any
from urllib.parse import quote

from django.http import StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.styles.cell_style import StyleArray

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BOLD = Font(bold=True)
_BOXED_ALIGNMENT = Alignment(vertical="center", wrap_text=True)


def safe_cell(value: Any) -> Any:
    """A text a spreadsheet would read as a formula gets a leading apostrophe, so it never runs."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def money(fen: int | None) -> Decimal | None:
    """Whole fen as an exact number of yuan for a cell: shown as 1,234.50, and a number a
    spreadsheet can add up (a formatted text cannot be summed). No amount: an empty cell."""
    return None if fen is None else Decimal(fen).scaleb(-2)


class Sheet:
    """A write-only sheet: rows are appended and written through; cells are escaped."""

    def __init__(self, book: Workbook, title: str, widths: Iterable[float] = ()) -> None:
        self.sheet = book.create_sheet(title[:31])
        self.rows = 0
        self._styles: dict[tuple[bool, bool, str | None], StyleArray] = {}
        for index, width in enumerate(widths):
            self.sheet.column_dimensions[chr(ord("A") + index)].width = width

    def row(
        self, values: Iterable[Any], *, bold: bool = False, boxed: bool = False, height: float | None = None
    ) -> None:
        cells = []
        for value in values:
            cell = WriteOnlyCell(self.sheet, value=safe_cell(value))
            number_format = (
                "yyyy-mm-dd"
                if isinstance(value, dt.date)
                else "#,##0.00"
                if isinstance(value, Decimal)
                else None
            )
            if bold or boxed or number_format:
                cell._style = copy(self._style(bold=bold, boxed=boxed, number_format=number_format))
            cells.append(cell)
        self.rows += 1
        if height is not None:
            # Room for a handwritten signature.
            self.sheet.row_dimensions[self.rows].height = height
        self.sheet.append(cells)

    def _style(self, *, bold: bool, boxed: bool, number_format: str | None) -> StyleArray:
        """The cell style of one combination, built once per sheet. Setting a font, border and
        alignment on every cell made openpyxl hash each of them into the workbook's style tables:
        two thirds of the time of writing a boxed list. The cell takes a copy of the built style."""
        key = (bold, boxed, number_format)
        style = self._styles.get(key)
        if style is None:
            cell = WriteOnlyCell(self.sheet)
            if number_format:
                cell.number_format = number_format
            if bold:
                cell.font = _BOLD
            if boxed:
                cell.border = _BOX
                cell.alignment = _BOXED_ALIGNMENT
            style = self._styles[key] = cell._style
        return style

    def print_titles(self, rows: str) -> None:
        """Rows repeated at the top of every printed page, e.g. ``"4:4"``."""
        self.sheet.print_title_rows = rows


def _blocks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while data := handle.read(size):
            yield data
    finally:
        handle.close()


def xlsx_file_response(handle: IO[bytes], filename: str) -> StreamingHttpResponse:
    """Stream a workbook already written to ``handle`` (closed when streamed) as a download."""
    response = StreamingHttpResponse(_blocks(handle), content_type=XLSX)
    # RFC 6266: an ASCII fallback and the UTF-8 name for Chinese file names.
    response["Content-Disposition"] = (
        f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(filename)}"
    )
    return response


def xlsx_response(write: Callable[[Workbook], None], filename: str) -> StreamingHttpResponse:
    """Build a workbook with ``write`` (which adds sheets and rows) and stream it as a download."""
    book = Workbook(write_only=True)
    write(book)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the response has streamed it
    book.save(handle)
    handle.seek(0)
    return xlsx_file_response(handle, filename)
