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


def test_bold_boxed_and_dated_cells_keep_their_styles_each_on_its_own_cell():
    # Given a header in bold, two boxed lines with a date and an amount, and a plain line
    import datetime as dt

    def write(book):
        sheet = Sheet(book, "台账")
        sheet.row(["姓名", "日期"], bold=True)
        sheet.row(["张三", dt.date(2026, 11, 20), money(40000)], boxed=True)
        sheet.row(["李四", dt.date(2026, 11, 21), money(38000)], boxed=True)
        sheet.row(["合计", "", money(78000)])

    # When it is downloaded and read back
    data, _disposition = _download(write)
    sheet = load_workbook(data).worksheets[0]

    # Then every cell has exactly the styles of its own row and value
    def style(cell):  # type: ignore[no-untyped-def]
        return (
            cell.font.b,
            cell.border.left.style,
            cell.alignment.wrap_text,
            cell.alignment.vertical,
            cell.number_format,
        )

    assert [[style(cell) for cell in row] for row in sheet.iter_rows()] == [
        [(True, None, None, None, "General"), (True, None, None, None, "General"), (False, None, None, None, "General")],
        [(False, "thin", True, "center", "General"), (False, "thin", True, "center", "yyyy-mm-dd"),
         (False, "thin", True, "center", "#,##0.00")],
        [(False, "thin", True, "center", "General"), (False, "thin", True, "center", "yyyy-mm-dd"),
         (False, "thin", True, "center", "#,##0.00")],
        [(False, None, None, None, "General"), (False, None, None, None, "General"), (False, None, None, None, "#,##0.00")],
    ]  # fmt: skip
