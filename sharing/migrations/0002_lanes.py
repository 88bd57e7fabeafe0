from django.conf import settings
from django.db import migrations


def create_lanes(apps, schema_editor):
    schema_editor.execute(
        "INSERT INTO sharing_lane (number, batches) SELECT n, 0 FROM generate_series(0, %s - 1) AS n "
        "ON CONFLICT DO NOTHING",
        [settings.SHARING["LANES"]],
    )


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_initial")]
    operations = [migrations.RunPython(create_lanes, migrations.RunPython.noop)]
