"""What insurance does with the messages tax sends it over the sharing platform."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from sharing.handlers import Batch, handles

from .assessment import Deposit, assessment_record_deposits, assessment_record_reversals


def _local_date(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return timezone.localtime(moment)


@handles("payment.deposited")
def apply_payment_deposited(batch: Batch) -> None:
    """Deposit records (入库): the person is paid; the benefit period comes from the rule engine."""
    latest: dict[tuple[str, int], Deposit] = {}
    for message in batch:
        payload = message.payload
        key = (payload["person_id"], payload["insurance_year"])
        latest[key] = Deposit(
            id_number=payload["person_id"],
            insurance_year=payload["insurance_year"],
            amount_fen=payload["amount_fen"],
            paid_on=_local_date(payload["paid_at"]).date(),
            reference=payload["receipt_number"],
        )
    assessment_record_deposits(deposits=list(latest.values()))


@handles("payment.reversed")
def apply_payment_reversed(batch: Batch) -> None:
    """A reversed payment (冲正): the person owes again."""
    assessment_record_reversals(
        reversals=[
            (
                message.payload["person_id"],
                message.payload["insurance_year"],
                _("Payment reversed by tax: %(reason)s") % {"reason": message.payload["reason"]},
            )
            for message in batch
        ]
    )
