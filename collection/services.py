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
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import HISTORY_CONTEXT_CTE, history_context
from accounts.masking import mask_name_keep_ends
from accounts.money import yuan
from accounts.prepared import prepared_cursor
from accounts.roles import Action
from accounts.rows import model_from_row
from accounts.scope import Scope
from sharing.services import SendWithin, message_send, message_send_bulk, message_send_within

from . import bank_files, rules, selectors
from .bank_files import BatchLine
from .codes import code_new
from .models import (
    BATCH_CHANNEL,
    SINGLE_PAYMENT_CHANNELS,
    BatchKind,
    BatchProblem,
    BatchStatus,
    Channel,
    DueItem,
    DueStatus,
    OvercollectionEvent,
    OvercollectionReason,
    OvercollectionRequest,
    OvercollectionStatus,
    Payer,
    Payment,
    PaymentBatch,
    PaymentCertificate,
    PaymentStatus,
    RefundKind,
    VoidedReceipt,
    receipt_code,
    receipt_code_sql,
)
from .selectors import BackPaymentWindows, acceptance_for, refunds_of_payment

# Channel.values builds its list on every read; a payment asks once.
CHANNELS = frozenset(Channel.values)

logger = logging.getLogger(__name__)


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


# How far ahead of this server's clock a payment's time may be (another machine's clock).
CLOCK_SKEW = dt.timedelta(minutes=5)
# How far back a single payment may be dated: a payment channel's notice that arrives late. The
# date prices the payment and judges its window, so an older date would take a closed window's
# price (or skip a back-payment); and it files the payment in a day whose report was given.
BACKDATE_LIMIT = dt.timedelta(hours=24)


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


def batch_channel_refusal(channel: str) -> str:
    """Why a single payment cannot be recorded through a batch's channel (village, school, bank file)."""
    return _(
        "“%(channel)s” is only for collective payments and bank debit files; a single payment is "
        "taken in cash at the counter, by bank card, WeChat Pay, Alipay or bank POS."
    ) % {"channel": Channel(channel).label}


