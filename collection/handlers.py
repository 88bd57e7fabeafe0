"""What tax does with the messages insurance sends it over the sharing platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from accounts.masking import mask_id_number
from sharing.handlers import Batch, Message, handles

from .models import IdentifierCorrection


def _person_now(person: str) -> str:
    """The identifier a message's ``person`` (a SQL text expression over the batch row ``m``) means
    now: a message sent before insurance corrected that identifier (its sending transaction began
    before ``corrected_at``: it may have read the old number) is about the corrected person, whose
    records tax has re-keyed (``IdentifierCorrection``; the first correction after the message
    counts, and its ``current_person_id`` follows later ones). A message sent afterwards that names
    the old identifier is about its next holder, and is left as it is. Without any correction
    (the usual case) the CASE reads nothing more than one look at an empty table per statement."""
    return (
        "CASE WHEN EXISTS (SELECT FROM collection_identifiercorrection) THEN coalesce("  # noqa: S608 - no input
        "(SELECT c.current_person_id FROM collection_identifiercorrection c"
        f" WHERE c.old_person_id = {person} AND c.corrected_at > m.sent_at"
        f" ORDER BY c.corrected_at LIMIT 1), {person}) ELSE {person} END"
    )


_ITEM_PERSON = _person_now("(i.value->>'person_id')")
_MESSAGE_PERSON = _person_now("(m.payload->>'person_id')")

# One statement per batch, straight from the batch relation (no row passes through Python).
# Of several messages about one due item the newest counts: the one with the higher assessment
# revision (the yearly run's batch items and single reassessments alike carry it), or, between
# messages without one, the higher sequence number in its subject. So a late, repeated or
# out-of-order message changes nothing. A paid item is never changed by a reassessment; a
# cancelled one (fully subsidised, or no longer enrolled) comes back when insurance says it is due.
_UPSERT_DUE_ITEMS = """
INSERT INTO collection_dueitem
    (person_id, insurance_year, region_code, amount_fen, subsidy_fen, subsidy_marker, schedule, status,
     source_message_id, sequence, revision, updated_at)
SELECT DISTINCT ON (d.person_id, d.insurance_year)
       d.person_id, d.insurance_year, d.region_code, d.amount_fen, d.subsidy_fen, d.subsidy_marker,
       d.schedule, d.status, d.message_id, d.seq, d.revision, now()
FROM ({items}) AS d
ORDER BY d.person_id, d.insurance_year, d.revision DESC, d.seq DESC
ON CONFLICT (person_id, insurance_year) DO UPDATE SET
    region_code = excluded.region_code,
    amount_fen = excluded.amount_fen,
    subsidy_fen = excluded.subsidy_fen,
    subsidy_marker = excluded.subsidy_marker,
    schedule = excluded.schedule,
    status = excluded.status,
    source_message_id = excluded.source_message_id,
    sequence = excluded.sequence,
    revision = excluded.revision,
    updated_at = excluded.updated_at
WHERE collection_dueitem.status <> 'paid' AND (
    collection_dueitem.revision < excluded.revision
    OR (excluded.revision = 0 AND collection_dueitem.revision = 0
        AND collection_dueitem.sequence < excluded.sequence))
"""

# One message per due item.
_SINGLE_ITEMS = """
SELECT {person} AS person_id, (m.payload->>'insurance_year')::int AS insurance_year,
       m.payload->>'region_code' AS region_code, (m.payload->>'amount_fen')::bigint AS amount_fen,
       coalesce((m.payload->>'subsidy_fen')::bigint, 0) AS subsidy_fen,
       coalesce(m.payload->>'subsidy_marker', '') AS subsidy_marker,
       coalesce(m.payload->'schedule', '[]'::jsonb) AS schedule,
       coalesce(m.payload->>'status', 'due') AS status, m.message_id, m.seq,
       coalesce((m.payload->>'revision')::int, 0) AS revision
