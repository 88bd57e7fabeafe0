"""Insurance's ledger of tax's deposit records (入库), written by the ``payment.deposited`` and
``payment.reversed`` handlers, and read by the refund rules: how many deposits insurance holds
for a person and year. Set-based per batch; a message applied twice changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction

from .assessment import Deposit
from .models import DepositRecord


@dataclass(frozen=True)
class ReceivedDeposit:
    """One ``payment.deposited`` message as insurance read it."""

    payment_id: int
    id_number: str
    insurance_year: int
    region_code: str
    amount_fen: int
    channel: str
    receipt_number: str
    paid_on: dt.date
    source_message_id: int


@transaction.atomic
def deposit_records_receive(*, deposits: list[ReceivedDeposit]) -> None:
    """Record every deposit once (by tax's payment id), whether it matched an assessment or not."""
    DepositRecord.objects.bulk_create(
        [
            DepositRecord(
                payment_id=d.payment_id,
                id_number=d.id_number,
                insurance_year=d.insurance_year,
                region_code=d.region_code,
                amount_fen=d.amount_fen,
                channel=d.channel[:32],
                receipt_number=d.receipt_number[:64],
                paid_on=d.paid_on,
                source_message_id=d.source_message_id,
            )
            for d in deposits
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def deposit_records_reverse(*, reversals: list[tuple[int, dt.date, str]]) -> int:
    """Mark deposits reversed by tax (payment id, day, reason); one reversed before stays as it was.
    One statement for the batch, not one per reversal."""
    if not reversals:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {DepositRecord._meta.db_table} d
                SET reversed_on = v.day, reversal_reason = v.reason
                FROM (SELECT DISTINCT ON (payment_id) payment_id, day, reason
                      FROM unnest(%s::bigint[], %s::date[], %s::text[]) AS r(payment_id, day, reason)
                      ORDER BY payment_id) AS v
                WHERE d.payment_id = v.payment_id AND d.reversed_on IS NULL""",  # noqa: S608 - the model's table
            [
                [payment_id for payment_id, _day, _reason in reversals],
                [day for _payment_id, day, _reason in reversals],
                [(reason or "-")[:200] for _payment_id, _day, reason in reversals],
            ],
        )
        return cursor.rowcount


def assessments_lock(*, keys: list[tuple[str, int]]) -> list[tuple[str, int, str, int | None, str]]:
    """Lock the assessments of these persons and years, in id order — the order every check of what
    goes back of a year's payments takes them (``refunds.services``), so a deposit handler and those
    checks wait for each other rather than deadlock. Each one's (identifier, year, status, amount
    paid, receipt); a key without an assessment is left out."""
    if not keys:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT p.id_number, a.insurance_year, a.status, a.paid_fen, a.deposit_reference
               FROM enrollment_assessment a JOIN enrollment_person p ON p.id = a.person_id
               WHERE (p.id_number, a.insurance_year) IN (SELECT * FROM unnest(%s::text[], %s::int[]))
               ORDER BY a.id
               FOR UPDATE OF a""",
            [[key[0] for key in keys], [key[1] for key in keys]],
        )
        return cursor.fetchall()


def deposits_standing(*, id_number: str, insurance_year: int) -> int:
    """How many of tax's deposits for the person and year insurance holds, less the reversed ones."""
    return DepositRecord.objects.filter(
        id_number=id_number, insurance_year=insurance_year, reversed_on__isnull=True
    ).count()


def deposits_left_standing(*, keys: list[tuple[str, int]]) -> list[Deposit]:
    """For each person and year, the earliest deposit of tax's that still stands (not reversed), as
    the assessment records a deposit: after a reversal, a second payment that tax kept is what the
    year is paid by. Deposits carried over when the ledger began (no payment id) are left out:
    whether tax reversed those is not known here."""
    if not keys:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT DISTINCT ON (d.id_number, d.insurance_year)
                       d.id_number, d.insurance_year, d.amount_fen, d.paid_on, d.receipt_number
                FROM {DepositRecord._meta.db_table} d
                WHERE (d.id_number, d.insurance_year) IN (SELECT * FROM unnest(%s::text[], %s::int[]))
                  AND d.reversed_on IS NULL AND d.payment_id IS NOT NULL
                ORDER BY d.id_number, d.insurance_year, d.paid_on, d.payment_id""",  # noqa: S608 - the model's table
            [[key[0] for key in keys], [key[1] for key in keys]],
        )
        return [
            Deposit(
                id_number=row[0], insurance_year=row[1], amount_fen=row[2], paid_on=row[3], reference=row[4]
            )
            for row in cursor.fetchall()
        ]