def payment_record(
    *,
    scope: Scope,
    due_item_id: int,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime | None = None,
    idempotency_key: str | None = None,
    backdate_limit: dt.timedelta | None = BACKDATE_LIMIT,
    read: DueItemRead | None = None,
) -> Recorded:
    """Record that a due item was paid, in full, now (or at ``paid_at``, at most ``backdate_limit``
    ago), and number its receipt. ``backdate_limit`` None: any past date — only for history that
    is not taken at a counter today (the demo's months of payments). ``read``: the due item as the
    caller's own statement of this request read it (``DUE_ITEM_COLUMNS``, without a lock), which
    saves the read's round trip; its area is checked here as ``_read`` checks it."""
    scope.require(Action.COLLECTION_RECORD)
    if scope.agency_id is None:
        raise PermissionDenied(_("Only a collecting agency's staff can record payments."))
    if channel not in CHANNELS:
        raise ValidationError({"channel": [_("Choose how the payment was made.")]})
    if channel not in SINGLE_PAYMENT_CHANNELS:
        raise ValidationError({"channel": [batch_channel_refusal(channel)]})
    paid_by = paid_by.strip()
    if not paid_by:
        raise ValidationError({"paid_by": [_("Say who paid.")]})
    if paid_at is not None and paid_at > timezone.now() + CLOCK_SKEW:
        raise ValidationError({"paid_at": [_("A payment cannot be dated in the future.")]})
    if paid_at is not None and backdate_limit is not None and paid_at < timezone.now() - backdate_limit:
        raise ValidationError(
            {
                "paid_at": [
                    _(
                        "A payment can be dated at most %(hours)s hours back (a payment channel's late "
                        "notice); this one is dated %(day)s. A payment is recorded when it is taken, at "
                        "that day's amount and within that day's window."
                    )
                    % {
                        "hours": int(backdate_limit.total_seconds() // 3600),
                        "day": timezone.localtime(paid_at).strftime("%Y-%m-%d %H:%M"),
                    }
                ]
            }
        )
    key = (idempotency_key or "").strip() or None
    if key is not None and len(key) > 64:
        raise ValidationError({"idempotency_key": [_("An Idempotency-Key has at most 64 characters.")]})
    if read is not None and (read.pk != due_item_id or not _readable(scope, read)):
        raise Http404(_("No such record in your area."))
    try:
        return _record(
            scope=scope,
            due_item_id=due_item_id,
            amount_fen=amount_fen,
            channel=channel,
            paid_by=paid_by[:60],
            paid_at=paid_at or timezone.now(),
            key=key,
            read=read,
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
WITH {history},
item AS (
    UPDATE collection_dueitem SET status = %(paid)s, updated_at = %(now)s
    WHERE id = %(item)s AND status = %(due)s AND person_id = %(person)s AND insurance_year = %(year_insured)s
      AND region_code = %(region)s AND amount_fen = %(amount_due)s AND schedule = %(schedule)s::jsonb
      AND EXISTS (SELECT FROM history)
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
# One line: psycopg caches its parsing of a statement only up to 4,096 characters (a test holds
# the whole statement to that).
_RECORD_SQL = " ".join(_RECORD_SQL.split())
# What the deposit record takes from the payment row only the statement knows.
_DEPOSIT_COMPLETION = "jsonb_build_object('payment_id', payment.id, 'receipt_number', {receipt})".format(
    receipt=receipt_code_sql("payment.agency_id", "payment.receipt_year", "payment.receipt_number")
)


def deposit_record(
    *, item: DueItemRead, amount_fen: int, channel: str, paid_at: dt.datetime, agency_id: int, year: int
) -> SendWithin:
    """The deposit record (入库) to insurance, sent by the payment's own statement."""
    return message_send_within(
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
        stand_in={"payment_id": 1, "receipt_number": receipt_code(agency_id, year, 1)},
    )


def record_statement(sent: SendWithin) -> str:
    """``_RECORD_SQL`` with the history context and the deposit record's part."""
    return _RECORD_SQL.format(history=HISTORY_CONTEXT_CTE, sent=sent.ctes)


@dataclass(frozen=True)
class DueItemRead:
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


# What a payment reads of its due item (alias ``d``), and the payment holding the key (the first
# parameter): ``_read``'s columns, and those of a caller's statement that reads the item with
# something else (``collection.api_counter``: with the API token), read by ``due_item_from_row``.
DUE_ITEM_COLUMNS = (
    "d.id, d.person_id, d.insurance_year, d.region_code, d.amount_fen, d.schedule::text, d.status, "
    "(SELECT p.id FROM collection_payment p WHERE p.idempotency_key = %s)"
)


def due_item_from_row(row: Sequence[Any]) -> DueItemRead:
    """The due item from ``DUE_ITEM_COLUMNS``'s part of a row."""
    return DueItemRead(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[5], row[6], row[7])


def _readable(scope: Scope, item: DueItemRead) -> bool:
    """``_read``'s condition on the area, for an item a caller read: ``scope.region_sql`` without a
    school column (a school clerk records no payment here)."""
    if scope.unrestricted:
        return True
    return (
        scope.school_id is None
        and scope.region_prefix is not None
        and item.region_code.startswith(scope.region_prefix)
    )


def _read(*, scope: Scope, due_item_id: int, key: str | None, lock: bool) -> DueItemRead:
    """The due item in the caller's area (404 outside it), locked or not, and the payment holding
    the key: one statement, plain SQL (compiling the ORM's cost more than the round trip here)."""
    if not 0 < due_item_id < 2**63:  # beyond bigint: no such item (and no database error)
        raise Http404(_("No such record in your area."))
    region, region_params = scope.region_sql("d.region_code")
    sql = (
        f"SELECT {DUE_ITEM_COLUMNS} "  # noqa: S608 - the scope's condition, no input
        f"FROM collection_dueitem d WHERE d.id = %s AND {region}" + (" FOR UPDATE OF d" if lock else "")
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, [key, due_item_id, *region_params], prepare=True)
        row = cursor.fetchone()
    if row is None:
        raise Http404(_("No such record in your area."))
    return due_item_from_row(row)


def _record(
    *,
    scope: Scope,
    due_item_id: int,
    amount_fen: int,
    channel: str,
    paid_by: str,
    paid_at: dt.datetime,
    key: str | None,
    read: DueItemRead | None,
) -> Recorded:
    # The common case first, without a lock or a transaction of its own: a due item, a new key,
    # the rules passed on what was read, then the one statement that writes only if the item is
    # still as read. Anything else (paid, the key seen, the item changed or paid meanwhile) takes
    # the locked path, which decides as before.
    item = read if read is not None else _read(scope=scope, due_item_id=due_item_id, key=key, lock=False)
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


def _check(*, item: DueItemRead, amount_fen: int, paid_at: dt.datetime) -> None:
    """The rules of a payment of a due item that is not paid: something to collect, in the window,
    in full."""
    if item.status == DueStatus.CANCELLED:
        raise ValidationError(
            _(
                "Nothing is due for %(year)s: the government pays this person's contribution, or insurance "
                "withdrew it (the enrollment ended, or began after the year could still be paid for)."
            )
            % {"year": item.insurance_year}
        )
    day = timezone.localtime(paid_at).date()
    accepted = acceptance_for(item=item, day=day)
    if not accepted.accepted:
        raise ValidationError({"paid_at": [rules.window_reason(accepted)]})
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
    item: DueItemRead,
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
    sent = deposit_record(
        item=item,
        amount_fen=amount_fen,
        channel=channel,
        paid_at=paid_at,
        agency_id=scope.agency_id,
        year=year,
    )
    history_id, history_metadata = history_context()
    with prepared_cursor() as cursor:
        cursor.execute(
            record_statement(sent),
            {
                **sent.params,
                "history_id": history_id,
                "history_metadata": history_metadata,
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
            prepare=True,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    sent.done()
    payment_id, receipt_number, recorded_at, _message_id = row
    # The row as inserted, without reading it back: every column, as a read would give it (no field
    # left to load later), built without Model.__init__'s work per keyword.
    inserted = {
        "id": payment_id,
        "due_item_id": item.pk,
        "person_id": item.person_id,
        "insurance_year": item.insurance_year,
        "region_code": item.region_code,
        "amount_fen": amount_fen,
        "channel": channel,
        "paid_at": paid_at,
        "paid_time_known": True,
        "paid_by": paid_by,
        "agency_id": scope.agency_id,
        "collector_id": scope.user_id,
        "receipt_year": year,
        "receipt_number": receipt_number,
        "idempotency_key": key,
        "status": PaymentStatus.RECORDED.value,
        "recorded_at": recorded_at,
        "reversal_reason": "",
        "reversed_at": None,
        "reversed_by_id": None,
        "batch_id": None,
    }
    return Recorded(model_from_row(Payment, list(inserted), list(inserted.values())), replayed=False)


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
    refusal = selectors.reversal_refusal(payment=payment)
    if refusal:
        raise PaymentConflictError(refusal, payment)
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


# --- many payments at once: a village's or school's collective payment, a bank's debit file ------


@dataclass(frozen=True)
class LineProblem:
    line: BatchLine
    reason: str
    # The bank took the money and nothing was recorded: it must be paid back or cleared by hand.
    money_taken: bool


class BatchRefusedError(Exception):
    """A collective payment is recorded whole or not at all: these persons cannot be paid."""

    def __init__(self, problems: list[LineProblem], message: str = "") -> None:
        super().__init__(message or "; ".join(problem.reason for problem in problems[:5]))
        self.problems = problems
        self.message = message


# Lines settled per round trip: the due items of one chunk are locked and paid set-based.
BATCH_CHUNK = 2000


def _receipt_numbers(*, agency_id: int, year: int, count: int) -> range:
    """``count`` consecutive receipt numbers of the agency and year, taken at once; the counter
    row stays locked until commit, so the range is the batch's alone."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO collection_receiptcounter (agency_id, year, last_number) VALUES (%s, %s, %s)
            ON CONFLICT (agency_id, year) DO UPDATE
            SET last_number = collection_receiptcounter.last_number + EXCLUDED.last_number
            RETURNING last_number""",
            [agency_id, year, count],
        )
        last = int(cursor.fetchone()[0])
    return range(last - count + 1, last + 1)


def _standing_receipts(item_ids: list[int]) -> dict[int, str]:
    payments = Payment.objects.filter(due_item_id__in=item_ids, status=PaymentStatus.RECORDED).only(
        "due_item_id", "agency_id", "receipt_year", "receipt_number"
    )
    return {payment.due_item_id: payment.receipt for payment in payments}


def bank_debit_key(*, agency_id: int, reference: str, person_id: str, insurance_year: int) -> str:
    """The key a bank debit's payment holds, so that the debit is recorded once: the agency, the
    bank's reference, and the person and year it paid (a reference is the bank's own numbering,
    and two banks, or one bank's two files, may give the same to different persons)."""
    whom = hashlib.sha256(f"{person_id}\x1f{insurance_year}".encode()).hexdigest()[:8]
    return f"bank:{agency_id}:{whom}:{reference}"[:64]


# A line that can be paid: the payment's own columns (``_PAYMENT_COLUMNS`` less what the batch gives
# all of them and the receipt number), kept small: a bank file's are all held until they are numbered.
_Payable = tuple[int, str, int, str, int, dt.datetime, bool, str, str | None]


def _check_chunk(
    *,
    scope: Scope,
    batch: PaymentBatch,
    lines: list[BatchLine],
    seen: set[tuple[str, int]],
    default_paid_at: dt.datetime,
) -> tuple[list[_Payable], list[LineProblem]]:
    """Check a chunk of lines against their due items, locked until the batch commits: the payable
    lines, and the lines not paid with the reason. Nothing is written, and no receipt number is
    taken: a batch numbers its payments once all its lines are checked (``_record_payable``)."""
    is_bank = batch.kind == BatchKind.BANK_DEBIT
    problems: list[LineProblem] = []
    candidates: list[BatchLine] = []
    for line in lines:
        if line.problem:
            problems.append(LineProblem(line, line.problem, money_taken=is_bank and line.debited))
        elif not line.debited:
            problems.append(
                LineProblem(
                    line,
                    (_("The bank's debit failed: %(reason)s") % {"reason": line.bank_reason})
                    if line.bank_reason
                    else _("The bank's debit failed."),
                    money_taken=False,
                )
            )
        elif (line.person_id, line.insurance_year or 0) in seen:
            problems.append(
                LineProblem(line, _("This person and year appear twice in the list."), money_taken=is_bank)
            )
        else:
            seen.add((line.person_id, line.insurance_year or 0))
            candidates.append(line)
    if not candidates:
        return [], problems

    keys = (
        {
            line.line_number: bank_debit_key(
                agency_id=batch.agency_id,
                reference=line.reference,
                person_id=line.person_id,
                insurance_year=line.insurance_year or 0,
            )
            for line in candidates
        }
        if is_bank
        else {}
    )
    earlier = (
        set(
            Payment.objects.filter(idempotency_key__in=list(keys.values())).values_list(
                "idempotency_key", flat=True
            )
        )
        if keys
        else set()
    )
    # Locked in one order (by id) so that two batches never wait for each other crosswise.
    items = {
        (item.person_id, item.insurance_year): item
        for item in map(
            _Due._make,
            scope.filter(
                DueItem.objects.select_for_update().filter(
                    person_id__in={line.person_id for line in candidates},
                    insurance_year__in={line.insurance_year for line in candidates},
                )
            )
            .order_by("pk")
            .values_list(*_Due._fields),
        )
    }
    receipts = _standing_receipts([item.pk for item in items.values() if item.status == DueStatus.PAID])
    payable: list[_Payable] = []
    windows = BackPaymentWindows()
    for line in candidates:
        item = items.get((line.person_id, line.insurance_year or 0))
        key = keys.get(line.line_number)
        if key is not None and key in earlier:
            problems.append(
                LineProblem(
                    line,
                    _("This debit (bank reference %(reference)s) was recorded from an earlier file.")
                    % {"reference": line.reference},
                    money_taken=False,
                )
            )
            continue
        if item is None:
            problems.append(
                LineProblem(
                    line, rules.not_found_reason(insurance_year=line.insurance_year or 0), money_taken=is_bank
                )
            )
            continue
        if item.status == DueStatus.PAID:
            problems.append(
                LineProblem(line, rules.paid_reason(receipt=receipts.get(item.pk, "")), money_taken=is_bank)
            )
            continue
        if item.status == DueStatus.CANCELLED:
            problems.append(
                LineProblem(
                    line, rules.cancelled_reason(insurance_year=item.insurance_year), money_taken=is_bank
                )
            )
            continue
        paid_at = line.paid_at or default_paid_at
        # A bank file that gives the day only dates the line at the day's start, said as such.
        paid_time_known = line.paid_time_known if line.paid_at else True
        day = timezone.localtime(paid_at).date()
        if paid_at > timezone.now() + CLOCK_SKEW:
            problems.append(
                LineProblem(
                    line,
                    _("The debit date %(day)s is after today; a payment cannot be dated in the future.")
                    % {"day": day.isoformat()},
                    money_taken=is_bank,
                )
            )
            continue
        accepted = acceptance_for(item=item, day=day, windows=windows)
        if not accepted.accepted:
            # "Come back within the window" does not fit money a bank has already taken (it is
            # returned to the payer, as the batch's total of it says); a back-payment still does.
            come_back = is_bank and accepted.rule != rules.CLOSED
            reason = accepted.reason if come_back else rules.window_reason(accepted)
            problems.append(LineProblem(line, reason, money_taken=is_bank))
            continue
        if line.amount_fen is not None and line.amount_fen != accepted.amount_fen:
            problems.append(
                LineProblem(
                    line,
                    _("%(given)s yuan was taken but %(due)s yuan are due on %(day)s.")
                    % {
                        "given": yuan(line.amount_fen),
                        "due": yuan(accepted.amount_fen),
                        "day": day.isoformat(),
                    },
                    money_taken=is_bank,
                )
            )
            continue
        payable.append(
            (
                item.pk,
                item.person_id,
                item.insurance_year,
                item.region_code,
                accepted.amount_fen,
                paid_at,
                paid_time_known,
                (line.name or batch.paid_by)[:60],
                key,
            )
        )
    return payable, problems


def _record_payable(*, scope: Scope, batch: PaymentBatch, payable: list[_Payable]) -> tuple[int, int]:
    """Record the batch's payable lines, their due items already locked: consecutive receipt numbers
    taken at once, the payments, the items paid and a deposit record each, a chunk per round trip.
    The number of payments and their total.

    The agency's receipt counter stays locked from here to the commit (numbers without a gap), so a
    batch takes it only now, after every line is checked: a counter payment of the agency waits
    for this part alone, and never holds a due item this batch still has to lock (which would
    deadlock the two)."""
    if not payable:
        return 0, 0
    year = timezone.localdate().year
    numbers = iter(_receipt_numbers(agency_id=batch.agency_id, year=year, count=len(payable)))
    channel = BATCH_CHANNEL[BatchKind(batch.kind)]
    for start in range(0, len(payable), BATCH_CHUNK):
        rows = [
            {
                "due_item_id": item_id,
                "person_id": person_id,
                "insurance_year": insurance_year,
                "region_code": region_code,
                "amount_fen": amount_fen,
                "channel": channel,
                "paid_at": paid_at,
                "paid_time_known": paid_time_known,
                "paid_by": paid_by,
                "agency_id": batch.agency_id,
                "collector_id": scope.user_id,
                "receipt_year": year,
                "receipt_number": next(numbers),
                "idempotency_key": key,
                "batch_id": batch.pk,
            }
            for item_id, person_id, insurance_year, region_code, amount_fen, paid_at, paid_time_known, paid_by, key in payable[
                start : start + BATCH_CHUNK
            ]
        ]
        ids = _payments_insert(rows)
        DueItem.objects.filter(pk__in=[row["due_item_id"] for row in rows]).update(
            status=DueStatus.PAID, updated_at=timezone.now()
        )
        message_send_bulk(
            topic="payment.deposited",
            rows=(
                (
                    None,
                    None,
                    {
                        "payment_id": pk,
                        "person_id": row["person_id"],
                        "region_code": row["region_code"],
                        "insurance_year": row["insurance_year"],
                        "amount_fen": row["amount_fen"],
                        "channel": row["channel"],
                        "receipt_number": receipt_code(batch.agency_id, year, row["receipt_number"]),
                        "paid_at": timezone.localtime(row["paid_at"]).isoformat(),
                    },
                )
                for pk, row in zip(ids, rows, strict=True)
            ),
        )
    return len(payable), sum(row[4] for row in payable)


class _Due(NamedTuple):
    """The fields of a locked due item a batch needs (model instances cost more than the work)."""

    pk: int
    person_id: str
    insurance_year: int
    region_code: str
    amount_fen: int
    schedule: list[dict[str, Any]]
    status: str


_PAYMENT_COLUMNS = (
    ("due_item_id", "bigint"),
    ("person_id", "text"),
    ("insurance_year", "integer"),
    ("region_code", "text"),
    ("amount_fen", "bigint"),
    ("channel", "text"),
    ("paid_at", "timestamptz"),
    ("paid_time_known", "boolean"),
    ("paid_by", "text"),
    ("agency_id", "bigint"),
    ("collector_id", "bigint"),
    ("receipt_year", "integer"),
    ("receipt_number", "integer"),
    ("idempotency_key", "text"),
    ("batch_id", "bigint"),
)


def _payments_insert(rows: list[dict[str, Any]]) -> list[int]:
    """Insert the payments in one statement (a column of values per field, unnested); their ids
    in the order given. Django's bulk_create spends most of a batch's time composing VALUES."""
    names = ", ".join(name for name, _type in _PAYMENT_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _name, kind in _PAYMENT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO collection_payment ({names}, status, reversal_reason)
            SELECT {names}, 'recorded', '' FROM unnest({arrays}) WITH ORDINALITY AS given ({names}, ord)
            ORDER BY ord RETURNING id""",  # noqa: S608 - fixed column names
            [[row[name] for row in rows] for name, _type in _PAYMENT_COLUMNS],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _batch_open(
    *, scope: Scope, kind: str, region_code: str, unit_name: str, paid_by: str, **extra: Any
) -> PaymentBatch:
    scope.require(Action.COLLECTION_RECORD)
    if scope.agency_id is None:
        raise PermissionDenied(_("Only a collecting agency's staff can record payments."))
    if not scope.covers_region_code(region_code):
        raise PermissionDenied(_("This area is not yours."))
    unit_name, paid_by = unit_name.strip(), paid_by.strip()
    if not unit_name:
        raise ValidationError({"unit_name": [_("Name the village, school or bank the money came through.")]})
    if not paid_by:
        raise ValidationError({"paid_by": [_("Say who handed over the money.")]})
    return PaymentBatch.objects.create(
        kind=kind,
        agency_id=scope.agency_id,
        region_code=region_code,
        unit_name=unit_name[:100],
        paid_by=paid_by[:60],
        created_by_id=scope.user_id,
        **extra,
    )


def _batch_close(*, batch: PaymentBatch, payments: int, total_fen: int, problems: list[LineProblem]) -> None:
    BatchProblem.objects.bulk_create(
        [
            BatchProblem(
                batch=batch,
                line_number=problem.line.line_number,
                person_id=problem.line.person_id[:32],
                name=problem.line.name[:60],
                insurance_year=problem.line.insurance_year,
                amount_fen=problem.line.amount_fen,
                reference=problem.line.reference[:64],
                money_taken=problem.money_taken,
                reason=problem.reason[:300],
            )
            for problem in problems
        ],
        batch_size=BATCH_CHUNK,
    )
    batch.payment_count, batch.total_fen, batch.problem_count = payments, total_fen, len(problems)
    batch.save(update_fields=["payment_count", "total_fen", "problem_count"])


def _lines_of_due_items(*, scope: Scope, due_items: list[tuple[int, int]]) -> list[BatchLine]:
    """A collective payment's lines from due item keys: each key's person, or for a key that is no
    due item of its year in the caller's area a line refused as not found (its person unknown)."""
    keys = {pk for pk, _year in due_items}
    found = {
        pk: (person_id, year)
        for pk, person_id, year in scope.filter(DueItem.objects.filter(pk__in=keys)).values_list(
            "pk", "person_id", "insurance_year"
        )
    }
    lines = []
    for number, (pk, year) in enumerate(due_items, start=1):
        person_id, item_year = found.get(pk, ("", None))
        lines.append(
            BatchLine(line_number=number, person_id=person_id, insurance_year=year)
            if item_year == year
            else BatchLine(
                line_number=number,
                person_id="",
                insurance_year=year,
                problem=rules.not_found_reason(insurance_year=year),
            )
        )
    return lines


@transaction.atomic
def collective_payment_record(
    *,
    scope: Scope,
    kind: str,
    region_code: str,
    unit_name: str,
    paid_by: str,
    total_fen: int,
    persons: list[tuple[str, int]] | None = None,
    due_items: list[tuple[int, int]] | None = None,
    idempotency_key: str | None = None,
) -> PaymentBatch:
    """Record a village's or a school's collective payment (集体代缴): every listed person's due
    item paid today, each with its receipt (consecutive numbers), as one batch — or nothing.

    The persons are ``persons``, (person identifier, insurance year), or ``due_items``, (due item
    key, insurance year) as the page posts them, so that no identifier sits in a form; a key that is
    not a due item of that year in the caller's area is refused like an identifier not found.
    ``total_fen`` is the cash counted when it was handed over, which must equal the amounts due: a
    difference means the list or the cash is wrong, and it is better found now than at the
    evening's reconciliation.
    """
    if kind not in (BatchKind.VILLAGE, BatchKind.SCHOOL):
        raise ValidationError({"kind": [_("A collective payment is a village's or a school's.")]})
    key = (idempotency_key or "").strip() or None
    if key is not None:
        earlier = PaymentBatch.objects.filter(idempotency_key=key).first()
        if earlier is not None:
            return earlier
    if not persons and not due_items:
        raise ValidationError(_("Choose at least one person to pay for."))
    try:
        with transaction.atomic():  # a savepoint: the key's unique index may refuse the batch
            batch = _batch_open(
                scope=scope,
                kind=kind,
                region_code=region_code,
                unit_name=unit_name,
                paid_by=paid_by,
                idempotency_key=key,
            )
    except IntegrityError:
        # The same form submitted twice at once (a double click): the index waited for the first
        # submission to commit, and that batch is the answer to both.
        earlier = PaymentBatch.objects.filter(idempotency_key=key).first() if key is not None else None
        if earlier is None:
            raise
        return earlier
    lines = (
        _lines_of_due_items(scope=scope, due_items=due_items)
        if due_items
        else [
            BatchLine(line_number=number, person_id=person_id, insurance_year=year)
            for number, (person_id, year) in enumerate(persons or [], start=1)
        ]
    )
    now = timezone.now()
    payable, problems = _check_chunk(scope=scope, batch=batch, lines=lines, seen=set(), default_paid_at=now)
    if problems:
        raise BatchRefusedError(
            problems,
            _("Nothing was recorded: %(count)s of the listed persons cannot be paid.")
            % {"count": len(problems)},
        )
    total = sum(row[4] for row in payable)
    if total != total_fen:
        raise BatchRefusedError(
            [],
            _(
                "Nothing was recorded: the amounts due add up to %(due)s yuan, but %(given)s yuan were counted."
            )
            % {"due": yuan(total), "given": yuan(max(total_fen, 0))},
        )
    count, total = _record_payable(scope=scope, batch=batch, payable=payable)
    _batch_close(batch=batch, payments=count, total_fen=total, problems=[])
    return batch


def _bank_progress_key(batch_id: int) -> str:
    return f"portal:bank-progress:{batch_id}"


def bank_progress(batch_id: int) -> dict[str, int | None]:
    """How far a worker is with a bank file: lines done and lines in the file (None: not known yet)."""
    return cache.get(_bank_progress_key(batch_id)) or {"done": 0, "total": None}


def bank_debit_submit(*, scope: Scope, bank_name: str, upload: UploadedFile) -> PaymentBatch:
    """Take a bank's debit result file for matching by a worker: stored, checked not to have been
    taken before (its SHA-256), queued. The batch page follows the worker's progress."""
    scope.require(Action.COLLECTION_RECORD)
    digest = hashlib.sha256()
    for block in upload.chunks():
        digest.update(block)
    upload.seek(0)
    earlier = PaymentBatch.objects.filter(agency_id=scope.agency_id, file_sha256=digest.hexdigest()).first()
    if earlier is not None:
        raise ValidationError(
            _("This file was imported already, on %(day)s.")
            % {"day": timezone.localtime(earlier.created_at).date().isoformat()}
        )
    try:
        batch = _bank_file_open(scope=scope, bank_name=bank_name, upload=upload, digest=digest.hexdigest())
    except IntegrityError as error:
        # The same file uploaded twice at once: its checksum's unique index let one through.
        raise ValidationError(
            _("This file was imported already, on %(day)s.") % {"day": timezone.localdate().isoformat()}
        ) from error
    return batch


@transaction.atomic
def _bank_file_open(*, scope: Scope, bank_name: str, upload: UploadedFile, digest: str) -> PaymentBatch:
    batch = _batch_open(
        scope=scope,
        kind=BatchKind.BANK_DEBIT,
        # The agency's own area: the file may hold payers of any of its villages.
        region_code=scope.region_code or "",
        unit_name=bank_name,
        paid_by=bank_name,
        file_name=(upload.name or "")[:200],
        file_sha256=digest,
        status=BatchStatus.QUEUED,
    )
    batch.file.save("debit.csv", upload, save=False)
    batch.save(update_fields=["file"])
    _queue_bank_file(batch.pk, scope.user_id or 0)
    return batch


def _queue_bank_file(batch_id: int, user_id: int) -> None:
    def queue() -> None:
        from .tasks import process_bank_file

        try:
            process_bank_file.apply_async(kwargs={"batch_id": batch_id, "user_id": user_id}, retry=False)
        except Exception as error:
            logger.warning("bank file %s: could not queue (%s)", batch_id, type(error).__name__)
            _bank_fail(
                batch_id=batch_id,
                message=_(
                    "The background workers could not be reached; nothing was recorded. Upload the file again."
                ),
            )

    transaction.on_commit(queue)


def _bank_fail(*, batch_id: int, message: str) -> None:
    """Nothing of the file was recorded: say why, and free its checksum so it can be loaded again."""
    PaymentBatch.objects.filter(pk=batch_id, status=BatchStatus.QUEUED).update(
        status=BatchStatus.FAILED, message=message[:300], file_sha256=""
    )


def bank_debit_process(*, scope: Scope, batch_id: int) -> PaymentBatch | None:
    """A worker matches a queued bank file; the whole file is one transaction, so whatever goes
    wrong, nothing is half-recorded and the batch says why. Idempotent: a batch no longer queued
    (matched by an earlier delivery of the task) is left alone."""
    taken = False
    try:
        with transaction.atomic():
            # Held for the whole match: a second delivery of the task skips it; if the worker dies,
            # the transaction ends with it and the batch is still queued for the redelivery.
            batch = (
                PaymentBatch.objects.select_for_update(skip_locked=True)
                .filter(pk=batch_id, status=BatchStatus.QUEUED)
                .first()
            )
            if batch is None:
                return None
            taken = True
            with batch.file.open("rb") as handle:
                encoding, total = bank_files.scan(handle)
                cache.set(_bank_progress_key(batch_id), {"done": 0, "total": total}, 3600)
                _bank_settle(
                    scope=scope,
                    batch=batch,
                    lines=bank_files.bank_lines(handle, encoding=encoding),
                    on_chunk=lambda done: cache.set(
                        _bank_progress_key(batch_id), {"done": done, "total": total}, 3600
                    ),
                )
    except (ValidationError, PermissionDenied) as error:
        _bank_fail(batch_id=batch_id, message="; ".join(getattr(error, "messages", None) or [str(error)]))
    except IntegrityError:
        logger.warning("bank file %s: integrity error", batch_id, exc_info=True)
        _bank_fail(
            batch_id=batch_id,
            message=_(
                "Some of these debits were recorded from another file at the same time; nothing was recorded. Load the file again."
            ),
        )
    except Exception:
        logger.exception("bank file %s failed", batch_id)
        _bank_fail(
            batch_id=batch_id, message=_("An unexpected error stopped the import; nothing was recorded.")
        )
    finally:
        # Only the delivery that matched the file: a second one skipping it would wipe the
        # progress the first is still reporting.
        if taken:
            cache.delete(_bank_progress_key(batch_id))
    return PaymentBatch.objects.get(pk=batch_id)


def _bank_settle(
    *, scope: Scope, batch: PaymentBatch, lines: Iterable[BatchLine], on_chunk: Callable[[int], None]
) -> None:
    """Every line the bank debited that matches a due item in full and in its window is paid with
    the debit's date; every other line is kept as a problem with the reason — money the bank took
    that matches nothing must be paid back or cleared by hand. A debit (its bank reference) is
    recorded once. Checked in chunks, set-based, then recorded at once (``_record_payable``), in
    the caller's transaction."""
    seen: set[tuple[str, int]] = set()
    done = 0
    payable: list[_Payable] = []
    problems: list[LineProblem] = []
    chunk: list[BatchLine] = []
    now = timezone.now()

    def check() -> None:
        nonlocal done
        found_payable, found = _check_chunk(
            scope=scope, batch=batch, lines=chunk, seen=seen, default_paid_at=now
        )
        payable.extend(found_payable)
        problems.extend(found)
        done += len(chunk)
        chunk.clear()
        on_chunk(done)

    for line in lines:
        chunk.append(line)
        if len(chunk) >= BATCH_CHUNK:
            check()
    if chunk:
        check()
    if not payable and not problems:
        raise ValidationError(_("The file has no debit lines."))
    count, total = _record_payable(scope=scope, batch=batch, payable=payable)
    batch.status = BatchStatus.DONE
    batch.save(update_fields=["status"])
    _batch_close(batch=batch, payments=count, total_fen=total, problems=problems)


@transaction.atomic
def certificate_issue(*, scope: Scope, payment_id: int) -> PaymentCertificate:
    """Issue the payment certificate (缴费证明) of a payment that stands and was not all paid back,
    with its verification code.

    Issued once: a second call (a reprint, a double click, two clerks at once) answers with the
    same certificate and code. The payer's name is kept masked for the public check; the printed
    certificate takes the full name from the ledger when it is printed.
    """
    scope.require(Action.COLLECTION_RECORD)
    # The payment's row lock makes simultaneous issues (and a reversal) wait for each other; the
    # second issue then finds the certificate. The one-to-one constraint stands behind it.
    payment = scope.get_object_or_404(Payment.objects.select_for_update(), pk=payment_id)
    # A reversed payment, or one insurance gave all of back (refunds.md: the payment stays
    # recorded on tax's side), certifies nothing: not even the certificate issued before.
    refusal = selectors.certificate_refusal(payment=payment)
    if refusal is not None:
        raise ValidationError(refusal)
    existing = PaymentCertificate.objects.filter(payment=payment).first()
    if existing is not None:
        return existing
    name = Payer.objects.filter(person_id=payment.person_id).values_list("name", flat=True).first()
    if not name:
        raise ValidationError(_("Tax's ledger has no name for this person; a certificate cannot be issued."))
    return PaymentCertificate.objects.create(
        payment=payment,
        code=code_new(),
        masked_name=mask_name_keep_ends(name),
        issued_by_id=scope.user_id,
    )


# --- over-collections tax caused, reported to insurance for refund -----------------------------

_RECEIPT = re.compile(r"^\s*([0-9]{1,6})-([0-9]{4})-([0-9]{1,9})\s*$")


def payment_by_receipt(*, scope: Scope, receipt: str, lock: bool = False) -> Payment:
    """The payment a printed receipt number (0004-2026-000001) names, in the caller's area."""
    found = _RECEIPT.match(receipt or "")
    if found is None:
        raise ValidationError({"receipt": _("Enter the receipt number as printed, e.g. 0004-2026-000001.")})
    queryset = Payment.objects.select_related("agency")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    payment = (
        scope.filter(queryset)
        .filter(agency_id=int(found[1]), receipt_year=int(found[2]), receipt_number=int(found[3]))
        .first()
    )
    if payment is None:
        voided = (
            scope.filter(VoidedReceipt.objects.select_related("payment"))
            .filter(agency_id=int(found[1]), receipt_year=int(found[2]), receipt_number=int(found[3]))
            .first()
        )
        if voided is not None:  # a voided number names no payment now: say which one replaced it
            raise ValidationError(
                {
                    "receipt": _(
                        "Receipt %(receipt)s was voided on %(day)s; the payment now has receipt %(current)s."
                    )
                    % {
                        "receipt": voided.receipt_code,
                        "day": timezone.localtime(voided.voided_at).date().isoformat(),
                        "current": voided.payment.receipt,
                    }
                }
            )
        raise ValidationError({"receipt": _("No payment with this receipt in your area.")})
    return payment


@transaction.atomic
def overcollection_request(
    *,
    scope: Scope,
    receipt: str,
    amount_fen: int,
    reason: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> OvercollectionRequest:
    """Report that tax took too much on a payment, for insurance to refund
    (``refund.overcollection_requested``, in this transaction). The amount is more than nothing
    and at most what the payment took less what was already requested on it; one open request a
    payment (the payment's row lock makes a second clerk wait, then see the first's request)."""
    scope.require(Action.OVERCOLLECTION_REQUEST)
    note = (note or "").strip()
    errors: dict[str, str] = {}
    if reason not in OvercollectionReason.values:
        errors["reason"] = _("Choose the reason.")
    elif reason == OvercollectionReason.OTHER and not note:
        errors["note"] = _("Say what happened.")
    if len(note) > 150:
        errors["note"] = _("At most 150 characters.")
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        errors["amount_fen"] = _("The amount must be more than nothing.")
    if errors:
        raise ValidationError(errors)
    payment = payment_by_receipt(scope=scope, receipt=receipt, lock=True)
    if payment.status != PaymentStatus.RECORDED:
        raise ValidationError({"receipt": _("This payment was reversed; nothing is left to refund.")})
    # A request insurance refused gave nothing back: neither open nor counted.
    earlier = list(
        payment.overcollection_requests.exclude(status=OvercollectionStatus.REFUSED).order_by("requested_at")
    )
    open_one = next((r for r in earlier if r.status != OvercollectionStatus.PAID_OUT), None)
    if open_one is not None:
        raise ValidationError(
            {
                "receipt": _(
                    "This payment already has an open over-collection request (%(status)s, %(date)s)."
                )
                % {
                    "status": open_one.get_status_display(),
                    "date": timezone.localtime(open_one.requested_at).strftime("%Y-%m-%d"),
                }
            }
        )
    now = now or timezone.now()
    if now < payment.paid_at:
        raise ValidationError({"receipt": _("The payment was made after that moment.")})
    # What insurance paid back of this payment by application (death, agency's error…) went back
    # already: never a second time as an over-collection.
    refunded = [r for r in refunds_of_payment(payment=payment) if r.kind == RefundKind.APPLICATION]
    left = payment.amount_fen - sum(r.amount_fen for r in earlier) - sum(r.amount_fen for r in refunded)
    if refunded and left <= 0:
        raise ValidationError(
            {
                "receipt": _(
                    "The medical insurance bureau paid this contribution back on %(day)s (refund %(number)s); "
                    "nothing is left to refund as an over-collection."
                )
                % {"day": refunded[0].paid_on.isoformat(), "number": refunded[0].refund_id}
            }
        )
    if amount_fen > left:
        raise ValidationError(
            {
                "amount_fen": _(
                    "At most %(left)s yuan can be refunded on this receipt (it took %(paid)s yuan)."
                )
                % {"left": yuan(left), "paid": yuan(payment.amount_fen)}
            }
        )
    request = OvercollectionRequest.objects.create(
        payment=payment,
        person_id=payment.person_id,
        insurance_year=payment.insurance_year,
        region_code=payment.region_code,
        receipt_number=payment.receipt,
        amount_fen=amount_fen,
        reason=reason,
        note=note,
        requested_by_id=scope.user_id,
        requested_at=now,
        status=OvercollectionStatus.REQUESTED,
        status_at=now,
    )
    OvercollectionEvent.objects.create(
        request=request, status=OvercollectionStatus.REQUESTED, at=now, note=note, actor_id=scope.user_id
    )
    # Stored by insurance as sent: in the portal's language, whoever's request reported it.
    with translation.override(settings.LANGUAGE_CODE):
        label = str(OvercollectionReason(reason).label)
    message_send(
        topic="refund.overcollection_requested",
        payload={
            "request_id": request.pk,
            "payment_id": payment.pk,
            "person_id": payment.person_id,
            "region_code": payment.region_code,
            "insurance_year": payment.insurance_year,
            "amount_fen": amount_fen,
            "reason": f"{label}: {note}"[:200] if note else label,
            "receipt_number": request.receipt_number,
            "reason_code": reason,
            "requested_on": timezone.localtime(now).date().isoformat(),
        },
    )
    return request
