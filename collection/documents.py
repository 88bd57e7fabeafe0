"""The payment certificate (缴费证明) as a PDF: plain data in, bytes out, no database.

A Chinese official document handed to the payer, so its fixed wording is Chinese whatever the
clerk's language. It carries the holder's full name (the payer holds it) with the identifier
masked, the payment, and the verification code with the public page (and a QR code of it) where
anyone shown the certificate can check that the payment still stands. Fonts and the generic
furniture come from ``accounts.pdf``.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from django.utils import translation
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table

from accounts import pdf
from accounts.masking import mask_id_number
from accounts.money import yuan, yuan_in_capitals

TITLE = "城乡居民基本医疗保险缴费证明"
QR_SIDE = 30 * mm
SEAL_LABEL = "（盖章）"
# The column of the agency's name, its seal label and the date, right of the stamp box: wide
# enough for a county bureau's full name and the label on one line (国家税务总局临汾市尧都区税务局（盖章）).
SIGNATURE_WIDTH = 92 * mm


@dataclass(frozen=True)
class CertificateData:
    """What a certificate says, ready to print. The identifier is kept whole here and masked on output."""

    name: str
    id_number: str
    insurance_year: int
    amount_fen: int
    paid_on: dt.date
    channel: str
    receipt: str
    agency: str
    code: str
    # The public check page, absolute (https://portal.example.gov.cn/verify/).
    verify_url: str
    issued_on: dt.date
    # What the receipt took, when part of it went back (``amount_fen`` is then what stands).
    receipt_fen: int | None = None

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def check_link(self) -> str:
        """The page with the code filled in: what the QR code opens."""
        return f"{self.verify_url}?{urlencode({'code': self.code})}"


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _qr(link: str, side: float) -> Drawing:
    widget = QrCodeWidget(link, barLevel="M", barBorder=0)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


class _Rule(Flowable):
    """A double line under the title, as on printed government forms."""

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        self.width = available_width
        return available_width, 4

    def draw(self) -> None:
        self.canv.setStrokeColor(pdf.INK)
        self.canv.setLineWidth(1.2)
        self.canv.line(0, 3, self.width, 3)
        self.canv.setLineWidth(0.4)
        self.canv.line(0, 0.5, self.width, 0.5)


def _sealed_by(agency: str, style: ParagraphStyle, width: float) -> list[Paragraph]:
    """The collecting agency's name (markup) followed by the seal label （盖章）: on one line when
    both fit, else the name (wrapped as it must be) with the label on a line of its own — never
    the label broken as （盖 / 章）, which Chinese line breaking would otherwise allow."""
    together = Paragraph(f"{agency}{SEAL_LABEL}", style)
    together.wrap(width, 10**6)
    if len(together.blPara.lines) == 1:
        return [together]
    return [Paragraph(agency, style), Paragraph(SEAL_LABEL, style)]


def _net_note(data: CertificateData) -> str:
    """Under the amount, when part of the receipt's money went back: what the receipt took and how
    much of it was refunded, so that the amount and the receipt's do not seem to disagree."""
    if data.receipt_fen is None or data.receipt_fen == data.amount_fen:
        return ""
    back = yuan(data.receipt_fen - data.amount_fen)
    return f"<br/>（票据金额 {escape(yuan(data.receipt_fen))} 元，其中 {escape(back)} 元已退还或正在退还）"


def certificate_pdf(data: CertificateData) -> bytes:
    """The payment certificate, A4 portrait, one page, in Chinese whatever the clerk's language."""
    with translation.override("zh-hans"):  # line breaking and the document's metadata follow it
        return _certificate_pdf(data)


