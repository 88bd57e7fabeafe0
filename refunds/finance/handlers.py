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
