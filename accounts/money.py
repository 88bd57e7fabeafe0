"""Money for people: amounts are kept in whole fen everywhere and shown in yuan."""

from __future__ import annotations


def yuan(fen: int | None) -> str:
    """Whole fen as yuan with two decimals and thousands separators: 3200050 → 32,000.50."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"
