"""Printable documents of the enrollment app: the household registration form (参保登记表) and a
village's publicity list (公示名单), as PDF and (the list) as xlsx.

The builders take plain data (the dataclasses below) and never touch the database; the views
gather the data through selectors and the scope.

Fonts. Every PDF embeds a subset of a TrueType font that covers Chinese, so it prints the same
on any machine and in any viewer, with nothing installed there. reportlab embeds TrueType
(glyf) outlines only, not CFF, so Debian's Noto CJK (.ttc with CFF outlines) cannot be used.
The font is looked for, in this order:

1. ``PORTAL_PDF_FONT``: font files separated by ``os.pathsep``, each ``path`` or ``path#index``
   (the index picks a font inside a .ttc collection); an explicitly named font must load;
2. WenQuanYi Micro Hei (文泉驿微米黑) from the Python package ``paperang-p2-fonts-cjk``, a
   project dependency, so ``pip install`` brings it (the file is byte-identical to Debian's
   fonts-wqy-microhei 0.2.0-beta-3.1);
3. Debian's fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming.

The first font found sets all text. A character it lacks (Micro Hei covers the 20,902 basic
CJK ideographs, not Extension A) is set in the next font that has it, e.g. WenQuanYi Zen Hei
when fonts-wqy-zenhei is installed, so rare characters in names print wherever a font has them.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils import formats
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from accounts.masking import mask_id_number

logger = logging.getLogger(__name__)

MIN_POSTING_DAYS = 7
FONT_ENV = "PORTAL_PDF_FONT"
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_PACKAGE_FILE = "fonts/wqy-microhei.ttc"
DEBIAN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
MISSING_GLYPH = "〓"
NAME_COLUMN = 2  # of the publicity list
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5f6b7a")
HEADER_FILL = colors.HexColor("#e9edf2")


# --- fonts -----------------------------------------------------------------------------------


class FontNotFound(ImproperlyConfigured):
    """No TrueType font that covers Chinese could be found or loaded."""


@dataclass(frozen=True)
class FontSource:
    path: Path
    index: int = 0
    configured: bool = False

    def __str__(self) -> str:
        return f"{self.path}#{self.index}" if self.index else str(self.path)


def _configured_fonts() -> list[FontSource]:
    sources = []
    for item in os.environ.get(FONT_ENV, "").split(os.pathsep):
        item = item.strip()
        if not item:
            continue
        path, _hash, index = item.partition("#")
        if index and not index.isdigit():
            raise FontNotFound(f"{FONT_ENV}: '{item}' is not 'path' or 'path#index'.")
        sources.append(FontSource(Path(path), int(index or 0), configured=True))
    return sources


def _package_font() -> list[FontSource]:
    from importlib.resources import files

    try:
        root = files(FONT_PACKAGE)
    except ModuleNotFoundError:
        return []
    return [FontSource(Path(str(root / FONT_PACKAGE_FILE)))]


def font_search_path() -> list[FontSource]:
    """Every place a font is looked for, in order (see the module's description)."""
    return [*_configured_fonts(), *_package_font(), *(FontSource(Path(p)) for p in DEBIAN_FONTS)]


class FontStack:
    """The first font found sets the text; later ones are loaded only for characters it lacks."""

    def __init__(self, sources: Sequence[FontSource]) -> None:
        self.sources = list(sources)
        self._loaded: list[tuple[str, dict[int, int]]] = []
        self._lock = threading.Lock()
        self._load(0)
        self.primary = self._loaded[0][0]

    def _load(self, position: int) -> None:
        source = self.sources[position]
        name = f"PortalCJK{position}"
        try:
            font = TTFont(name, str(source.path), subfontIndex=source.index)
        except (TTFError, OSError) as error:
            if position == 0 or source.configured:
                raise FontNotFound(
                    f"The font {source} cannot be embedded in a PDF ({error}). Use a TrueType font (glyf "
                    f"outlines); CFF/OpenType fonts such as Noto Sans CJK are not supported by reportlab."
                ) from error
            logger.warning("Fallback font %s skipped: %s", source, error)
            self._loaded.append((name, {}))
            return
        pdfmetrics.registerFont(font)
        self._loaded.append((name, font.face.charToGlyph))

    def font_for(self, char: str) -> str | None:
        """The first font that has the character, or None when none has it."""
        code = ord(char)
        position = 0
        while True:
            if position >= len(self._loaded):
                with self._lock:
                    if position >= len(self.sources):
                        return None
                    if position >= len(self._loaded):
                        self._load(position)
            name, cmap = self._loaded[position]
            if code in cmap or char.isspace():
                return name
            position += 1

    def runs(self, text: str) -> list[tuple[str, str]]:
        """The text split into runs that one font can set: [(font name, text), ...]. A character
        no font has prints as 〓 (the typesetter's mark for a missing glyph), never as nothing."""
        runs: list[tuple[str, str]] = []
        for char in text:
            name = self.font_for(char)
            if name is None:
                name, char = self.primary, MISSING_GLYPH
            if runs and runs[-1][0] == name:
                runs[-1] = (name, runs[-1][1] + char)
            else:
                runs.append((name, char))
        return runs

    def covers(self, text: str) -> bool:
        """Whether the primary font alone has every character of the text."""
        cmap = self._loaded[0][1]
        return all(ord(char) in cmap or char.isspace() for char in text)

    def cell(self, text: str, style: ParagraphStyle, width: float) -> str | Paragraph:
        """A table cell: the plain string when one line of the primary font holds it, else a Paragraph."""
        if (
            "\n" not in text
            and self.covers(text)
            and pdfmetrics.stringWidth(text, self.primary, style.fontSize) <= width
        ):
            return text
        return Paragraph(self.markup(text), style)

    def markup(self, text: str) -> str:
        """Paragraph markup for text, escaped, with fallback fonts where the primary lacks a glyph."""
        return "".join(
            escape(run) if name == self.primary else f'<font face="{name}">{escape(run)}</font>'
            for name, run in self.runs(text)
        )


@functools.cache
def fonts() -> FontStack:
    """The font stack, loaded once per process. Raises ``FontNotFound`` with the places searched."""
    searched = font_search_path()
    for source in searched:
        if source.configured and not source.path.is_file():
            raise FontNotFound(f"{FONT_ENV} names {source.path}, which is not a file.")
    found: list[FontSource] = []
    seen: set[tuple[str, int, int]] = set()
    for source in searched:
        if not source.path.is_file():
            continue
        # The package's Micro Hei and Debian's are the same file: load it once.
        key = (source.path.name, source.path.stat().st_size, source.index)
        if key not in seen:
            seen.add(key)
            found.append(source)
    if not found:
        raise FontNotFound(
            "No TrueType font covering Chinese was found for PDF documents. Install the dependencies "
            "of pyproject.toml (they bring the Python package paperang-p2-fonts-cjk), or Debian's "
            f"fonts-wqy-microhei, or set {FONT_ENV}=/path/to/font.ttf. Searched: "
            + ", ".join(str(source) for source in searched)
        )
    return FontStack(found)


# --- the data the builders take -------------------------------------------------------------


@dataclass(frozen=True)
class FormMember:
    """One row of the registration form, as labels ready to print."""

    name: str
    relation: str
    sex: str
    birth_date: dt.date | None
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
    """How long a publicity list hangs: at least ``MIN_POSTING_DAYS`` days, end after start."""

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
        return (self.end - self.start).days

    @classmethod
    def default(cls, today: dt.date) -> PostingPeriod:
        return cls(today, today + dt.timedelta(days=MIN_POSTING_DAYS))


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
    printed_by: str = ""


# --- shared PDF furniture -------------------------------------------------------------------


def _date(value: dt.date | None) -> str:
    return formats.date_format(value, "DATE_FORMAT") if value else ""


def _short_date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


@dataclass
class _Styles:
    font: str
    size: float

    def paragraph(
        self, size: float | None = None, align: int = TA_LEFT, color: Any = INK, **extra: Any
    ) -> ParagraphStyle:
        size = size or self.size
        # Chinese breaks between any two characters (with the kinsoku rules); other languages break at
        # spaces, and a run of Chinese longer than the line is still split (splitLongWords).
        wrap = "CJK" if _language() == "zh-CN" else None
        options: dict[str, Any] = {"leading": size * 1.35, "wordWrap": wrap, "splitLongWords": 1, **extra}
        return ParagraphStyle(
            f"p{size}{align}", fontName=self.font, fontSize=size, alignment=align, textColor=color, **options
        )


class _Title(Flowable):
    """A centred heading set in fill-and-stroke, the usual stand-in for a bold CJK face."""

    def __init__(self, text: str, font: str, size: float) -> None:
        super().__init__()
        self.text, self.font, self.size = text, font, size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, self.size * 1.7

    def draw(self) -> None:
        canvas = self.canv
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        text = canvas.beginText((self.width - width) / 2, self.size * 0.45)
        text.setFont(self.font, self.size)
        text.setTextRenderMode(2)
        canvas.setLineWidth(self.size * 0.025)
        canvas.setFillColor(INK)
        canvas.setStrokeColor(INK)
        text.textOut(self.text)
        canvas.drawText(text)


class _StampBox(Flowable):
    """A dashed square where the committee's seal goes, with its label underneath."""

    def __init__(self, label: str, font: str, side: float = 34 * mm) -> None:
        super().__init__()
        self.label, self.font, self.side = label, font, side

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.side, self.side + 14

    def draw(self) -> None:
        canvas = self.canv
        canvas.setStrokeColor(MUTED)
        canvas.setDash(3, 2)
        canvas.setLineWidth(0.7)
        canvas.rect(0, 14, self.side, self.side)
        canvas.setDash()
        canvas.setFillColor(MUTED)
        canvas.setFont(self.font, 8)
        canvas.drawCentredString(self.side / 2, 3, self.label)


def _numbered_canvas(furniture: Callable[[Canvas, int, int], None]) -> type[Canvas]:
    """A canvas that knows the page count when it draws each page's header and footer."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                furniture(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def _page_label(page: int, total: int) -> str:
    return _("Page %(page)s of %(pages)s") % {"page": page, "pages": total}


def _style(commands: Iterable[tuple[Any, ...]]) -> TableStyle:
    """A table style whose text (even an empty spanned cell) is set in the CJK font, never Helvetica."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), fonts().primary), *commands])


def _grid(header_rows: int = 1, padding: tuple[float, float] = (3, 4)) -> list[tuple[Any, ...]]:
    top, bottom = padding
    return [
        ("GRID", (0, 0), (-1, -1), 0.5, INK),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEADER_FILL),
        ("TOPPADDING", (0, 0), (-1, -1), top),
        ("BOTTOMPADDING", (0, 0), (-1, -1), bottom),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]


