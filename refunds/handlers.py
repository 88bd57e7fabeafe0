"""What insurance does with the messages tax and finance send it about over-collection refunds."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection

from enrollment.selectors import current_identifier_sql
from sharing.handlers import Batch, handles

from . import services

# Each request is recorded once (``request_id`` unique): a redelivered or repeated message changes
# nothing, and only the requests recorded now are acknowledged to tax as received. A request tax
# made under an identifier insurance has since corrected is kept under the person's current one.
_RECORD_REQUESTS = """
WITH recorded AS (
    INSERT INTO refunds_overcollectionrefund
        (request_id, payment_id, person_id, region_code, insurance_year, amount_fen, receipt_number, reason,
         requested_on, received_at, source_message_id, status, bank_reference)
    SELECT DISTINCT ON ((m.payload->>'request_id')::bigint)
           (m.payload->>'request_id')::bigint, (m.payload->>'payment_id')::bigint, {person},
           m.payload->>'region_code', (m.payload->>'insurance_year')::int, (m.payload->>'amount_fen')::bigint,
           coalesce(m.payload->>'receipt_number', ''), m.payload->>'reason',
           coalesce((m.payload->>'requested_on')::date, (m.sent_at AT TIME ZONE %(tz)s)::date),
           now(), m.message_id, 'received', ''
    FROM ({batch}) AS m
    ORDER BY (m.payload->>'request_id')::bigint, m.seq
    ON CONFLICT (request_id) DO NOTHING
    RETURNING id
)
SELECT coalesce(array_agg(id), '{{}}') FROM recorded
"""


@handles("refund.overcollection_requested")
def record_overcollection_requests(batch: Batch) -> None:
    """Tax's over-collection requests join the county's pool, waiting for a fund-usage plan."""

    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_REQUESTS.format(batch=sql, person=current_identifier_sql("(m.payload->>'person_id')")),
            {**params, "tz": settings.TIME_ZONE},
        )
        (ids,) = cursor.fetchone()
    if ids:
        services.overcollection_status_push(
            where="r.id = ANY(%(ids)s)", params={"ids": list(ids)}, status="received"
        )


@handles("refund.fund_plan_decided")
def apply_fund_plan_decisions(batch: Batch) -> None:
    """Finance approved or rejected a plan (one message a plan, in order per plan)."""
    for message in batch:
        payload = message.payload
        services.fund_plan_decided(
            plan_id=payload["plan_id"],
            decision=payload["decision"],
            reason=payload.get("reason") or "",
            decided_on=dt.date.fromisoformat(payload["decided_on"]),
        )


@handles("refund.funds_transferred")
def apply_funds_transferred(batch: Batch) -> None:
    """Finance transferred an approved plan's funds to insurance."""
    for message in batch:
        payload = message.payload
        services.fund_plan_funded(
            plan_id=payload["plan_id"],
            voucher=payload["voucher"],
            transferred_on=dt.date.fromisoformat(payload["transferred_on"]),
        )
