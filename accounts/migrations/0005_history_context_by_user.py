"""The home page's "your recent changes": a user's history contexts, newest first, by index.

pghistory's context table is pghistory's; this index is the portal's, on the expression Django's
``metadata__user`` lookup compiles to (``metadata -> 'user'``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_export_job"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS accounts_history_context_by_user "
            "ON pghistory_context ((metadata -> 'user'), created_at DESC)",
            "DROP INDEX IF EXISTS accounts_history_context_by_user",
        )
    ]
