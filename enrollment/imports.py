"""Imports of spreadsheets, set-based: stream the file, COPY it into a staging table, check and
match it with a few SQL statements, then apply it with a few more. Never a query per row, never
the whole file in memory.

- Reading: ``open_table`` streams an .xlsx (the first visible sheet) or a .csv (UTF-8 or GB18030,
  comma / tab / semicolon) through ``enrollment.spreadsheets.read_sheet``, the reader of the
  subsidy rosters too, finds the header row among the first rows, maps the columns by their
  Chinese names (with a few aliases), and refuses what is not a spreadsheet, a zip bomb, an old
  .xls, or a file without the required columns, with a message a clerk can act on. What a person
  cannot see in the file (hidden rows, formulas without a saved result, Excel errors, merged
  cells) makes the rows concerned errors, in the reader's words; the sheets not read are named in
  the job's message.
- Per row, Python only converts and checks the row itself (dates, identifiers via
  ``enrollment.identifiers``, known codes) while streaming; everything that needs other rows or
  the registry (duplicates in the file, one head per household, villages, persons already
  registered, enrollments) is one SQL statement over the staging table.
- ``employee_insurance_apply``: terminates the resident enrollments of the persons on an
  employee-insurance list (the day before their employee-insurance start), writes their
  change rows and sends one ``enrollment.terminated`` message each, in the caller's
  transaction.
- ``households_check`` / ``households_apply``: the migration of households and persons from an
  old system, with a preview; the import creates households, persons and one submitted
  registration application per household.
- ``report_workbook`` / ``template_workbook``: the downloadable xlsx files (write-only openpyxl;
  formula injection escaped; identifiers and phones masked per viewer).

The services in ``enrollment/services.py`` own the transactions and the scope checks and call
these; the reads for the pages (``job_list`` …) take a scope like every selector.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePath
from typing import IO, Any, TypeVar

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, connection
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.utils.datetime import from_excel

from accounts.digits import ascii_digits
from accounts.exports import safe_cell
from accounts.masking import mask_birth_date_text, mask_id_number, mask_phone, shows_full_identity
from accounts.scope import Scope

from . import identifiers
from .models import (
    ChangeReason,
    EnrollmentStatus,
    IdKind,
    ImportJob,
    ImportKind,
    ImportOutcome,
    ImportRow,
    PersonCategory,
    Relation,
    Sex,
)
from .spreadsheets import MAX_COLUMNS, ImportFileError, SheetRows, read_sheet

# --- limits -------------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = int(getattr(settings, "PORTAL_IMPORT_MAX_BYTES", 200 * 1024 * 1024))
MAX_ROWS = int(getattr(settings, "PORTAL_IMPORT_MAX_ROWS", 1_000_000))
HEADER_SEARCH_ROWS = 20
MAX_CELL_CHARS = 500
PROGRESS_EVERY = 2000
PROGRESS_TTL = 6 * 3600

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# What a name may contain that does not count when two spellings of it are compared.
NAME_BLANKS = "[\\s\u00a0\u3000\u00b7\u2022\u30fb]"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


T = TypeVar("T")


def upload_checked(upload: Any, *, allow_xls: bool = False) -> tuple[str, str]:
    """An uploaded spreadsheet's safe file name and format (by its content), or ValidationError on "file".

    Checked before anything is stored: not empty, not too large, a spreadsheet's name, and
    content that is what it claims (``sniff_format``).
    """
    size = upload.size or 0
    if size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    if size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            {"file": _("The file is larger than %(mb)s MB; split it.") % {"mb": MAX_UPLOAD_BYTES // 2**20}}
        )
    name = PurePath(upload.name or "upload").name[:255]
    suffixes = (".xlsx", ".xls", ".csv") if allow_xls else (".xlsx", ".csv")
    if PurePath(name).suffix.lower() not in suffixes:
        message = (
            _("Upload an Excel workbook (.xlsx or .xls) or a CSV file.")
            if allow_xls
            else _("Upload an Excel workbook (.xlsx) or a CSV file.")
        )
        raise ValidationError({"file": message})
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    try:
        file_format = sniff_format(head, name, allow_xls=allow_xls)
    except ImportFileError as error:
        raise ValidationError({"file": error.message}) from error
    return name, file_format


def run_import_guarded(
    *,
    run: Callable[[], T],
    fail: Callable[[str], T],
    conflict_message: str,
    log: logging.Logger,
    label: str,
) -> T:
    """Run a worker's import; whatever goes wrong becomes ``fail(message)`` with words for the uploader.

    ``run`` holds the whole import in one transaction, so a failure has written nothing: a bad
    file, a refusal (its own message), a conflict with someone else's change (``conflict_message``)
    or an unexpected error (logged with its traceback).
    """
    try:
        return run()
    except ImportFileError as error:
        return fail(error.message)
    except (ValidationError, PermissionDenied) as error:
        found = getattr(error, "messages", None) or [str(error)]
        return fail("; ".join(str(message) for message in found))
    except IntegrityError:
        log.warning("%s: integrity error", label, exc_info=True)
        return fail(conflict_message)
    except Exception as error:
        if _holds_nul(error):
            log.warning("%s: a NUL character in the file", label)
            return fail(
                _(
                    "A cell of the file holds a NUL character (0x00), which no text of a roster or a list "
                    "has: the file is damaged or was saved in a wrong format. Open it in Excel, save it "
                    "again as an Excel workbook (.xlsx) and upload that."
                )
            )
        log.exception("%s failed", label)
        return fail(_("An unexpected error stopped the import; nothing was imported."))


def _holds_nul(error: BaseException) -> bool:
    """PostgreSQL's text cannot hold a NUL character: psycopg refuses one in a text value (a cell
    COPYed as text) and PostgreSQL one in JSON (a cell kept as JSON). A reader hands one over from
    an xlsx cell written ``_x0000_``, or from a CSV line past the first 4 KB that the upload checks."""
    text = str(error)
    return isinstance(error, psycopg.DataError | DataError) and (
        "NUL (0x00)" in text or "\\u0000 cannot be converted to text" in text
    )


# --- columns ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # the name in the template
    aliases: tuple[str, ...] = ()
    required: bool = True


EMPLOYEE_COLUMNS: tuple[Column, ...] = (
    Column("id_number", "身份证号码", ("身份证号", "公民身份号码", "证件号码", "参保识别码")),
    Column("name", "姓名"),
    Column("start_date", "参保日期", ("职工参保日期", "职工医保参保日期", "参加职工医保日期")),
    Column("employer", "单位名称", ("单位", "工作单位", "参保单位"), required=False),
)

HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    Column("household_key", "户编号", ("户号", "原户编号", "家庭编号")),
    Column("relation", "与户主关系", ("与户主关系代码", "家庭关系")),
    Column("name", "姓名"),
    Column("id_kind", "证件类型", ("证件种类",)),
    Column("id_number", "证件号码", ("身份证号码", "公民身份号码", "参保识别码")),
    Column("sex", "性别"),
    Column("birth_date", "出生日期"),
    Column("ethnicity", "民族", required=False),
    Column("phone", "联系电话", ("电话", "手机号码", "手机"), required=False),
    Column("category", "人员类别", ("人员类型", "参保人员类别")),
    Column("village", "村（社区）代码", ("村代码", "社区代码", "村居代码", "村(居)代码", "行政区划代码")),
    Column("nationality", "国籍", ("国籍代码",), required=False),
)

REGISTER_COLUMNS: tuple[Column, ...] = (
    Column("id_number", "公民身份号码", ("身份证号码", "身份证号", "证件号码")),
    Column("name", "姓名"),
    Column(
        "village",
        "户籍地村（社区）代码",
        ("村（社区）代码", "村代码", "社区代码", "村居代码", "户籍地代码", "行政区划代码"),
    ),
    Column("register_household", "户号", ("户籍户号", "户口簿户号"), required=False),
    Column("phone", "联系电话", ("电话", "手机号码", "手机"), required=False),
)

COLUMNS_BY_KIND = {
    ImportKind.EMPLOYEE_INSURANCE: EMPLOYEE_COLUMNS,
    ImportKind.HOUSEHOLDS: HOUSEHOLD_COLUMNS,
    ImportKind.HOUSEHOLD_REGISTER: REGISTER_COLUMNS,
}

_HEADER_JUNK = re.compile(r"[\s*＊:：]+")


def _header_key(value: Any) -> str:
    text = text_of(value).translate({0xFF08: "(", 0xFF09: ")"})
    return _HEADER_JUNK.sub("", text).lower()


def _column_lookup(columns: tuple[Column, ...]) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for column in columns:
        for name in (column.title, column.key, *column.aliases):
            lookup[_header_key(name)] = column.key
    return lookup


def map_columns(header: list[Any], columns: tuple[Column, ...]) -> dict[str, int]:
    """Column key -> index in the row, for the columns this header has (the first occurrence wins)."""
    lookup = _column_lookup(columns)
    found: dict[str, int] = {}
    for index, cell in enumerate(header[:MAX_COLUMNS]):
        key = lookup.get(_header_key(cell))
        if key is not None and key not in found:
            found[key] = index
    return found


# --- cells --------------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _datetime_text(value: dt.datetime) -> str:
    return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")


# The readers' cell classes, each to its text in one lookup: an import asks this of every cell
# that is not text (a roster's serial numbers and dates), a hundred thousand times and more.
_TEXT_OF_CLASS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _value: "",
    str: str.strip,
    bool: lambda value: "TRUE" if value else "FALSE",
    int: int.__repr__,
    float: _number_text,
    dt.datetime: _datetime_text,
    dt.date: dt.date.isoformat,
}


def text_of(value: Any) -> str:
    """A cell as the text a person would read in it."""
    convert = _TEXT_OF_CLASS.get(value.__class__)
    if convert is None:
        # A subclass (a reader's own date or string class): the rule of its nearest known class.
        convert = next(
            (_TEXT_OF_CLASS[base] for base in value.__class__.__mro__ if base in _TEXT_OF_CLASS),
            lambda other: str(other).strip(),
        )
    return convert(value)


_DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_DATE_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class CellError(ValueError):
    pass


def date_of(value: Any) -> dt.date:
    """A date from a date cell, an Excel serial number, 19900131, 1990-01-31, 1990/1/31 or 1990年1月31日."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 18000101 <= value <= 21001231 and float(value).is_integer():
            value = str(int(value))
        elif 1 <= value < 80000:
            return from_excel(value).date()
    text = text_of(value).split(" ")[0].split("T")[0]
    match = _DATE_TEXT.match(text) or _DATE_DIGITS.match(text)
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise CellError(
        _("“%(value)s” is not a date; write it like 1990-01-31.") % {"value": text_of(value)[:40]}
    )


