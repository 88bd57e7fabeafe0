# The index of a school's list of its students (enrollment/students.py): built concurrently, so
# that clerks keep registering persons while a large person table is indexed during an upgrade.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("enrollment", "0020_assessmentrun_back_payments_withdrawn"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="person",
            index=models.Index(
                condition=models.Q(("school__isnull", False)),
                fields=["school", "name", "id_number"],
                name="person_school_name_idx",
            ),
        ),
    ]
