"""When tax accepts a payment of a due item and at what amount: plain Python, no database.

Insurance's rule engine sends each due item with its schedule — consecutive date ranges, each
with the amount accepted then and, for regions that collect only on some days of the month, those
days. Tax applies it as sent; it never computes a price itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from accounts.days import day_of_month

CLOSED = "collection.closed"


@dataclass(frozen=True)
class BackPaymentTerms:
    """When the year's policy takes back-payment applications, as insurance told tax."""

    insurance_year: int
    takes: bool
    apply_from: dt.date | None = None
    apply_until: dt.date | None = None


@dataclass(frozen=True)
class Acceptance:
    accepted: bool
    amount_fen: int
    rule: str
    reason: str
    way_forward: str = ""


def acceptance_on(
    *,
    schedule: list[dict[str, Any]],
    amount_fen: int,
    day: dt.date,
    back_payment: BackPaymentTerms | None = None,
) -> Acceptance:
    """Whether a payment on ``day`` is accepted, at which amount, by which line of the schedule;
    after the collection period, ``back_payment`` (when known) says what the payer can still do."""
    if not schedule:
        # An item sent without a schedule: insurance set no window, the amount due stands.
        return Acceptance(True, amount_fen, "", _("No collection window was sent for this item."))
    for line in schedule:
        start, end = dt.date.fromisoformat(line["from"]), dt.date.fromisoformat(line["to"])
        if not start <= day <= end:
            continue
        days = line.get("days_of_month")
        if days and not days[0] <= day.day <= days[1]:
            return Acceptance(
                False,
                0,
                line.get("rule", ""),
                _("Payments are accepted only from the %(first)s to the %(last)s of each month.")
                % {"first": day_of_month(days[0]), "last": day_of_month(days[1])},
                _("Come back on one of those days."),
            )
        return Acceptance(True, int(line["amount_fen"]), line.get("rule", ""), "")
    later = sorted(
        dt.date.fromisoformat(line["from"]) for line in schedule if dt.date.fromisoformat(line["from"]) > day
    )
    if later:
        return Acceptance(
            False,
            0,
            "collection.not_open",
            _("Payments for this year are accepted from %(date)s.") % {"date": later[0].isoformat()},
            _("Come back from that day."),
        )
    last = max(dt.date.fromisoformat(line["to"]) for line in schedule)
    return Acceptance(
        False,
        0,
        CLOSED,
        _("The collection period ended on %(date)s.") % {"date": last.isoformat()},
        _back_payment_way(back_payment, day),
    )


def _back_payment_way(terms: BackPaymentTerms | None, day: dt.date) -> str:
    if terms is None:
        # No window was sent for the year (a policy saved before insurance sent them): the
        # office says whether an application can still be made.
        return _(
            "Ask the medical insurance office whether a back-payment (补缴) can still be applied for; "
            "once it is approved, it can be paid here."
        )
    year = terms.insurance_year
    if not terms.takes or terms.apply_from is None or terms.apply_until is None:
        return _(
            "The %(year)s policy takes no back-payments (补缴): this contribution can no longer be paid."
        ) % {"year": year}
    if day > terms.apply_until:
        return _(
            "Back-payment (补缴) applications for %(year)s closed on %(until)s; one made before then can be "
            "paid here once it is approved."
        ) % {"year": year, "until": terms.apply_until.isoformat()}
    return _(
        "The medical insurance office takes back-payment (补缴) applications for %(year)s from %(start)s "
        "until %(until)s; once one is approved, it can be paid here."
    ) % {"year": year, "start": terms.apply_from.isoformat(), "until": terms.apply_until.isoformat()}


# --- why a person cannot be paid for: the same words for a collective payment's list, its refusal
# and a bank file's lines -------------------------------------------------------------------------


def not_found_reason(*, insurance_year: int) -> str:
    """No due item of the person and year in the caller's area."""
    return _("Not found in your area for %(year)s.") % {"year": insurance_year}


def paid_reason(*, receipt: str) -> str:
    return _("Already paid (receipt %(receipt)s); a contribution is paid once.") % {"receipt": receipt}


def cancelled_reason(*, insurance_year: int) -> str:
    return _(
        "Nothing is due for %(year)s: the government pays this contribution, or insurance withdrew it (the "
        "enrollment ended, or began after the year could still be paid for)."
    ) % {"year": insurance_year}


def window_reason(acceptance: Acceptance) -> str:
    """A refusal by the collection window: its reason and the way forward (after a Chinese full
    stop without a space, as Chinese is written)."""
    reason, way = acceptance.reason, acceptance.way_forward
    return f"{reason}{'' if reason.endswith('。') else ' '}{way}".strip()
