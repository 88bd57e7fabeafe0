"""Tax's reads, always through the caller's scope: payers found at the counter, their due items,
a payment with its receipt."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.days import PLAUSIBLE_DAYS
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import counts_by, region_names

from . import rules
from .codes import code_normalise
from .models import (
    BackPaymentWindow,
    BatchProblem,
    Channel,
    DueItem,
    DueStatus,
    OvercollectionEvent,
    OvercollectionRequest,
    OvercollectionStatus,
    Payer,
    Payment,
    PaymentBatch,
    PaymentCertificate,
    PaymentStatus,
    RefundKind,
    RefundPaid,
    SubsidyMark,
)
from .rules import Acceptance, BackPaymentTerms, acceptance_on

SEARCH_LIMIT = 20
_IDENTIFIER_PREFIX = re.compile(r"^[0-9A-Za-z-]{4,32}$")


@dataclass(frozen=True)
class PayerDues:
    payer: Payer
    due_items: list[DueItem]
    # What insurance told tax of the payer's subsidy tags (``subsidy.marks_batch``), newest year first.
    subsidy_marks: list[SubsidyMark]


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


def payer_dues(*, scope: Scope, payer_id: int) -> PayerDues:
    """A payer, by the key of tax's own ledger (never the identifier: it travels in URLs), every
    due item tax holds for them and every subsidy mark (newest year first). Outside the caller's
    area: 404."""
    scope.require(Action.COLLECTION_VIEW)
    payer = scope.get_object_or_404(Payer.objects.all(), pk=payer_id)
    items = list(
        scope.filter(DueItem.objects.filter(person_id=payer.person_id))
        .prefetch_related("payments__agency")
        .order_by("-insurance_year")
    )
    marks = list(
        scope.filter(SubsidyMark.objects.filter(person_id=payer.person_id)).order_by(
            "-insurance_year", "category"
        )
    )
    return PayerDues(payer=payer, due_items=items, subsidy_marks=marks)


def payer_key(*, scope: Scope, person_id: str) -> int | None:
    """The key in tax's ledger of the payer with this identifier in the caller's area, for links
    back to the counter that carry no identifier (None: no such payer in the area)."""
    scope.require(Action.COLLECTION_VIEW)
    return scope.filter(Payer.objects.filter(person_id=person_id)).values_list("pk", flat=True).first()


def due_items_of(*, scope: Scope, person_id: str) -> QuerySet[DueItem]:
    scope.require(Action.COLLECTION_VIEW)
    return scope.filter(DueItem.objects.filter(person_id=person_id)).order_by("-insurance_year")


def payment_detail(*, scope: Scope, pk: int) -> Payment:
    scope.require(Action.COLLECTION_VIEW)
    return scope.get_object_or_404(Payment.objects.select_related("agency", "collector", "due_item"), pk=pk)


def payer_name(person_id: str) -> str:
    """The payer's name for a receipt (the ledger of payers is tax's own)."""
    return Payer.objects.filter(person_id=person_id).values_list("name", flat=True).first() or ""


# --- payment certificates -------------------------------------------------------------------------


def certificate_issued(payment: Payment) -> PaymentCertificate | None:
    """The certificate of a payment the caller already holds (through the scope), if one was issued."""
    return PaymentCertificate.objects.filter(payment=payment).first()


def certificate_of(*, scope: Scope, payment_id: int) -> PaymentCertificate:
    """The certificate issued for a payment in the caller's area (404 outside it or when none is)."""
    scope.require(Action.COLLECTION_VIEW)
    return scope.get_object_or_404(
        PaymentCertificate.objects.select_related("payment__agency"), payment_id=payment_id
    )


@dataclass(frozen=True)
class CertificateCheck:
    """All the public check tells about a certificate: nothing that identifies the person."""

    insurance_year: int
    valid: bool
    masked_name: str
    # Why it is not valid when it is not: the payment was reversed, or all of it went back.
    refunded: bool = False


def certificate_check(*, code: str) -> CertificateCheck | None:
    """The public check of a verification code (no sign-in, hence no scope): None for a code no
    certificate has. One indexed lookup says whether a certificate has the code; only a found one
    standing payment is then read for what went back of it (80 random bits: whether a code exists
    is no secret worth the timing)."""
    normalised = code_normalise(code)
    found = PaymentCertificate.objects.filter(code=normalised or "").select_related("payment").first()
    if found is None:
        return None
    payment = found.payment
    refunded = payment.status == PaymentStatus.RECORDED and certificate_amount_fen(payment=payment) <= 0
    return CertificateCheck(
        insurance_year=payment.insurance_year,
        valid=payment.status == PaymentStatus.RECORDED and not refunded,
        masked_name=found.masked_name,
        refunded=refunded,
    )


