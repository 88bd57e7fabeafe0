"""Tax's reads, always through the caller's scope: payers found at the counter, their due items,
a payment with its receipt."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.roles import Action
from accounts.scope import Scope

from .models import DueItem, Payer, Payment

SEARCH_LIMIT = 20
_IDENTIFIER_PREFIX = re.compile(r"^[0-9A-Za-z-]{4,32}$")


@dataclass(frozen=True)
class PayerDues:
    payer: Payer
    due_items: list[DueItem]


def payer_search(*, scope: Scope, query: str) -> list[Payer]:
    """At most 20 payers whose identifier starts with ``query`` (4 characters or more), or whose
    name starts with it; both served by an index."""
    scope.require(Action.COLLECTION_VIEW)
    text = query.strip()
    if not text:
        return []
    payers = scope.filter(Payer.objects.all())
    if _IDENTIFIER_PREFIX.match(text):
        found = payers.filter(person_id__startswith=text.upper())
    else:
        found = payers.filter(name__startswith=text)
    return list(found.order_by("name", "person_id")[:SEARCH_LIMIT])


def payer_dues(*, scope: Scope, person_id: str) -> PayerDues:
    """A payer and every due item tax holds for them (newest year first)."""
    scope.require(Action.COLLECTION_VIEW)
    payer = scope.get_object_or_404(Payer.objects.all(), person_id=person_id)
    items = list(
        scope.filter(DueItem.objects.filter(person_id=payer.person_id))
        .prefetch_related("payments__agency")
        .order_by("-insurance_year")
    )
    return PayerDues(payer=payer, due_items=items)


def due_items_of(*, scope: Scope, person_id: str) -> QuerySet[DueItem]:
    scope.require(Action.COLLECTION_VIEW)
    return scope.filter(DueItem.objects.filter(person_id=person_id)).order_by("-insurance_year")


def payment_detail(*, scope: Scope, pk: int) -> Payment:
    scope.require(Action.COLLECTION_VIEW)
    return scope.get_object_or_404(Payment.objects.select_related("agency", "collector", "due_item"), pk=pk)


def payer_name(person_id: str) -> str:
    """The payer's name for a receipt (the ledger of payers is tax's own)."""
    return Payer.objects.filter(person_id=person_id).values_list("name", flat=True).first() or ""