FROM ({batch}) AS m
"""

# The yearly run's messages: many due items each.
_BATCH_ITEMS = """
SELECT {person} AS person_id, (m.payload->>'insurance_year')::int AS insurance_year,
       i.value->>'region_code' AS region_code, (i.value->>'amount_fen')::bigint AS amount_fen,
       (i.value->>'subsidy_fen')::bigint AS subsidy_fen, i.value->>'subsidy_marker' AS subsidy_marker,
       i.value->'schedule' AS schedule, i.value->>'status' AS status, m.message_id, m.seq,
       (i.value->>'revision')::int AS revision
FROM ({batch}) AS m, jsonb_array_elements(m.payload->'items') AS i(value)
"""


@handles("assessment.due")
def apply_assessment_due(batch: Batch) -> None:
    """Upsert the batch's due items into tax's ledger."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        items = _SINGLE_ITEMS.format(batch=sql, person=_MESSAGE_PERSON)
        cursor.execute(_UPSERT_DUE_ITEMS.format(items=items), params)


@handles("assessment.due_batch")
def apply_assessment_due_batch(batch: Batch) -> None:
    """Upsert the due items of the yearly run's messages into tax's ledger."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        items = _BATCH_ITEMS.format(batch=sql, person=_ITEM_PERSON)
        cursor.execute(_UPSERT_DUE_ITEMS.format(items=items), params)


# An approved back-payment (补缴): the item becomes payable at the back-payment amount from the
# approval day until the pay-by day, by a schedule line put first (the counter, the API and the
# bank files take the first line whose dates hold the day); earlier lines stay, so before the
# approval nothing changes, and a repeated approval replaces its own line. The message carries
# the assessment's revision, which the approval raised: it is ordered against the item's
# assessment.due messages exactly as they are against each other, and never touches a paid item.
_UPSERT_BACK_PAYMENTS = """
INSERT INTO collection_dueitem
    (person_id, insurance_year, region_code, amount_fen, subsidy_fen, subsidy_marker, schedule, status,
     source_message_id, sequence, revision, updated_at)
SELECT DISTINCT ON (d.person_id, d.insurance_year)
       d.person_id, d.insurance_year, d.region_code, d.amount_fen, 0, '', jsonb_build_array(d.line), 'due',
       d.message_id, d.seq, d.revision, now()
FROM (
    SELECT {person} AS person_id, (m.payload->>'insurance_year')::int AS insurance_year,
           m.payload->>'region_code' AS region_code, (m.payload->>'amount_fen')::bigint AS amount_fen,
           jsonb_build_object(
               'from', m.payload->>'approved_on', 'to', m.payload->>'pay_until',
               'amount_fen', (m.payload->>'amount_fen')::bigint, 'subsidy_fen', 0,
               'rule', 'back_payment', 'back_payment', true,
               'application_id', (m.payload->>'application_id')::bigint,
               'note', coalesce(m.payload->>'reason', '')) AS line,
           m.message_id, m.seq, coalesce((m.payload->>'revision')::int, 0) AS revision
    FROM ({batch}) AS m
) AS d
ORDER BY d.person_id, d.insurance_year, d.revision DESC, d.seq DESC
ON CONFLICT (person_id, insurance_year) DO UPDATE SET
    region_code = excluded.region_code,
    amount_fen = excluded.amount_fen,
    subsidy_fen = 0,
    schedule = excluded.schedule || coalesce(
        (SELECT jsonb_agg(line ORDER BY n) FROM jsonb_array_elements(collection_dueitem.schedule)
             WITH ORDINALITY AS old(line, n)
         WHERE NOT coalesce((line->>'back_payment')::boolean, false)),
        '[]'::jsonb),
    status = 'due',
    source_message_id = excluded.source_message_id,
    sequence = excluded.sequence,
    revision = excluded.revision,
    updated_at = excluded.updated_at
WHERE collection_dueitem.status <> 'paid' AND (
    collection_dueitem.revision < excluded.revision
    OR (excluded.revision = 0 AND collection_dueitem.revision = 0
        AND collection_dueitem.sequence < excluded.sequence))
