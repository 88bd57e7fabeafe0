"""Money for people: amounts are kept in whole fen everywhere and shown in yuan."""

from __future__ import annotations


def yuan(fen: int | None) -> str:
    """Whole fen as yuan with two decimals and thousands separators: 3200050 → 32,000.50."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SECTION_UNITS = ("", "万", "亿", "万亿")


def _section_in_capitals(number: int) -> str:
    """0 < number < 10000 in capitals, zeros inside said once (壹仟零伍)."""
    text, zero = "", False
    for power, unit in ((3, "仟"), (2, "佰"), (1, "拾"), (0, "")):
        digit = number // 10**power % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += _DIGITS[digit] + unit
    return text


def yuan_in_capitals(fen: int) -> str:
    """An amount as written on receipts and certificates (大写金额): 110050 → 壹仟壹佰元伍角整.

    As the accounting rules have it (会计基础工作规范): 整 after 元 or 角, none after 分; a zero
    between digits said once; 零 between 元 and 分 when there are no 角."""
    if fen < 0:
        return "负" + yuan_in_capitals(-fen)
    whole, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    sections = []
    rest = whole
    while rest:
        sections.append(rest % 10000)
        rest //= 10000
    text = ""
    for index in reversed(range(len(sections))):
        section = sections[index]
        if section == 0:
            continue
        # A gap before this section (a section of zeros, or fewer than four digits here) is said as 零.
        if text and (section < 1000 or sections[index + 1] == 0):
            text += "零"
        text += _section_in_capitals(section) + _SECTION_UNITS[index]
    if text:
        text += "元"
    if not jiao and not cents:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif text:
        text += "零"
    return text + (_DIGITS[cents] + "分" if cents else "整")
