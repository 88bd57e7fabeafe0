"""``{% page_href n %}``: the address of page ``n`` of the list being shown, keeping its filters.

Every paged list's pager (``templates/_pager.html``) links through it, so a filter a list gains
is kept from page to page without each template naming its parameters again."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_href(context: dict[str, Any], number: int) -> str:
    """``?`` and the request's query with ``page`` set to ``number`` (encoded)."""
    query = context["request"].GET.copy()
    query["page"] = str(number)
    return "?" + query.urlencode()
