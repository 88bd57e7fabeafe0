"""Tax's writes: recording a payment of a due item, with its receipt, and telling insurance.

Every rule of the counter is here, for the page, the API and any later batch alike:

- a contribution is paid once and in full: a partial, an excess or a second payment is refused
  with the amount that is due, or the receipt of the payment already made;
- a payment outside the window insurance's rule engine sent with the due item is refused with the
  reason and the way forward (``collection.rules``);
- two clerks paying one due item at once: the due item's row lock makes one wait, and it then
  sees the item paid (a conflict naming the receipt);
- the same ``Idempotency-Key`` always answers with the same payment, however many times and at
  once it is sent;
- receipts are numbered per collecting agency and year from a counter row taken by an UPDATE that
  holds it until the payment commits: consecutive, no gap, no duplicate;
- the deposit record (``payment.deposited``) goes to insurance in the same transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from sharing.services import message_send, message_send_within

from .models import (
    Channel,
    DueItem,
    DueStatus,
    Payment,
    PaymentStatus,
    VoidedReceipt,
    receipt_code,
    receipt_code_sql,
)
from .rules import acceptance_on


class PaymentConflictError(Exception):
    """The payment cannot be made because of another one (HTTP 409): paid already, or a key reused."""

    def __init__(self, message: str, payment: Payment | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.payment = payment


@dataclass(frozen=True)
class Recorded:
    payment: Payment
    # True when the Idempotency-Key had been seen: the payment made then, nothing new.
    replayed: bool


def _receipt_number(*, agency_id: int, year: int) -> int:
    """The next receipt number of the agency and year; the counter row stays locked until commit."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO collection_receiptcounter (agency_id, year, last_number) VALUES (%s, %s, 1)
            ON CONFLICT (agency_id, year) DO UPDATE SET last_number = collection_receiptcounter.last_number + 1
            RETURNING last_number""",
            [agency_id, year],
        )
        return int(cursor.fetchone()[0])


def _replay(*, key: str, due_item_id: int, amount_fen: int, channel: str) -> Recorded | None:
    existing = Payment.objects.select_related("agency").filter(idempotency_key=key).first()
    if existing is None:
        return None
    if (existing.due_item_id, existing.amount_fen, existing.channel) != (due_item_id, amount_fen, channel):
        raise PaymentConflictError(
            _("This Idempotency-Key was already used for another payment (receipt %(receipt)s).")
            % {"receipt": existing.receipt},
            existing,
        )
    return Recorded(existing, replayed=True)


def payment_record(
    *,
    scope: Scope,
    due_item_id: int,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> Recorded:
    """Record that a due item was paid, in full, now (or at ``paid_at``), and number its receipt."""
    scope.require(Action.COLLECTION_RECORD)
    if scope.agency_id is None:
        raise PermissionDenied(_("Only a collecting agency's staff can record payments."))
    if channel not in Channel.values:
        raise ValidationError({"channel": [_("Choose how the payment was made.")]})
    paid_by = paid_by.strip()
    if not paid_by:
        raise ValidationError({"paid_by": [_("Say who paid.")]})
    key = (idempotency_key or "").strip() or None
    if key is not None and len(key) > 64:
        raise ValidationError({"idempotency_key": [_("An Idempotency-Key has at most 64 characters.")]})
    try:
        return _record(
            scope=scope,
            due_item_id=due_item_id,
            amount_fen=amount_fen,
            channel=channel,
            paid_by=paid_by[:60],
            paid_at=paid_at or timezone.now(),
            key=key,
        )
    except IntegrityError:
        # The same key sent at once for different due items: the unique key let one through.
        if key is not None:
            replayed = _replay(key=key, due_item_id=due_item_id, amount_fen=amount_fen, channel=channel)
            if replayed is not None:
                return replayed
        raise


# The payment in one statement: the due item marked paid (only if it is still as the rules saw
# it), the agency's next receipt number, the payment, and the deposit record to insurance. Each
# step takes its rows from the one before, so a due item changed or paid meanwhile writes
# nothing. The counter row is locked from its upsert to the commit, so numbers have no gap; with
# the statement its own transaction (autocommit), no round trip and no Python runs in that window,
# which under load had held up every other payment of the agency. Statement history triggers see
# each table's rows as for separate statements.
_RECORD_SQL = """
WITH item AS (
    UPDATE collection_dueitem SET status = %(paid)s, updated_at = %(now)s
    WHERE id = %(item)s AND status = %(due)s AND person_id = %(person)s AND insurance_year = %(year_insured)s
      AND region_code = %(region)s AND amount_fen = %(amount_due)s AND schedule = %(schedule)s::jsonb
    RETURNING id
),
number AS (
    INSERT INTO collection_receiptcounter AS c (agency_id, year, last_number)
    SELECT %(agency)s, %(year)s, 1 FROM item
    ON CONFLICT (agency_id, year) DO UPDATE SET last_number = c.last_number + 1
    RETURNING last_number
),
payment AS (
    INSERT INTO collection_payment (
        due_item_id, person_id, insurance_year, region_code, amount_fen, channel, paid_at, paid_by,
        agency_id, collector_id, receipt_year, receipt_number, idempotency_key, status, reversal_reason
    )
    SELECT %(item)s, %(person)s, %(year_insured)s, %(region)s, %(amount)s, %(channel)s, %(paid_at)s, %(paid_by)s,
           %(agency)s, %(collector)s, %(year)s, number.last_number, %(key)s, %(recorded)s, ''
    FROM number
    RETURNING id, agency_id, receipt_year, receipt_number, recorded_at
),
{sent}
SELECT payment.id, payment.receipt_number, payment.recorded_at, sent_message.id FROM payment, sent_message
"""
# One line: psycopg caches the parsing of a statement only up to 4,096 characters.
_RECORD_SQL = " ".join(_RECORD_SQL.split())
# What the deposit record takes from the payment row only the statement knows.
_DEPOSIT_COMPLETION = "jsonb_build_object('payment_id', payment.id, 'receipt_number', {receipt})".format(
    receipt=receipt_code_sql("payment.agency_id", "payment.receipt_year", "payment.receipt_number")
)


@dataclass(frozen=True)
class _Item:
    """The due item as read for a payment: what the rules and the payment need of it."""

    pk: int
    person_id: str
    insurance_year: int
    region_code: str
    amount_fen: int
    schedule: list[dict[str, Any]]
    # The schedule as stored, to find it unchanged when the payment is written.
    schedule_json: str
    status: str
    # The payment that holds the Idempotency-Key, as the statement's snapshot saw it.
    key_payment_id: int | None


def _read(*, scope: Scope, due_item_id: int, key: str | None, lock: bool) -> _Item:
    """The due item in the caller's area (404 outside it), locked or not, and the payment holding
    the key: one statement, plain SQL (compiling the ORM's cost more than the round trip here)."""
    if not 0 < due_item_id < 2**63:  # beyond bigint: no such item (and no database error)
        raise Http404(_("No such record in your area."))
    region, region_params = scope.region_sql("d.region_code")
    sql = (
        "SELECT d.id, d.person_id, d.insurance_year, d.region_code, d.amount_fen, d.schedule::text, d.status, "  # noqa: S608 - the scope's condition, no input
        "(SELECT p.id FROM collection_payment p WHERE p.idempotency_key = %s) "
        f"FROM collection_dueitem d WHERE d.id = %s AND {region}" + (" FOR UPDATE OF d" if lock else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, due_item_id, *region_params])
        row = cursor.fetchone()
    if row is None:
        raise Http404(_("No such record in your area."))
    return _Item(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[5], row[6], row[7])


def _record(
    *,
    scope: Scope,
    due_item_id: int,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime,
    key: str | None,
) -> Recorded:
    # The common case first, without a lock or a transaction of its own: a due item, a new key,
    # the rules passed on what was read, then the one statement that writes only if the item is
    # still as read. Anything else (paid, the key seen, the item changed or paid meanwhile) takes
    # the locked path, which decides as before.
    item = _read(scope=scope, due_item_id=due_item_id, key=key, lock=False)
    if item.status == DueStatus.DUE and item.key_payment_id is None:
        _check(item=item, amount_fen=amount_fen, paid_at=paid_at)
        # Inside a caller's transaction a savepoint, so that a key taken meanwhile (the unique
        # index) leaves the caller's transaction usable for the replay.
        within = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with within:
            recorded = _write(
                scope=scope, item=item, amount_fen=amount_fen, channel=channel, paid_by=paid_by,
                paid_at=paid_at, key=key,
            )  # fmt: skip
        if recorded is not None:
            return recorded
    return _record_locked(
        scope=scope, due_item_id=due_item_id, amount_fen=amount_fen, channel=channel, paid_by=paid_by,
        paid_at=paid_at, key=key,
    )  # fmt: skip


@transaction.atomic
def _record_locked(
    *,
    scope: Scope,
    due_item_id: int,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime,
    key: str | None,
) -> Recorded:
    # The lock makes simultaneous payments of one item (and one key) wait for each other. The key
    # is looked up in the same statement; its snapshot predates the lock, so an answer that may be
    # stale (the item paid meanwhile) is asked again below, after the lock.
    item = _read(scope=scope, due_item_id=due_item_id, key=key, lock=True)
    if key is not None and (item.key_payment_id is not None or item.status == DueStatus.PAID):
        replayed = _replay(key=key, due_item_id=item.pk, amount_fen=amount_fen, channel=channel)
        if replayed is not None:
            return replayed
    if item.status == DueStatus.PAID:
        standing = (
            Payment.objects.filter(due_item_id=item.pk, status=PaymentStatus.RECORDED)
            .select_related("agency")
            .first()
        )
        raise PaymentConflictError(
            _("Already paid on %(day)s (receipt %(receipt)s); a contribution is paid once.")
            % {
                "day": timezone.localtime(standing.paid_at).date().isoformat() if standing else "",
                "receipt": standing.receipt if standing else "",
            },
            standing,
        )
    _check(item=item, amount_fen=amount_fen, paid_at=paid_at)
    recorded = _write(
        scope=scope, item=item, amount_fen=amount_fen, channel=channel, paid_by=paid_by, paid_at=paid_at,
        key=key,
    )  # fmt: skip
    if recorded is None:  # the item is locked and was due: it cannot have changed
        raise RuntimeError(f"due item {item.pk} changed under its lock")
    return recorded


def _check(*, item: _Item, amount_fen: int, paid_at: dt.datetime) -> None:
    """The rules of a payment of a due item that is not paid: something to collect, in the window,
    in full."""
    if item.status == DueStatus.CANCELLED:
        raise ValidationError(
            _(
                "Nothing is due for %(year)s: the government pays this person's contribution, or the enrollment ended."
            )
            % {"year": item.insurance_year}
        )
    day = timezone.localtime(paid_at).date()
    accepted = acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day)
    if not accepted.accepted:
        raise ValidationError({"paid_at": [f"{accepted.reason} {accepted.way_forward}".strip()]})
    if amount_fen != accepted.amount_fen:
        if amount_fen < accepted.amount_fen:
            problem = _("A contribution is paid in full: %(due)s yuan are due on %(day)s, not %(given)s.")
        else:
            problem = _(
                "%(given)s yuan is more than the %(due)s yuan due on %(day)s; take exactly the amount due."
            )
        raise ValidationError(
            {
                "amount_fen": [
                    problem
                    % {
                        "due": yuan(accepted.amount_fen),
                        "given": yuan(max(amount_fen, 0)),
                        "day": day.isoformat(),
                    }
                ]
            }
        )


