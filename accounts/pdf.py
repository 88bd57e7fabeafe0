"""What every PDF of the portal shares: a font stack that sets Chinese, and generic reportlab furniture
(paragraph styles, a title, a seal box, numbered pages, table grids, the document template).

Each bureau's documents (``enrollment.documents``, ``collection.documents``) build on this module;
it knows nothing of their data.

Fonts. Every PDF embeds a subset of a TrueType font that covers Chinese, so it prints the same
on any machine and in any viewer, with nothing installed there. reportlab embeds TrueType
(glyf) outlines only, not CFF, so Debian's Noto CJK (.ttc with CFF outlines) cannot be used.
The font is looked for, in this order:

1. ``PORTAL_PDF_FONT``: font files separated by ``os.pathsep``, each ``path`` or ``path#index``
   (the index picks a font inside a .ttc collection); an explicitly named font must load;
2. WenQuanYi Micro Hei (文泉驿微米黑) from the Python package ``paperang-p2-fonts-cjk``, a
   project dependency, so ``pip install`` brings it (the file is byte-identical to Debian's
   fonts-wqy-microhei 0.2.0-beta-3.1);
3. Debian's fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming, fonts-hanazono.

The first font found sets all text. A character it lacks (Micro Hei covers the 20,902 basic
CJK ideographs, not Extension A) is set in the next font that has it, so rare characters in names
print wherever a font has them: WenQuanYi Zen Hei has Extension A (䶮), HanaMin A and B
(fonts-hanazono) Extension B (𠮷). The production image installs fonts-wqy-zenhei and
fonts-hanazono (Dockerfile); a fallback file is read only when a text first needs it (HanaMinB is
30 MB, once per process).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from django.core.exceptions import ImproperlyConfigured
from django.utils import formats
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, TableStyle

logger = logging.getLogger(__name__)

FONT_ENV = "PORTAL_PDF_FONT"
FONT_PACKAGE = "paperang_p2_fonts_cjk"
FONT_PACKAGE_FILE = "fonts/wqy-microhei.ttc"
DEBIAN_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    # fonts-hanazono: Extension A and part of B (A), the rest of Extension B and beyond (B).
    "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
)
MISSING_GLYPH = "〓"
INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5f6b7a")
HEADER_FILL = colors.HexColor("#e9edf2")


# --- fonts -----------------------------------------------------------------------------------


def _to_unicode_cmap(fontname: str, subset: Sequence[int]) -> str:
    """reportlab's ToUnicode map of a font subset, with each character written as UTF-16BE.

    reportlab (5.1) writes the character as ``<%04X>``: one beyond U+FFFF (Extension B, 𠮷 in
    many family names) comes out as five hex digits, which viewers read as another character,
    so the name printed right but copied, searched or read aloud wrong. The PDF reference wants
    UTF-16BE there, a surrogate pair for such a character; below U+FFFF the text is the same.
    """
    entries = [
        f"<{code:02X}> <{chr(char).encode('utf-16-be', 'surrogatepass').hex().upper()}>"
        for code, char in enumerate(subset)
    ]
    return "\n".join(
        [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo",
            f"<< /Registry ({fontname})",
            f"/Ordering ({fontname})",
            "/Supplement 0",
            ">> def",
            f"/CMapName /{fontname} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
            f"{len(subset)} beginbfchar",
            *entries,
            "endbfchar",
            "endcmap",
            "CMapName currentdict /CMap defineresource pop",
            "end",
            "end",
        ]
    )


# reportlab looks the function up in its module when it writes a subset font, so this replaces it
# for every document of the process.
ttfonts.makeToUnicodeCMap = _to_unicode_cmap


class FontNotFound(ImproperlyConfigured):
    """No TrueType font that covers Chinese could be found or loaded."""


@dataclass(frozen=True)
class FontSource:
    path: Path
    index: int = 0
    configured: bool = False

    def __str__(self) -> str:
        return f"{self.path}#{self.index}" if self.index else str(self.path)


def configured_fonts() -> list[FontSource]:
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


def package_font() -> list[FontSource]:
    from importlib.resources import files

    try:
        root = files(FONT_PACKAGE)
    except ModuleNotFoundError:
        return []
    return [FontSource(Path(str(root / FONT_PACKAGE_FILE)))]


def font_search_path() -> list[FontSource]:
    """Every place a font is looked for, in order (see the module's description)."""
    return [*configured_fonts(), *package_font(), *(FontSource(Path(p)) for p in DEBIAN_FONTS)]


def _registered_name(source: FontSource) -> str:
    # Named after the file, not the position in a stack: two stacks (a test's, the default one)
    # never register different fonts under one name in reportlab's process-wide registry.
    return "PortalCJK-" + hashlib.blake2s(str(source).encode(), digest_size=5).hexdigest()


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
        name = _registered_name(source)
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


def font_stack(searched: Sequence[FontSource]) -> FontStack:
    """The font stack of these places, loaded once per process for each distinct list.
    Raises ``FontNotFound`` with the places searched."""
    return _font_stack(tuple(searched))


@functools.cache
def _font_stack(searched: tuple[FontSource, ...]) -> FontStack:
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


def fonts() -> FontStack:
    """The font stack of the usual places (``font_search_path``), loaded once per process."""
    return font_stack(font_search_path())


# --- generic furniture --------------------------------------------------------------------------


def long_date(value: dt.date | None) -> str:
    """A date in the active language's format (2026年5月1日 / May 1, 2026); empty for None."""
    return formats.date_format(value, "DATE_FORMAT") if value else ""


def short_date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def pdf_language() -> str:
    """The document's language tag, from the active language."""
    return "zh-CN" if (get_language() or "zh-hans").startswith("zh") else "en"


@dataclass
class Styles:
    font: str
    size: float

    def paragraph(
        self, size: float | None = None, align: int = TA_LEFT, color: Any = INK, **extra: Any
    ) -> ParagraphStyle:
        size = size or self.size
        # Chinese breaks between any two characters (with the kinsoku rules); other languages break at
        # spaces, and a run of Chinese longer than the line is still split (splitLongWords).
        wrap = "CJK" if pdf_language() == "zh-CN" else None
        options: dict[str, Any] = {"leading": size * 1.35, "wordWrap": wrap, "splitLongWords": 1, **extra}
        return ParagraphStyle(
            f"p{size}{align}", fontName=self.font, fontSize=size, alignment=align, textColor=color, **options
        )


class Title(Flowable):
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


class StampBox(Flowable):
    """A dashed square where an agency's seal goes, with its label underneath."""

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


def numbered_canvas(furniture: Callable[[Canvas, int, int], None]) -> type[Canvas]:
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


def page_label(page: int, total: int) -> str:
    return _("Page %(page)s of %(pages)s") % {"page": page, "pages": total}


def table_style(font: str, commands: Iterable[tuple[Any, ...]]) -> TableStyle:
    """A table style whose text (even an empty spanned cell) is set in the CJK font, never Helvetica."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), font), *commands])


def grid(header_rows: int = 1, padding: tuple[float, float] = (3, 4)) -> list[tuple[Any, ...]]:
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


# reportlab's frame keeps this padding inside the margins on each side.
FRAME_PADDING = 6


def text_width(page_width: float, margin: float) -> float:
    """The width a table may take inside ``document``'s frame: a table as wide as the page less its
    margins would stick out by the frame's padding on each side."""
    return page_width - 2 * margin - 2 * FRAME_PADDING


def document(
    buffer: IO[bytes],
    pagesize: tuple[float, float],
    title: str,
    margin: float,
    lang: str,
    font: str,
) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin + 4 * mm,
        bottomMargin=margin + 4 * mm,
        title=title,
        initialFontName=font,
        author=_("Resident medical insurance portal"),
        creator=_("Resident medical insurance portal"),
        lang=lang,
    )
