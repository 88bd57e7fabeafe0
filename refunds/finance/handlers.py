"""What finance does with the fund-usage plans insurance submits."""

from __future__ import annotations

from django.db import connection

from sharing.handlers import Batch, handles

# A plan is recorded once (insurance's plan id unique): a redelivered message changes nothing.
# Its first event, "received", is written with it, in the same statement.
_RECORD_PLANS = """
WITH plans AS (
    INSERT INTO finance_receivedplan
        (plan_id, region_code, period, refund_count, amount_fen, lines, submitted_on, received_at,
         source_message_id, status, decision_reason, voucher)
    SELECT DISTINCT ON ((m.payload->>'plan_id')::bigint)
           (m.payload->>'plan_id')::bigint, m.payload->>'region_code', m.payload->>'period',
           (m.payload->>'refund_count')::int, (m.payload->>'amount_fen')::bigint,
           coalesce(m.payload->'lines', '[]'::jsonb), (m.payload->>'submitted_on')::date, now(),
           m.message_id, 'received', '', ''
    FROM ({batch}) AS m
    ORDER BY (m.payload->>'plan_id')::bigint, m.seq
    ON CONFLICT (plan_id) DO NOTHING
    RETURNING id
)
INSERT INTO finance_planevent (plan_id, action, from_state, to_state, actor_id, at, note)
SELECT id, 'receive', '', 'received', NULL, now(), '' FROM plans
"""


@handles("refund.fund_plan_submitted")
def record_fund_plans(batch: Batch) -> None:
    """Insurance's plans arrive in finance's list, waiting for a decision."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_RECORD_PLANS.format(batch=sql), params)


# The newest report of each county and year in the batch replaces what finance holds, unless
# finance already holds a newer one (a late or redelivered message changes nothing).
_REPLACE_FUNDS = """
WITH latest AS (
    SELECT DISTINCT ON (m.subject) m.message_id, m.payload
    FROM ({batch}) AS m WHERE m.version = 2
    ORDER BY m.subject, m.seq DESC
)
INSERT INTO finance_subsidyfunds AS f
    (region_code, insurance_year, as_of, person_count, amount_fen, source_message_id, received_at)
SELECT payload->>'region_code', (payload->>'insurance_year')::int, (payload->>'as_of')::timestamptz,
       (payload->>'person_count')::int, (payload->>'amount_fen')::bigint, message_id, now()
FROM latest
ON CONFLICT (region_code, insurance_year) DO UPDATE SET
    as_of = excluded.as_of, person_count = excluded.person_count, amount_fen = excluded.amount_fen,
    source_message_id = excluded.source_message_id, received_at = excluded.received_at
WHERE f.as_of < excluded.as_of
RETURNING id
"""
_FUND_LINES = """
INSERT INTO finance_subsidyfundsline (report_id, category, name, person_count, amount_fen)
SELECT f.id, c.value->>'category', c.value->>'name', (c.value->>'person_count')::int,
       (c.value->>'amount_fen')::bigint
FROM finance_subsidyfunds f
JOIN ({batch}) AS m ON m.message_id = f.source_message_id
CROSS JOIN LATERAL jsonb_array_elements(m.payload->'categories') AS c(value)
WHERE f.id = ANY(%(replaced)s)
"""


@handles("subsidy.fund_totals")
def record_subsidy_funds(batch: Batch) -> None:
    """Insurance's subsidy totals of a county and year: the newest replaces the older, lines and all.
    Version 1 (one category a message) is applied to its line alone."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_REPLACE_FUNDS.format(batch=sql), params)
        replaced = [row[0] for row in cursor.fetchall()]
        if replaced:
            cursor.execute("DELETE FROM finance_subsidyfundsline WHERE report_id = ANY(%s)", [replaced])
            cursor.execute(_FUND_LINES.format(batch=sql), {**params, "replaced": replaced})
    for message in batch:
        if message.version == 1:
            _record_one_category(message.payload, message.id, message.sent_at)


def _record_one_category(payload: dict, message_id: int, sent_at: object) -> None:
    from django.db.models import Sum
    from django.utils import timezone

    from .models import SubsidyFunds, SubsidyFundsLine

    # One category's subject is not its report's: two workers may apply two categories of one report
    # at once. The report stays locked until commit, so the sum below sees the other's line.
    report, _created = SubsidyFunds.objects.select_for_update().get_or_create(
        region_code=payload["region_code"],
        insurance_year=payload["insurance_year"],
        defaults={
            "as_of": sent_at, "person_count": 0, "amount_fen": 0, "source_message_id": message_id,
            "received_at": timezone.now(),
        },
    )  # fmt: skip
    SubsidyFundsLine.objects.update_or_create(
        report=report,
        category=payload["category"],
        defaults={
            "name": payload["category"],
            "person_count": payload["person_count"],
            "amount_fen": payload["amount_fen"],
        },
    )
    sums = report.lines.aggregate(persons=Sum("person_count"), fen=Sum("amount_fen"))
    SubsidyFunds.objects.filter(pk=report.pk).update(
        person_count=sums["persons"] or 0, amount_fen=sums["fen"] or 0, source_message_id=message_id
    )