"""


# Newest version per policy wins, whatever order the messages arrive in.
_UPSERT_BACK_PAYMENT_WINDOWS = """
INSERT INTO collection_backpaymentwindow
    (policy_code, policy_version, region_prefix, insurance_year, back_payment, apply_from, apply_until, updated_at)
SELECT DISTINCT ON (w.policy_code)
       w.policy_code, w.policy_version, w.region_prefix, w.insurance_year, w.back_payment,
       w.apply_from, w.apply_until, now()
FROM (
    SELECT m.payload->>'policy_code' AS policy_code, (m.payload->>'policy_version')::int AS policy_version,
           m.payload->>'region_prefix' AS region_prefix, (m.payload->>'insurance_year')::int AS insurance_year,
           (m.payload->>'back_payment')::boolean AS back_payment,
           (m.payload->>'apply_from')::date AS apply_from, (m.payload->>'apply_until')::date AS apply_until,
           m.seq
    FROM ({batch}) AS m
) AS w
ORDER BY w.policy_code, w.policy_version DESC, w.seq DESC
ON CONFLICT (policy_code) DO UPDATE SET
    policy_version = excluded.policy_version,
    region_prefix = excluded.region_prefix,
    insurance_year = excluded.insurance_year,
    back_payment = excluded.back_payment,
    apply_from = excluded.apply_from,
    apply_until = excluded.apply_until,
    updated_at = excluded.updated_at
WHERE collection_backpaymentwindow.policy_version <= excluded.policy_version
"""


@handles("policy.back_payment_window")
def apply_back_payment_window(batch: Batch) -> None:
    """Keep each policy's back-payment window (the newest version sent)."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_BACK_PAYMENT_WINDOWS.format(batch=sql), params)


@handles("backpayment.due")
def apply_backpayment_due(batch: Batch) -> None:
    """Make the person's due item payable at the approved back-payment amount, in its window."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_BACK_PAYMENTS.format(batch=sql, person=_MESSAGE_PERSON), params)


# A roster import's tags and withdrawals, many per message. Every item carries the import's
# revision (imports commit in revision order): of several items about one mark the newest counts
# and an older one never overwrites it, so batches may arrive in any order or twice.
_UPSERT_SUBSIDY_MARKS = """
INSERT INTO collection_subsidymark
    (person_id, insurance_year, category, region_code, marker, subsidy_kind, subsidy_fen, roster,
     valid_from, valid_to, status, reason, source_message_id, sequence, revision, updated_at)
SELECT DISTINCT ON (k.person_id, k.category, k.insurance_year)
       k.person_id, k.insurance_year, k.category, k.region_code, k.marker, k.subsidy_kind, k.subsidy_fen,
       k.roster, k.valid_from, k.valid_to, k.status, k.reason, k.message_id, k.seq, k.revision, now()
FROM (
    SELECT {person} AS person_id, (m.payload->>'insurance_year')::int AS insurance_year,
           i.value->>'category' AS category, i.value->>'region_code' AS region_code,
           i.value->>'marker' AS marker, i.value->>'subsidy_kind' AS subsidy_kind,
           (i.value->>'subsidy_fen')::bigint AS subsidy_fen, m.payload->>'roster' AS roster,
           (i.value->>'valid_from')::date AS valid_from, (i.value->>'valid_to')::date AS valid_to,
           i.value->>'status' AS status, i.value->>'reason' AS reason, m.message_id, m.seq,
           (i.value->>'revision')::bigint AS revision
    FROM ({batch}) AS m, jsonb_array_elements(m.payload->'items') AS i(value)
) AS k
ORDER BY k.person_id, k.category, k.insurance_year, k.revision DESC, k.seq DESC
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
    revision = excluded.revision,
    updated_at = excluded.updated_at
WHERE collection_subsidymark.revision < excluded.revision
"""


@handles("subsidy.marks_batch")
def apply_subsidy_marks_batch(batch: Batch) -> None:
    """Record the batch's subsidy tags and withdrawals in tax's ledger of subsidy marks."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SUBSIDY_MARKS.format(batch=sql, person=_ITEM_PERSON), params)


