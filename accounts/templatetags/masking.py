"""Masking in templates, decided by the viewer's scope (the ``scope`` the context processor adds)."""

from __future__ import annotations

from datetime import date
from pprint import pformat
from typing import Any

from django import template

from accounts.masking import birth_date_for, payload_for, text_for
from accounts.scope import Scope

register = template.Library()


def _scope(context: template.Context) -> Scope:
    return context.get("scope") or Scope.nobody()


@register.simple_tag(takes_context=True)
def masked_text(context: template.Context, text: str, region_code: str) -> str:
    """``{% masked_text letter.last_traceback letter.region_code %}``: identity and mobile numbers masked."""
    return text_for(_scope(context), text or "", region_code or "")


@register.simple_tag(takes_context=True)
def masked_payload(context: template.Context, payload: Any, region_code: str) -> str:
    """A message's payload, pretty-printed, with who it is about masked (``accounts.masking.payload_for``)."""
    return pformat(payload_for(_scope(context), payload, region_code or ""))


@register.simple_tag(takes_context=True)
def birth_date_shown(context: template.Context, birth_date: date | None, region_code: str) -> str:
    """``{% birth_date_shown person.birth_date person.region_code %}``: the date in full beside a full
    identifier, only the year beside a masked one (``accounts.masking.birth_date_for``)."""
    return birth_date_for(_scope(context), birth_date, region_code or "")