# --- reports ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    label: str
    count: int
    fen: int


@dataclass(frozen=True)
class DailyReport:
    day: dt.date
    by_channel: list[Line]
    by_collector: list[Line]
    count: int
    fen: int
    reversed: Line

    @property
    def net_fen(self) -> int:
        return self.fen - self.reversed.fen


# The days a report takes from its address: those of the insurance years the portal knows (as the
# progress page's year), so that the day before and after, or a year back, is always a date.
REPORT_DAYS = PLAUSIBLE_DAYS


def report_day(raw: str | None) -> dt.date | None:
    """A day from a report's address (YYYY-MM-DD); None when absent, unreadable or outside
    ``REPORT_DAYS``, which the report answers as it answers no day."""
    try:
        day = dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None
    first, last = REPORT_DAYS
    return day if day is not None and first <= day <= last else None


def daily_report(*, scope: Scope, day: dt.date) -> DailyReport:
    """The payments taken on a day in the caller's area, by channel and by collector, and the
    reversals made that day, whichever day their payment was taken.

    A day's takings stay as they were once the day is closed and its money handed over: a payment
    reversed later is still in the day it was taken, and its reversal is in the day it was made."""
    scope.require(Action.COLLECTION_VIEW)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    end = start + dt.timedelta(days=1)
    taken = scope.filter(Payment.objects.filter(paid_at__gte=start, paid_at__lt=end))
    by_channel = [
        Line(Channel(row["channel"]).label, row["n"], row["fen"])
        for row in taken.values("channel").annotate(n=Count("id"), fen=Sum("amount_fen")).order_by("channel")
    ]
    by_collector = [
        Line(
            f"{row['collector__full_name'] or row['collector__username']} · {row['agency__name']}",
            row["n"],
            row["fen"],
        )
        for row in taken.values("collector__full_name", "collector__username", "agency__name")
        .annotate(n=Count("id"), fen=Sum("amount_fen"))
        .order_by("agency__name", "collector__username")
    ]
    reversals = scope.filter(
        Payment.objects.filter(reversed_at__gte=start, reversed_at__lt=end, status=PaymentStatus.REVERSED)
    ).aggregate(n=Count("id"), fen=Sum("amount_fen"))
    return DailyReport(
        day=day,
        by_channel=by_channel,
        by_collector=by_collector,
        count=sum(line.count for line in by_channel),
        fen=sum(line.fen for line in by_channel),
        reversed=Line("", reversals["n"] or 0, reversals["fen"] or 0),
    )


def progress_years(*, scope: Scope) -> list[int]:
    scope.require(Action.COLLECTION_VIEW)
    return sorted(
        scope.filter(DueItem.objects.all()).values_list("insurance_year", flat=True).distinct(), reverse=True
    )


# --- collective payments and bank files ----------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A person a collective payment may pay for: the due item, the name, the amount due today."""

    item: DueItem
    name: str
    amount_fen: int


def villages_with_dues(*, scope: Scope, year: int) -> list[tuple[str, str, int]]:
    """(code, name, persons still due) of the villages in the caller's area with someone due."""
    scope.require(Action.COLLECTION_VIEW)
    counts = (
        scope.filter(DueItem.objects.filter(insurance_year=year, status=DueStatus.DUE))
        .values("region_code")
        .annotate(n=Count("id"))
        .order_by("region_code")
    )
    rows = list(counts)
    names = region_names({row["region_code"] for row in rows})
    return [(row["region_code"], names.get(row["region_code"], row["region_code"]), row["n"]) for row in rows]


@dataclass(frozen=True)
class NotPayable:
    """A person a collective payment cannot pay for today, and why."""

    # The identifier (to be masked when shown), or for a malformed entry the text as typed.
    person_id: str
    name: str
    reason: str
    well_formed: bool = True


@dataclass(frozen=True)
class Collective:
    """A collective payment's list: who can be paid for today, and who cannot, each with the reason."""

    candidates: list[Candidate]
    not_payable: list[NotPayable]

    @property
    def shared_reason(self) -> str:
        """The one reason of everyone not payable (usually the collection window), or ""."""
        reasons = {entry.reason for entry in self.not_payable}
        return reasons.pop() if len(reasons) == 1 else ""