def _identifier_number_problem(value: Any) -> str | None:
    if isinstance(value, float) and abs(value) >= 1e15:
        return _(
            "The identifier was stored as a number and has lost its last digits; "
            "format the column as text and type it again."
        )
    return None


def identifier_number_problem(value: Any) -> str | None:
    """Why an identifier cell cannot be trusted (stored as a number that lost digits), or None."""
    return _identifier_number_problem(value)


# Words for the codes, as old systems and clerks write them; codes and English labels work too.
_RELATION_WORDS = {
    "户主": Relation.HEAD, "本人": Relation.HEAD, "本人或户主": Relation.HEAD,
    "配偶": Relation.SPOUSE, "妻": Relation.SPOUSE, "妻子": Relation.SPOUSE, "夫": Relation.SPOUSE,
    "丈夫": Relation.SPOUSE,
    "子": Relation.CHILD, "女": Relation.CHILD, "子女": Relation.CHILD, "儿子": Relation.CHILD,
    "女儿": Relation.CHILD, "长子": Relation.CHILD, "次子": Relation.CHILD, "长女": Relation.CHILD,
    "次女": Relation.CHILD, "养子": Relation.CHILD, "养女": Relation.CHILD, "继子": Relation.CHILD,
    "继女": Relation.CHILD,
    "父母": Relation.PARENT, "父亲": Relation.PARENT, "母亲": Relation.PARENT, "父": Relation.PARENT,
    "母": Relation.PARENT,
    "孙子女": Relation.GRANDCHILD, "孙子": Relation.GRANDCHILD, "孙女": Relation.GRANDCHILD,
    "外孙子女": Relation.GRANDCHILD, "外孙子": Relation.GRANDCHILD, "外孙女": Relation.GRANDCHILD,
    "祖父母": Relation.GRANDPARENT, "祖父": Relation.GRANDPARENT, "祖母": Relation.GRANDPARENT,
    "外祖父母": Relation.GRANDPARENT, "外祖父": Relation.GRANDPARENT, "外祖母": Relation.GRANDPARENT,
    "兄弟姐妹": Relation.SIBLING, "兄": Relation.SIBLING, "弟": Relation.SIBLING, "姐": Relation.SIBLING,
    "妹": Relation.SIBLING, "哥哥": Relation.SIBLING, "弟弟": Relation.SIBLING, "姐姐": Relation.SIBLING,
    "妹妹": Relation.SIBLING,
    "其他": Relation.OTHER, "其他亲属": Relation.OTHER, "儿媳": Relation.OTHER, "女婿": Relation.OTHER,
    "非亲属": Relation.OTHER,
}  # fmt: skip
# GB/T 4761 family-relation codes by their first digit (01/02 本人/户主, 1x 配偶, 2x 子, 3x 女 …).
_RELATION_CODE_DECADES = {
    "0": Relation.HEAD, "1": Relation.SPOUSE, "2": Relation.CHILD, "3": Relation.CHILD,
    "4": Relation.GRANDCHILD, "5": Relation.PARENT, "6": Relation.GRANDPARENT, "7": Relation.SIBLING,
    "8": Relation.OTHER, "9": Relation.OTHER,
}  # fmt: skip
_ID_KIND_WORDS = {
    "居民身份证": IdKind.RESIDENT_ID, "身份证": IdKind.RESIDENT_ID, "居民身份证(户口簿)": IdKind.RESIDENT_ID,
    "户口簿": IdKind.RESIDENT_ID, "户口本": IdKind.RESIDENT_ID,
    "港澳居民来往内地通行证": IdKind.HK_MACAO_PERMIT, "港澳通行证": IdKind.HK_MACAO_PERMIT,
    "回乡证": IdKind.HK_MACAO_PERMIT,
    "台湾居民来往大陆通行证": IdKind.TAIWAN_PERMIT, "台胞证": IdKind.TAIWAN_PERMIT,
    "港澳台居民居住证": IdKind.HMT_RESIDENCE_PERMIT,
    "外国护照": IdKind.FOREIGN_PASSPORT, "护照": IdKind.FOREIGN_PASSPORT,
    "外国人永久居留身份证": IdKind.FOREIGN_PERMANENT_RESIDENCE,
    "外国人永久居留证": IdKind.FOREIGN_PERMANENT_RESIDENCE,
    "无证件": IdKind.GENERATED, "系统生成": IdKind.GENERATED, "无证件人员": IdKind.GENERATED,
}  # fmt: skip
_SEX_WORDS = {
    "男": Sex.MALE,
    "女": Sex.FEMALE,
    "1": Sex.MALE,
    "2": Sex.FEMALE,
    "m": Sex.MALE,
    "f": Sex.FEMALE,
}
_CATEGORY_WORDS = {
    "农村居民": PersonCategory.RURAL, "农村": PersonCategory.RURAL, "农民": PersonCategory.RURAL,
    "城镇居民": PersonCategory.URBAN, "城镇": PersonCategory.URBAN, "城市居民": PersonCategory.URBAN,
    "学生": PersonCategory.STUDENT, "在校学生": PersonCategory.STUDENT, "中小学生": PersonCategory.STUDENT,
    "大学生": PersonCategory.STUDENT,
    "学龄前儿童": PersonCategory.PRESCHOOL, "儿童": PersonCategory.PRESCHOOL,
    "新生儿": PersonCategory.NEWBORN,
}  # fmt: skip


def _normalised(words: dict[str, str]) -> dict[str, str]:
    return {_header_key(word): value for word, value in words.items()}


_RELATION_WORDS = _normalised(_RELATION_WORDS)
_ID_KIND_WORDS = _normalised(_ID_KIND_WORDS)
_SEX_WORDS = _normalised(_SEX_WORDS)
_CATEGORY_WORDS = _normalised(_CATEGORY_WORDS)


@lru_cache(maxsize=8)
def _choice_words(choices: type) -> dict[str, str]:
    """Values, English labels and (when the catalogue has them) Chinese labels of a choice set."""
    words: dict[str, str] = {}
    for value, label in choices.choices:
        words[_header_key(value)] = value
        for language in ("en", "zh-hans"):
            with translation.override(language):
                words[_header_key(str(label))] = value
    return words


def _choice(text: str, words: dict[str, str], choices: type) -> str | None:
    key = _header_key(text)
    return words.get(key) or _choice_words(choices).get(key)


def _relation(text: str) -> str | None:
    key = _header_key(text)
    if ascii_digits(key) and len(key) <= 2:
        return _RELATION_CODE_DECADES[key.zfill(2)[0]]
    return _choice(text, _RELATION_WORDS, Relation)


