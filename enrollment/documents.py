"""Printable documents of the enrollment app: the household registration form (参保登记表) and a
village's publicity list (公示名单), as PDF and (the list) as xlsx.

The builders take plain data (the dataclasses below) and never touch the database; the views
gather the data through selectors and the scope.

Fonts and the generic furniture (styles, title, seal box, numbered pages) are shared with the
other bureaus' documents in ``accounts.pdf``, which says where fonts are looked for.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any
from xml.sax.saxutils import escape

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from accounts import pdf
from accounts.exports import Sheet
from accounts.masking import mask_id_number

# The font machinery lives in accounts.pdf; these names stay importable from here.
from accounts.pdf import FONT_ENV, HEADER_FILL, INK, MUTED, FontNotFound, FontSource, FontStack  # noqa: F401
from accounts.pdf import package_font as _package_font  # noqa: F401

MIN_POSTING_DAYS = 7
NAME_COLUMN = 2  # of the publicity list


# --- fonts (accounts.pdf) --------------------------------------------------------------------


def font_search_path() -> list[FontSource]:
    """Where this module's documents look for fonts (``accounts.pdf.font_search_path``); a name of
    its own, so a test can point the registration form and the publicity list elsewhere."""
    return pdf.font_search_path()


@functools.cache
def fonts() -> FontStack:
    """The font stack of this module's documents; ``accounts.pdf`` loads each font once per process."""
    return pdf.font_stack(font_search_path())


# --- the data the builders take -------------------------------------------------------------


@dataclass(frozen=True)
class FormMember:
    """One row of the registration form, as labels ready to print."""

    name: str
    relation: str
    sex: str
    birth_date: str  # the date, or only the year beside a masked identifier (accounts.masking.birth_date_for)
    id_kind: str
    id_number: str
    category: str
    ethnicity: str = ""
    phone: str = ""


@dataclass(frozen=True)
class HouseholdFormData:
    household_number: str
    village: str
    village_code: str
    kind: str
    address: str
    members: Sequence[FormMember]
    printed_on: dt.date
    residence_permit_number: str = ""
    printed_by: str = ""


