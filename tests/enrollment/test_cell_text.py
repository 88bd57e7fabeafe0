"""A cell as the text a person reads in it (``enrollment.imports.text_of``), for every class a
reader hands over and for subclasses of them."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest

from enrollment.imports import text_of


class _Text(str):
    pass


class _Day(dt.date):
    pass


class _Moment(dt.datetime):
    pass


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (None, ""),
        ("  张三 \t", "张三"),
        ("", ""),
        (True, "TRUE"),
        (False, "FALSE"),
        (0, "0"),
        (-12, "-12"),
        (12.0, "12"),
        (-3.0, "-3"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (141002199001011234.0, "1.4100219900101123e+17"),
        (999999999999999.0, "999999999999999"),
        (1e15, "1000000000000000.0"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (dt.date(2026, 11, 30), "2026-11-30"),
        (dt.datetime(2026, 11, 30), "2026-11-30"),
        (dt.datetime(2026, 11, 30, 8, 5, 9), "2026-11-30 08:05:09"),
        (dt.time(8, 5), "08:05:00"),
        (decimal.Decimal("1.50"), "1.50"),
        (_Text("  李四 "), "李四"),
        (_Day(2026, 1, 2), "2026-01-02"),
        (_Moment(2026, 1, 2), "2026-01-02"),
        (_Moment(2026, 1, 2, 3, 4), "2026-01-02 03:04:00"),
    ],
)
def test_given_a_cell_when_read_as_text_then_it_is_what_a_person_sees(cell: Any, text: str) -> None:
    assert text_of(cell) == text
