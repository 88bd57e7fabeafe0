"""Charts drawn on the server as SVG: no script, no external asset, nothing the content-security
policy has to allow (colours and fonts come from classes in static/css/charts.css, never from
``style`` attributes). Every chart carries its numbers as ``<title>`` tooltips and an ``aria-label``,
and the pages show the same numbers in a table beside it, so nothing is only in a picture.

Two shapes cover the reports:

- ``horizontal_bars``: one bar per area (coverage per village, township, county), with an
  optional target line (100%);
- ``daily_columns``: one column per day, stacked by series (collection per day per channel).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe

# Series classes in static/css/charts.css, used in this order when a series names none.
PALETTE = tuple(f"series-{number}" for number in range(1, 9))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    # Shown at the end of the bar (e.g. "96.3%  (1,204 / 1,250)"); the value alone when empty.
    note: str = ""
    href: str = ""
    # A bar below the target is drawn in the warning colour.
    css_class: str = ""


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    css_class: str = ""


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    extra: dict[str, str] = field(default_factory=dict)


def _svg(frame: _Frame, label: str, body: list[str], css_class: str) -> SafeString:
    attributes = (
        f'xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" role="img" '
        f'viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" height="{frame.height}" '
        f"aria-label={quoteattr(label)}"
    )
    return mark_safe(f"<svg {attributes}><title>{escape(label)}</title>{''.join(body)}</svg>")  # noqa: S308 - every text above is escaped


def percent(value: float | None) -> str:
    """A rate as people read it: 0.8182 → 81.8%; none (nothing to divide by) → —."""
    return "—" if value is None else f"{value * 100:.1f}%"


def horizontal_bars(
    bars: Sequence[Bar],
    *,
    label: str,
    maximum: float | None = None,
    target: float | None = None,
    target_label: str = "",
    value_format: Callable[[float], str] = percent,
    width: int = 760,
    row_height: int = 22,
    label_width: int = 170,
) -> SafeString:
    """One bar per row; ``target`` draws a dashed line across all rows (e.g. 1.0 for 100%)."""
    note_width = 190
    frame = _Frame(width=width, height=0, left=label_width, right=note_width, top=22, bottom=8)
    height = frame.top + max(len(bars), 1) * row_height + frame.bottom
    frame = _Frame(**{**frame.__dict__, "height": height})
    scale_to = max([maximum or 0.0, target or 0.0, *(bar.value for bar in bars)]) or 1.0
    plot = width - frame.left - frame.right
    body: list[str] = []
    # Axis ticks at 0, 25, 50, 75 and 100% of the scale.
    for step in range(5):
        x = frame.left + plot * step / 4
        body.append(
            f'<line class="grid" x1="{x:.1f}" y1="{frame.top - 4}" x2="{x:.1f}" y2="{height - frame.bottom}"/>'
            f'<text class="tick" x="{x:.1f}" y="{frame.top - 8}" text-anchor="middle">'
            f"{escape(value_format(scale_to * step / 4))}</text>"
        )
    # The target line before the bars: a value written past the end of its bar lies over the line
    # (with a halo, charts.css), not under it.
    if target is not None:
        x = frame.left + plot * target / scale_to
        body.append(
            f'<line class="target" x1="{x:.1f}" y1="{frame.top - 2}" x2="{x:.1f}" y2="{height - frame.bottom + 2}">'
            f"<title>{escape(target_label or value_format(target))}</title></line>"
        )
    for index, bar in enumerate(bars):
        y = frame.top + index * row_height
        length = plot * max(bar.value, 0) / scale_to
        below = target is not None and bar.value < target
        css = bar.css_class or ("bar below-target" if below else "bar")
        note = bar.note or value_format(bar.value)
        tip = f"{bar.label}: {note}"
        label_text = f'<text class="label" x="{frame.left - 6}" y="{y + row_height * 0.68:.1f}" text-anchor="end">{escape(bar.label)}</text>'
        if bar.href:
            label_text = f"<a href={quoteattr(bar.href)}>{label_text}</a>"
        body.append(
            label_text
            + f'<rect class="{escape(css)}" x="{frame.left}" y="{y + 3}" width="{length:.1f}" height="{row_height - 6}">'
            f"<title>{escape(tip)}</title></rect>"
            f'<text class="value" x="{frame.left + length + 5:.1f}" y="{y + row_height * 0.68:.1f}">{escape(note)}</text>'
        )
    return _svg(frame, label, body, "chart-bars")


# A tick step is one of these times a power of ten, so the four steps up the axis read as round
# figures (0, 20, 40, 60, 80), never as 17.5 written "18".
_NICE_STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def _nice_step(raw: float) -> int:
    """The smallest round whole step at least ``raw`` (1 at the least: ticks are whole figures)."""
    raw = max(raw, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    return next(
        round(factor * power)
        for factor in _NICE_STEPS
        if factor * power >= raw * (1 - 1e-9) and float(factor * power).is_integer()
    )


def daily_columns(
    days: Sequence[dt.date],
    series: Sequence[Series],
    *,
    label: str,
    value_format: Callable[[float], str] = lambda value: f"{value:,.0f}",
    unit: str = "",
    width: int = 760,
    height: int = 240,
    day_format: str = "m-d",
) -> SafeString:
    """One column per day, its series stacked bottom-up, with a legend above. ``day_format`` labels
    the columns (``"Y-m"`` for one column per month). ``unit`` (e.g. yuan) titles the value axis and
    follows each value in the tooltips: a figure without its unit is no amount of money."""
    frame = _Frame(width=width, height=height, left=64, right=12, top=34, bottom=30)
    plot_width = width - frame.left - frame.right
    plot_height = height - frame.top - frame.bottom
    totals = [sum(entry.values[index] for entry in series) for index in range(len(days))]
    scale_to = 4 * _nice_step(max(totals, default=0) / 4)
    body: list[str] = []
    if unit:
        body.append(
            f'<text class="tick axis-unit" x="{frame.left - 6}" y="{frame.top - 12}" text-anchor="end">{escape(unit)}</text>'
        )
    for step in range(5):
        y = frame.top + plot_height * (1 - step / 4)
        body.append(
            f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" x2="{width - frame.right}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(value_format(scale_to * step / 4))}</text>"
        )
    x = frame.left
    for index, entry in enumerate(series):
        css = entry.css_class or PALETTE[index % len(PALETTE)]
        body.append(
            f'<rect class="{escape(css)}" x="{x}" y="8" width="12" height="12"/>'
            f'<text class="legend" x="{x + 16}" y="18">{escape(entry.label)}</text>'
        )
        x += 28 + 13 * len(entry.label) + (0 if entry.label.isascii() else 7 * len(entry.label))
    unit_after = f" {unit}" if unit else ""
    slot = plot_width / max(len(days), 1)
    column = max(min(slot * 0.7, 40), 2)
    label_every = max(1, round(len(days) / 12))
    for day_index, day in enumerate(days):
        left = frame.left + slot * day_index + (slot - column) / 2
        bottom = frame.top + plot_height
        day_text = date_format(day, day_format)
        for index, entry in enumerate(series):
            value = entry.values[day_index]
            if value <= 0:
                continue
            size = plot_height * value / scale_to
            bottom -= size
            css = entry.css_class or PALETTE[index % len(PALETTE)]
            body.append(
                f'<rect class="{escape(css)}" x="{left:.1f}" y="{bottom:.1f}" width="{column:.1f}" height="{size:.1f}">'
                f"<title>{escape(f'{day_text} {entry.label}: {value_format(value)}{unit_after}')}</title></rect>"
            )
        if day_index % label_every == 0:
            body.append(
                f'<text class="tick" x="{left + column / 2:.1f}" y="{height - 10}" text-anchor="middle">'
                f"{escape(day_text)}</text>"
            )
    return _svg(frame, label, body, "chart-columns")


def progress_ring(fraction: float, *, label: str, size: int = 96) -> SafeString:
    """A ring filled to ``fraction`` (capped at 1) with the percentage in the middle."""
    radius = size / 2 - 8
    circumference = 2 * 3.141592653589793 * radius
    filled = circumference * max(0.0, min(fraction, 1.0))
    centre = size / 2
    body = [
        f'<circle class="ring-track" cx="{centre}" cy="{centre}" r="{radius:.1f}"/>',
        f'<circle class="ring-fill{" below-target" if fraction < 1 else ""}" cx="{centre}" cy="{centre}" '
        f'r="{radius:.1f}" stroke-dasharray="{filled:.1f} {circumference:.1f}" '
        f'transform="rotate(-90 {centre} {centre})"/>',
        f'<text class="ring-text" x="{centre}" y="{centre + 6}" text-anchor="middle">{escape(percent(fraction))}</text>',
    ]
    frame = _Frame(width=size, height=size, left=0, right=0, top=0, bottom=0)
    return _svg(frame, label, body, "chart-ring")