def _write(
    *,
    scope: Scope,
    item: _Item,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime,
    key: str | None,
) -> Recorded | None:
    """The payment, its receipt and its deposit record (``_RECORD_SQL``), or None when the due
    item is no longer as read."""
    now = timezone.now()
    year = timezone.localtime(now).year
    assert scope.agency_id is not None  # payment_record refused everyone else
    sent = message_send_within(
        topic="payment.deposited",
        payload={
            "person_id": item.person_id,
            "region_code": item.region_code,
            "insurance_year": item.insurance_year,
            "amount_fen": amount_fen,
            "channel": channel,
            "paid_at": timezone.localtime(paid_at).isoformat(),
        },
        completion=_DEPOSIT_COMPLETION,
        sources="payment",
        stand_in={"payment_id": 1, "receipt_number": receipt_code(scope.agency_id, year, 1)},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL.format(sent=sent.ctes),
            {
                **sent.params,
                "item": item.pk,
                "due": DueStatus.DUE.value,
                "paid": DueStatus.PAID.value,
                "now": now,
                "person": item.person_id,
                "year_insured": item.insurance_year,
                "region": item.region_code,
                "amount_due": item.amount_fen,
                "schedule": item.schedule_json,
                "agency": scope.agency_id,
                "year": year,
                "amount": amount_fen,
                "channel": channel,
                "paid_at": paid_at,
                "paid_by": paid_by,
                "collector": scope.user_id,
                "key": key,
                "recorded": PaymentStatus.RECORDED.value,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    sent.done()
    payment_id, receipt_number, recorded_at, _message_id = row
    # The row as inserted, without reading it back.
    payment = Payment(
        id=payment_id,
        due_item_id=item.pk,
        person_id=item.person_id,
        insurance_year=item.insurance_year,
        region_code=item.region_code,
        amount_fen=amount_fen,
        channel=channel,
        paid_at=paid_at,
        paid_by=paid_by,
        agency_id=scope.agency_id,
        collector_id=scope.user_id,
        receipt_year=year,
        receipt_number=receipt_number,
        idempotency_key=key,
        status=PaymentStatus.RECORDED,
        recorded_at=recorded_at,
    )
    payment._state.adding = False
    payment._state.db = connection.alias
    return Recorded(payment, replayed=False)


@transaction.atomic
def payment_reverse(*, scope: Scope, payment_id: int, reason: str) -> Payment:
    """Reverse a payment (冲正) with the reason: kept, never deleted; the item is due again and
    insurance is told (``payment.reversed``), which takes the person's cover back."""
    scope.require(Action.COLLECTION_RECORD)
    reason = reason.strip()
    if len(reason) < 2:
        raise ValidationError({"reason": [_("Say why the payment is reversed.")]})
    payment = scope.get_object_or_404(
        Payment.objects.select_for_update().select_related("agency"), pk=payment_id
    )
    if payment.status != PaymentStatus.RECORDED:
        raise PaymentConflictError(
            _("This payment was already reversed on %(day)s.")
            % {
                "day": timezone.localtime(payment.reversed_at).date().isoformat()
                if payment.reversed_at
                else ""
            },
            payment,
        )
    if payment.agency_id != scope.agency_id:
        raise PermissionDenied(_("Only the agency that collected a payment can reverse it."))
    item = DueItem.objects.select_for_update().get(pk=payment.due_item_id)
    now = timezone.now()
    payment.status = PaymentStatus.REVERSED
    payment.reversal_reason = reason[:200]
    payment.reversed_at = now
    payment.reversed_by_id = scope.user_id
    payment.save(update_fields=["status", "reversal_reason", "reversed_at", "reversed_by"])
    item.status = DueStatus.DUE
    item.updated_at = now
    item.save(update_fields=["status", "updated_at"])
    message_send(
        topic="payment.reversed",
        payload={
            "payment_id": payment.pk,
            "person_id": payment.person_id,
            "region_code": payment.region_code,
            "insurance_year": payment.insurance_year,
            "amount_fen": payment.amount_fen,
            "reason": payment.reversal_reason,
            "reversed_at": timezone.localtime(now).isoformat(),
        },
    )
    return payment


@transaction.atomic
def receipt_void(*, scope: Scope, payment_id: int, reason: str) -> Payment:
    """Void a payment's receipt (作废) with the reason and give the payment the agency's next number.

    The payment stands; the voided number is kept and never given again. Insurance keeps the
    number the deposit record carried; tax's voided receipts lead from it to the payment.
    """
    scope.require(Action.COLLECTION_RECORD)
    reason = reason.strip()
    if len(reason) < 2:
        raise ValidationError({"reason": [_("Say why the receipt is voided.")]})
    payment = scope.get_object_or_404(
        Payment.objects.select_for_update().select_related("agency"), pk=payment_id
    )
    if payment.status != PaymentStatus.RECORDED:
        raise PaymentConflictError(_("A reversed payment's receipt cannot be reissued."), payment)
    if payment.agency_id != scope.agency_id:
        raise PermissionDenied(_("Only the agency that collected a payment can void its receipt."))
    VoidedReceipt.objects.create(
        payment=payment,
        agency_id=payment.agency_id,
        receipt_year=payment.receipt_year,
        receipt_number=payment.receipt_number,
        reason=reason[:200],
        voided_by_id=scope.user_id,
    )
    year = timezone.localdate().year
    payment.receipt_year = year
    payment.receipt_number = _receipt_number(agency_id=payment.agency_id, year=year)
    payment.save(update_fields=["receipt_year", "receipt_number"])
    return payment
