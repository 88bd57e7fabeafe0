"""Demo payments, recorded at tax's counter as a tax clerk would, after insurance's demo records.

The due items reach tax's ledger over the sharing platform (applied here in-process); each
county's tax clerk then pays a share of them through ``services.payment_record`` on a day inside
the collection window the item carries; the deposit records go back to insurance the same way.
Idempotent: items already paid are left alone, and the shares are drawn from a fixed seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.scope import Scope
from sharing.services import delivery_drain

from . import selectors, services
from .models import DueItem, DueStatus, OvercollectionRequest, Payer, Payment, PaymentStatus
from .progress import progress_refresh
from .rules import acceptance_on

# The share of each year's due items paid in the demo: last year mostly, this year a part so far.
SHARE_PAID = {2026: 0.9, 2027: 0.4}
# A single payment's channels (a village's are its collective payments, ``_collective``). Six
# slots, WeChat (the most used) twice: the seeded draws then pick the same payers and days as
# before the village channel left this list, which the refund and back-payment demos build on.
CHANNELS = ["counter_cash", "wechat", "alipay", "bank_card", "wechat", "bank_pos"]


@dataclass
class DemoPayments:
    paid: int = 0
    collective: int = 0
    delivered: int = 0
    overcollections: int = 0

    def summary(self) -> str:
        return (
            f"demo payments: {self.paid} recorded at tax's counter, {self.collective} in collective "
            f"payments, {self.overcollections} over-collections reported, {self.delivered} messages delivered"
        )


def _collective(scope: Scope, clerk: User) -> int:
    """One village's collective payment of up to five persons, today, if today is a collection day
    (the 2027 window of the demo policy opens on the 1st–25th of each month only)."""
    for year in sorted(SHARE_PAID, reverse=True):
        for code, name, _count in selectors.villages_with_dues(scope=scope, year=year):
            persons = selectors.collective_candidates_of_village(
                scope=scope, village_code=code, year=year
            ).candidates[:5]
            if len(persons) < 3:
                continue
            batch = services.collective_payment_record(
                scope=scope,
                kind="village",
                region_code=code,
                unit_name=name,
                paid_by="村会计",
                persons=[(candidate.item.person_id, year) for candidate in persons],
                total_fen=sum(candidate.amount_fen for candidate in persons),
                idempotency_key=f"demo-collective-{clerk.agency_id}",
            )
            return batch.payment_count
    return 0


def _counter_time(day: dt.date, rng: random.Random) -> dt.datetime:
    """A moment of the counters' hours (9:00–16:59) on ``day``; today, if those hours are still
    ahead (the demo built after midnight), a moment of today so far: a payment is never dated in
    the future."""
    moment = timezone.make_aware(dt.datetime.combine(day, dt.time(9 + rng.randint(0, 7), rng.randint(0, 59))))
    now = timezone.now()
    if moment <= now:
        return moment
    # The same share of the time since midnight as of the counters' hours, drawing nothing more:
    # the demo's later draws (who pays, how) stay what they are at any hour.
    opening = timezone.make_aware(dt.datetime.combine(day, dt.time(9)))
    midnight = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    return midnight + (now - midnight) * ((moment - opening) / dt.timedelta(hours=8))


def _pay_day(item: DueItem, rng: random.Random, today: dt.date) -> tuple[dt.date, int] | None:
    """A day in the item's first window (the on-time one), not after today, and the amount due then."""
    if not item.schedule:
        return None
    line = item.schedule[0]
    start, end = dt.date.fromisoformat(line["from"]), min(dt.date.fromisoformat(line["to"]), today)
    if end < start:
        return None
    day = start + dt.timedelta(days=rng.randint(0, (end - start).days))
    days = line.get("days_of_month")
    if days and not days[0] <= day.day <= days[1]:
        day = day.replace(day=days[0])
    accepted = acceptance_on(schedule=item.schedule, amount_fen=item.amount_fen, day=day)
    return (day, accepted.amount_fen) if accepted.accepted else None


def load_demo_payments(*, seed: int = 2026) -> DemoPayments:
    counts = DemoPayments()
    counts.delivered += delivery_drain(seconds=120)["applied"]
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    today = timezone.localdate()
    names = dict(Payer.objects.values_list("person_id", "name"))
    for clerk in User.objects.filter(role=Role.TAX_STAFF, agency__isnull=False).select_related(
        "agency__region"
    ):
        scope = Scope.for_user_id(clerk.pk)
        items = scope.filter(DueItem.objects.filter(insurance_year__in=SHARE_PAID)).order_by(
            "person_id", "insurance_year"
        )
        for item in items:
            if rng.random() >= SHARE_PAID[item.insurance_year] or item.status != DueStatus.DUE:
                continue
            chosen = _pay_day(item, rng, today)
            if chosen is None:
                continue
            day, amount_fen = chosen
            paid_at = _counter_time(day, rng)
            services.payment_record(
                scope=scope,
                due_item_id=item.pk,
                amount_fen=amount_fen,
                channel=rng.choice(CHANNELS),
                paid_by=names.get(item.person_id, "") or "本人",
                paid_at=paid_at,
                idempotency_key=f"demo-{item.pk}",
                backdate_limit=None,  # the demo's months of collection, made up today
            )
            counts.paid += 1
        counts.collective += _collective(scope, clerk)
    counts.delivered += delivery_drain(seconds=120)["applied"]
    counts.overcollections = load_demo_overcollections()
    counts.delivered += delivery_drain(seconds=120)["applied"]
    progress_refresh()  # the collection-progress dashboard shows the demo's payments at once
    return counts


def load_demo_overcollections() -> int:
    """Each county's tax clerk reports four over-collections on demo receipts: two on payments of
    earlier months, reported then (for last month's fund-usage plan), two reported now. Idempotent:
    a county that has reported any is left alone. Returns how many were reported."""
    reported = 0
    this_month = timezone.localdate().replace(day=1)
    reasons = [
        ("charged_twice", "", 5000),
        ("wrong_amount", "", 2000),
        ("bank_debited_twice", "", 0),
        ("other", "柜台找零错误", 1000),
    ]
    for clerk in User.objects.filter(role=Role.TAX_STAFF, agency__isnull=False).order_by("username"):
        scope = Scope.for_user_id(clerk.pk)
        if scope.filter(OvercollectionRequest.objects.all()).exists():
            continue
        payments = scope.filter(Payment.objects.filter(status=PaymentStatus.RECORDED)).order_by(
            "paid_at", "pk"
        )
        earlier = list(payments.filter(paid_at__date__lt=this_month)[:2])
        recent = list(payments.exclude(pk__in=[p.pk for p in earlier]).order_by("-paid_at", "-pk")[:2])
        for payment, (reason, note, fen) in zip(earlier + recent, reasons, strict=False):
            # An early one is reported two hours after it was paid (still in its month); a recent one now.
            at = payment.paid_at + dt.timedelta(hours=2)
            early = payment in earlier and timezone.localtime(at).date() < this_month
            services.overcollection_request(
                scope=scope,
                receipt=payment.receipt,
                amount_fen=min(fen, payment.amount_fen) if fen else payment.amount_fen,
                reason=reason,
                note=note,
                now=at if early else None,
            )
            reported += 1
    return reported