# Insurance's enrollments, as tax's ledger of payers. Messages about one person share a subject,
# so their sequence numbers order them: of several in a batch the last counts, and an older
# message never overwrites a newer one.
_UPSERT_PAYERS = """
INSERT INTO collection_payer
    (person_id, name, region_code, category, enrolled_on, status, source_message_id, sequence, updated_at)
SELECT DISTINCT ON (m.payload->>'person_id')
       m.payload->>'person_id', m.payload->>'person_name', m.payload->>'region_code', m.payload->>'category',
       (m.payload->>'enrolled_on')::date, {status}, m.message_id, m.seq, now()
FROM ({batch}) AS m
ORDER BY m.payload->>'person_id', m.seq DESC
ON CONFLICT (person_id) DO UPDATE SET
    name = excluded.name,
    region_code = excluded.region_code,
    category = excluded.category,
    enrolled_on = coalesce(excluded.enrolled_on, collection_payer.enrolled_on),
    status = excluded.status,
    source_message_id = excluded.source_message_id,
    sequence = excluded.sequence,
    updated_at = excluded.updated_at
WHERE collection_payer.sequence < excluded.sequence
"""


def _upsert_payers(batch: Batch, status: str) -> None:
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_PAYERS.format(batch=sql, status=status), params)


@handles("enrollment.registered")
def apply_enrollment_registered(batch: Batch) -> None:
    """A newly enrolled person becomes a payer the counter can find."""
    _upsert_payers(batch, "'normal'")


@handles("enrollment.changed")
def apply_enrollment_changed(batch: Batch) -> None:
    """An enrollment's data or status changed (suspended or resumed)."""
    _upsert_payers(batch, "m.payload->>'status'")


@handles("enrollment.terminated")
def apply_enrollment_terminated(batch: Batch) -> None:
    """An enrollment ended: the payer stays in the ledger, terminated."""
    _upsert_payers(batch, "'terminated'")


# A refund is reported once; a repeated message changes nothing.
# Version 1 messages carry no kind: they are all refund applications'.
_INSERT_REFUNDS = """
INSERT INTO collection_refundpaid
    (kind, refund_id, person_id, region_code, month, amount_fen, receipt_number, paid_on, source_message_id,
     received_at)
SELECT DISTINCT ON (coalesce(m.payload->>'kind', 'application'), (m.payload->>'refund_id')::bigint)
       coalesce(m.payload->>'kind', 'application'), (m.payload->>'refund_id')::bigint, {person},
       m.payload->>'region_code', m.payload->>'month', (m.payload->>'amount_fen')::bigint,
       coalesce(m.payload->>'receipt_number', ''), (m.payload->>'paid_on')::date, m.message_id, now()
FROM ({batch}) AS m
ORDER BY coalesce(m.payload->>'kind', 'application'), (m.payload->>'refund_id')::bigint, m.seq
ON CONFLICT (kind, refund_id) DO NOTHING
"""


@handles("refund.monthly_details")
def apply_refund_monthly_details(batch: Batch) -> None:
    """Insurance paid a contribution back: tax records it against the payment's receipt."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_REFUNDS.format(batch=sql, person=_MESSAGE_PERSON), params)


# Insurance's pushes about an over-collection request tax made: each message is one event on the
# request's timeline (once: keyed by the message), and the request takes the state of the newest
# push (one request's pushes share a subject, so their sequence numbers order them).
_OVERCOLLECTION_EVENTS = """
INSERT INTO collection_overcollectionevent (request_id, status, at, note, plan_id, actor_id, source_message_id)
SELECT (m.payload->>'request_id')::bigint, m.payload->>'status', (m.payload->>'at')::timestamptz,
       left(coalesce(m.payload->>'note', ''), 500), (m.payload->>'plan_id')::bigint, NULL, m.message_id