# --- reading ------------------------------------------------------------------------------------


@dataclass
class Table:
    """The data rows of a file after its header, streamed: (row number in the file, cells)."""

    header: list[str]
    columns: dict[str, int]
    rows: Iterator[tuple[int, list[Any]]]
    estimated_rows: int | None = None
    # The sheet the rows come from: what it hides (rows, formulas, errors, merged cells) and its notes.
    sheet: SheetRows | None = None

    def sheet_problems(self, row: int) -> list[str]:
        """What the reader found hidden or unreadable in this row's columns (messages for the uploader)."""
        if self.sheet is None or not self.sheet.has_findings:
            return []
        return self.sheet.problems(row, self.columns)

    def notes(self) -> list[str]:
        """What the uploader should know about the file as read (the sheets not read)."""
        return self.sheet.notes() if self.sheet is not None else []


def sniff_format(head: bytes, name: str, *, allow_xls: bool = False) -> str:
    """xlsx, csv (or xls when the caller reads old Excel files) by the file's first bytes."""
    if not head:
        raise ImportFileError(_("The file is empty."))
    if head.startswith(XLSX_MAGIC):
        return "xlsx"
    if head.startswith(OLE_MAGIC) and allow_xls:
        return "xls"
    if head.startswith(OLE_MAGIC):
        raise ImportFileError(
            _(
                "This is an old Excel file (.xls) or another Office file; save it as an Excel workbook (.xlsx)."
            )
        )
    if name.lower().endswith(".xlsx"):
        raise ImportFileError(_("The file is damaged or is not an Excel workbook (.xlsx)."))
    if b"\x00" in head[:4096]:
        raise ImportFileError(_("The file is neither an Excel workbook (.xlsx) nor a CSV text file."))
    return "csv"


def _blank(row: list[Any]) -> bool:
    """No cell holds anything a person would read (None, empty or blank text)."""
    for cell in row:
        if cell is not None and (cell.__class__ is not str or (cell and not cell.isspace())):
            return False
    return True


def open_table(path: Path, file_format: str, columns: tuple[Column, ...]) -> Table:
    """Open a file (``enrollment.spreadsheets.read_sheet``), find its header row among the first
    rows, and stream its data rows."""
    return table_from_sheet(read_sheet(path, file_format), columns)


def table_from_sheet(sheet: SheetRows, columns: tuple[Column, ...]) -> Table:
    """Find the header row among the first non-empty rows of a sheet; stream the data rows after it.

    A file without the header, whose workbook hides sheets, says so: the list is likely on one of them.
    """
    try:
        table = _table_from_rows(sheet.rows, sheet.estimated_rows, columns)
    except ImportFileError as error:
        hidden = sheet.hidden_sheets()
        if hidden:
            raise ImportFileError(
                error.message
                + " "
                + _("The hidden sheets %(sheets)s were not read; unhide the sheet that holds the roster.")
                % {"sheets": "、".join(f"“{name}”" for name in hidden)}
            ) from error
        raise
    table.sheet = sheet
    return table


def _table_from_rows(
    raw_rows: Iterator[tuple[int, list[Any]]], estimated: int | None, columns: tuple[Column, ...]
) -> Table:
    rows = iter(raw_rows)
    required = [column for column in columns if column.required]
    best: tuple[int, list[Any]] | None = None
    best_found: dict[str, int] = {}
    searched = 0
    for number, row in rows:
        if _blank(row):
            continue
        searched += 1
        found = map_columns(row, columns)
        if all(column.key in found for column in required):
            header = [text_of(cell) for cell in row[:MAX_COLUMNS]]
            return Table(header=header, columns=found, rows=_limited(rows), estimated_rows=estimated)
        if best is None or len(found) > len(best_found):
            best, best_found = (number, row), found
        if searched >= HEADER_SEARCH_ROWS:
            break
    if best is None:
        raise ImportFileError(_("The file has no rows."))
    missing = [column.title for column in required if column.key not in best_found]
    raise ImportFileError(
        _(
            "No header row with the required columns was found; missing: %(columns)s. Download the template to see them."
        )
        % {"columns": "、".join(missing)}
    )


