"""Template filters for labels that travel between bureaus (sharing.labels)."""

from __future__ import annotations

from django import template

from sharing import labels

register = template.Library()


@register.filter
def overcollection_reason(text: str) -> str:
    return labels.overcollection_reason(text)
