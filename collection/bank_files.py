"""Reading a bank's batch-debit result file (批量扣款结果) into lines for ``services.bank_debit_process``.

The file is CSV with a header row; the columns are found by their header (Chinese or English, any
order):

==============  ==========================  =========================================
column          headers accepted            value
==============  ==========================  =========================================
reference       流水号, 交易流水号, reference  the bank's reference of the debit (required)
identifier      身份证号, 证件号码, id_number   the payer's identifier
name            姓名, 户名, name               the account holder's name
year            缴费年度, 年度, year           the insurance year
amount          扣款金额, 金额, amount          yuan, e.g. ``380.00``
result          扣款结果, 结果, result          成功 / 失败 (success / failed)
date            扣款日期, 日期, date            ``2026-11-05`` or ``20261105``, with the time or without
time            扣款时间, 交易时间, time        ``14:32`` or ``14:32:10`` or ``143210`` (optional)
failure reason  失败原因, reason (optional)    the bank's reason for a failed debit
==============  ==========================  =========================================

Most banks' result files give the debit's day only. The time is taken where the file gives one —
in the time column, or after the date (``2026-11-05 14:32:10``, ``20261105143210``); otherwise the
line is dated at the day's start and marked as having no time (``paid_time_known``), so receipts
and lists print the day alone rather than an invented 00:00.

Banks write UTF-8 (with or without a byte-order mark) or GB18030/GBK; the encoding is found by
reading the file once as UTF-8, in constant memory. The file is then read line by line: a line's
problem (a bad amount or date) travels with the line and is reported, never raised, so one bad
line never hides the others.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.digits import ascii_digits


@dataclass(frozen=True)
class BatchLine:
    """One person of a collective payment, or one line of a bank's debit file, as the batch
    services take it. ``amount_fen`` None: the amount due that day (a collective payment)."""

    line_number: int
    person_id: str
    insurance_year: int | None
    amount_fen: int | None = None
    name: str = ""
    reference: str = ""
    paid_at: dt.datetime | None = None
    # False when the bank's file gives the debit's day only: ``paid_at`` is then the day's start.
    paid_time_known: bool = True
    # A bank line: False when the bank says the debit failed (no money was taken).
    debited: bool = True
    bank_reason: str = ""
    # A problem found while reading the line (a bad identifier, amount or date).
    problem: str = ""


HEADERS = {
    "reference": ("流水号", "交易流水号", "银行流水号", "reference"),
    "person_id": ("身份证号", "身份证号码", "证件号码", "id_number", "identifier"),
    "name": ("姓名", "户名", "name"),
    "year": ("缴费年度", "年度", "year"),
    "amount": ("扣款金额", "金额", "amount"),
    "result": ("扣款结果", "结果", "result"),
    "date": ("扣款日期", "日期", "date"),
    "time": ("扣款时间", "交易时间", "time"),
    "reason": ("失败原因", "reason"),
}
REQUIRED = ("reference", "person_id", "year", "amount", "result", "date")
SUCCESS = {"成功", "success", "ok", "1", "y", "是"}
FAILURE = {"失败", "failed", "failure", "fail", "0", "n", "否"}
_PERSON_ID = re.compile(r"^[0-9A-Za-z]{6,32}$")
_READ = 1 << 16


def scan(handle: IO[bytes]) -> tuple[str, int]:
    """The file's encoding — ``utf-8-sig`` when all of it decodes as UTF-8, else ``gb18030`` (a
    superset of GBK) — and its number of lines after the header; read once, in constant memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    handle.seek(0)
    encoding, newlines, last = "utf-8-sig", 0, b""
    while block := handle.read(_READ):
        newlines += block.count(b"\n")
        last = block
        if encoding == "utf-8-sig":
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                encoding = "gb18030"
    if encoding == "utf-8-sig":
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "gb18030"
    handle.seek(0)
    lines = newlines + (1 if last and not last.endswith(b"\n") else 0)
    return encoding, max(lines - 1, 0)


def _columns(header: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in header]
    found: dict[str, int] = {}
    for column, aliases in HEADERS.items():
        for alias in aliases:
            if alias.lower() in names:
                found[column] = names.index(alias.lower())
                break
    missing = [HEADERS[column][0] for column in REQUIRED if column not in found]
    if missing:
        raise ValidationError(
            _("The file is not a bank debit result: the columns %(missing)s are missing from its first row.")
            % {"missing": "、".join(missing)}
        )
    return found


_DAY = re.compile(r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})")
_TIME = re.compile(r"(\d{1,2}):?(\d{2})(?::?(\d{2}))?")


