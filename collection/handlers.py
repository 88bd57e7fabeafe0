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


# A person's tags and untags share one subject (person, year), so their order is kept; of several
# messages about one category in a batch the last one counts, and an older message never
# overwrites a newer one.
_UPSERT_SUBSIDY_MARKS = """
INSERT INTO collection_subsidymark
    (person_id, insurance_year, category, region_code, marker, subsidy_kind, subsidy_fen, roster,
     valid_from, valid_to, status, reason, source_message_id, sequence, updated_at)
SELECT DISTINCT ON (m.subject, m.payload->>'category')
       m.payload->>'person_id', (m.payload->>'insurance_year')::int, m.payload->>'category',
       m.payload->>'region_code', coalesce(m.payload->>'marker', ''),
       coalesce(m.payload->>'subsidy_kind', ''), coalesce((m.payload->>'subsidy_fen')::bigint, 0),
       m.payload->>'roster', (m.payload->>'valid_from')::date, (m.payload->>'valid_to')::date,
       %(status)s, coalesce(m.payload->>'reason', ''), m.message_id, m.seq, now()
FROM ({batch}) AS m
ORDER BY m.subject, m.payload->>'category', m.seq DESC
ON CONFLICT (person_id, insurance_year, category) DO UPDATE SET
    region_code = excluded.region_code,
    marker = CASE WHEN excluded.marker = '' THEN collection_subsidymark.marker ELSE excluded.marker END,
    subsidy_kind = CASE WHEN excluded.status = 'withdrawn' THEN collection_subsidymark.subsidy_kind
                        ELSE excluded.subsidy_kind END,
    subsidy_fen = CASE WHEN excluded.status = 'withdrawn' THEN collection_subsidymark.subsidy_fen
                       ELSE excluded.subsidy_fen END,
    roster = excluded.roster,
    valid_from = excluded.valid_from,
    valid_to = excluded.valid_to,
    status = excluded.status,
    reason = excluded.reason,
    source_message_id = excluded.source_message_id,
    sequence = excluded.sequence,
    updated_at = excluded.updated_at
WHERE collection_subsidymark.sequence < excluded.sequence
"""


@handles("subsidy.tagged")
def apply_subsidy_tagged(batch: Batch) -> None:
    """Record the batch's subsidy tags in tax's ledger of subsidy marks."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SUBSIDY_MARKS.format(batch=sql), {**params, "status": "active"})


@handles("subsidy.untagged")
def apply_subsidy_untagged(batch: Batch) -> None:
    """Mark the batch's withdrawn tags in tax's ledger of subsidy marks."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SUBSIDY_MARKS.format(batch=sql), {**params, "status": "withdrawn"})