@dataclass(frozen=True)
class PostingPeriod:
    """How long a publicity list hangs: at least ``MIN_POSTING_DAYS`` days, both ends counted (as a
    reader counts "1 to 7 December": seven days)."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.days < MIN_POSTING_DAYS:
            raise ValidationError(
                _("A publicity list is posted for at least %(days)s days; this period has %(given)s.")
                % {"days": MIN_POSTING_DAYS, "given": max(self.days, 0)},
                code="posting_too_short",
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @classmethod
    def default(cls, today: dt.date) -> PostingPeriod:
        return cls(today, today + dt.timedelta(days=MIN_POSTING_DAYS - 1))


@dataclass(frozen=True)
class PublicityRow:
    """One enrolled person on a public posting. The identifier is kept whole here and masked on
    output, whoever prints: a posted list is public."""

    household_number: str
    name: str
    sex: str
    id_number: str
    relation: str
    category: str
    enrolled_on: dt.date | None

    @property
    def public_id_number(self) -> str:
        return mask_id_number(self.id_number)


@dataclass(frozen=True)
class PublicityListData:
    village: str
    village_code: str
    period: PostingPeriod
    total: int
    rows: Iterable[PublicityRow]
    printed_on: dt.date
    objection_phone: str = ""
    # A school posts its students' list: the school is named as such, objections go to it.
    is_school: bool = False
    printed_by: str = ""


# --- shared PDF furniture -------------------------------------------------------------------


def _style(commands: Iterable[tuple[Any, ...]]) -> TableStyle:
    return pdf.table_style(fonts().primary, commands)


def _document(
    buffer: IO[bytes], pagesize: tuple[float, float], title: str, margin: float, lang: str
) -> SimpleDocTemplate:
    return pdf.document(buffer, pagesize, title, margin, lang, fonts().primary)


# --- the registration form --------------------------------------------------------------------


def household_form_pdf(data: HouseholdFormData) -> bytes:
    """The household's registration form (参保登记表), A4 portrait, for the resident to sign."""
    stack = fonts()
    styles = pdf.Styles(stack.primary, 9)
    cell = styles.paragraph()
    head = styles.paragraph(align=TA_CENTER)
    label = styles.paragraph(align=TA_CENTER, color=INK)
    mark = stack.markup
    title = _("Resident medical insurance enrollment registration form")
    page_width, _height = A4
    margin = 16 * mm
    width = pdf.text_width(page_width, margin)

    info_rows = [
        [
            Paragraph(_("Household number"), label),
            Paragraph(mark(data.household_number), cell),
            Paragraph(_("Basis of registration"), label),
            Paragraph(mark(data.kind), cell),
        ],
        [
            Paragraph(_("Village or community"), label),
            Paragraph(f"{mark(data.village)}（{escape(data.village_code)}）", cell),
            "",
            "",
        ],
        [Paragraph(_("Address"), label), Paragraph(mark(data.address) or "&nbsp;", cell), "", ""],
    ]
    if data.residence_permit_number:
        info_rows.append(
            [
                Paragraph(_("Residence permit number"), label),
                Paragraph(mark(data.residence_permit_number), cell),
                "",
                "",
            ]
        )
    info = Table(info_rows, colWidths=[28 * mm, 66 * mm, 26 * mm, width - 120 * mm])
    info.setStyle(
        _style(
            [
                *pdf.grid(0),
                *(("SPAN", (1, row), (3, row)) for row in range(1, len(info_rows))),
                *(("BACKGROUND", (0, row), (0, row), HEADER_FILL) for row in range(len(info_rows))),
                ("BACKGROUND", (2, 0), (2, 0), HEADER_FILL),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )

    headers = [
        _("No."),
        pgettext("person", "Name"),
        _("Relation to head"),
        _("Sex"),
        _("Ethnicity"),
        _("Birth date"),
        _("ID kind"),
        _("ID number"),
        _("Category"),
        _("Phone"),
    ]
    rows: list[list[Any]] = [[Paragraph(text, head) for text in headers]]
    for number, member in enumerate(data.members, start=1):
        rows.append(
            [
                Paragraph(str(number), head),
                Paragraph(mark(member.name), cell),
                Paragraph(mark(member.relation), head),
                Paragraph(mark(member.sex), head),
                Paragraph(mark(member.ethnicity), head),
                Paragraph(mark(member.birth_date), head),
                Paragraph(mark(member.id_kind), cell),
                Paragraph(mark(member.id_number), cell),
                Paragraph(mark(member.category), head),
                Paragraph(mark(member.phone), cell),
            ]
        )
    fixed = [9, 15, 18, 9, 11, 19, 20, 35, 16]
    widths = [w * mm for w in fixed] + [width - sum(fixed) * mm]
    members = Table(rows, colWidths=widths, repeatRows=1)
    members.setStyle(_style(pdf.grid()))

    signature = styles.paragraph(size=10, leading=24)
    blank = "_" * 16
    signatures = Table(
        [
            [
                [
                    Paragraph(_("Applicant signature:") + blank, signature),
                    Paragraph(_("Village or community committee clerk signature:") + blank, signature),
                    Paragraph(_("Date: ____________________"), signature),
                ],
                pdf.StampBox(_("Committee seal"), stack.primary),
            ]
        ],
        colWidths=[width - 40 * mm, 40 * mm],
    )
    signatures.setStyle(_style([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))

    story: list[Flowable] = [
        pdf.Title(title, stack.primary, 17),
        Spacer(1, 3 * mm),
        info,
        Spacer(1, 5 * mm),
        Paragraph(
            _("Household members (%(count)s)") % {"count": len(data.members)}, styles.paragraph(size=10.5)
        ),
        Spacer(1, 2 * mm),
        members,
        Spacer(1, 5 * mm),
        KeepTogether(
            [
                Paragraph(
                    _(
                        "I declare that the information above is true and complete, and I accept responsibility "
                        "for any false statement."
                    ),
                    styles.paragraph(size=10),
                ),
                Spacer(1, 6 * mm),
                signatures,
            ]
        ),
    ]

    printed = _("Printed on %(date)s") % {"date": pdf.long_date(data.printed_on)}
    if data.printed_by:
        printed = f"{printed} · {data.printed_by}"
    number_label = _("Household number: %(number)s") % {"number": data.household_number}

    def furniture(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        canvas.setFont(stack.primary, 8)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(page_width - margin, A4[1] - margin + 2 * mm, number_label)
        canvas.drawString(margin, margin - 2 * mm, printed)
        canvas.drawRightString(page_width - margin, margin - 2 * mm, pdf.page_label(page, total))
        canvas.restoreState()

    buffer = io.BytesIO()
    _document(buffer, A4, title, margin, pdf.pdf_language()).build(
        story, canvasmaker=pdf.numbered_canvas(furniture)
    )
    return buffer.getvalue()


# --- the publicity list ---------------------------------------------------------------------


def publicity_headers() -> list[str]:
    return [
        _("No."),
        _("Household number"),
        pgettext("person", "Name"),
        _("Sex"),
        _("ID number"),
        _("Relation to head"),
        _("Category"),
        _("Enrollment date"),
    ]


def publicity_title() -> str:
    return _("Publicity list of persons enrolled in resident medical insurance")


def _period_text(period: PostingPeriod) -> str:
    return _("Posted from %(start)s to %(end)s (%(days)s days)") % {
        "start": pdf.long_date(period.start),
        "end": pdf.long_date(period.end),
        "days": period.days,
    }


def _phone_text(phone: str) -> str:
    return _("Objection phone: %(phone)s") % {"phone": phone.strip() or "_" * 20}


def publicity_list_pdf(data: PublicityListData) -> bytes:
    """The village's publicity list (公示名单), A4 landscape, header row repeated on every page."""
    stack = fonts()
    styles = pdf.Styles(stack.primary, 9.5)
    cell = styles.paragraph()
    centre = styles.paragraph(align=TA_CENTER)
    mark = stack.markup
    pagesize = landscape(A4)
    page_width, page_height = pagesize
    margin = 14 * mm
    width = pdf.text_width(page_width, margin)
    title = publicity_title()

    fixed = [14, 42, 40, 16, 50, 30, 32]
    widths = [w * mm for w in fixed] + [width - sum(fixed) * mm]
    # Plain strings where the primary font has every glyph and the text fits: a Paragraph per
    # cell would make a village of thousands take a minute; the rest still wrap and fall back.
    rows: list[list[Any]] = [[Paragraph(text, centre) for text in publicity_headers()]]
    for number, row in enumerate(data.rows, start=1):
        texts = [
            str(number),
            row.household_number,
            row.name,
            row.sex,
            row.public_id_number,
            row.relation,
            row.category,
            pdf.short_date(row.enrolled_on),
        ]
        rows.append(
            [
                stack.cell(text, cell if column == NAME_COLUMN else centre, widths[column] - 6)
                for column, text in enumerate(texts)
            ]
        )
    table = Table(rows, colWidths=widths, repeatRows=1)
    if len(rows) == 1:
        table = Table(
            [*rows, [Paragraph(_("Nobody is enrolled in this village yet."), centre), *[""] * 7]],
            colWidths=widths,
            repeatRows=1,
        )
        table.setStyle(_style([*pdf.grid(), ("SPAN", (0, 1), (-1, 1))]))
    else:
        table.setStyle(
            _style(
                [
                    *pdf.grid(padding=(2, 3)),
                    ("FONTSIZE", (0, 1), (-1, -1), styles.size),
                    ("LEADING", (0, 1), (-1, -1), styles.size * 1.35),
                    ("TEXTCOLOR", (0, 1), (-1, -1), INK),
                    ("ALIGN", (0, 1), (-1, -1), "CENTER"),
                    ("ALIGN", (NAME_COLUMN, 1), (NAME_COLUMN, -1), "LEFT"),
                ]
            )
        )

    info = styles.paragraph(size=10.5)
    village_line = (
        _("School: %(school)s") % {"school": mark(data.village)}
        if data.is_school
        else _("Village or community: %(village)s (%(code)s)")
        % {"village": mark(data.village), "code": escape(data.village_code)}
    )
    count_line = _("Persons listed: %(count)s") % {"count": data.total}
    summary = Table(
        [
            [Paragraph(village_line, info), Paragraph(_period_text(data.period), info)],
            [Paragraph(escape(_phone_text(data.objection_phone)), info), Paragraph(count_line, info)],
        ],
        colWidths=[width * 0.55, width * 0.45],
    )
    summary.setStyle(_style([("LEFTPADDING", (0, 0), (-1, -1), 0), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))

    closing = styles.paragraph(size=10, leading=22)
    story: list[Flowable] = [
        pdf.Title(title, stack.primary, 18),
        Spacer(1, 2 * mm),
        summary,
        Spacer(1, 3 * mm),
        table,
        Spacer(1, 5 * mm),
        KeepTogether(
            [
                Paragraph(
                    _(
                        "Anyone who objects to this list may call the number above or tell the school before "
                        "the posting period ends."
                    )
                    if data.is_school
                    else _(
                        "Anyone who objects to this list may call the number above or tell the village or "
                        "community committee before the posting period ends."
                    ),
                    closing,
                ),
                Paragraph(
                    _("Posted by (seal):")
                    + "_" * 24
                    + "&nbsp;" * 6
                    + _("Date posted: %(date)s") % {"date": escape(pdf.long_date(data.period.start))},
                    closing,
                ),
            ]
        ),
    ]

    running_head = f"{data.village} · {title}"
    period_short = f"{pdf.short_date(data.period.start)} – {pdf.short_date(data.period.end)}"
    printed = _("Printed on %(date)s") % {"date": pdf.long_date(data.printed_on)}
    if data.printed_by:
        printed = f"{printed} · {data.printed_by}"

    def furniture(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        canvas.setFont(stack.primary, 8)
        canvas.setFillColor(MUTED)
        if page > 1:
            canvas.drawString(margin, page_height - margin + 2 * mm, running_head)
            canvas.drawRightString(page_width - margin, page_height - margin + 2 * mm, period_short)
        canvas.drawString(margin, margin - 2 * mm, printed)
        canvas.setFont(stack.primary, 9)
        canvas.setFillColor(INK)
        canvas.drawCentredString(page_width / 2, margin - 2 * mm, pdf.page_label(page, total))
        canvas.restoreState()

    buffer = io.BytesIO()
    _document(buffer, pagesize, title, margin, pdf.pdf_language()).build(
        story, canvasmaker=pdf.numbered_canvas(furniture)
    )
    return buffer.getvalue()


# --- the publicity list as a workbook ---------------------------------------------------------


XLSX_HEADER_ROW = 6


def publicity_list_xlsx(data: PublicityListData, stream: IO[bytes]) -> None:
    """The publicity list as one sheet: four lines about the posting, a blank line, the header on
    row 6 (repeated on every printed page), then one row per person. Rows stream through."""
    book = Workbook(write_only=True)
    out = Sheet(book, _("Publicity list"), widths=(7, 20, 14, 7, 22, 14, 14, 13))
    sheet = out.sheet
    sheet.print_title_rows = f"{XLSX_HEADER_ROW}:{XLSX_HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddFooter.center.text = _("Page &P of &N")
    out.row([publicity_title()], bold=True)
    out.row(
        [
            _("School: %(school)s") % {"school": data.village}
            if data.is_school
            else _("Village or community: %(village)s (%(code)s)")
            % {"village": data.village, "code": data.village_code}
        ]
    )
    out.row([_period_text(data.period), _("Persons listed: %(count)s") % {"count": data.total}])
    out.row([_phone_text(data.objection_phone)])
    out.row([])
    out.row(publicity_headers(), bold=True)
    for number, row in enumerate(data.rows, start=1):
        out.row(
            [
                number,
                row.household_number,
                row.name,
                row.sex,
                row.public_id_number,
                row.relation,
                row.category,
                row.enrolled_on,
            ]
        )
    book.save(stream)