class _BadTimeError(ValueError):
    """The date is a date, its time is no time."""


def _time(text: str) -> dt.time:
    found = _TIME.fullmatch(text)
    try:
        if not found:
            raise ValueError(text)
        return dt.time(int(found[1]), int(found[2]), int(found[3] or 0))
    except ValueError as error:
        raise _BadTimeError(text) from error


def _moment(day_text: str, time_text: str) -> tuple[dt.datetime, bool]:
    """The debit's moment and whether the file gave its time: the date cell may carry the time
    (``2026-11-05 14:32:10``, ``2026/11/05T14:32``, ``20261105143210``), or the time column may;
    without either, the day's start and False."""
    day_text = day_text.strip()
    if re.fullmatch(r"\d{8}(\d{4}|\d{6})?", day_text):  # 20261105, 202611051432, 20261105143210
        day = dt.date(int(day_text[:4]), int(day_text[4:6]), int(day_text[6:8]))
        rest = day_text[8:]
    else:
        day_text, _separator, rest = day_text.replace("T", " ").partition(" ")
        found = _DAY.fullmatch(day_text)
        if not found:
            raise ValueError(day_text)
        day = dt.date(int(found[1]), int(found[3]), int(found[4]))
    # A time column may hold the whole moment (2026-11-05 14:32:10): its last part is the time.
    given = rest.strip() or (time_text.split()[-1] if time_text.strip() else "")
    if not given:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min)), False
    return timezone.make_aware(dt.datetime.combine(day, _time(given))), True


def _line(number: int, row: list[str], at: dict[str, int]) -> BatchLine:
    def cell(column: str) -> str:
        index = at.get(column)
        # NUL cannot be stored as text (a binary file read as CSV): dropped, and the line refused.
        return row[index].replace("\x00", "").strip() if index is not None and index < len(row) else ""

    person_id, name, reference = cell("person_id").upper(), cell("name")[:60], cell("reference")
    problems: list[str] = []
    if any("\x00" in value for value in row):
        problems.append(_("The line holds bytes that are not text; is the file a CSV text file?"))
    year: int | None = None
    amount_fen: int | None = None
    paid_at: dt.datetime | None = None
    paid_time_known = True
    if not reference or len(reference) > 40:
        problems.append(_("The bank reference is missing or longer than 40 characters."))
    if not _PERSON_ID.match(person_id):
        problems.append(_("The identifier is missing or malformed."))
    if ascii_digits(cell("year")) and 2000 <= int(cell("year")) <= 2100:
        year = int(cell("year"))
    else:
        problems.append(_("The insurance year is not a year."))
    try:
        amount = Decimal(cell("amount").replace(",", ""))
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")) or amount > 10**7:
            raise InvalidOperation
        amount_fen = int(amount * 100)
    except InvalidOperation:
        problems.append(_("The amount is not an amount in yuan."))
    try:
        paid_at, paid_time_known = _moment(cell("date"), cell("time"))
    except _BadTimeError:
        problems.append(_("The debit time is not a time."))
    except ValueError:
        problems.append(_("The debit date is not a date."))
    result = cell("result").lower()
    if result not in SUCCESS | FAILURE:
        problems.append(_("The debit result is neither 成功 nor 失败."))
    return BatchLine(
        line_number=number,
        person_id=person_id[:32],
        insurance_year=year,
        amount_fen=amount_fen,
        name=name,
        reference=reference[:64],
        paid_at=paid_at,
        paid_time_known=paid_time_known,
        # Only a debit the bank reports as done took money: an unknown result is refused above.
        debited=result in SUCCESS,
        bank_reason=cell("reason")[:200],
        problem=" ".join(problems),
    )


def bank_lines(handle: IO[bytes], encoding: str | None = None) -> Iterator[BatchLine]:
    """The lines of a bank debit result file, read as a stream. Line numbers count the header as 1,
    as a spreadsheet program shows them."""
    encoding = encoding or scan(handle)[0]
    text = io.TextIOWrapper(handle, encoding=encoding, newline="")
    try:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise ValidationError(_("The file is empty.")) from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise ValidationError(
                _("The file is not a CSV text file: %(error)s") % {"error": error}
            ) from error
        at = _columns(header)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield _line(reader.line_num, row, at)
        except (csv.Error, UnicodeDecodeError) as error:
            raise ValidationError(
                _("Line %(line)s of the file cannot be read (is it a CSV text file?): %(error)s")
                % {"line": reader.line_num, "error": error}
            ) from error
    finally:
        text.detach()