def _document(
    buffer: IO[bytes], pagesize: tuple[float, float], title: str, margin: float, lang: str
) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin + 4 * mm,
        bottomMargin=margin + 4 * mm,
        title=title,
        initialFontName=fonts().primary,
        author=_("Resident medical insurance portal"),
        creator=_("Resident medical insurance portal"),
        lang=lang,
    )


def _language() -> str:
    return "zh-CN" if (get_language() or "zh-hans").startswith("zh") else "en"


# --- the registration form --------------------------------------------------------------------


def household_form_pdf(data: HouseholdFormData) -> bytes:
    """The household's registration form (参保登记表), A4 portrait, for the resident to sign."""
    stack = fonts()
    styles = _Styles(stack.primary, 9)
    cell = styles.paragraph()
    head = styles.paragraph(align=TA_CENTER)
    label = styles.paragraph(align=TA_CENTER, color=INK)
    mark = stack.markup
    title = _("Resident medical insurance enrollment registration form")
    page_width, _height = A4
    margin = 16 * mm
    width = page_width - 2 * margin

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
                *_grid(0),
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
                Paragraph(_short_date(member.birth_date), head),
                Paragraph(mark(member.id_kind), cell),
                Paragraph(mark(member.id_number), cell),
                Paragraph(mark(member.category), head),
                Paragraph(mark(member.phone), cell),
            ]
        )
    fixed = [9, 18, 18, 9, 11, 19, 20, 35, 16]
    widths = [w * mm for w in fixed] + [width - sum(fixed) * mm]
    members = Table(rows, colWidths=widths, repeatRows=1)
    members.setStyle(_style(_grid()))

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
                _StampBox(_("Committee seal"), stack.primary),
            ]
        ],
        colWidths=[width - 40 * mm, 40 * mm],
    )
    signatures.setStyle(_style([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))

    story: list[Flowable] = [
        _Title(title, stack.primary, 17),
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

    printed = _("Printed on %(date)s") % {"date": _date(data.printed_on)}
    if data.printed_by:
        printed = f"{printed} · {data.printed_by}"
    number_label = _("Household number: %(number)s") % {"number": data.household_number}

    def furniture(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        canvas.setFont(stack.primary, 8)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(page_width - margin, A4[1] - margin + 2 * mm, number_label)
        canvas.drawString(margin, margin - 2 * mm, printed)
        canvas.drawRightString(page_width - margin, margin - 2 * mm, _page_label(page, total))
        canvas.restoreState()

    buffer = io.BytesIO()
    _document(buffer, A4, title, margin, _language()).build(story, canvasmaker=_numbered_canvas(furniture))
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
        "start": _date(period.start),
        "end": _date(period.end),
        "days": period.days,
    }


def _phone_text(phone: str) -> str:
    return _("Objection phone: %(phone)s") % {"phone": phone.strip() or "_" * 20}


def publicity_list_pdf(data: PublicityListData) -> bytes:
    """The village's publicity list (公示名单), A4 landscape, header row repeated on every page."""
    stack = fonts()
    styles = _Styles(stack.primary, 9.5)
    cell = styles.paragraph()
    centre = styles.paragraph(align=TA_CENTER)
    mark = stack.markup
    pagesize = landscape(A4)
    page_width, page_height = pagesize
    margin = 14 * mm
    width = page_width - 2 * margin
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
            _short_date(row.enrolled_on),
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
        table.setStyle(_style([*_grid(), ("SPAN", (0, 1), (-1, 1))]))
    else:
        table.setStyle(
            _style(
                [
                    *_grid(padding=(2, 3)),
                    ("FONTSIZE", (0, 1), (-1, -1), styles.size),
                    ("LEADING", (0, 1), (-1, -1), styles.size * 1.35),
                    ("TEXTCOLOR", (0, 1), (-1, -1), INK),
                    ("ALIGN", (0, 1), (-1, -1), "CENTER"),
                    ("ALIGN", (NAME_COLUMN, 1), (NAME_COLUMN, -1), "LEFT"),
                ]
            )
        )

    info = styles.paragraph(size=10.5)
    village_line = _("Village or community: %(village)s (%(code)s)") % {
        "village": mark(data.village),
        "code": escape(data.village_code),
    }
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
        _Title(title, stack.primary, 18),
        Spacer(1, 2 * mm),
        summary,
        Spacer(1, 3 * mm),
        table,
        Spacer(1, 5 * mm),
        KeepTogether(
            [
                Paragraph(
                    _(
                        "Anyone who objects to this list may call the number above or tell the village or "
                        "community committee before the posting period ends."
                    ),
                    closing,
                ),
                Paragraph(
                    _("Posted by (seal):")
                    + "_" * 24
                    + "&nbsp;" * 6
                    + _("Date posted: %(date)s") % {"date": escape(_date(data.period.start))},
                    closing,
                ),
            ]
        ),
    ]

    running_head = f"{data.village} · {title}"
    period_short = f"{_short_date(data.period.start)} – {_short_date(data.period.end)}"
    printed = _("Printed on %(date)s") % {"date": _date(data.printed_on)}
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
        canvas.drawCentredString(page_width / 2, margin - 2 * mm, _page_label(page, total))
        canvas.restoreState()

    buffer = io.BytesIO()
    _document(buffer, pagesize, title, margin, _language()).build(
        story, canvasmaker=_numbered_canvas(furniture)
    )
    return buffer.getvalue()


# --- the publicity list as a workbook ---------------------------------------------------------


def safe_cell(value: Any) -> Any:
    """A text a spreadsheet would read as a formula gets a leading apostrophe, so it never runs."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class _Sheet:
    sheet: Any
    bold: Font = field(default_factory=lambda: Font(bold=True))

    def row(self, values: Iterable[Any], *, bold: bool = False, wrap: bool = False) -> None:
        cells = []
        for value in values:
            cell = WriteOnlyCell(self.sheet, value=safe_cell(value))
            if isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            if bold:
                cell.font = self.bold
            if wrap:
                cell.alignment = Alignment(wrap_text=True, vertical="center")
            cells.append(cell)
        self.sheet.append(cells)


XLSX_HEADER_ROW = 6


def publicity_list_xlsx(data: PublicityListData, stream: IO[bytes]) -> None:
    """The publicity list as one sheet: four lines about the posting, a blank line, the header on
    row 6 (repeated on every printed page), then one row per person. Rows stream through."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Publicity list"))
    for column, width in zip("ABCDEFGH", (7, 20, 14, 7, 22, 14, 14, 13), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.print_title_rows = f"{XLSX_HEADER_ROW}:{XLSX_HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddFooter.center.text = _("Page &P of &N")
    out = _Sheet(sheet)
    out.row([publicity_title()], bold=True)
    out.row(
        [
            _("Village or community: %(village)s (%(code)s)")
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