# An identifier as typed in a school's list: letters and digits, from a foreign passport's 5 to
# the 32 tax keeps. Anything else is reported as malformed and never looked up.
_IDENTIFIER = re.compile(r"^[0-9A-Z]{5,32}$")


def _standing_receipts(item_ids: list[int]) -> dict[int, str]:
    payments = Payment.objects.filter(due_item_id__in=item_ids, status=PaymentStatus.RECORDED).only(
        "due_item_id", "agency_id", "receipt_year", "receipt_number"
    )
    return {payment.due_item_id: payment.receipt for payment in payments}


def _split(items: QuerySet[DueItem], day: dt.date) -> tuple[list[Candidate], dict[str, NotPayable]]:
    """The items payable on ``day`` as candidates, and the others by person with the reason."""
    found = list(items.order_by("region_code", "person_id"))
    names = dict(
        Payer.objects.filter(person_id__in=[item.person_id for item in found]).values_list(
            "person_id", "name"
        )
    )
    receipts = _standing_receipts([item.pk for item in found if item.status == DueStatus.PAID])
    candidates: list[Candidate] = []
    refused: dict[str, NotPayable] = {}
    windows = BackPaymentWindows()
    for item in found:
        name = names.get(item.person_id, "")
        if item.status == DueStatus.PAID:
            reason = rules.paid_reason(receipt=receipts.get(item.pk, ""))
        elif item.status == DueStatus.CANCELLED:
            reason = rules.cancelled_reason(insurance_year=item.insurance_year)
        else:
            accepted = acceptance_for(item=item, day=day, windows=windows)
            if accepted.accepted:
                candidates.append(Candidate(item=item, name=name, amount_fen=accepted.amount_fen))
                continue
            reason = rules.window_reason(accepted)
        refused[item.person_id] = NotPayable(person_id=item.person_id, name=name, reason=reason)
    return candidates, refused


def collective_candidates_of_village(*, scope: Scope, village_code: str, year: int) -> Collective:
    """The persons of a village whose due item for the year can be paid today, and those still
    due who cannot (outside the collection window), with the reason."""
    scope.require(Action.COLLECTION_VIEW)
    items = scope.filter(
        DueItem.objects.filter(region_code=village_code, insurance_year=year, status=DueStatus.DUE)
    )
    candidates, refused = _split(items, timezone.localdate())
    return Collective(candidates=candidates, not_payable=list(refused.values()))


def collective_candidates_of_list(*, scope: Scope, person_ids: list[str], year: int) -> Collective:
    """A school's list: the listed persons whose due item for the year can be paid today, in the
    list's order, and every other entry with the reason: malformed, not found in the caller's
    area, paid already (with the receipt), nothing due, or outside the collection window."""
    scope.require(Action.COLLECTION_VIEW)
    typed: dict[str, str] = {}  # normalised → as typed (first time); a repeated entry counts once
    for text in person_ids:
        if text.strip():
            typed.setdefault(text.strip().upper(), text.strip())
    wanted = [person_id for person_id in typed if _IDENTIFIER.match(person_id)]
    items = scope.filter(DueItem.objects.filter(person_id__in=wanted, insurance_year=year))
    candidates, refused = _split(items, timezone.localdate())
    order = {person_id: index for index, person_id in enumerate(typed)}
    candidates.sort(key=lambda candidate: order[candidate.item.person_id])
    payable = {candidate.item.person_id for candidate in candidates}
    not_payable = []
    for person_id, as_typed in typed.items():
        if not _IDENTIFIER.match(person_id):
            not_payable.append(
                NotPayable(
                    person_id=as_typed[:40],
                    name="",
                    reason=_("Not an identifier: an identifier has 5 to 32 letters and digits."),
                    well_formed=False,
                )
            )
        elif person_id in refused:
            not_payable.append(refused[person_id])
        elif person_id not in payable:
            not_payable.append(
                NotPayable(person_id=person_id, name="", reason=rules.not_found_reason(insurance_year=year))
            )
    return Collective(candidates=candidates, not_payable=not_payable)


def batches(*, scope: Scope) -> QuerySet[PaymentBatch]:
    scope.require(Action.COLLECTION_VIEW)
    return scope.filter(PaymentBatch.objects.select_related("created_by")).order_by("-created_at", "-pk")


