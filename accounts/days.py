"""Days of the month as a sentence names them in the active language, and the days a user may give."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _

# The days a page or form takes from a user: those of the insurance years the portal knows
# (2000–2100), so that the day after, a week on or a year back is always a date (at 0001-01-01 or
# 9999-12-31 the arithmetic overflows and the page would answer 500).
PLAUSIBLE_DAYS = (dt.date(2000, 1, 1), dt.date(2100, 12, 31))


def plausible_day(day: dt.date) -> None:
    """A form field's validator: the day is within ``PLAUSIBLE_DAYS``."""
    first, last = PLAUSIBLE_DAYS
    if not first <= day <= last:
        raise ValidationError(
            _("Give a day from %(first)s to %(last)s.")
            % {"first": first.isoformat(), "last": last.isoformat()},
            code="implausible_day",
        )


def day_of_month(day: int) -> str:
    """The day as an English ordinal ("1st", "22nd", "25th") in English; the bare number otherwise,
    for a language whose sentence adds its own word for the day (Chinese: 每月1日)."""
    if not (translation.get_language() or "").startswith("en"):
        return str(day)
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"