FROM ({batch}) AS m
ORDER BY m.message_id
ON CONFLICT (source_message_id) DO NOTHING
"""
_OVERCOLLECTION_STATUS = """
UPDATE collection_overcollectionrequest r SET
    status = n.payload->>'status',
    status_at = (n.payload->>'at')::timestamptz,
    status_note = left(coalesce(n.payload->>'note', ''), 500),
    status_sequence = n.seq,
    plan_id = coalesce((n.payload->>'plan_id')::bigint, CASE WHEN n.payload->>'status' = 'received' THEN NULL
                                                             ELSE r.plan_id END),
    period = coalesce(n.payload->>'period', CASE WHEN n.payload->>'status' = 'received' THEN '' ELSE r.period END),
    paid_on = coalesce((n.payload->>'paid_on')::date, r.paid_on),
    bank_reference = coalesce(n.payload->>'bank_reference', r.bank_reference)
FROM (SELECT DISTINCT ON ((m.payload->>'request_id')::bigint) m.payload, m.seq
      FROM ({batch}) AS m ORDER BY (m.payload->>'request_id')::bigint, m.seq DESC) AS n
WHERE r.id = (n.payload->>'request_id')::bigint AND r.status_sequence < n.seq
"""


@handles("refund.overcollection_status")
def apply_overcollection_status(batch: Batch) -> None:
    """Where insurance (and, through it, finance) has got with the over-collections tax reported."""
    sql, params = batch.rows_sql()
    with connection.cursor() as cursor:
        cursor.execute(_OVERCOLLECTION_EVENTS.format(batch=sql), params)
        cursor.execute(_OVERCOLLECTION_STATUS.format(batch=sql), params)


# --- insurance corrected a person's identifier ----------------------------------------------------


class IdentifierConflictError(Exception):
    """Tax holds records of another person under the corrected identifier: nothing is moved, and the
    message waits as a dead letter (after its retries) for someone to sort the two persons out."""


def _conflict(new: str, what: str) -> IdentifierConflictError:
    return IdentifierConflictError(
        f"Insurance corrected an identifier to {mask_id_number(new)}, but tax already holds {what} under "
        f"that identifier from before the correction: another person's. Nothing was moved. Find out whose "
        f"records they are with insurance, then re-drive this message."
    )


def _fetch(cursor: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    cursor.execute(sql, params)
    return cursor.fetchall()


# A due item of a year under both identifiers: the new one's came from a message insurance sent
# after the correction (it overtook the correction on another subject), so it is the same person's.
# One row stays: the one with payments (the money is on it), else the newer assessment.
_DUE_PAIRS = """
SELECT o.id, n.id,
       EXISTS (SELECT FROM collection_payment p WHERE p.due_item_id = o.id),
       EXISTS (SELECT FROM collection_payment p WHERE p.due_item_id = n.id),
       o.revision, n.revision
FROM collection_dueitem o JOIN collection_dueitem n
  ON n.person_id = %(new)s AND n.insurance_year = o.insurance_year
WHERE o.person_id = %(old)s
ORDER BY o.id
FOR UPDATE OF o, n
"""
_MARK_PAIRS = """
SELECT o.id, n.id, o.revision, n.revision
FROM collection_subsidymark o JOIN collection_subsidymark n
  ON n.person_id = %(new)s AND n.insurance_year = o.insurance_year AND n.category = o.category
