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

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.masking import mask_name_keep_ends
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from sharing.services import message_send

from .codes import code_new
from .models import (
    Channel,
    DueItem,
    DueStatus,
    Payer,
    Payment,
    PaymentCertificate,
    PaymentStatus,
    VoidedReceipt,
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


@transaction.atomic
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
    # The lock makes simultaneous payments of one item (and one key) wait for each other.
    item = scope.get_object_or_404(DueItem.objects.select_for_update(), pk=due_item_id)
    if key is not None:
        replayed = _replay(key=key, due_item_id=item.pk, amount_fen=amount_fen, channel=channel)
        if replayed is not None:
            return replayed
    if item.status == DueStatus.PAID:
        standing = item.payments.filter(status=PaymentStatus.RECORDED).select_related("agency").first()
        raise PaymentConflictError(
            _("Already paid on %(day)s (receipt %(receipt)s); a contribution is paid once.")
            % {
                "day": timezone.localtime(standing.paid_at).date().isoformat() if standing else "",
                "receipt": standing.receipt if standing else "",
            },
            standing,
        )
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
    year = timezone.localdate().year
    payment = Payment.objects.create(
        due_item=item,
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
        receipt_number=_receipt_number(agency_id=scope.agency_id, year=year),
        idempotency_key=key,
    )
    item.status = DueStatus.PAID
    item.updated_at = timezone.now()
    item.save(update_fields=["status", "updated_at"])
    message_send(
        topic="payment.deposited",
        payload={
            "payment_id": payment.pk,
            "person_id": payment.person_id,
            "region_code": payment.region_code,
            "insurance_year": payment.insurance_year,
            "amount_fen": payment.amount_fen,
            "channel": payment.channel,
            "receipt_number": payment.receipt,
            "paid_at": timezone.localtime(paid_at).isoformat(),
        },
    )
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


@transaction.atomic
def certificate_issue(*, scope: Scope, payment_id: int) -> PaymentCertificate:
    """Issue the payment certificate (缴费证明) of a payment that stands, with its verification code.

    Issued once: a second call (a reprint, a double click, two clerks at once) answers with the
    same certificate and code. The payer's name is kept masked for the public check; the printed
    certificate takes the full name from the ledger when it is printed.
    """
    scope.require(Action.COLLECTION_RECORD)
    # The payment's row lock makes simultaneous issues (and a reversal) wait for each other; the
    # second issue then finds the certificate. The one-to-one constraint stands behind it.
    payment = scope.get_object_or_404(Payment.objects.select_for_update(), pk=payment_id)
    if payment.status != PaymentStatus.RECORDED:
        raise ValidationError(
            _("This payment was reversed: there is nothing to certify, and no certificate is issued.")
        )
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