def batch_detail(*, scope: Scope, pk: int) -> PaymentBatch:
    scope.require(Action.COLLECTION_VIEW)
    return scope.get_object_or_404(PaymentBatch.objects.select_related("agency", "created_by"), pk=pk)


@dataclass(frozen=True)
class LedgerLine:
    number: int
    payment: Payment
    name: str


def batch_lines(*, batch: PaymentBatch) -> Iterator[LedgerLine]:
    """The batch's payments in receipt order with the payers' names, read in chunks."""
    payments = Payment.objects.filter(batch=batch).order_by("receipt_year", "receipt_number")
    number = 0
    last = (0, 0)
    while True:
        chunk = list(
            payments.filter(
                Q(receipt_year__gt=last[0]) | Q(receipt_year=last[0], receipt_number__gt=last[1])
            )[:2000]
        )
        if not chunk:
            return
        names = dict(
            Payer.objects.filter(person_id__in=[payment.person_id for payment in chunk]).values_list(
                "person_id", "name"
            )
        )
        for payment in chunk:
            number += 1
            yield LedgerLine(number=number, payment=payment, name=names.get(payment.person_id, ""))
        last = (chunk[-1].receipt_year, chunk[-1].receipt_number)


def batch_problems(*, batch: PaymentBatch) -> QuerySet[BatchProblem]:
    return batch.problems.order_by("line_number")


def refunds_of_payment(*, payment: Payment) -> list[RefundPaid]:
    """What insurance paid back of this payment: matched by its receipt number, or by a receipt
    number it had before a reissue (insurance keeps the number the deposit record carried)."""
    numbers = [payment.receipt, *(voided.receipt_code for voided in payment.voided_receipts.all())]
    return list(
        RefundPaid.objects.filter(person_id=payment.person_id, receipt_number__in=numbers).order_by("paid_on")
    )


def reversal_refusal(*, payment: Payment, refunds: list[RefundPaid] | None = None) -> str | None:
    """Why a standing payment cannot be reversed, or None: money of it went back through insurance
    (a refund paid, or an over-collection refund requested), and reversing the whole payment too
    would give it back twice; one insurance refused gave nothing back. ``refunds``: the payment's
    ``refunds_of_payment``, if already read."""
    if payment.overcollection_requests.exclude(status=OvercollectionStatus.REFUSED).exists():
        return _("An over-collection refund was requested on this payment; it cannot be reversed.")
    if refunds is None:
        refunds = refunds_of_payment(payment=payment)
    if refunds:
        return _(
            "The medical insurance bureau paid this contribution back on %(day)s (refund %(number)s); "
            "it cannot be reversed."
        ) % {"day": refunds[0].paid_on.isoformat(), "number": refunds[0].refund_id}
    return None


def given_back_fen(*, payment: Payment, refunds: list[RefundPaid] | None = None) -> int:
    """What of a payment went back, or is on its way back, through insurance: the refunds it paid
    by application, and every over-collection tax requested on it, paid out or not (a request's
    payout comes back as a refund of kind over-collection: counted once, by the request), but those
    insurance refused. ``refunds``: the payment's ``refunds_of_payment``, if already read."""
    if refunds is None:
        refunds = refunds_of_payment(payment=payment)
    by_application = sum(r.amount_fen for r in refunds if r.kind == RefundKind.APPLICATION)
    requested = (
        payment.overcollection_requests.exclude(status=OvercollectionStatus.REFUSED).aggregate(
            fen=Sum("amount_fen")
        )["fen"]
        or 0
    )
    return by_application + requested


def certificate_amount_fen(*, payment: Payment, refunds: list[RefundPaid] | None = None) -> int:
    """What a certificate of a standing payment states as paid: what it took less what went back
    or is going back (``given_back_fen``). Nothing left (or less): nothing to certify."""
    return payment.amount_fen - given_back_fen(payment=payment, refunds=refunds)


def certificate_refusal(*, payment: Payment, refunds: list[RefundPaid] | None = None) -> str | None:
    """Why a payment's certificate cannot be issued or printed, or None: the payment was reversed,
    or all the money it took went back (or is going back) through insurance."""
    if payment.status != PaymentStatus.RECORDED:
        return _("This payment was reversed: there is nothing to certify, and no certificate is issued.")
    if certificate_amount_fen(payment=payment, refunds=refunds) <= 0:
        return _(
            "All of this payment was paid back, or is being paid back, through the medical insurance "
            "bureau: there is nothing to certify, and no certificate is issued or printed."
        )
    return None