WHERE o.person_id = %(old)s
ORDER BY o.id
FOR UPDATE OF o, n
"""


def _rekey(cursor: Any, table: str, *, old: str, new: str, extra: str = "") -> int:
    cursor.execute(
        f"UPDATE {table} SET person_id = %(new)s{extra} WHERE person_id = %(old)s",  # noqa: S608 - our tables
        {"old": old, "new": new},
    )
    return cursor.rowcount


def _apply_identifier_correction(cursor: Any, message: Message) -> None:
    payload = message.payload
    old, new = payload["old_person_id"], payload["person_id"]
    if IdentifierCorrection.objects.filter(source_message_id=message.id).exists():
        return  # applied already: a second delivery changes nothing
    keys = {"old": old, "new": new, "message": message.id}
    # Records under the new identifier from before the correction are another person's.
    if _fetch(
        cursor,
        "SELECT 1 FROM collection_payer WHERE person_id = %(new)s AND source_message_id < %(message)s",
        keys,
    ):
        raise _conflict(new, "a payer")
    if _fetch(
        cursor,
        "SELECT 1 FROM collection_dueitem WHERE person_id = %(new)s AND source_message_id < %(message)s",
        keys,
    ):
        raise _conflict(new, "amounts due")
    moved: dict[str, int] = {}
    # Due items first: the counter's payment statement updates the item's row only while it still
    # names the identifier the counter read, so a payment taken a moment before waits for this
    # transaction or, taken first, is found below by the payments' re-key (a later statement).
    dropped = []
    for old_id, new_id, old_paid, new_paid, old_revision, new_revision in _fetch(cursor, _DUE_PAIRS, keys):
        if old_paid and new_paid:
            raise _conflict(new, "a paid amount due of the same year")
        keep_new = new_paid or (not old_paid and new_revision >= old_revision)
        dropped.append(old_id if keep_new else new_id)
    if dropped:
        cursor.execute("DELETE FROM collection_dueitem WHERE id = ANY(%s)", [dropped])
    moved["due_items_merged"] = len(dropped)
    moved["due_items"] = _rekey(cursor, "collection_dueitem", old=old, new=new)
    moved["payments"] = _rekey(cursor, "collection_payment", old=old, new=new)
    marks_dropped = [
        old_id if new_revision >= old_revision else new_id
        for old_id, new_id, old_revision, new_revision in _fetch(cursor, _MARK_PAIRS, keys)
    ]
    if marks_dropped:
        cursor.execute("DELETE FROM collection_subsidymark WHERE id = ANY(%s)", [marks_dropped])
    moved["subsidy_marks_merged"] = len(marks_dropped)
    moved["subsidy_marks"] = _rekey(cursor, "collection_subsidymark", old=old, new=new)
    # The payer: insurance's later messages about the person come under the new identifier's
    # subject, numbered from its own start, so the moved payer takes any of them (sequence 0). A
    # payer already under the new identifier came from such a message: it is newer, and stays.
    cursor.execute(
        "DELETE FROM collection_payer WHERE person_id = %(old)s AND EXISTS "
        "(SELECT FROM collection_payer n WHERE n.person_id = %(new)s)",
        keys,
    )
    moved["payers_merged"] = cursor.rowcount
    moved["payers"] = _rekey(cursor, "collection_payer", old=old, new=new, extra=", sequence = 0")
    moved["overcollection_requests"] = _rekey(cursor, "collection_overcollectionrequest", old=old, new=new)
    moved["refunds_paid"] = _rekey(cursor, "collection_refundpaid", old=old, new=new)
    corrected_at = datetime.fromisoformat(payload["corrected_at"])
    # Earlier corrections to the old identifier (A → B, now B → C): their messages mean C now.
    IdentifierCorrection.objects.filter(current_person_id=old, corrected_at__lt=corrected_at).update(
        current_person_id=new
    )
    IdentifierCorrection.objects.create(
        old_person_id=old,
        new_person_id=new,
        current_person_id=new,
        region_code=payload["region_code"],
        corrected_at=corrected_at,
        reason=payload["reason"][:200],
        source_message_id=message.id,
        moved=moved,
    )


@handles("person.identifier_corrected")
def apply_identifier_corrected(batch: Batch) -> None:
    """Re-key tax's ledger — payer, amounts due, payments, subsidy marks, over-collection requests,
    refunds paid — from the old identifier to the new one, in the delivery transaction. Receipts
    and certificates already printed keep what they printed; printed again they show the new one."""
    with connection.cursor() as cursor:
        for message in batch:  # few, and in the order they were sent (A → B, then B → C)
            _apply_identifier_correction(cursor, message)
