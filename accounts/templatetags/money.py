"""``{{ amount_fen|yuan }}``: whole fen shown in yuan (32,000.50), as ``accounts.money.yuan``;
``{{ amount_fen|yuan_in_capitals }}``: in capitals as receipts write them (肆佰元整)."""

from __future__ import annotations

from django import template

from accounts.money import yuan as _yuan
from accounts.money import yuan_in_capitals as _yuan_in_capitals

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    return _yuan(fen)


@register.filter
def yuan_in_capitals(fen: int | None) -> str:
    return "" if fen is None else _yuan_in_capitals(fen)
