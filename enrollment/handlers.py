"""What insurance does with the messages tax sends it over the sharing platform."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from sharing.handlers import Batch, handles

from .assessment import Deposit, assessment_record_deposits, assessment_record_reversals
from .deposits import (
    ReceivedDeposit,
    assessments_lock,
    deposit_records_receive,
    deposit_records_reverse,
    deposits_left_standing,
)
from .selectors import current_identifiers


def _identifiers_now(batch: Batch) -> dict[str, str]:
    """The batch's identifiers as insurance's persons hold them now: tax sends a payment taken under
    an identifier insurance has since corrected until tax's ledger follows (the correction's
    message); such a number is read as the corrected person's (``selectors.current_identifiers``)."""
    return current_identifiers(message.payload["person_id"] for message in batch)


def _local_date(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return timezone.localtime(moment)


@handles("payment.deposited")
def apply_payment_deposited(batch: Batch) -> None:
    """Deposit records (入库): each one kept in insurance's ledger of deposits; the person is paid
    and the benefit period comes from the rule engine. A deposit that is a second payment of its
    year bounds what tax reported over-collected on it before it arrived: refunds checks that again
    (``refunds.services.overcollection_deposits_recheck``)."""
    # Per person and year, the earliest deposit of the batch (by day, then tax's payment id): the
    # rule of ``deposits_left_standing``, so the recorded day (and the cover it buys) is the same
    # however tax's messages were batched. Across batches the first recorded one stands.
    earliest: dict[tuple[str, int], tuple[tuple[date, int], Deposit]] = {}
    received = []
    now_held = _identifiers_now(batch)
    for message in batch:
        payload = message.payload
        person_id = now_held.get(payload["person_id"], payload["person_id"])
        key = (person_id, payload["insurance_year"])
        paid_on = _local_date(payload["paid_at"]).date()
        order = (paid_on, int(payload["payment_id"]))
        if key not in earliest or order < earliest[key][0]:
            earliest[key] = (
                order,
                Deposit(
                    id_number=person_id,
                    insurance_year=payload["insurance_year"],
                    amount_fen=payload["amount_fen"],
                    paid_on=paid_on,
                    reference=payload["receipt_number"],
                ),
            )
        received.append(
            ReceivedDeposit(
                payment_id=payload["payment_id"],
                id_number=person_id,
                insurance_year=payload["insurance_year"],
                region_code=payload["region_code"],
                amount_fen=payload["amount_fen"],
                channel=payload["channel"],
                receipt_number=payload["receipt_number"],
                paid_on=paid_on,
                source_message_id=message.id,
            )
        )
    keys = sorted({(deposit.id_number, deposit.insurance_year) for deposit in received})
    # The years' assessments first, in id order, as refunds' checks of what goes back of them take
    # them: a request of tax's recorded meanwhile is seen by the check below, or sees these deposits.
    assessments_lock(keys=keys)
    deposit_records_receive(deposits=received)
    assessment_record_deposits(deposits=[deposit for _order, deposit in earliest.values()])
    # Refunds builds on enrollment, so it is imported where the handler needs it, not at the top.
    from refunds.services import overcollection_deposits_recheck

    overcollection_deposits_recheck(keys=keys, payment_ids=sorted({d.payment_id for d in received}))


@handles("payment.reversed")
def apply_payment_reversed(batch: Batch) -> None:
    """A reversed payment (冲正): the deposit is marked reversed and the person owes again, unless
    another payment of tax's for that year still stands, which the year is then paid by."""
    now_held = _identifiers_now(batch)

    def person(message) -> str:  # type: ignore[no-untyped-def]
        return now_held.get(message.payload["person_id"], message.payload["person_id"])

    deposit_records_reverse(
        reversals=[
            (
                message.payload["payment_id"],
                _local_date(message.payload["reversed_at"]).date(),
                message.payload["reason"],
            )
            for message in batch
        ]
    )
    assessment_record_reversals(
        reversals=[
            (
                person(message),
                message.payload["insurance_year"],
                _("Payment reversed by tax: %(reason)s") % {"reason": message.payload["reason"]},
            )
            for message in batch
        ]
    )
    assessment_record_deposits(
        deposits=deposits_left_standing(
            keys=sorted({(person(m), m.payload["insurance_year"]) for m in batch})
        )
    )