def _limited(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """The non-empty data rows, refusing a file with more than ``MAX_ROWS`` of them."""
    count = 0
    limit = MAX_ROWS
    for number, row in rows:
        if len(row) > MAX_COLUMNS:
            row = row[:MAX_COLUMNS]  # a sheet used far to the right must not make every row that wide
        for cell in row:
            if cell is not None and (cell.__class__ is not str or (cell and not cell.isspace())):
                break
        else:
            continue
        count += 1
        if count > limit:
            raise ImportFileError(
                _("The file has more than %(limit)s data rows; split it into smaller files.")
                % {"limit": limit}
            )
        yield number, row


def _cell(row: list[Any], columns: dict[str, int], key: str) -> Any:
    index = columns.get(key)
    if index is None or index >= len(row):
        return None
    return row[index]


# A row's cells as read, for the report of the rows not imported: joined by the unit separator,
# which no cell of a list holds (a row whose cells hold it or the record separator is kept as
# JSON after a record separator). Joining costs a tenth of encoding JSON, and PostgreSQL takes
# text without parsing it; the few rows reported become JSON there (``RAW_AS_JSON``).
UNIT_SEPARATOR, RECORD_SEPARATOR = "\x1f", "\x1e"
RAW_AS_JSON = """CASE WHEN starts_with({raw}, E'\\x1e') THEN substr({raw}, 2)::jsonb
    ELSE to_jsonb(string_to_array({raw}, E'\\x1f')) END"""
_ENCODE_JSON = json.JSONEncoder(ensure_ascii=False).encode


def raw_of(row: list[Any], width: int) -> str:
    """The first ``width`` cells of a row as a staging table's ``raw`` (see ``RAW_AS_JSON``): text
    as the file had it, blanks included (the report shows the row as read), other cells as their
    text, each cut to ``MAX_CELL_CHARS``."""
    values = [(cell if cell.__class__ is str else text_of(cell))[:MAX_CELL_CHARS] for cell in row[:width]]
    if len(values) < width:
        values += [""] * (width - len(values))
    joined = UNIT_SEPARATOR.join(values)
    if joined.count(UNIT_SEPARATOR) == width - 1 and RECORD_SEPARATOR not in joined:
        return joined
    return RECORD_SEPARATOR + _ENCODE_JSON(values)


def _notes(table: Table) -> str:
    """The job's message on success: what the uploader should know about the file as read."""
    return " ".join(table.notes())[:2000]


# --- progress -----------------------------------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"portal:import-progress:{job_id}"


def progress_set(job_id: int, *, phase: str, done: int, total: int | None) -> None:
    cache.set(_progress_key(job_id), {"phase": phase, "done": done, "total": total}, PROGRESS_TTL)


def progress_of(job_id: int) -> dict[str, Any] | None:
    return cache.get(_progress_key(job_id))


def progress_clear(job_id: int) -> None:
    cache.delete(_progress_key(job_id))


def _counted(rows: Iterable[tuple[Any, ...]], job_id: int, total: int | None) -> Iterator[tuple[Any, ...]]:
    done = 0
    for done, row in enumerate(rows, start=1):
        if done % PROGRESS_EVERY == 0:
            progress_set(job_id, phase="reading", done=done, total=total)
        yield row
    progress_set(job_id, phase="checking", done=done, total=total)


# --- staging ------------------------------------------------------------------------------------


def _temp_name(prefix: str) -> str:
    return f"import_{prefix}_{uuid.uuid4().hex[:12]}"


def _copy(cursor: Any, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Stream rows into a table with COPY; returns how many."""
    count = 0
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _fill(template: str, **tokens: str) -> str:
    """A translated message whose {tokens} SQL fills in with replace()."""
    return template % {name: "{" + name + "}" for name in tokens} if tokens else template


def _stage(
    cursor: Any,
    *,
    job: ImportJob,
    name: str,
    staging: str,
    columns: list[str],
    rows: Iterable[tuple[Any, ...]],
    estimated: int | None,
) -> None:
    """Create the staging table, COPY the checked rows into it (reporting progress) and analyse it."""
    cursor.execute(staging.format(t=name))
    total = _copy(cursor, name, columns, _counted(rows, job.pk, estimated))
    if total == 0:
        raise ImportFileError(_("The file has a header but no data rows."))
    job.rows_total = total
    cursor.execute(f"ANALYZE {name}")


def _same_person_again(s: str) -> tuple[str, dict[str, Any]]:
    """The same identifier twice in a list: the first row counts, the later ones are errors."""
    return (
        f"""UPDATE {s} s SET problem = replace(%(msg)s, '{{row}}', d.first_row::text)
        FROM (SELECT row_number, min(row_number) OVER (PARTITION BY id_number) AS first_row
              FROM {s} WHERE problem IS NULL) d
        WHERE d.row_number = s.row_number AND d.first_row <> s.row_number""",  # noqa: S608 - generated table names; values are parameters
        {"msg": _fill(_("This person is already in row %(row)s."), row="")},
    )


def _counts(cursor: Any, table: str) -> dict[str, int]:
    cursor.execute(f"SELECT outcome, count(*) FROM {table} GROUP BY outcome")  # noqa: S608 - generated name
    return {outcome: count for outcome, count in cursor.fetchall()}


def _write_report(cursor: Any, *, job: ImportJob, table: str, where: str, household_key: str) -> None:
    cursor.execute("DELETE FROM enrollment_importrow WHERE job_id = %s", [job.pk])
    cursor.execute(
        f"""
        INSERT INTO enrollment_importrow
            (job_id, row_number, outcome, message, household_key, id_number, name, region_code, person_id, "values")
        SELECT %(job)s, s.row_number, s.outcome, coalesce(s.message, ''), left(coalesce({household_key}, ''), 64),
               left(coalesce(s.id_number, ''), 32), left(coalesce(s.name, ''), 60),
               coalesce(s.region, %(region)s), s.person_id, {RAW_AS_JSON.format(raw="s.raw")}
        FROM {table} s WHERE {where}
        ORDER BY s.row_number
        """,  # noqa: S608 - generated table name and fixed fragments, no input
        {"job": job.pk, "region": job.region_code},
    )


# --- employee insurance -------------------------------------------------------------------------

_EMPLOYEE_STAGING = """
CREATE TEMP TABLE {t} (
    row_number integer PRIMARY KEY,
    id_number text, name text, start_date date, employer text,
    problem text, raw text,
    person_id bigint, person_name text, person_region text,
    outcome text, message text, region text
) ON COMMIT DROP
"""
_EMPLOYEE_COPY = ["row_number", "id_number", "name", "start_date", "employer", "problem", "raw"]


def _checked_identifier(raw_id: Any, problems: list[str]) -> str:
    """A list's identifier, normalised; what is wrong with it goes into ``problems``. Any kind of
    identifier is accepted, and one that looks like a resident ID number must have its check digit."""
    id_number = identifiers.normalise(text_of(raw_id))
    stored_as_number = _identifier_number_problem(raw_id)
    if stored_as_number:
        problems.append(stored_as_number)
    elif not id_number:
        problems.append(_("The identifier is missing."))
    elif len(id_number) > 32:
        problems.append(_("The identifier is longer than 32 characters."))
    elif len(id_number) == 18 and id_number[:17].isdigit():
        try:
            identifiers.parse_identifier(IdKind.RESIDENT_ID, id_number)
        except identifiers.IdentifierError as error:
            problems.append(error.message)
    return id_number


def _employee_rows(table: Table) -> Iterator[tuple[Any, ...]]:
    width = len(table.header)
    latest = identifiers.today_in_china() + dt.timedelta(days=366)
    for number, row in table.rows:
        problems = table.sheet_problems(number)
        id_number = _checked_identifier(_cell(row, table.columns, "id_number"), problems)
        name = text_of(_cell(row, table.columns, "name"))
        if not name:
            problems.append(_("The name is missing."))
        start: dt.date | None = None
        raw_start = _cell(row, table.columns, "start_date")
        if raw_start is None or text_of(raw_start) == "":
            problems.append(_("The employee-insurance start date is missing."))
        else:
            try:
                start = date_of(raw_start)
            except CellError as error:
                problems.append(str(error))
            else:
                if start > latest or start.year < 1990:
                    problems.append(
                        _("The start date %(date)s is not plausible.") % {"date": start.isoformat()}
                    )
                    start = None
        employer = text_of(_cell(row, table.columns, "employer"))[:200]
        yield (
            number, id_number[:64] or None, name[:200] or None, start, employer or None,
            "; ".join(problems) or None, raw_of(row, width),
        )  # fmt: skip


def employee_insurance_apply(*, job: ImportJob, scope: Scope, path: Path) -> dict[str, int]:
    """Terminate the resident enrollments of the persons on an employee-insurance list.

    Runs in the caller's transaction: COPY into a staging table, match with joins, lock the
    enrollments to end, end them (the day before the employee-insurance start), write their
    change rows, reassess their persons' open years (set-based, as a single termination does:
    a due year is cancelled and tax told), send one ``enrollment.terminated`` message each, and
    write the report.
    Returns the count of rows per outcome.
    """
    from sharing.services import message_send_bulk

    from .assessment import assessment_reassess_persons

    table = open_table(path, job.file_format, EMPLOYEE_COLUMNS)
    job.columns = table.header
    job.message = _notes(table)
    s = _temp_name("emp")
    g = _temp_name("emp_targets")
    ended = _temp_name("emp_ended")
    prefix = "" if scope.unrestricted else (scope.region_prefix or "-")
    with connection.cursor() as cursor:
        _stage(cursor, job=job, name=s, staging=_EMPLOYEE_STAGING, columns=_EMPLOYEE_COPY,
               rows=_employee_rows(table), estimated=table.estimated_rows)  # fmt: skip
        sql: list[tuple[str, dict[str, Any]]] = [
            _same_person_again(s),
            (f"UPDATE {s} SET outcome = 'error', message = problem WHERE problem IS NOT NULL", {}),  # noqa: S608 - generated table names; values are parameters
            (
                f"""UPDATE {s} s SET person_id = p.id, person_name = p.name, person_region = p.region_code
                FROM enrollment_person p WHERE p.id_number = s.id_number AND s.outcome IS NULL""",  # noqa: S608 - generated table names; values are parameters
                {},
            ),
            (
                f"UPDATE {s} SET outcome = 'not_found', message = %(msg)s WHERE outcome IS NULL AND person_id IS NULL",  # noqa: S608 - generated table names; values are parameters
                {"msg": _("No person with this identifier is in the registry.")},
            ),
            (
                f"""UPDATE {s} SET outcome = 'name_mismatch', region = person_region,
                    message = replace(%(msg)s, '{{name}}',
                        CASE WHEN starts_with(person_region, %(prefix)s) THEN person_name
                             ELSE left(person_name, 1) || repeat('*', greatest(length(person_name) - 1, 0)) END)
                WHERE outcome IS NULL
                  AND regexp_replace(name, %(blank)s, '', 'g') <> regexp_replace(person_name, %(blank)s, '', 'g')""",  # noqa: S608 - generated table names; values are parameters
                {
                    "msg": _fill(
                        _("The registry has the name “%(name)s” for this identifier; check the row."), name=""
                    ),
                    "prefix": prefix,
                    "blank": NAME_BLANKS,
                },
            ),
            # the enrollments to end: current ones in the caller's area, locked before they are read
            (
                f"""CREATE TEMP TABLE {g} ON COMMIT DROP AS
                SELECT s.row_number, e.id AS enrollment_id, e.enrolled_on, e.region_code
                FROM {s} s JOIN enrollment_enrollment e ON e.person_id = s.person_id
                WHERE false""",  # noqa: S608 - generated table names; values are parameters
                {},
            ),
            (
                f"""INSERT INTO {g} (row_number, enrollment_id, enrolled_on, region_code)
                SELECT s.row_number, e.id, e.enrolled_on, e.region_code
                FROM {s} s JOIN enrollment_enrollment e ON e.person_id = s.person_id
                WHERE s.outcome IS NULL AND e.status <> 'terminated' AND starts_with(e.region_code, %(prefix)s)
                ORDER BY e.id
                FOR UPDATE OF e""",  # noqa: S608 - generated table names; values are parameters
                {"prefix": prefix},
            ),
            (
                f"""UPDATE {s} s SET outcome = 'date_conflict', region = x.region_code,
                    message = replace(replace(%(msg)s, '{{start}}', to_char(s.start_date, 'YYYY-MM-DD')),
                                      '{{enrolled}}', to_char(x.enrolled_on, 'YYYY-MM-DD'))
                FROM (SELECT DISTINCT ON (row_number) row_number, enrolled_on, region_code FROM {g}
                      ORDER BY row_number, enrolled_on DESC) x
                WHERE x.row_number = s.row_number AND s.outcome IS NULL AND s.start_date <= x.enrolled_on""",  # noqa: S608 - generated table names; values are parameters
                {
                    "msg": _fill(
                        _(
                            "Employee insurance starts on %(start)s, not after the resident enrollment began "
                            "(%(enrolled)s); terminate it by hand after checking."
                        ),
                        start="",
                        enrolled="",
                    )
                },
            ),
            (
                f"""UPDATE {s} s SET outcome = 'terminated', region = x.region_code,
                    message = replace(%(msg)s, '{{end}}', to_char(s.start_date - 1, 'YYYY-MM-DD'))
                FROM (SELECT DISTINCT ON (row_number) row_number, region_code FROM {g}
                      ORDER BY row_number, enrollment_id) x
                WHERE x.row_number = s.row_number AND s.outcome IS NULL""",  # noqa: S608 - generated table names; values are parameters
                {"msg": _fill(_("Resident enrollment ended on %(end)s."), end="")},
            ),
            (
                f"""UPDATE {s} s SET outcome = 'outside_area', region = e.region_code,
                    message = replace(%(msg)s, '{{where}}', coalesce(r.name, left(e.region_code, 6)))
                FROM enrollment_enrollment e
                LEFT JOIN accounts_region r ON r.code = rpad(left(e.region_code, 6), 12, '0')
                WHERE s.outcome IS NULL AND e.person_id = s.person_id AND e.status <> 'terminated'""",  # noqa: S608 - generated table names; values are parameters
                {
                    "msg": _fill(
                        _("Enrolled in %(where)s, outside your area; that county's insurance staff end it."),
                        where="",
                    )
                },
            ),
            (
                f"""UPDATE {s} SET outcome = 'not_enrolled', region = person_region, message = %(msg)s
                WHERE outcome IS NULL""",  # noqa: S608 - generated table names; values are parameters
                {"msg": _("The person has no current resident enrollment.")},
            ),
        ]
        for statement, params in sql:
            cursor.execute(statement, params)
        note = _fill(_("Joined employee insurance on %(start)s (%(employer)s); import no. %(job)s."),
                     start="", employer="", job="")  # fmt: skip
        cursor.execute(
            f"""
            WITH ended AS (
                UPDATE enrollment_enrollment e SET
                    status = %(terminated)s,
                    status_reason = %(reason)s,
                    ended_on = least(coalesce(e.ended_on, s.start_date - 1), s.start_date - 1),
                    status_changed_on = least(coalesce(e.ended_on, s.start_date - 1), s.start_date - 1)
                FROM {g} g JOIN {s} s ON s.row_number = g.row_number
                WHERE e.id = g.enrollment_id AND s.outcome = 'terminated'
                RETURNING e.id, e.ended_on, g.row_number
            )
            INSERT INTO enrollment_enrollmentchange
                (enrollment_id, kind, reason, effective_on, note, evidence, created_by_id, created_at)
            SELECT ended.id, 'terminated', %(reason)s, ended.ended_on,
                   left(replace(replace(replace(%(note)s, '{{start}}', to_char(s.start_date, 'YYYY-MM-DD')),
                        '{{employer}}', coalesce(s.employer, '—')), '{{job}}', %(job)s), 300),
                   '', %(user)s, statement_timestamp()
            FROM ended JOIN {s} s ON s.row_number = ended.row_number
            ORDER BY ended.id
            """,  # noqa: S608 - generated table names, values as parameters
            {
                "terminated": EnrollmentStatus.TERMINATED.value,
                "reason": ChangeReason.EMPLOYEE_INSURANCE.value,
                "note": note,
                "job": str(job.pk),
                "user": scope.user_id,
            },
        )
        # As a single termination does: the persons' open years are reassessed (a due year
        # cancelled, at tax too), set-based for all of them, in this transaction.
        cursor.execute(
            f"""CREATE TEMP TABLE {ended} ON COMMIT DROP AS
            SELECT DISTINCT e.person_id FROM {g} g JOIN {s} s ON s.row_number = g.row_number
            JOIN enrollment_enrollment e ON e.id = g.enrollment_id
            WHERE s.outcome = 'terminated'"""  # noqa: S608 - generated table names
        )
        if cursor.rowcount:
            assessment_reassess_persons(
                person_table=ended,
                reason=f"employee insurance import {job.pk}",
                actor_id=scope.user_id,
            )
        message_send_bulk(
            topic="enrollment.terminated",
            query=f"""
                SELECT NULL::text AS subject, e.region_code AS region_code, jsonb_build_object(
                    'person_id', p.id_number, 'region_code', e.region_code, 'enrollment_id', e.id,
                    'person_name', p.name, 'category', p.category,
                    'terminated_on', to_char(e.ended_on, 'YYYY-MM-DD'), 'reason', %s) AS payload
                FROM {g} g JOIN {s} s ON s.row_number = g.row_number
                JOIN enrollment_enrollment e ON e.id = g.enrollment_id
                JOIN enrollment_person p ON p.id = e.person_id
                WHERE s.outcome = 'terminated'
                ORDER BY e.id
            """,  # noqa: S608 - generated table names
            params=[ChangeReason.EMPLOYEE_INSURANCE.value],
        )
        _write_report(cursor, job=job, table=s, where="true", household_key="NULL")
        counts = _counts(cursor, s)
        cursor.execute(f"DROP TABLE {g}, {s}, {ended}")
    return counts


# --- household register -------------------------------------------------------------------------

_REGISTER_STAGING = """
CREATE TEMP TABLE {t} (
    row_number integer PRIMARY KEY,
    id_number text, name text, village text, register_household text, phone text,
    problem text, raw text,
    person_id bigint, outcome text, message text, region text
) ON COMMIT DROP
"""
_REGISTER_COPY = [
    "row_number",
    "id_number",
    "name",
    "village",
    "register_household",
    "phone",
    "problem",
    "raw",
]


def _register_rows(table: Table) -> Iterator[tuple[Any, ...]]:
    width = len(table.header)
    for number, row in table.rows:
        problems = table.sheet_problems(number)
        id_number = _checked_identifier(_cell(row, table.columns, "id_number"), problems)
        if not problems:
            # The household register lists citizens by their resident ID number (公民身份号码).
            try:
                identifiers.parse_identifier(IdKind.RESIDENT_ID, id_number)
            except identifiers.IdentifierError as error:
                problems.append(error.message)
        name = text_of(_cell(row, table.columns, "name"))
        if not name:
            problems.append(_("The name is missing."))
        elif len(name) > 60:
            problems.append(_("The name is longer than 60 characters."))
        elif problem := identifiers.name_problem(name):
            problems.append(problem)
        village = text_of(_cell(row, table.columns, "village"))
        if not _VILLAGE.match(village):
            problems.append(_("The village code must have 12 digits."))
        phone = text_of(_cell(row, table.columns, "phone"))
        if phone and not _PHONE.match(phone):
            problems.append(_("The phone number is not valid."))
        household = text_of(_cell(row, table.columns, "register_household"))[:40]
        yield (
            number, id_number[:64] or None, name[:200] or None, village[:12] or None, household or None,
            phone[:20] or None, "; ".join(problems) or None, raw_of(row, width),
        )  # fmt: skip


def household_register_apply(*, job: ImportJob, scope: Scope, path: Path) -> dict[str, int]:
    """Replace the household register (户籍人口名册) of every village the file holds.

    Runs in the caller's transaction: COPY into a staging table, check with a few statements
    (duplicates in the file, villages known and inside the caller's area), then delete the
    register of the file's villages and insert the file's good rows. A person already on another
    village's register moves to the one in the file (their household register moved). Rows with
    an error are listed in the report and not registered, and a village with any row in error keeps
    its register as it was: replacing it with the good rows alone would drop the persons of the
    bad ones from the village's registered population, the base of its coverage rate.
    """
    table = open_table(path, job.file_format, REGISTER_COLUMNS)
    job.columns = table.header
    job.message = _notes(table)
    s = _temp_name("reg")
    prefix = "" if scope.unrestricted else (scope.region_prefix or "-")
    with connection.cursor() as cursor:
        _stage(cursor, job=job, name=s, staging=_REGISTER_STAGING, columns=_REGISTER_COPY,
               rows=_register_rows(table), estimated=table.estimated_rows)  # fmt: skip
        statements: list[tuple[str, dict[str, Any]]] = [
            _same_person_again(s),
            (
                f"""UPDATE {s} s SET problem = replace(%(msg)s, '{{code}}', s.village)
                WHERE s.problem IS NULL AND NOT EXISTS (
                    SELECT 1 FROM accounts_region r WHERE r.code = s.village AND r.level = 5)""",  # noqa: S608 - generated table names; values are parameters
                {"msg": _fill(_("No village has the code %(code)s."), code="")},
            ),
            (
                f"""UPDATE {s} s SET outcome = 'outside_area', region = s.village, message = %(msg)s
                WHERE s.problem IS NULL AND NOT starts_with(s.village, %(prefix)s)""",  # noqa: S608 - generated table names; values are parameters
                {"msg": _("The village is outside your area."), "prefix": prefix},
            ),
            (f"UPDATE {s} SET outcome = 'error', message = problem WHERE problem IS NOT NULL", {}),  # noqa: S608 - generated table names
            (
                f"""UPDATE {s} s SET outcome = 'village_error', region = s.village, message = %(msg)s
                WHERE s.outcome IS NULL AND s.village IN (SELECT e.village FROM {s} e WHERE e.outcome = 'error')""",  # noqa: S608 - generated table names; values are parameters
                {
                    "msg": _(
                        "Another row of this village has an error: the village's register stays as it was "
                        "until the file is corrected and imported again."
                    )
                },
            ),
            (f"UPDATE {s} SET outcome = 'registered', region = village WHERE outcome IS NULL", {}),  # noqa: S608 - generated table names
            (
                f"""DELETE FROM enrollment_registeredresident r
                WHERE r.region_code IN (SELECT DISTINCT village FROM {s} WHERE outcome = 'registered')""",  # noqa: S608 - generated table names
                {},
            ),
            (
                f"""INSERT INTO enrollment_registeredresident
                    (id_number, name, region_code, register_household, phone, job_id)
                SELECT id_number, name, village, coalesce(register_household, ''), coalesce(phone, ''), %(job)s
                FROM {s} WHERE outcome = 'registered' ORDER BY village, id_number
                ON CONFLICT (id_number) DO UPDATE SET
                    name = excluded.name, region_code = excluded.region_code,
                    register_household = excluded.register_household, phone = excluded.phone,
                    job_id = excluded.job_id""",  # noqa: S608 - generated table names; values are parameters
                {"job": job.pk},
            ),
        ]
        for statement, params in statements:
            cursor.execute(statement, params)
        _write_report(cursor, job=job, table=s, where="s.outcome <> 'registered'", household_key="NULL")
        counts = _counts(cursor, s)
        cursor.execute(f"SELECT count(DISTINCT village) FROM {s} WHERE outcome = 'registered'")  # noqa: S608 - generated table name
        counts["villages"] = int(cursor.fetchone()[0])
        cursor.execute(f"DROP TABLE {s}")
    return counts


# --- households ---------------------------------------------------------------------------------

_HOUSEHOLD_STAGING = """
CREATE TEMP TABLE {t} (
    row_number integer PRIMARY KEY,
    household_key text, relation text, name text, id_kind text, id_number text, sex text,
    birth_date date, ethnicity text, phone text, category text, village text, nationality text,
    problem text, raw text,
    person_id bigint, existing_household text,
    outcome text, message text, region text
) ON COMMIT DROP
"""
_HOUSEHOLD_COPY = [
    "row_number", "household_key", "relation", "name", "id_kind", "id_number", "sex", "birth_date",
    "ethnicity", "phone", "category", "village", "nationality", "problem", "raw",
]  # fmt: skip
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")
_VILLAGE = re.compile(r"^[0-9]{12}$")
_FOREIGN_KINDS = (IdKind.FOREIGN_PASSPORT, IdKind.FOREIGN_PERMANENT_RESIDENCE)


def _household_rows(table: Table) -> Iterator[tuple[Any, ...]]:
    width = len(table.header)
    today = identifiers.today_in_china()
    cols = table.columns
    for number, row in table.rows:
        problems = table.sheet_problems(number)

        def text(key: str, row: list[Any] = row) -> str:
            return text_of(_cell(row, cols, key))

        household_key = text("household_key")
        if not household_key:
            problems.append(_("The household number (户编号) is missing."))
        elif len(household_key) > 64:
            problems.append(_("The household number is longer than 64 characters."))
        relation = _relation(text("relation")) if text("relation") else None
        if relation is None:
            problems.append(
                _("The relation to the head “%(value)s” is not known.") % {"value": text("relation")[:20]}
            )
        name = text("name")
        if not name:
            problems.append(_("The name is missing."))
        elif len(name) > 60:
            problems.append(_("The name is longer than 60 characters."))
        kind_text = text("id_kind")
        id_kind = _choice(kind_text, _ID_KIND_WORDS, IdKind) if kind_text else IdKind.RESIDENT_ID
        if id_kind is None:
            problems.append(_("The identifier kind “%(value)s” is not known.") % {"value": kind_text[:30]})
        sex = _choice(text("sex"), _SEX_WORDS, Sex) if text("sex") else None
        if sex is None:
            problems.append(
                _("The sex “%(value)s” is not known; write 男 or 女.") % {"value": text("sex")[:10]}
            )
        birth_date: dt.date | None = None
        raw_birth = _cell(row, cols, "birth_date")
        if raw_birth is None or text_of(raw_birth) == "":
            problems.append(_("The birth date is missing."))
        else:
            try:
                birth_date = date_of(raw_birth)
            except CellError as error:
                problems.append(str(error))
            else:
                if birth_date > today:
                    problems.append(_("The birth date lies in the future."))
                    birth_date = None
        nationality = text("nationality").upper()
        raw_id = _cell(row, cols, "id_number")
        id_number = identifiers.normalise(text_of(raw_id))
        stored_as_number = _identifier_number_problem(raw_id)
        if stored_as_number:
            problems.append(stored_as_number)
        elif id_kind is not None:
            try:
                parsed = identifiers.parse_identifier(
                    id_kind, id_number, nationality=nationality if id_kind in _FOREIGN_KINDS else None
                )
            except identifiers.IdentifierError as error:
                problems.append(error.message)
            else:
                id_number = parsed.number
                nationality = parsed.nationality or "" if id_kind in _FOREIGN_KINDS else ""
                mismatches = identifiers.check_against_entered(parsed, birth_date=birth_date, sex=sex)
                problems.extend(mismatch.message for mismatch in mismatches)
        category_text = text("category")
        category = _choice(category_text, _CATEGORY_WORDS, PersonCategory) if category_text else None
        if category is None:
            problems.append(_("The category “%(value)s” is not known.") % {"value": category_text[:20]})
        ethnicity = text("ethnicity")
        if len(ethnicity) > 20:
            problems.append(_("The ethnicity is longer than 20 characters."))
        phone = text("phone")
        if phone and not _PHONE.match(phone):
            problems.append(_("The phone number “%(value)s” is not valid.") % {"value": phone[:30]})
        village = text("village")
        if not _VILLAGE.match(village):
            problems.append(
                _("The village code must have 12 digits; “%(value)s” does not.") % {"value": village[:20]}
            )
            village = ""
        yield (
            number, household_key[:64] or None, relation, name[:60] or None, id_kind, id_number[:32] or None, sex,
            birth_date, ethnicity[:20], phone[:20], category, village or None, nationality[:3],
            "; ".join(problems) or None, raw_of(row, width),
        )  # fmt: skip


def _household_checks(cursor: Any, *, s: str, prefix: str) -> None:
    """Every check that needs other rows or the registry; then each row's outcome."""
    add = "problem = concat_ws('; ', problem, {message})"
    statements: list[tuple[str, dict[str, Any]]] = [
        (
            f"""UPDATE {s} s SET {add.format(message="replace(%(msg)s, '{code}', s.village)")}
            WHERE s.village IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM accounts_region r WHERE r.code = s.village AND r.level = 5)""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _fill(_("%(code)s is not a village or community of this portal."), code="")},
        ),
        (
            f"""UPDATE {s} s SET {add.format(message="replace(%(msg)s, '{code}', s.village)")}
            WHERE s.village IS NOT NULL AND NOT starts_with(s.village, %(prefix)s)
              AND EXISTS (SELECT 1 FROM accounts_region r WHERE r.code = s.village AND r.level = 5)""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _fill(_("The village %(code)s lies outside your area."), code=""), "prefix": prefix},
        ),
        (
            f"""UPDATE {s} s SET {add.format(message="%(msg)s")}
            FROM (SELECT household_key FROM {s} WHERE village IS NOT NULL GROUP BY household_key
                  HAVING count(DISTINCT village) > 1) h
            WHERE h.household_key = s.household_key""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _("The rows of this household name different villages.")},
        ),
        (
            f"""UPDATE {s} s SET {add.format(message="replace(%(msg)s, '{heads}', h.heads::text)")}
            FROM (SELECT household_key, count(*) FILTER (WHERE relation = 'head') AS heads FROM {s}
                  WHERE household_key IS NOT NULL GROUP BY household_key
                  HAVING count(*) FILTER (WHERE relation = 'head') <> 1) h
            WHERE h.household_key = s.household_key""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _fill(_("A household has exactly one head (户主); this one has %(heads)s."), heads="")},
        ),
        (
            f"""UPDATE {s} s SET {add.format(message="replace(%(msg)s, '{row}', d.first_row::text)")}
            FROM (SELECT row_number, min(row_number) OVER (PARTITION BY id_number) AS first_row
                  FROM {s} WHERE id_number IS NOT NULL) d
            WHERE d.row_number = s.row_number AND d.first_row <> s.row_number""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _fill(_("This identifier is already in row %(row)s."), row="")},
        ),
        (
            f"""UPDATE {s} s SET person_id = p.id,
                existing_household = CASE WHEN starts_with(h.region_code, %(prefix)s) THEN h.number ELSE '' END
            FROM enrollment_person p LEFT JOIN enrollment_household h ON h.id = p.household_id
            WHERE p.id_number = s.id_number""",  # noqa: S608 - generated table names; values are parameters
            {"prefix": prefix},
        ),
        (
            f"""UPDATE {s} s SET {add.format(message="replace(%(msg)s, '{household}', coalesce(nullif(x.existing_household, ''), '—'))")}
            FROM (SELECT household_key, max(existing_household) AS existing_household FROM {s}
                  WHERE relation = 'head' AND person_id IS NOT NULL GROUP BY household_key) x
            WHERE x.household_key = s.household_key AND s.person_id IS NULL""",  # noqa: S608 - generated table names; values are parameters
            {
                "msg": _fill(
                    _(
                        "The head of this household is already in the registry (household %(household)s); "
                        "register this person with that household instead."
                    ),
                    household="",
                )
            },
        ),
        (
            f"UPDATE {s} SET outcome = 'error', message = problem, person_id = NULL WHERE problem IS NOT NULL",  # noqa: S608 - generated table name
            {},
        ),
        (
            f"""UPDATE {s} SET outcome = 'existing',
                message = CASE WHEN existing_household = '' THEN %(bare)s
                               ELSE replace(%(msg)s, '{{household}}', existing_household) END
            WHERE outcome IS NULL AND person_id IS NOT NULL""",  # noqa: S608 - generated table names; values are parameters
            {
                "msg": _fill(
                    _("Already in the registry (household %(household)s); not imported again."), household=""
                ),
                "bare": _("Already in the registry; not imported again."),
            },
        ),
        (
            f"""UPDATE {s} s SET outcome = 'household_error', message = %(msg)s
            FROM (SELECT DISTINCT household_key FROM {s} WHERE outcome = 'error') e
            WHERE s.outcome IS NULL AND s.household_key = e.household_key""",  # noqa: S608 - generated table names; values are parameters
            {"msg": _("Another row of this household has an error, so the household is not imported.")},
        ),
        (f"UPDATE {s} SET outcome = 'ok' WHERE outcome IS NULL", {}),  # noqa: S608 - generated table names; values are parameters
        (
            f"""UPDATE {s} SET region = CASE WHEN village IS NOT NULL AND starts_with(village, %(prefix)s)
                                          THEN village END""",  # noqa: S608 - generated table names; values are parameters
            {"prefix": prefix},
        ),
    ]
    for statement, params in statements:
        cursor.execute(statement, params)


def _household_stage(*, job: ImportJob, scope: Scope, path: Path, cursor: Any) -> str:
    table = open_table(path, job.file_format, HOUSEHOLD_COLUMNS)
    job.columns = table.header
    job.message = _notes(table)
    s = _temp_name("hh")
    cursor.execute(_HOUSEHOLD_STAGING.format(t=s))
    rows = _counted(_household_rows(table), job.pk, table.estimated_rows)
    total = _copy(cursor, s, _HOUSEHOLD_COPY, rows)
    if total == 0:
        raise ImportFileError(_("The file has a header but no data rows."))
    job.rows_total = total
    cursor.execute(f"ANALYZE {s}")
    prefix = "" if scope.unrestricted else (scope.region_prefix or "-")
    _household_checks(cursor, s=s, prefix=prefix)
    return s


def _household_counts(cursor: Any, s: str) -> dict[str, int]:
    counts = _counts(cursor, s)
    cursor.execute(f"SELECT count(DISTINCT household_key) FROM {s} WHERE outcome = 'ok'")  # noqa: S608
    counts["households"] = cursor.fetchone()[0]
    return counts


def households_check(*, job: ImportJob, scope: Scope, path: Path) -> dict[str, int]:
    """The preview: every row checked, the rows that will not be imported written to the report."""
    with connection.cursor() as cursor:
        s = _household_stage(job=job, scope=scope, path=path, cursor=cursor)
        _write_report(cursor, job=job, table=s, where="s.outcome <> 'ok'", household_key="s.household_key")
        counts = _household_counts(cursor, s)
        cursor.execute(f"DROP TABLE {s}")
    return counts


class NumbersExhaustedError(ImportFileError):
    pass


def households_apply(*, job: ImportJob, scope: Scope, path: Path) -> dict[str, int]:
    """Check the file again (the registry may have changed) and import what passes, set-based.

    Households get the next numbers of their village (the counters are locked in code order),
    persons are inserted from the staging table, each household gets one submitted registration
    application with its new members, and the old household numbers are kept.
    """
    with connection.cursor() as cursor:
        s = _household_stage(job=job, scope=scope, path=path, cursor=cursor)
        h = _temp_name("hh_new")
        progress_set(job.pk, phase="writing", done=job.rows_total, total=job.rows_total)
        cursor.execute(
            f"""CREATE TEMP TABLE {h} ON COMMIT DROP AS
            SELECT household_key, min(village) AS village, min(row_number) AS first_row,
                   NULL::text AS number, NULL::bigint AS household_id, NULL::bigint AS application_id
            FROM {s} WHERE outcome = 'ok' GROUP BY household_key"""  # noqa: S608
        )
        cursor.execute(
            f"""INSERT INTO enrollment_householdcounter (region_code, last_number)
            SELECT DISTINCT village, 0 FROM {h} ORDER BY 1 ON CONFLICT (region_code) DO NOTHING"""  # noqa: S608
        )
        cursor.execute(
            f"""SELECT c.region_code FROM enrollment_householdcounter c
            WHERE c.region_code IN (SELECT village FROM {h}) ORDER BY c.region_code FOR UPDATE"""  # noqa: S608
        )
        cursor.execute(
            f"""SELECT c.region_code FROM enrollment_householdcounter c
            JOIN (SELECT village, count(*) AS n FROM {h} GROUP BY village) need ON need.village = c.region_code
            WHERE c.last_number + need.n > 99999 ORDER BY 1"""  # noqa: S608
        )
        exhausted = [row[0] for row in cursor.fetchall()]
        if exhausted:
            raise NumbersExhaustedError(
                _("No household numbers are left in %(villages)s.") % {"villages": ", ".join(exhausted)}
            )
        cursor.execute(
            f"""WITH need AS (SELECT village, count(*) AS n FROM {h} GROUP BY village),
            bumped AS (
                UPDATE enrollment_householdcounter c SET last_number = c.last_number + need.n
                FROM need WHERE c.region_code = need.village
                RETURNING c.region_code, c.last_number - need.n AS base
            ),
            ranked AS (
                SELECT household_key, row_number() OVER (PARTITION BY village ORDER BY first_row) AS rn FROM {h}
            )
            UPDATE {h} x SET number = x.village || lpad((b.base + r.rn)::text, 5, '0')
            FROM bumped b, ranked r
            WHERE b.region_code = x.village AND r.household_key = x.household_key"""  # noqa: S608
        )
        user = scope.user_id
        cursor.execute(
            f"""INSERT INTO enrollment_household
                (number, region_code, kind, address, residence_permit_number, created_at, created_by_id)
            SELECT number, village, 'hukou', '', '', statement_timestamp(), %s FROM {h} ORDER BY number""",  # noqa: S608
            [user],
        )
        cursor.execute(
            f"UPDATE {h} x SET household_id = hh.id FROM enrollment_household hh WHERE hh.number = x.number"  # noqa: S608
        )
        cursor.execute(
            f"""INSERT INTO enrollment_person
                (id_kind, id_number, nationality, name, sex, birth_date, ethnicity, phone, hukou_region_code,
                 residence_region_code, category, household_id, relation, school_id, region_code,
                 created_at, updated_at)
            SELECT s.id_kind, s.id_number, coalesce(s.nationality, ''), s.name, s.sex, s.birth_date,
                   coalesce(s.ethnicity, ''), coalesce(s.phone, ''), '', '', s.category, x.household_id,
                   s.relation, NULL, x.village, statement_timestamp(), statement_timestamp()
            FROM {s} s JOIN {h} x ON x.household_key = s.household_key
            WHERE s.outcome = 'ok' ORDER BY s.row_number"""  # noqa: S608
        )
        persons = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO enrollment_registrationapplication
                (household_id, region_code, status, submitted_by_id, submitted_at, decision_note)
            SELECT household_id, village, 'submitted', %s, statement_timestamp(), '' FROM {h}
            ORDER BY household_id""",  # noqa: S608
            [user],
        )
        applications = cursor.rowcount
        cursor.execute(
            f"""UPDATE {h} x SET application_id = a.id FROM enrollment_registrationapplication a
            WHERE a.household_id = x.household_id AND a.status = 'submitted'"""  # noqa: S608
        )
        cursor.execute(
            f"""INSERT INTO enrollment_registrationapplication_persons (registrationapplication_id, person_id)
            SELECT x.application_id, p.id FROM {h} x JOIN enrollment_person p ON p.household_id = x.household_id
            ORDER BY x.application_id, p.id"""  # noqa: S608
        )
        cursor.execute(
            f"""INSERT INTO enrollment_importedhousehold (job_id, old_number, household_id)
            SELECT %s, household_key, household_id FROM {h} ORDER BY household_id""",  # noqa: S608
            [job.pk],
        )
        households = cursor.rowcount
        _write_report(cursor, job=job, table=s, where="s.outcome <> 'ok'", household_key="s.household_key")
        counts = _household_counts(cursor, s)
        counts.update(
            households_created=households, persons_created=persons, applications_created=applications
        )
        cursor.execute(f"DROP TABLE {h}, {s}")
    return counts


# --- reads for the pages ------------------------------------------------------------------------


def job_list(*, scope: Scope, kind: str | None = None) -> QuerySet[ImportJob]:
    jobs = scope.filter(ImportJob.objects.select_related("created_by", "confirmed_by"))
    return jobs.filter(kind=kind) if kind else jobs


def job_detail(*, scope: Scope, pk: int) -> ImportJob:
    return scope.get_object_or_404(ImportJob.objects.select_related("created_by", "confirmed_by"), pk=pk)


def job_rows(*, job: ImportJob, outcome: str | None = None) -> QuerySet[ImportRow]:
    rows = ImportRow.objects.filter(job=job)
    return rows.filter(outcome=outcome) if outcome else rows.order_by("row_number")


def job_households(*, job: ImportJob) -> QuerySet[Any]:
    return job.households.select_related("household").order_by("household__number")


# --- workbooks ----------------------------------------------------------------------------------


@dataclass
class _Masker:
    scope: Scope
    id_index: int | None
    phone_index: int | None
    birth_index: int | None = None
    _full: dict[str, bool] = field(default_factory=dict)

    def full(self, region_code: str) -> bool:
        if region_code not in self._full:
            self._full[region_code] = shows_full_identity(self.scope, region_code)
        return self._full[region_code]

    def values(self, values: list[str], region_code: str) -> list[str]:
        if self.full(region_code):
            return values
        shown = list(values)
        if self.id_index is not None and self.id_index < len(shown) and shown[self.id_index]:
            shown[self.id_index] = mask_id_number(identifiers.normalise(shown[self.id_index]))
        if self.phone_index is not None and self.phone_index < len(shown) and shown[self.phone_index]:
            shown[self.phone_index] = mask_phone(shown[self.phone_index])
        if self.birth_index is not None and self.birth_index < len(shown) and shown[self.birth_index]:
            # the full date beside the masked identifier would give back the digits it hides
            shown[self.birth_index] = mask_birth_date_text(shown[self.birth_index])
        return shown

    def id_number(self, number: str, region_code: str) -> str:
        return number if self.full(region_code) or not number else mask_id_number(number)


def masker_for(*, scope: Scope, job: ImportJob) -> _Masker:
    columns = map_columns(list(job.columns), COLUMNS_BY_KIND[ImportKind(job.kind)])
    return _Masker(
        scope=scope,
        id_index=columns.get("id_number"),
        phone_index=columns.get("phone"),
        birth_index=columns.get("birth_date"),
    )


def _save(book: Workbook) -> IO[bytes]:
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stream() once sent
    book.save(handle)
    handle.seek(0)
    return handle


def report_workbook(*, scope: Scope, job: ImportJob) -> IO[bytes]:
    """The job's report: a summary sheet and every listed row (original cells, outcome, reason)."""
    book = Workbook(write_only=True)
    summary = book.create_sheet(_("Summary"))
    summary.append([_("Import"), safe_cell(job.get_kind_display())])
    summary.append([_("File"), safe_cell(job.original_name)])
    summary.append([_("Uploaded"), timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M")])
    summary.append([_("Status"), job.get_status_display()])
    summary.append([_("Rows"), job.rows_total])
    for key, value in counts_for_display(job):
        summary.append([count_label(key), value])
    if job.message:
        summary.append([_("Message"), safe_cell(job.message)])
    sheet = book.create_sheet(_("Rows"))
    sheet.append([_("Row"), _("Outcome"), _("Reason"), *(safe_cell(title) for title in job.columns)])
    labels = dict(ImportOutcome.choices)
    masker = masker_for(scope=scope, job=job)
    rows = (
        job_rows(job=job)
        .order_by("outcome", "row_number")
        .values_list("row_number", "outcome", "message", "region_code", "values")
    )
    for number, outcome, message, region_code, values in rows.iterator(chunk_size=5000):
        shown = masker.values(list(values or []), region_code or job.region_code)
        sheet.append([number, str(labels.get(outcome, outcome)), safe_cell(message), *map(safe_cell, shown)])
    return _save(book)


def counts_for_display(job: ImportJob) -> list[tuple[str, int]]:
    """(label key, count) in a fixed order, for the summary sheet and the pages."""
    counts = job.counts or {}
    if job.kind == ImportKind.EMPLOYEE_INSURANCE:
        order = [
            "terminated",
            "not_found",
            "not_enrolled",
            "name_mismatch",
            "outside_area",
            "date_conflict",
            "error",
        ]
    elif job.kind == ImportKind.HOUSEHOLD_REGISTER:
        order = ["registered", "villages", "village_error", "outside_area", "error"]
    else:
        order = ["ok", "households", "existing", "error", "household_error", "households_created",
                 "persons_created", "applications_created"]  # fmt: skip
    return [(key, int(counts[key])) for key in order if key in counts]


def count_label(key: str) -> str:
    labels = dict(ImportOutcome.choices)
    labels.update(
        ok=_("Persons to import"),
        households=_("Households to import"),
        households_created=_("Households created"),
        persons_created=_("Persons created"),
        applications_created=_("Applications submitted"),
        villages=_("Villages whose register was replaced"),
    )
    return str(labels.get(key, key))


def template_workbook(kind: str) -> IO[bytes]:
    """An empty file with the header row, and a sheet that says what each column accepts."""
    columns = COLUMNS_BY_KIND[ImportKind(kind)]
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Data"))
    sheet.append([column.title for column in columns])
    notes = book.create_sheet(_("Instructions"))
    notes.append([_("Column"), _("Required"), _("What to write")])
    for column in columns:
        notes.append(
            [column.title, _("yes") if column.required else _("no"), safe_cell(_column_help(column.key))]
        )
    return _save(book)


def _column_help(key: str) -> str:
    return {
        "id_number": _(
            "The identifier as on the document; format the column as text so that no digit is lost."
        ),
        "name": _("The name as on the identity document."),
        "start_date": _(
            "The day employee insurance began, e.g. 2024-03-01; the resident enrollment ends the day before."
        ),
        "employer": _("Optional: the employer's name, kept in the note of the change."),
        "household_key": _("The household number of the old system; all members of a household share it."),
        "relation": _("%(values)s (GB/T 4761 codes accepted)")
        % {"values": "户主、配偶、子女、父母、孙子女、祖父母、兄弟姐妹、其他"},
        "id_kind": "居民身份证、港澳居民来往内地通行证、台湾居民来往大陆通行证、港澳台居民居住证、外国护照、外国人永久居留身份证、无证件",
        "sex": "男、女",
        "birth_date": _("e.g. 1990-01-31; it must agree with the identifier."),
        "ethnicity": _("Optional, e.g. 汉族."),
        "phone": _("Optional."),
        "category": "农村居民、城镇居民、学生、学龄前儿童、新生儿",
        "village": _("The 12-digit statistical code of the village or community, in your area."),
        "nationality": _("Only for foreigners: the 3-letter country code, e.g. USA."),
        "register_household": _("Optional: the household number on the household register (户口簿)."),
    }[key]
