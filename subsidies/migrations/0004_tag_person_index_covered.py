"""The tag's own index on person goes: the (person, category) index serves every lookup by person
(and the foreign key's checks), and each index more is written for every tag a roster inserts."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("enrollment", "0010_person_revision"),
        ("subsidies", "0003_mark_revision"),
    ]

    operations = [
        # Django's schema editor leaves a foreign key's index in place when db_index turns off: the
        # index is dropped by name (the one Django gave it when the table was created).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="subsidytag",
                    name="person",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subsidy_tags",
                        to="enrollment.person",
                        verbose_name="person",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS subsidies_subsidytag_person_id_8a436aba",
                    reverse_sql=(
                        "CREATE INDEX IF NOT EXISTS subsidies_subsidytag_person_id_8a436aba "
                        "ON subsidies_subsidytag (person_id)"
                    ),
                ),
            ],
        ),
    ]