def _certificate_pdf(data: CertificateData) -> bytes:
    stack = pdf.fonts()
    mark = stack.markup
    styles = pdf.Styles(stack.primary, 11)
    page_width, page_height = A4
    margin = 20 * mm
    width = pdf.text_width(page_width, margin)
    amount = yuan(data.amount_fen)

    body = styles.paragraph(size=12, leading=24, align=TA_JUSTIFY, firstLineIndent=24)
    label = styles.paragraph(align=TA_CENTER)
    value = styles.paragraph()
    small = styles.paragraph(size=9.5, leading=15, color=pdf.MUTED)
    code_style = styles.paragraph(size=15, leading=22)

    statement = Paragraph(
        f"兹证明 <u>{mark(data.name)}</u>（证件号码：{escape(data.masked_id_number)}）已缴纳"
        f" <u>{data.insurance_year}</u> 年度城乡居民基本医疗保险个人缴费，金额人民币"
        f" <u>{escape(amount)}</u> 元。缴费信息如下：",
        body,
    )

    lines = [
        ("缴费人姓名", mark(data.name)),
        ("证件号码", escape(data.masked_id_number)),
        ("参保年度", f"{data.insurance_year} 年度"),
        (
            "缴费金额",
            f"人民币 {escape(amount)} 元（大写：{yuan_in_capitals(data.amount_fen)}）{_net_note(data)}",
        ),
        ("缴费日期", chinese_date(data.paid_on)),
        ("缴费渠道", mark(data.channel)),
        ("票据号码", escape(data.receipt)),
        ("收款单位", mark(data.agency)),
    ]
    details = Table(
        [[Paragraph(name, label), Paragraph(text, value)] for name, text in lines],
        colWidths=[34 * mm, width - 34 * mm],
    )
    details.setStyle(
        pdf.table_style(
            stack.primary,
            [
                ("GRID", (0, 0), (-1, -1), 0.5, pdf.INK),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (0, -1), pdf.HEADER_FILL),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("LEFTPADDING", (1, 0), (1, -1), 8),
            ],
        )
    )

    check_text = [
        Paragraph("验证码", styles.paragraph(size=10, color=pdf.MUTED)),
        Paragraph(escape(data.code), code_style),
        Spacer(1, 2 * mm),
        Paragraph(
            f"查验方式：在浏览器中打开 {escape(data.verify_url)} 输入上述验证码，或扫描左侧二维码。"
            "查验结果只显示参保年度、缴费状态和隐去部分的姓名。",
            small,
        ),
    ]
    check = Table([[_qr(data.check_link, QR_SIDE), check_text]], colWidths=[QR_SIDE + 8 * mm, None])
    check.setStyle(
        pdf.table_style(
            stack.primary,
            [
                ("BOX", (0, 0), (-1, -1), 0.5, pdf.MUTED),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 4 * mm),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 4 * mm),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4 * mm),
            ],
        )
    )

    right = styles.paragraph(size=12, leading=22, align=TA_RIGHT)
    signature: list[Any] = [
        *_sealed_by(mark(data.agency), right, SIGNATURE_WIDTH),
        Paragraph(f"开具日期：{chinese_date(data.issued_on)}", right),
    ]
    closing = Table(
        [["", pdf.StampBox("收款单位印章", stack.primary, side=36 * mm), signature]],
        colWidths=[width - 44 * mm - SIGNATURE_WIDTH, 44 * mm, SIGNATURE_WIDTH],
    )
    closing.setStyle(
        pdf.table_style(
            stack.primary,
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ],
        )
    )

    story: list[Flowable] = [
        pdf.Title(TITLE, stack.primary, 21),
        _Rule(),
        Spacer(1, 9 * mm),
        statement,
        Spacer(1, 5 * mm),
        details,
        Spacer(1, 8 * mm),
        check,
        Spacer(1, 4 * mm),
        Paragraph(
            "说明：本证明仅证明上述缴费事实。缴费被冲正（退回）后本证明即失效，以网上查验结果为准。"
            "本证明不作为医疗费用报销凭证。",
            small,
        ),
        Spacer(1, 10 * mm),
        KeepTogether([closing]),
    ]

    def furniture(canvas: Canvas, page: int, total: int) -> None:
        canvas.saveState()
        canvas.setFont(stack.primary, 8.5)
        canvas.setFillColor(pdf.MUTED)
        canvas.drawString(margin, page_height - margin + 2 * mm, f"票据号码：{data.receipt}")
        canvas.drawRightString(page_width - margin, page_height - margin + 2 * mm, f"验证码：{data.code}")
        canvas.drawString(margin, margin - 2 * mm, f"{data.agency} · 城乡居民医保经办平台打印")
        canvas.drawRightString(page_width - margin, margin - 2 * mm, f"第 {page} 页 / 共 {total} 页")
        canvas.restoreState()

    buffer = io.BytesIO()
    pdf.document(buffer, A4, TITLE, margin, "zh-CN", stack.primary).build(
        story, canvasmaker=pdf.numbered_canvas(furniture)
    )
    return buffer.getvalue()
