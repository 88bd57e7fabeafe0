"""Days of the month as a sentence names them in the active language."""

from __future__ import annotations

from django.utils import translation


def day_of_month(day: int) -> str:
    """The day as an English ordinal ("1st", "22nd", "25th") in English; the bare number otherwise,
    for a language whose sentence adds its own word for the day (Chinese: 每月1日)."""
    if not (translation.get_language() or "").startswith("en"):
        return str(day)
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"
