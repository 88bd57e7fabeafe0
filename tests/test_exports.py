"""The shared spreadsheet writer: amounts are numbers a spreadsheet can add up, texts never run."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from accounts.exports import Sheet, money, xlsx_response


def _download(write) -> tuple[io.BytesIO, str]:
    response = xlsx_response(write, "征收日报-2026-11-20.xlsx")
    return io.BytesIO(b"".join(response.streaming_content)), response["Content-Disposition"]


def test_an_amount_in_fen_is_written_as_a_number_of_yuan_with_two_decimals():
    # Given a sheet with two amounts and their sum as a formula a user would type
    def write(book):
        sheet = Sheet(book, "金额")
        sheet.row(["甲", money(110050)])
        sheet.row(["乙", money(-5)])

    # When it is downloaded and read back
    data, _disposition = _download(write)
    sheet = load_workbook(data).worksheets[0]

    # Then each amount is a number (exact yuan) shown with thousands and two decimals
    assert [(cell.value, cell.number_format) for cell in (sheet["B1"], sheet["B2"])] == [
        (1100.5, "#,##0.00"),
        (-0.05, "#,##0.00"),
    ]


def test_a_text_that_would_run_as_a_formula_is_escaped():
    def write(book):
        Sheet(book, "x").row(['=HYPERLINK("http://x")', "+1", "正常"])

    data, _disposition = _download(write)

    assert [cell.value for cell in load_workbook(data).worksheets[0][1]] == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "正常",
    ]


def test_a_chinese_file_name_goes_out_encoded_with_an_ascii_fallback():
    _data, disposition = _download(lambda book: Sheet(book, "x").row(["a"]))

    assert disposition == (
        'attachment; filename="export.xlsx"; '
        "filename*=UTF-8''%E5%BE%81%E6%94%B6%E6%97%A5%E6%8A%A5-2026-11-20.xlsx"
    )
