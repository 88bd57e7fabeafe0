"""A bank debit's payment key names the person and year it paid besides the bank's reference
(``services.bank_debit_key``): a reference is the bank's own numbering, and another bank's file, or
another line, may give the same one to another person. Existing keys are rewritten to the same form,
so a debit recorded before is still found when a later file repeats it."""

from django.db import migrations

# bank:<agency>:<reference> → bank:<agency>:<first 8 hex of sha256(person \x1f year)>:<reference>, cut to 64.
FORWARD = r"""
UPDATE collection_payment
SET idempotency_key = left(
    'bank:' || agency_id || ':'
    || left(encode(sha256(convert_to(person_id || chr(31) || insurance_year::text, 'UTF8')), 'hex'), 8)
    || ':' || substr(idempotency_key, length('bank:' || agency_id || ':') + 1),
    64)
WHERE channel = 'bank_batch' AND idempotency_key LIKE 'bank:' || agency_id || ':%'
  AND idempotency_key !~ ('^bank:' || agency_id || ':[0-9a-f]{8}:')
"""


class Migration(migrations.Migration):
    dependencies = [("collection", "0015_back_payment_window")]

    operations = [migrations.RunSQL(FORWARD, reverse_sql=migrations.RunSQL.noop)]
