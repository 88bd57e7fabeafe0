"""What tax does with the messages insurance sends it over the sharing platform."""

from __future__ import annotations

from django.db import connection

from sharing.handlers import Batch, handles

# One statement per batch, straight from the batch relation (no row passes through Python).
# Of several messages about one due item the last one counts, and a message is applied only
# when it is newer (higher sequence number in its subject) than what the ledger holds, so a
# late or repeated message changes nothing. A paid item is never changed by a reassessment; a
# cancelled one (fully subsidised, or no longer enrolled) comes back when insurance says it is due.
_UPSERT_DUE_ITEMS = """
INSERT INTO collection_dueitem
    (person_id, insurance_year, region_code, amount_fen, subsidy_fen, subsidy_marker, schedule, status,
     source_message_id, sequence, updated_at)
SELECT DISTINCT ON (m.subject)
       m.payload->>'person_id', (m.payload->>'insurance_year')::int, m.payload->>'region_code',
       (m.payload->>'amount_fen')::bigint, coalesce((m.payload->>'subsidy_fen')::bigint, 0),
       coalesce(m.payload->>'subsidy_marker', ''), coalesce(m.payload->'schedule', '[]'::jsonb),
       coalesce(m.payload->>'status', 'due'), m.message_id, m.seq, now()
FROM ({batch}) AS m
ORDER BY m.subject, m.seq DESC
ON CONFLICT (person_id, insurance_year) DO UPDATE SET
    region_code = excluded.region_code,
    amount_fen = excluded.amount_fen,
    subsidy_fen = excluded.subsidy_fen,
    subsidy_marker = excluded.subsidy_marker,
    schedule = excluded.schedule,
    status = excluded.status,
    source_message_id = excluded.source_message_id,
    sequence = excluded.sequence,
    updated_at = excluded.updated_at
WHERE collection_dueitem.sequence < excluded.sequence AND collection_dueitem.status <> 'paid'
"""


@handles("assessment.due")
def apply_assessment_due(batch: Batch) -> None:
    """Upsert the batch's due items into tax's ledger."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_DUE_ITEMS.format(batch=sql), params)
