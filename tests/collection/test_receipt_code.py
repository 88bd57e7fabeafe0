"""The receipt number as PostgreSQL writes it in the deposit record equals the printed one."""

from __future__ import annotations

import pytest
from django.db import connection

from collection.models import receipt_code, receipt_code_sql

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("agency_id", "year", "number"),
    [(1, 2026, 1), (4, 2026, 999_999), (12, 2027, 1_000_000), (12_345, 2030, 42), (7, 2026, 0)],
)
def test_given_an_agency_a_year_and_a_number_then_sql_and_python_print_the_same_receipt(
    agency_id, year, number
):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {receipt_code_sql('a', 'y', 'n')} FROM (VALUES (%s::int, %s::int, %s::int)) AS t(a, y, n)",  # noqa: S608 - no input
            [agency_id, year, number],
        )
        (printed,) = cursor.fetchone()

    assert printed == receipt_code(agency_id, year, number)
