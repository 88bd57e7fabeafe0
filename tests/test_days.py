"""Days of the month as a sentence names them: English ordinals, bare numbers in Chinese."""

from __future__ import annotations

import pytest
from django.utils import translation

from accounts.days import day_of_month


@pytest.mark.parametrize(
    ("day", "said"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (23, "23rd"), (25, "25th"), (31, "31st")],
)  # fmt: skip
def test_given_a_day_in_english_then_it_is_an_ordinal(day, said):
    with translation.override("en"):
        assert day_of_month(day) == said


def test_given_a_day_in_chinese_then_it_is_the_bare_number_the_sentence_adds_its_day_to():
    with translation.override("zh-hans"):
        assert day_of_month(25) == "25"
