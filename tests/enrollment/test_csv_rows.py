"""A CSV file's rows and its unreadable rows are numbered by record, as a spreadsheet shows them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation

from enrollment.spreadsheets import MAX_LINE_BYTES, ImportFileError, csv_rows

# A first data row whose remark spans three lines of text: one row in Excel or WPS.
_HEAD = '序号,姓名,备注\r\n1,张三,"第一行\r\n第二行\r\n第三行"\r\n'.encode()


def _read(tmp_path: Path, content: bytes) -> list[tuple[int, list[str]]]:
    path = tmp_path / "名单.csv"
    path.write_bytes(content)
    rows, _estimated = csv_rows(path)
    return list(rows)


def _refusal(tmp_path: Path, content: bytes) -> str:
    with pytest.raises(ImportFileError) as raised, translation.override("en"):
        _read(tmp_path, content)
    with translation.override("en"):
        return str(raised.value)


def test_given_a_cell_over_three_lines_when_read_then_the_next_row_is_row_three(tmp_path):
    # Given the head above, then one more row
    content = _HEAD + "2,李四,\r\n".encode()

    # When read
    rows = _read(tmp_path, content)

    # Then three rows, the last numbered 3 (line 5 of the text)
    assert [(number, row[1]) for number, row in rows] == [(1, "姓名"), (2, "张三"), (3, "李四")]
    assert rows[1][1][2] == "第一行\r\n第二行\r\n第三行"


def test_given_bytes_in_no_encoding_after_a_cell_over_lines_when_read_then_the_message_names_its_row(
    tmp_path,
):
    # Given the head above, then a row whose name is not UTF-8 (a lone continuation byte)
    content = _HEAD + b"2,\x80\x80,\r\n"

    # When read, then the message names row 3, as a spreadsheet numbers it, not line 5 of the text
    assert _refusal(tmp_path, content) == (
        "Row 3 contains text that is neither UTF-8 nor GB18030; save the file as UTF-8 CSV."
    )


def test_given_a_line_too_long_after_a_cell_over_lines_when_read_then_the_message_names_its_row(tmp_path):
    # Given the head above, then a row longer than a line may be
    content = _HEAD + b"2," + b"a" * (MAX_LINE_BYTES + 10) + b"\r\n"

    # When read, then the message names row 3
    assert _refusal(tmp_path, content) == "Row 3 is longer than 1024 KB; this is not a roster."


def test_given_a_quoted_cell_past_the_field_limit_when_read_then_the_message_names_the_row_it_began(tmp_path):
    # Given the head above, then a row whose quoted cell runs over many lines past csv's field limit
    content = _HEAD + b'2,"' + (b"y" * 1000 + b"\r\n") * 200 + b'"\r\n'

    # When read, then the message names row 3, where the cell began, not the line where it broke
    assert (
        _refusal(tmp_path, content) == "Row 3 cannot be read as CSV (field larger than field limit (131072))."
    )
