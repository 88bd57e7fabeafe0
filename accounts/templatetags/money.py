"""``{{ amount_fen|yuan }}``: whole fen shown in yuan (32,000.50), as ``accounts.money.yuan``."""

from __future__ import annotations

from django import template

from accounts.money import yuan as _yuan

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    return _yuan(fen)
