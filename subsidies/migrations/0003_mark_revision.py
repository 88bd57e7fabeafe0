from django.db import migrations


class Migration(migrations.Migration):
    """The revision every roster import gives the subsidy marks it sends to tax (see rosters._marks_beside)."""

    dependencies = [
        ("subsidies", "0002_rosters"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE subsidies_mark_revision AS bigint",
            "DROP SEQUENCE subsidies_mark_revision",
        ),
    ]
