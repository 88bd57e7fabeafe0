"""Reassessment of the persons whose subsidy tags a roster changed: set-based, for them alone.

``enrollment.assessment.assessment_reassess_persons`` runs the yearly assessment's statements
restricted to the persons of a table, for every open year of their counties: the cost follows
the roster, not the county; unchanged assessments are left alone and only the adjustments go
to tax. While the yearly run of such a county is queued or running the import is refused with
a message to try again (both would write the same rows). Everything happens in the caller's
transaction, so the tags, the new assessments and the messages to tax commit together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from enrollment.assessment import assessment_reassess_persons


@dataclass
class Reassessed:
    persons: int = 0
    pushed: int = 0
    # Open back-payment applications withdrawn: their year is now paid by the government (or cancelled).
    back_payment_applications_withdrawn: int = 0


def reassess_persons(
    *, person_table: str, reason: str, actor_id: int | None, today: dt.date | None = None
) -> Reassessed:
    """Reassess every open year of the persons listed in ``person_table`` (a table with ``person_id``)."""
    runs = assessment_reassess_persons(
        person_table=person_table, reason=reason, actor_id=actor_id, today=today
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT person_id) FROM {person_table}")  # noqa: S608 - the caller's table
        (persons,) = cursor.fetchone()
    return Reassessed(
        persons=persons,
        pushed=sum(run.pushed for run in runs),
        back_payment_applications_withdrawn=sum(run.back_payment_applications_withdrawn for run in runs),
    )
