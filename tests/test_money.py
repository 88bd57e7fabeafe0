"""Amounts for people: yuan with two decimals, and in capitals (大写) as receipts write them."""

from __future__ import annotations

import pytest

from accounts.money import yuan, yuan_in_capitals


@pytest.mark.parametrize(
    ("fen", "capitals"),
    [
        (40000, "肆佰元整"),
        (110000, "壹仟壹佰元整"),
        (110050, "壹仟壹佰元伍角整"),
        (40005, "肆佰元零伍分"),
        (40056, "肆佰元伍角陆分"),
        (100500, "壹仟零伍元整"),
        (10000050, "壹拾万元伍角整"),
        (1000001000, "壹仟万零壹拾元整"),
        (10000000100, "壹亿零壹元整"),
        (123456789, "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角玖分"),
        (50, "伍角整"),
        (5, "伍分"),
        (0, "零元整"),
        (-40000, "负肆佰元整"),
    ],
)
def test_an_amount_in_fen_is_written_in_capitals_as_the_accounting_rules_say(fen, capitals):
    assert yuan_in_capitals(fen) == capitals


def test_an_amount_in_fen_is_shown_in_yuan_with_thousands_and_two_decimals():
    assert [yuan(3200050), yuan(-5), yuan(None)] == ["32,000.50", "-0.05", ""]