@dataclass(frozen=True)
class RefundMonth:
    month: str
    # In the details' order, not read yet: a city's month may hold many (pages and exports read
    # only what they show or write).
    refunds: QuerySet[RefundPaid]
    count: int
    fen: int


def refund_months(*, scope: Scope) -> list[str]:
    scope.require(Action.COLLECTION_VIEW)
    return sorted(
        scope.filter(RefundPaid.objects.all()).values_list("month", flat=True).distinct(), reverse=True
    )


def refunds_of_month(*, scope: Scope, month: str) -> RefundMonth:
    """The refunds insurance paid out in a month in the caller's area, as its details reported
    them: their count and total (one aggregate) and the rows, in order, to read as needed."""
    scope.require(Action.COLLECTION_VIEW)
    refunds = scope.filter(RefundPaid.objects.filter(month=month)).order_by("paid_on", "refund_id")
    totals = refunds.order_by().aggregate(count=Count("pk"), fen=Sum("amount_fen"))
    return RefundMonth(month=month, refunds=refunds, count=totals["count"], fen=totals["fen"] or 0)


# --- over-collections tax reported for refund ------------------------------------------------


def overcollection_list(*, scope: Scope, status: str = "") -> QuerySet[OvercollectionRequest]:
    """Tax's over-collection requests in the area, newest first; ``status`` one state."""
    scope.require(Action.OVERCOLLECTION_VIEW)
    queryset = scope.filter(OvercollectionRequest.objects.select_related("requested_by"))
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-requested_at", "-pk")


def overcollection_status_counts(*, scope: Scope) -> dict[str, int]:
    scope.require(Action.OVERCOLLECTION_VIEW)
    return counts_by(scope.filter(OvercollectionRequest.objects.all()))


def overcollection_detail(*, scope: Scope, pk: int) -> OvercollectionRequest:
    scope.require(Action.OVERCOLLECTION_VIEW)
    return scope.get_object_or_404(
        OvercollectionRequest.objects.select_related("requested_by", "payment"), pk=pk
    )


def overcollection_timeline(*, request: OvercollectionRequest) -> QuerySet[OvercollectionEvent]:
    """The clerk's request, then every push from insurance, oldest first."""
    return request.timeline.select_related("actor").order_by("at", "pk")


# --- a due item's acceptance, with the year's back-payment window once the period is over -------


class BackPaymentWindows:
    """The back-payment windows insurance sent (``policy.back_payment_window``), read once per
    insurance year asked: a due item's is that of the longest region prefix its region starts with."""

    def __init__(self) -> None:
        self._by_year: dict[int, list[tuple[str, BackPaymentTerms]]] = {}

    def find(self, *, region_code: str, insurance_year: int) -> BackPaymentTerms | None:
        windows = self._by_year.get(insurance_year)
        if windows is None:
            rows = BackPaymentWindow.objects.filter(insurance_year=insurance_year).values_list(
                "region_prefix", "back_payment", "apply_from", "apply_until"
            )
            windows = self._by_year[insurance_year] = sorted(
                (
                    (prefix, BackPaymentTerms(insurance_year, takes, start, until))
                    for prefix, takes, start, until in rows
                ),
                key=lambda window: -len(window[0]),
            )
        return next((terms for prefix, terms in windows if region_code.startswith(prefix)), None)


class _Dated(Protocol):
    """What the acceptance of a due item reads of it (a ``DueItem`` or a row read for a payment)."""

    @property
    def schedule(self) -> list[dict[str, Any]]: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def region_code(self) -> str: ...
    @property
    def insurance_year(self) -> int: ...


def acceptance_for(*, item: _Dated, day: dt.date, windows: BackPaymentWindows | None = None) -> Acceptance:
    """``rules.acceptance_on`` for a due item; after the collection period, with the year's
    back-payment window for the item's region (read only then: most payments never need it)."""
    accepted = acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day)
    if accepted.rule != rules.CLOSED:
        return accepted
    terms = (windows or BackPaymentWindows()).find(
        region_code=item.region_code, insurance_year=item.insurance_year
    )
    if terms is None:
        return accepted
    return acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day, back_payment=terms)
