"""The rule engine: a policy and a person's facts in, decisions with their reasons out.

Plain Python: no database, no clock (every date is an argument), no side effects. Every
decision names the rule that produced it (``rule``: the path in the policy document, such as
``pricing[1]``) and says it in words a clerk can read to a resident (``reason``).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.translation import gettext as _

from accounts.days import day_of_month

from .dates import add_days, add_months, age_on, first_of_month_after, period_last_day
from .policy import (
    PERSON_CATEGORIES,
    Basis,
    BenefitRule,
    ContinuityIncentive,
    NewbornRule,
    Policy,
    PriceRule,
    RefundWhen,
    Scheme,
    Situation,
    Start,
    StartKind,
    SubsidyCategory,
    Window,
)

# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    """A subsidy tag the person holds: category code, since when it is recognised, until when.

    ``insurance_year``: the insurance year of the roster that vouches for the tag. A roster's tag
    holds for that year alone, however far back its recognition date lies (which still counts for
    a category's "recognised by"); a tag given by hand (None) holds in every year its dates reach.
    """

    category: str
    recognised_on: date
    ended_on: date | None = None
    insurance_year: int | None = None


@dataclass(frozen=True)
class PersonFacts:
    birth_date: date
    person_category: str = "rural"
    # Hukou registered in the policy's region (some subsidies require it).
    hukou_in_region: bool = True
    tags: tuple[Tag, ...] = ()
    # The last insurance year (before the one assessed) the person paid for; None = never.
    last_paid_year: int | None = None
    # Years of premium paid back after a break (each one shortens the added waiting period).
    years_paid_back: int = 0
    # This year's enrollment began by a transfer from another region (may pay outside the period):
    # an enrollment transferred in on or after ``transfer_counts_from``, not one transferred in
    # years ago (see there).
    transfer: bool = False


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubsidyDecision:
    category: SubsidyCategory | None
    subsidy_fen: int
    rule: str
    reason: str

    @property
    def full(self) -> bool:
        return self.category is not None and self.category.scheme == Scheme.FULL


@dataclass(frozen=True)
class PriceDecision:
    """Whether a payment on a date is accepted, and at what price."""

    accepted: bool
    paid_on: date
    situation: Situation
    standard_fen: int  # the individual standard I
    base_fen: int  # I or F, by the rule
    subsidy: SubsidyDecision
    payable_fen: int  # what the person pays
    government_fen: int  # the government's share: S (if the person pays only I) + subsidy
    days_of_month: tuple[int, int] | None
    rule: str
    reason: str
    way_forward: str = ""


@dataclass(frozen=True)
class ScheduleLine:
    """Payments made between ``start`` and ``end`` (inclusive) are accepted at ``payable_fen``."""

    start: date
    end: date
    payable_fen: int
    subsidy_fen: int
    days_of_month: tuple[int, int] | None
    rule: str
    reason: str

    def as_document(self) -> dict[str, object]:
        document: dict[str, object] = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "amount_fen": self.payable_fen,
            "subsidy_fen": self.subsidy_fen,
            "rule": self.rule,
        }
        if self.days_of_month:
            document["days_of_month"] = list(self.days_of_month)
        return document


@dataclass(frozen=True)
class AssessmentDecision:
    """What one person owes for the insurance year if paying on time (核定), with the breakdown."""

    insurance_year: int
    situation: Situation
    standard_fen: int
    subsidy: SubsidyDecision
    government_fen: int
    payable_fen: int
    # Nothing to collect: the government pays the whole individual part (recorded as paid).
    government_pays_all: bool
    schedule: tuple[ScheduleLine, ...]
    rule: str
    reason: str
    # The day the assessment prices: the first day the person may pay on time (a student's school
    # collection period where the policy has one, a newborn's birth, else the collection period's
    # first collection day). A year the government pays in full is recorded as paid on it.
    on_time: date | None = None
    # The government pays all: the benefit period its payment on ``on_time`` buys (None otherwise).
    government_benefit: BenefitDecision | None = None


@dataclass(frozen=True)
class BenefitDecision:
    start: date | None
    end: date
    rule: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """A yes or no (or an amount) with the rule and the words."""

    allowed: bool
    rule: str
    reason: str
    amount_fen: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    # The policy's words on the matter (a refund reason's own note), kept apart from ``reason``:
    # glued on, "…须有2笔以上入库记录；重复缴费可申请退费…" made a refusal contradict itself.
    note: str = ""


# --- wording ---------------------------------------------------------------------------------


def say_date(day: date) -> str:
    return _("%(year)d-%(month)02d-%(day)02d") % {"year": day.year, "month": day.month, "day": day.day}


def say_money(fen: int) -> str:
    return _("%(amount)s yuan") % {"amount": f"{fen // 100}.{fen % 100:02d}"}


def say_situation(situation: Situation) -> str:
    return {
        Situation.CONTINUOUS: _("continuous enrollment (paid last year)"),
        Situation.FIRST: _("first enrollment"),
        Situation.INTERRUPTED: _("enrollment after a break"),
        Situation.NEWBORN: _("newborn"),
        Situation.TRANSFER: _("transferred in"),
    }[situation]


def say_window(window: Window) -> str:
    return _("%(start)s to %(end)s") % {"start": say_date(window.start), "end": say_date(window.end)}


def say_basis(policy: Policy, basis: Basis) -> str:
    if basis == Basis.TOTAL:
        return _("the individual standard plus the government subsidy, %(amount)s") % {
            "amount": say_money(policy.financing.total_fen)
        }
    return _("the individual standard, %(amount)s") % {"amount": say_money(policy.financing.individual_fen)}


# --- situation and subsidies -----------------------------------------------------------------


def situation_of(policy: Policy, facts: PersonFacts) -> Situation:
    """Newborn (born on or after the collection period opened), transfer, continuous, first or after a break.

    Transfer comes before continuous: a person who moved in this year keeps the transferee's right
    to pay outside the period (吉医保联〔2022〕11号 "因医保关系转移接续…" is about those who paid
    elsewhere before). Only this year's transfer counts (``transfer_counts_from``): in later years
    whoever paid last year is continuous.
    """
    if facts.birth_date >= policy.collection.window.start:
        return Situation.NEWBORN
    if facts.transfer:
        return Situation.TRANSFER
    if facts.last_paid_year is None:
        return Situation.FIRST
    if facts.last_paid_year >= policy.insurance_year - 1:
        return Situation.CONTINUOUS
    return Situation.INTERRUPTED


def transfer_counts_from(policy: Policy) -> date:
    """The first day an enrollment begun by transfer in makes the person a transfer for the policy's year.

    A transfer is why someone could not pay in the collection period (吉医保联〔2022〕11号: "因医保
    关系转移接续…未在集中预缴期及时参保缴费"), so it counts for the year whose collection period
    (the earliest, a school's included) had opened when the enrollment began — that year and no
    later one: a person transferred in years ago had every later period to pay in.
    """
    collection = policy.collection
    starts = [collection.window.start]
    if collection.student_window:
        starts.append(collection.student_window.start)
    return min(starts)


def transferred_in_for(policy: Policy, *, transfer_in: bool, enrolled_on: date) -> bool:
    """The fact ``PersonFacts.transfer`` from the enrollment: begun by transfer in, and for this year."""
    return transfer_in and enrolled_on >= transfer_counts_from(policy)


def _category_amount(policy: Policy, category: SubsidyCategory) -> int:
    individual = policy.financing.individual_fen
    if category.scheme == Scheme.FULL:
        return individual
    if category.scheme == Scheme.PERCENT:
        # Half a fen and more rounds up.
        return (individual * category.percent + 50) // 100
    return min(category.amount_fen, individual)


def _tag_holds(policy: Policy, facts: PersonFacts, tag: Tag) -> bool:
    """Whether the tag counts for the year the person pays for: its roster's year (a roster's tag)
    and its dates reach that year — a student's academic year where the policy has one (a tag that
    ended in July does not reach a school year starting 1 September; one recognised in January of
    that school year does)."""
    coverage = policy.coverage_for(facts.person_category)
    return (
        (tag.insurance_year is None or tag.insurance_year == policy.insurance_year)
        and (tag.ended_on is None or tag.ended_on >= coverage.start)
        and tag.recognised_on <= coverage.end
    )


def _category_failure(
    policy: Policy, category: SubsidyCategory, facts: PersonFacts, paid_on: date | None
) -> str | None:
    """Why the category does not apply to this person and payment date, or None if it does."""
    conditions = category.conditions
    if category.requires_tag:
        tags = [
            tag for tag in facts.tags if tag.category == category.tag_code and _tag_holds(policy, facts, tag)
        ]
        if not tags:
            return _("no %(category)s tag for this insurance year") % {"category": category.name}
        if conditions.recognised_by and min(tag.recognised_on for tag in tags) > conditions.recognised_by:
            return _("recognised as %(category)s only on %(date)s, after %(deadline)s") % {
                "category": category.name,
                "date": say_date(min(tag.recognised_on for tag in tags)),
                "deadline": say_date(conditions.recognised_by),
            }
    if conditions.hukou_in_region and not facts.hukou_in_region:
        return _("hukou not in the region")
    if conditions.born_on_or_before and facts.birth_date > conditions.born_on_or_before:
        return _("born after %(date)s") % {"date": say_date(conditions.born_on_or_before)}
    if (
        conditions.age_at_least
        and age_on(facts.birth_date, conditions.age_at_least.on) < conditions.age_at_least.years
    ):
        return _("younger than %(years)d on %(date)s") % {
            "years": conditions.age_at_least.years,
            "date": say_date(conditions.age_at_least.on),
        }
    if (
        conditions.age_below
        and age_on(facts.birth_date, conditions.age_below.on) >= conditions.age_below.years
    ):
        return _("%(years)d or older on %(date)s") % {
            "years": conditions.age_below.years,
            "date": say_date(conditions.age_below.on),
        }
    if conditions.paid_by and paid_on is not None and paid_on > conditions.paid_by:
        return _("paid after %(date)s, when the subsidy no longer applies") % {
            "date": say_date(conditions.paid_by)
        }
    return None


def subsidy_for(policy: Policy, facts: PersonFacts, paid_on: date | None) -> SubsidyDecision:
    """The single most favourable category the person qualifies for; categories never stack."""
    best: tuple[int, int, SubsidyCategory] | None = None
    failures: list[str] = []
    for index, category in enumerate(policy.subsidy_categories):
        failure = _category_failure(policy, category, facts, paid_on)
        if failure is not None:
            if not category.requires_tag or any(tag.category == category.tag_code for tag in facts.tags):
                failures.append(_("%(category)s: %(why)s") % {"category": category.name, "why": failure})
            continue
        amount = _category_amount(policy, category)
        if best is None or amount > best[0]:
            best = (amount, index, category)
    if best is None:
        reason = _("No subsidy") + (" (" + "; ".join(failures) + ")" if failures else "")
        return SubsidyDecision(None, 0, "subsidy_categories", reason)
    amount, index, category = best
    if category.scheme == Scheme.FULL:
        how = _("the government pays the whole individual part")
    elif category.scheme == Scheme.PERCENT:
        how = _("the government pays %(percent)d%% of the individual part") % {"percent": category.percent}
    else:
        how = _("the government pays a fixed amount")
    reason = _("%(category)s: %(how)s, %(amount)s") % {
        "category": category.name,
        "how": how,
        "amount": say_money(amount),
    }
    if category.note:
        reason += f"（{category.note}）"
    # Other tags of the year only: one that ended before it, or another year's roster's, does not
    # compete (and the set-based run does not even read it).
    others = [
        tag.category
        for tag in facts.tags
        if tag.category != category.tag_code and _tag_holds(policy, facts, tag)
    ]
    if others:
        reason += _(" (subsidies never stack: the most favourable one is granted)")
    return SubsidyDecision(category, amount, f"subsidy_categories[{index}]", reason)


# --- payments and prices ---------------------------------------------------------------------


def collection_window_for(policy: Policy, person_category: str) -> Window:
    """The collection period that applies to a person: the school's for students, if the policy has one."""
    if policy.collection.student_window and person_category in ("student", "preschool"):
        return policy.collection.student_window
    return policy.collection.effective_window


def _in_window(policy: Policy, rule: PriceRule | BenefitRule, facts: PersonFacts, paid_on: date) -> bool:
    if rule.in_collection_period:
        return paid_on in collection_window_for(policy, facts.person_category)
    if rule.in_grace_period:
        grace = policy.collection.grace_window
        return grace is not None and paid_on in grace
    return rule.paid is not None and paid_on in rule.paid


def _newborn_limit(policy: Policy, rule: NewbornRule, birth_date: date) -> date | None:
    """The last day parents may pay under the rule (a period after birth counted as the law counts it)."""
    if rule.pay_until:
        if rule.moves_with_collection:
            return add_days(rule.pay_until, policy.collection.extension_days)
        return rule.pay_until
    if rule.pay_within_days:
        return period_last_day(birth_date, days=rule.pay_within_days)
    if rule.pay_within_months:
        return period_last_day(birth_date, months=rule.pay_within_months)
    return None


def newborn_born_window(policy: Policy, rule: NewbornRule) -> Window | None:
    """The rule's birth window; its end moves with an extension of the collection period when the rule says so."""
    if rule.born and rule.moves_with_collection and policy.collection.extension_days:
        return Window(rule.born.start, add_days(rule.born.end, policy.collection.extension_days))
    return rule.born


def _newborn_rule(
    policy: Policy, facts: PersonFacts, paid_on: date
) -> tuple[int, NewbornRule, date | None] | None:
    for index, rule in enumerate(policy.newborn):
        born = newborn_born_window(policy, rule)
        if born and facts.birth_date not in born:
            continue
        limit = _newborn_limit(policy, rule, facts.birth_date)
        if limit is not None and paid_on > limit:
            continue
        return index, rule, limit
    return None


def _price(
    policy: Policy,
    facts: PersonFacts,
    situation: Situation,
    paid_on: date,
    basis: Basis,
    subsidy_applies: bool,
    rule: str,
    note: str,
    days: tuple[int, int] | None,
) -> PriceDecision:
    individual = policy.financing.individual_fen
    base = individual if basis == Basis.INDIVIDUAL else policy.financing.total_fen
    if subsidy_applies and basis == Basis.INDIVIDUAL:
        subsidy = subsidy_for(policy, facts, paid_on)
    else:
        subsidy = SubsidyDecision(None, 0, rule, _("No subsidy for a payment at this price"))
    payable = base - subsidy.subsidy_fen
    government = (policy.financing.subsidy_fen if basis == Basis.INDIVIDUAL else 0) + subsidy.subsidy_fen
    reason = _("Paid on %(date)s (%(situation)s): %(rule)s; pays %(basis)s") % {
        "date": say_date(paid_on),
        "situation": say_situation(situation),
        "rule": note or rule,
        "basis": say_basis(policy, basis),
    }
    if subsidy.subsidy_fen:
        reason += _("; %(subsidy)s; the person pays %(amount)s") % {
            "subsidy": subsidy.reason,
            "amount": say_money(payable),
        }
    return PriceDecision(
        accepted=True,
        paid_on=paid_on,
        situation=situation,
        standard_fen=individual,
        base_fen=base,
        subsidy=subsidy,
        payable_fen=payable,
        government_fen=government,
        days_of_month=days,
        rule=rule,
        reason=reason,
    )


def price_on(policy: Policy, facts: PersonFacts, paid_on: date) -> PriceDecision:
    """Is a payment on ``paid_on`` accepted, and what does the person pay?"""
    situation = situation_of(policy, facts)
    if situation == Situation.NEWBORN and paid_on < facts.birth_date:
        return _refused(
            policy,
            facts,
            situation,
            paid_on,
            "newborn",
            _("Nobody pays for a child not yet born: born on %(birth)s, payment on %(date)s")
            % {"birth": say_date(facts.birth_date), "date": say_date(paid_on)},
            _("Pay from %(date)s") % {"date": say_date(facts.birth_date)},
        )
    if situation == Situation.NEWBORN:
        found = _newborn_rule(policy, facts, paid_on)
        if found is not None and not found[1].price_by_date:
            index, rule, limit = found
            note = rule.note or (
                _("a newborn may pay until %(date)s") % {"date": say_date(limit)} if limit else _("newborn")
            )
            return _price(
                policy, facts, situation, paid_on, rule.basis, True, f"newborn[{index}]", note, None
            )
    collection = policy.collection
    window = collection_window_for(policy, facts.person_category)
    for index, rule in enumerate(policy.pricing):
        if not rule.match.holds(situation, facts.person_category) or not _in_window(
            policy, rule, facts, paid_on
        ):
            continue
        days = collection.days_of_month if rule.in_collection_period else None
        if days and not days[0] <= paid_on.day <= days[1]:
            next_day = _next_collection_day(paid_on, days)
            if next_day <= window.end:
                way_forward = _(
                    "Pay from %(date)s (collection days: the %(first)s to the %(last)s of each month, until %(end)s)"
                ) % {
                    "date": say_date(next_day),
                    "first": day_of_month(days[0]),
                    "last": day_of_month(days[1]),
                    "end": say_date(window.end),
                }
            else:
                back = back_payment_on(policy, facts, add_days(window.end, 1))
                way_forward = (
                    _(
                        "The collection period ends on %(end)s; apply to the county medical insurance agency for a back-payment"
                    )
                    % {"end": say_date(window.end)}
                    if back.allowed
                    else back.reason
                )
            return _refused(
                policy,
                facts,
                situation,
                paid_on,
                "collection.days_of_month",
                _(
                    "Payments are taken only from the %(first)s to the %(last)s of each month; %(date)s is not a collection day"
                )
                % {"first": day_of_month(days[0]), "last": day_of_month(days[1]), "date": say_date(paid_on)},
                way_forward,
            )
        return _price(
            policy, facts, situation, paid_on, rule.basis, rule.subsidy, f"pricing[{index}]", rule.note, days
        )
    if paid_on < window.start:
        return _refused(
            policy,
            facts,
            situation,
            paid_on,
            "collection",
            _("The collection period for %(year)d has not opened yet (%(window)s)")
            % {"year": policy.insurance_year, "window": say_window(window)},
            _("Pay from %(date)s") % {"date": say_date(window.start)},
        )
    back = back_payment_on(policy, facts, paid_on)
    return _refused(
        policy,
        facts,
        situation,
        paid_on,
        "collection",
        _("Outside the collection period for %(year)d (%(window)s): a payment on %(date)s is not accepted")
        % {"year": policy.insurance_year, "window": say_window(window), "date": say_date(paid_on)},
        _("Apply to the county medical insurance agency for a back-payment") if back.allowed else back.reason,
    )


def _next_collection_day(day: date, days: tuple[int, int]) -> date:
    """The first collection day (``days`` of the month, inclusive) after ``day``."""
    if day.day < days[0]:
        return day.replace(day=days[0])
    candidate = first_of_month_after(day)
    return candidate.replace(day=min(days[0], calendar.monthrange(candidate.year, candidate.month)[1]))


def _refused(
    policy: Policy,
    facts: PersonFacts,
    situation: Situation,
    paid_on: date,
    rule: str,
    reason: str,
    way_forward: str,
) -> PriceDecision:
    return PriceDecision(
        accepted=False,
        paid_on=paid_on,
        situation=situation,
        standard_fen=policy.financing.individual_fen,
        base_fen=0,
        subsidy=SubsidyDecision(None, 0, rule, ""),
        payable_fen=0,
        government_fen=0,
        days_of_month=None,
        rule=rule,
        reason=reason,
        way_forward=way_forward,
    )


def _breakpoints(policy: Policy, facts: PersonFacts) -> list[date]:
    """Every date on which the price may change, from the collection period's start to the year's end."""
    points: set[date] = {
        policy.collection.window.start,
        policy.collection.effective_window.end + timedelta(days=1),
    }
    if policy.collection.grace_window:
        points.add(policy.collection.grace_window.end + timedelta(days=1))
    if policy.collection.student_window:
        points |= {
            policy.collection.student_window.start,
            policy.collection.student_window.end + timedelta(days=1),
        }
    for rule in policy.pricing:
        if rule.paid:
            points |= {rule.paid.start, rule.paid.end + timedelta(days=1)}
    for rule in policy.newborn:
        limit = _newborn_limit(policy, rule, facts.birth_date)
        if limit:
            points.add(limit + timedelta(days=1))
    for category in policy.subsidy_categories:
        if category.conditions.paid_by:
            points.add(category.conditions.paid_by + timedelta(days=1))
    if facts.birth_date >= policy.collection.window.start:
        points.add(facts.birth_date)
    first = min(points)
    if facts.birth_date >= policy.collection.window.start:
        first = facts.birth_date  # nobody pays for a child not yet born
    last = policy.coverage_for(facts.person_category).end
    return sorted(point for point in points if first <= point <= last)


def schedule_of(policy: Policy, facts: PersonFacts) -> tuple[ScheduleLine, ...]:
    """When a payment is accepted and at what amount, as consecutive date ranges."""
    points = _breakpoints(policy, facts)
    end_of_year = policy.coverage_for(facts.person_category).end
    lines: list[ScheduleLine] = []
    for index, start in enumerate(points):
        end = points[index + 1] - timedelta(days=1) if index + 1 < len(points) else end_of_year
        probe = start
        # A collection day rule (1st–25th) refuses some days of a range; probe an accepted day.
        decision = price_on(policy, facts, probe)
        if not decision.accepted and decision.rule == "collection.days_of_month":
            probe = probe.replace(day=1) + timedelta(days=32)
            probe = probe.replace(day=1)
            decision = price_on(policy, facts, probe) if probe <= end else decision
        if not decision.accepted:
            continue
        line = ScheduleLine(
            start,
            end,
            decision.payable_fen,
            decision.subsidy.subsidy_fen,
            decision.days_of_month,
            decision.rule,
            decision.reason,
        )
        previous = lines[-1] if lines else None
        if (
            previous
            and previous.end + timedelta(days=1) == start
            and (previous.payable_fen, previous.subsidy_fen, previous.days_of_month, previous.rule)
            == (line.payable_fen, line.subsidy_fen, line.days_of_month, line.rule)
        ):
            lines[-1] = ScheduleLine(
                previous.start,
                end,
                previous.payable_fen,
                previous.subsidy_fen,
                previous.days_of_month,
                previous.rule,
                previous.reason,
            )
        else:
            lines.append(line)
    return tuple(lines)


def assess(policy: Policy, facts: PersonFacts) -> AssessmentDecision:
    """The yearly assessment (核定): the price of paying on time, and the whole payment schedule."""
    schedule = schedule_of(policy, facts)
    situation = situation_of(policy, facts)
    if schedule:
        on_time_day = (
            schedule[0].start if schedule[0].days_of_month is None else _first_collection_day(schedule[0])
        )
    else:
        on_time_day = collection_window_for(policy, facts.person_category).start
    on_time = price_on(policy, facts, on_time_day)
    subsidy = on_time.subsidy if on_time.accepted else subsidy_for(policy, facts, None)
    individual = policy.financing.individual_fen
    payable = on_time.payable_fen if on_time.accepted else individual - subsidy.subsidy_fen
    government = (
        policy.financing.subsidy_fen + subsidy.subsidy_fen if not on_time.accepted else on_time.government_fen
    )
    government_pays_all = subsidy.full and payable == 0
    government_benefit = None
    if government_pays_all:
        reason = _("%(subsidy)s: nothing to collect; recorded as paid by the government") % {
            "subsidy": subsidy.reason
        }
        # Recorded as paid on the day an on-time payment of this person is priced, it buys what
        # that payment buys: a student's academic year, not the calendar year of the others.
        government_benefit = benefit_period(policy, facts, on_time_day)
    else:
        reason = (
            on_time.reason
            if on_time.accepted
            else _("Individual standard %(amount)s") % {"amount": say_money(individual)}
        )
    return AssessmentDecision(
        insurance_year=policy.insurance_year,
        situation=situation,
        standard_fen=individual,
        subsidy=subsidy,
        government_fen=government,
        payable_fen=payable,
        government_pays_all=government_pays_all,
        schedule=schedule,
        rule=subsidy.rule if government_pays_all else on_time.rule,
        reason=reason,
        on_time=on_time_day,
        government_benefit=government_benefit,
    )


def _first_collection_day(line: ScheduleLine) -> date:
    day = line.start
    assert line.days_of_month
    while not line.days_of_month[0] <= day.day <= line.days_of_month[1]:
        day += timedelta(days=1)
    return day


# --- benefit period --------------------------------------------------------------------------


def waiting_months(policy: Policy, facts: PersonFacts) -> tuple[int, str]:
    """国办发〔2024〕38号: 3 months fixed; +1 month per further year of break, −1 per year paid back; ≥6 after 4+ years."""
    waiting = policy.waiting_period
    situation = situation_of(policy, facts)
    if waiting is None or situation in waiting.exempt:
        return 0, _("no waiting period")
    break_years = 0
    if facts.last_paid_year is not None:
        break_years = max(0, policy.insurance_year - facts.last_paid_year - 1)
    added = max(0, break_years - waiting.free_break_years) * waiting.per_break_year_months
    repaired = min(added, facts.years_paid_back)
    months = waiting.base_months + added - repaired
    floor = ""
    if break_years >= waiting.long_break_years and months < waiting.long_break_min_months:
        months = waiting.long_break_min_months
        floor = _("; after a break of %(years)d years or more at least %(months)d months") % {
            "years": waiting.long_break_years,
            "months": waiting.long_break_min_months,
        }
    reason = _(
        "waiting period %(months)d months (fixed %(base)d, %(added)d added for %(breaks)d years of break, %(repaired)d repaired by paying back)"
    ) % {
        "months": months,
        "base": waiting.base_months,
        "added": added,
        "breaks": break_years,
        "repaired": repaired,
    }
    return months, reason + floor


def _start_date(policy: Policy, facts: PersonFacts, start: Start, paid_on: date) -> tuple[date, str]:
    coverage = policy.coverage_for(facts.person_category)
    if start.kind == StartKind.COVERAGE_START:
        return coverage.start, _("cover from the start of the insurance year")
    if start.kind == StartKind.DATE:
        assert start.on
        return start.on, _("cover from %(date)s") % {"date": say_date(start.on)}
    if start.kind == StartKind.DAYS_AFTER_PAYMENT:
        return add_days(paid_on, start.days), _("cover from %(days)d days after the payment date") % {
            "days": start.days
        }
    if start.kind == StartKind.FIRST_OF_MONTH:
        return first_of_month_after(paid_on, start.months), _(
            "cover from the 1st of the month %(months)d months after the month of payment"
        ) % {"months": start.months}
    if start.kind == StartKind.BIRTH_DATE:
        return facts.birth_date, _("cover from the birth date")
    months, reason = waiting_months(policy, facts)
    return add_months(max(paid_on, coverage.start), months), reason


def benefit_period(
    policy: Policy, facts: PersonFacts, paid_on: date, *, back_payment: bool = False
) -> BenefitDecision:
    """The benefit period (待遇享受期) that a payment on ``paid_on`` buys."""
    coverage = policy.coverage_for(facts.person_category)
    situation = situation_of(policy, facts)
    rule_path: str
    start_rule: Start
    note = ""
    if back_payment:
        if policy.back_payment is None:
            return BenefitDecision(None, coverage.end, "back_payment", _("This policy has no back-payment"))
        rule_path, start_rule, note = (
            "back_payment.start",
            policy.back_payment.start,
            policy.back_payment.note,
        )
    else:
        found_newborn = _newborn_rule(policy, facts, paid_on) if situation == Situation.NEWBORN else None
        found_rule = None
        if found_newborn is None:
            found_rule = next(
                (
                    (index, rule)
                    for index, rule in enumerate(policy.benefit)
                    if rule.match.holds(situation, facts.person_category)
                    and _in_window(policy, rule, facts, paid_on)
                ),
                None,
            )
        if found_newborn is not None:
            index, newborn_rule, _limit = found_newborn
            rule_path, start_rule, note = f"newborn[{index}]", newborn_rule.start, newborn_rule.note
        elif found_rule is not None:
            index, benefit_rule = found_rule
            rule_path, start_rule, note = f"benefit[{index}]", benefit_rule.start, benefit_rule.note
        else:
            return BenefitDecision(
                None,
                coverage.end,
                "benefit",
                _("No benefit rule covers a payment on %(date)s (%(situation)s)")
                % {"date": say_date(paid_on), "situation": say_situation(situation)},
            )
    start, how = _start_date(policy, facts, start_rule, paid_on)
    start = max(start, coverage.start)
    if start > coverage.end:
        return BenefitDecision(
            None,
            coverage.end,
            rule_path,
            _("Paid on %(date)s: %(how)s, which is after the insurance year ends (%(end)s)")
            % {"date": say_date(paid_on), "how": how, "end": say_date(coverage.end)},
        )
    reason = _("Paid on %(date)s (%(situation)s): %(how)s; covered %(start)s to %(end)s") % {
        "date": say_date(paid_on),
        "situation": _("back-payment") if back_payment else say_situation(situation),
        "how": note or how,
        "start": say_date(start),
        "end": say_date(coverage.end),
    }
    return BenefitDecision(start, coverage.end, rule_path, reason)


def _rule_window(policy: Policy, rule: PriceRule | BenefitRule, person_category: str) -> Window | None:
    """The days a rule takes payments on, for a person category (as ``_in_window`` asks it)."""
    if rule.in_collection_period:
        return collection_window_for(policy, person_category)
    if rule.in_grace_period:
        return policy.collection.grace_window
    return rule.paid


def _days_left(window: Window, covered: list[Window]) -> list[Window]:
    """The days of ``window`` that none of ``covered`` holds, as ranges."""
    left: list[Window] = []
    start = window.start
    for part in sorted(covered, key=lambda item: item.start):
        if part.end < start:
            continue
        if part.start > window.end:
            break
        if part.start > start:
            left.append(Window(start, add_days(part.start, -1)))
        if part.end >= window.end:
            return left
        start = max(start, add_days(part.end, 1))
    left.append(Window(start, window.end))
    return left


def payments_without_cover(policy: Policy) -> list[tuple[str, str]]:
    """Days a price rule takes money on that no benefit rule covers, as problems (path, words).

    A payment accepted on such a day buys no cover at all ("No benefit rule covers a payment on
    …"): a copy moved into a leap year whose grace period still ended on 28 February took 350 yuan
    on the 29th for nothing. Checked per situation and person category (a student's collection
    period may be the school's). Newborns within a newborn rule pay and are covered under it; the
    price and benefit rules must still cover the newborns past it, so they count like the others.
    """
    problems: list[tuple[str, str]] = []
    for index, rule in enumerate(policy.pricing):
        gaps: dict[tuple[date, date], list[tuple[Situation, str]]] = {}
        for person_category in PERSON_CATEGORIES:
            for situation in Situation:
                if not rule.match.holds(situation, person_category):
                    continue
                window = _rule_window(policy, rule, person_category)
                if window is None:
                    continue
                covered = [
                    found
                    for benefit in policy.benefit
                    if benefit.match.holds(situation, person_category)
                    and (found := _rule_window(policy, benefit, person_category)) is not None
                ]
                for gap in _days_left(window, covered):
                    gaps.setdefault((gap.start, gap.end), []).append((situation, person_category))
        for (start, end), who in sorted(gaps.items()):
            situations = sorted({situation for situation, _category in who})
            categories = [code for code in PERSON_CATEGORIES if any(code == item for _s, item in who)]
            # Whom it concerns, when not everyone: the situations, the person categories.
            parts = []
            if len(situations) < len(Situation):
                parts.append(", ".join(say_situation(situation) for situation in situations))
            if len(categories) < len(PERSON_CATEGORIES):
                parts.append(_("person categories %(categories)s") % {"categories": ", ".join(categories)})
            values = {"start": say_date(start), "end": say_date(end), "who": "; ".join(parts)}
            if parts:
                words = _(
                    "takes payments from %(start)s to %(end)s (%(who)s) that no benefit rule covers: "
                    "they would buy no cover"
                )
            else:
                words = _(
                    "takes payments from %(start)s to %(end)s that no benefit rule covers: they would buy "
                    "no cover"
                )
            problems.append((f"policy.pricing[{index}]", words % values))
    return problems


# --- back-payments and refunds ---------------------------------------------------------------


def back_payment_apply_from(policy: Policy) -> date:
    """The first day a back-payment may be applied for.

    A back-payment that opens after the collection period (Linfen: "错过本年度缴费期…需补缴", from
    26 December) is for those who missed the period; while insurance and tax have extended it the
    period is not missed, so the opening moves past the extension, as a newborn rule's dates do.
    One that opens within the period (the national repair of a break) stays where it is.
    """
    assert policy.back_payment is not None
    apply_from = policy.back_payment.apply_from
    collection = policy.collection
    if apply_from > collection.window.end:
        return max(apply_from, collection.effective_window.end + timedelta(days=1))
    return apply_from


def back_payment_withdrawn_until(policy: Policy) -> date | None:
    """The last day of an extended collection period, when the extension withdraws the
    back-payments approved and not yet paid: None when nothing is withdrawn.

    A back-payment that opens after the period (Linfen's, for those who missed it) approved on a
    day the extended period now covers is for a year the person may pay again at the normal price,
    with the normal cover; new applications are refused until the extension ends
    (``back_payment_apply_from``). So until that day such a back-payment is withdrawn and the
    normal contribution is what is due; one approved later, or already paid, stands. A back-payment
    that opens within the period (the national repair of a break) is not about a missed period,
    and an extension changes nothing for it.
    """
    rule = policy.back_payment
    collection = policy.collection
    if rule is None or not collection.extension_days or rule.apply_from <= collection.window.end:
        return None
    return collection.effective_window.end


def back_payment_on(policy: Policy, facts: PersonFacts, applied_on: date) -> Decision:
    """May this person apply for a back-payment (补缴) on ``applied_on``, and for how much?"""
    rule = policy.back_payment
    if rule is None:
        return Decision(False, "back_payment", _("This policy has no back-payment"))
    situation = situation_of(policy, facts)
    if situation == Situation.NEWBORN and Situation.NEWBORN not in rule.eligible:
        # A newborn still within a newborn rule pays under it (its price, its cover), not as a
        # back-payment: say which rule and until when.
        found = _newborn_rule(policy, facts, applied_on)
        if found is not None:
            index, newborn_rule, limit = found
            return Decision(
                False,
                f"newborn[{index}]",
                _("Not a back-payment: a newborn pays under the newborn rule (%(rule)s)")
                % {
                    "rule": newborn_rule.note
                    or (_("may pay until %(date)s") % {"date": say_date(limit)} if limit else _("newborn"))
                },
            )
    if rule.eligible and situation not in rule.eligible:
        return Decision(
            False,
            "back_payment.eligible",
            _("A back-payment is only for %(who)s; this person is %(situation)s")
            % {
                "who": ", ".join(say_situation(item) for item in sorted(rule.eligible)),
                "situation": say_situation(situation),
            },
        )
    apply_from = back_payment_apply_from(policy)
    if applied_on < apply_from:
        collection = policy.collection
        if apply_from > rule.apply_from:
            return Decision(
                False,
                "back_payment.apply_from",
                _(
                    "The collection period is extended to %(end)s (%(note)s): until then the "
                    "contribution is paid at the normal price, not as a back-payment; back-payment "
                    "applications open on %(date)s"
                )
                % {
                    "end": say_date(collection.effective_window.end),
                    "note": collection.extension_note,
                    "date": say_date(apply_from),
                },
            )
        return Decision(
            False,
            "back_payment.apply_from",
            _("Back-payment applications open on %(date)s") % {"date": say_date(apply_from)},
        )
    if applied_on > rule.apply_until:
        return Decision(
            False,
            "back_payment.apply_until",
            _("Back-payment applications for %(year)d closed on %(date)s")
            % {"year": policy.insurance_year, "date": say_date(rule.apply_until)},
        )
    amount = policy.financing.total_fen if rule.basis == Basis.TOTAL else policy.financing.individual_fen
    start, how = _start_date(policy, facts, rule.start, applied_on)
    year_end = policy.coverage_for(facts.person_category).end
    if start > year_end:
        # Paid today at the earliest, the cover would begin after the year it pays for: the
        # resident would pay for nothing.
        return Decision(
            False,
            "back_payment.start",
            _(
                "A back-payment for %(year)d paid on %(date)s would start cover on %(start)s, after the "
                "insurance year ends on %(end)s: it would buy no cover"
            )
            % {
                "year": policy.insurance_year,
                "date": say_date(applied_on),
                "start": say_date(start),
                "end": say_date(year_end),
            },
        )
    until = back_payment_pay_until(policy, facts, applied_on)
    assert until is not None  # today's payment buys cover, checked above
    reason = _("Back-payment for %(year)d: pays %(basis)s; %(how)s; %(until)s") % {
        "year": policy.insurance_year,
        "basis": say_basis(policy, rule.basis),
        "how": rule.note or how,
        "until": until.reason,
    }
    return Decision(
        True,
        "back_payment",
        reason,
        amount_fen=amount,
        extra={"pay_until": until.day, "pay_until_rule": until.rule, "pay_until_reason": until.reason},
    )


@dataclass(frozen=True)
class PayUntil:
    """The last day a back-payment may be paid, the rule that sets it, and why."""

    day: date
    rule: str
    reason: str


def _back_payment_cover_start(policy: Policy, facts: PersonFacts, paid_on: date) -> date:
    assert policy.back_payment is not None
    start, _how = _start_date(policy, facts, policy.back_payment.start, paid_on)
    return max(start, policy.coverage_for(facts.person_category).start)


def back_payment_pay_until(policy: Policy, facts: PersonFacts, applied_on: date) -> PayUntil | None:
    """Until when a back-payment approved on ``applied_on`` may be paid (tax's last day for it).

    The policy's last day to apply, or earlier the last day whose payment still starts cover within
    the year paid for: later, the waiting period (or N days after payment) would push the start past
    the year's end and the payment would buy nothing (national 2025, 3 months' wait: a payment on
    30 September starts cover on 30 December, one on 1 October on 1 January of the next year).
    None when not even a payment on ``applied_on`` buys cover. Every start rule moves the start
    later, or not at all, as the payment day moves later, so the last such day is searched by halving.
    """
    rule = policy.back_payment
    if rule is None:
        return None
    year_end = policy.coverage_for(facts.person_category).end

    def buys_cover(day: date) -> bool:
        try:
            return _back_payment_cover_start(policy, facts, day) <= year_end
        except OverflowError:  # a last day to apply in the year 9999
            return False

    if not buys_cover(applied_on):
        return None
    if buys_cover(rule.apply_until):
        return PayUntil(
            rule.apply_until,
            "back_payment.apply_until",
            _("payable until %(date)s, the last day of back-payment applications for %(year)d")
            % {"date": say_date(rule.apply_until), "year": policy.insurance_year},
        )
    covered = _last_day_where(applied_on, rule.apply_until, buys_cover)
    assert covered is not None  # applied_on buys cover, checked above
    beyond = covered + timedelta(days=1)  # the first day that buys none
    return PayUntil(
        covered,
        "back_payment.start",
        _(
            "payable until %(date)s: paid later, the cover would start on %(start)s, after the "
            "insurance year ends on %(end)s"
        )
        % {
            "date": say_date(covered),
            "start": say_date(_back_payment_cover_start(policy, facts, beyond)),
            "end": say_date(year_end),
        },
    )


def _last_day_where(first: date, last: date, holds: Callable[[date], bool]) -> date | None:
    """The last day of [first, last] on which ``holds`` (true up to a day, false after it), if any."""
    if holds(last):
        return last
    if not holds(first):
        return None
    low, high = first, last  # holds(low), not holds(high)
    while (high - low).days > 1:
        middle = low + timedelta(days=(high - low).days // 2)
        if holds(middle):
            low = middle
        else:
            high = middle
    return low


def _last_collection_day(line: ScheduleLine, day: date) -> date | None:
    """The last day on or before ``day`` within ``line`` on which it takes payments (its days of the month)."""
    if line.days_of_month:
        first, last = line.days_of_month
        if day.day < first:
            day = day.replace(day=1) - timedelta(days=1)
        day = day.replace(day=min(day.day, last))
    return day if day >= line.start else None


def last_payable_day(
    policy: Policy, facts: PersonFacts, schedule: tuple[ScheduleLine, ...] | None = None
) -> date | None:
    """The last day on which this person can still pay something for the policy's year that buys
    cover in that year: a day of the schedule (the collection period and the price rules after it)
    or the last day a back-payment may be applied for. Someone whose enrollment began after it
    could never pay for the year, so nothing is due from them for it.

    None: no day limits it — nothing is refused by date (an empty schedule: tax takes the amount on
    any day) or nothing buys cover at all (kept due, as before; the rules are then incomplete).
    The caller leaves out the persons the government pays for in full (nothing to pay)."""
    schedule = schedule_of(policy, facts) if schedule is None else schedule
    if not schedule:
        return None
    candidates: list[date] = []
    for line in schedule:
        end = _last_collection_day(line, line.end)
        if end is None:
            continue

        def buys_cover(day: date) -> bool:
            return benefit_period(policy, facts, day).start is not None

        day = _last_day_where(line.start, end, buys_cover)
        if day is not None:
            day = _last_collection_day(line, day)
        if day is not None:
            candidates.append(day)
    back = policy.back_payment
    if back is not None:
        apply_from = back_payment_apply_from(policy)
        if apply_from <= back.apply_until:
            day = _last_day_where(
                apply_from, back.apply_until, lambda day: back_payment_on(policy, facts, day).allowed
            )
            if day is not None:
                candidates.append(day)
    return max(candidates) if candidates else None


def say_refund_reason(reason: str) -> str:
    return {
        "paid_twice": _("paid twice"),
        "death": _("death"),
        "employee_insurance": _("joined employee insurance"),
        "enrolled_elsewhere": _("enrolled elsewhere"),
        "emigration": _("emigration"),
        "agency_error": _("an agency's error"),
    }.get(reason, reason)


# The reason whose refund needs the money to have come in twice (重复缴费).
PAID_TWICE = "paid_twice"


def refund_on(
    policy: Policy,
    reason: str,
    event_on: date,
    benefit_start: date | None,
    *,
    person_category: str = "rural",
    deposits: int = 0,
    duplicates_refunded: int = 0,
) -> Decision:
    """Is the individual part refundable for ``reason`` when the event happened on ``event_on``?

    ``benefit_start`` is the first day of the benefit period the payment bought (None: it never
    starts); ``person_category`` picks the insurance or the academic year for ``before_insurance_year``.
    ``deposits``: the deposits (入库) of the person and year in insurance's own records, reversed
    ones left out; ``duplicates_refunded``: how many of them were already paid back as duplicates.
    Paying twice is refundable only when a deposit beyond the one the year keeps is there and not
    yet paid back (Linfen: "因本人重复缴费 … 由医保经办机构进行核验确认后 … 退还"): insurance verifies it
    against its records before the policy's timing is asked; without one it is refused with the
    count. The reason's own note in the policy (``refunds.reason_notes``: Linfen's "重复缴费可申请退费，
    经办机构5个工作日内退还…" is about paying twice) comes as ``note``, apart from the reason it would
    contradict on a refusal; another reason's note, or the policy's general one, never.
    """
    when = policy.refunds.reasons.get(reason)
    words = say_refund_reason(reason)
    rule = f"refunds.reasons.{reason}"
    unrefunded_duplicates = deposits - 1 - duplicates_refunded
    if when is None or when == RefundWhen.NEVER:
        allowed = False
        reason_text = _("Not refundable: this region does not refund contributions for %(reason)s") % {
            "reason": words
        }
    elif reason == PAID_TWICE and unrefunded_duplicates < 1:
        allowed = False
        rule = f"refunds.reasons.{reason}.deposits"
        counts = {"deposits": max(deposits, 0), "refunded": duplicates_refunded}
        if duplicates_refunded:
            reason_text = (
                _(
                    "Not refundable as paid twice: the medical insurance bureau's deposit records for "
                    "this person and year count %(deposits)d, of which %(refunded)d already paid back "
                    "as duplicates; no duplicate payment is left to refund"
                )
                % counts
            )
        else:
            reason_text = (
                _(
                    "Not refundable as paid twice: the medical insurance bureau's deposit records for "
                    "this person and year count %(deposits)d; a duplicate payment needs at least 2"
                )
                % counts
            )
    elif when == RefundWhen.ALWAYS:
        allowed = True
        reason_text = _("Refundable: %(reason)s") % {"reason": words}
    elif when == RefundWhen.BEFORE_INSURANCE_YEAR:
        year_start = policy.coverage_for(person_category).start
        allowed = event_on < year_start
        values = {"reason": words, "date": say_date(event_on), "start": say_date(year_start)}
        reason_text = (
            _("Refundable: %(reason)s on %(date)s, before the year paid for began (%(start)s)") % values
            if allowed
            else _("Not refundable: %(reason)s on %(date)s, within the year paid for (from %(start)s)")
            % values
        )
    elif benefit_start is not None and event_on >= benefit_start:
        allowed = False
        reason_text = _(
            "Not refundable: the benefit period had already started on %(start)s (%(reason)s on %(date)s)"
        ) % {"start": say_date(benefit_start), "reason": words, "date": say_date(event_on)}
    else:
        allowed = True
        reason_text = _("Refundable: %(reason)s on %(date)s, before the benefit period started") % {
            "reason": words,
            "date": say_date(event_on),
        }
    return Decision(
        allowed,
        rule,
        reason_text,
        extra={"decision_working_days": policy.refunds.decision_working_days} if allowed else {},
        note=policy.refunds.reason_notes.get(reason, ""),
    )


# --- incentives ------------------------------------------------------------------------------


def illness_cap_raise(policy: Policy, continuous_years: int, original_cap_fen: int) -> Decision:
    """国办发〔2024〕38号: how much the critical-illness cap rises for ``continuous_years`` of continuous enrollment.

    After ``after_years`` continuous years, each further year adds ``raise_fen_per_year``; in all at
    most ``max_percent_of_cap`` percent of the original cap (whole fen, rounded down).
    """
    incentive: ContinuityIncentive | None = policy.incentive
    if incentive is None:
        return Decision(False, "incentive", _("This policy has no incentive for continuous enrollment"))
    further = max(0, continuous_years - incentive.after_years)
    ceiling = original_cap_fen * incentive.max_percent_of_cap // 100
    amount = min(further * incentive.raise_fen_per_year, ceiling)
    reason = _(
        "%(years)d continuous years: %(further)d beyond %(after)d, each adding %(step)s; raised by %(amount)s (at most %(ceiling)s)"
    ) % {
        "years": continuous_years,
        "further": further,
        "after": incentive.after_years,
        "step": say_money(incentive.raise_fen_per_year),
        "amount": say_money(amount),
        "ceiling": say_money(ceiling),
    }
    if incentive.note:
        reason = f"{incentive.note}: {reason}"
    return Decision(amount > 0, "incentive", reason, amount_fen=amount)


# --- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentSpan:
    """One enrollment: status now, since when, and its dates (ended_on for a terminated one)."""

    status: str  # normal | suspended | terminated
    enrolled_on: date
    ended_on: date | None
    status_changed_on: date
    reason: str = ""
    place: str = ""


@dataclass(frozen=True)
class PaidPeriod:
    """A paid insurance year with the benefit period the payment bought."""

    insurance_year: int
    paid_on: date
    start: date | None
    end: date
    reason: str = ""


@dataclass(frozen=True)
class CoverageDecision:
    covered: bool
    start: date | None
    end: date | None
    rule: str
    reason: str


def coverage_on(
    day: date, enrollments: Iterable[EnrollmentSpan], periods: Iterable[PaidPeriod]
) -> CoverageDecision:
    """Is the person covered on ``day``? The Jilin status rules (吉医保联〔2022〕11号), for every region.

    Normal and paid: covered within the paid period, outside any waiting period. Suspended but
    paid before the suspension: still covered within the paid period. Terminated: costs before
    the termination are covered, none after.
    """
    spans = list(enrollments)
    span = next(
        (
            item
            for item in spans
            if item.enrolled_on <= day and (item.ended_on is None or day <= item.ended_on)
        ),
        None,
    )
    if span is None:
        ended = [item for item in spans if item.ended_on is not None and item.ended_on < day]
        if ended:
            last = max(ended, key=lambda item: item.ended_on or date.min)
            return CoverageDecision(
                False,
                None,
                None,
                "coverage.terminated",
                _("Not covered: the enrollment ended on %(date)s (%(reason)s); nothing after that is covered")
                % {"date": say_date(last.ended_on or day), "reason": last.reason},
            )
        return CoverageDecision(
            False,
            None,
            None,
            "coverage.not_enrolled",
            _("Not covered: not enrolled on %(date)s") % {"date": say_date(day)},
        )
    paid = [period for period in periods if period.start is not None and period.start <= day <= period.end]
    if not paid:
        waiting = [
            period
            for period in periods
            # Waiting within the paid insurance year; before that year the year is simply unpaid.
            if period.start is not None and day < period.start and day.year == period.insurance_year
        ]
        if waiting:
            period = min(waiting, key=lambda item: item.start or date.max)
            return CoverageDecision(
                False,
                period.start,
                period.end,
                "coverage.waiting",
                _("Not covered yet: paid on %(paid)s, the benefit period starts on %(start)s")
                % {
                    "paid": say_date(period.paid_on),
                    "start": say_date(period.start or day),
                },
            )
        return CoverageDecision(
            False,
            None,
            None,
            "coverage.unpaid",
            _("Not covered: enrolled, but the contribution covering %(date)s has not been paid")
            % {"date": say_date(day)},
        )
    period = paid[0]
    assert period.start
    if span.status == "suspended" and day >= span.status_changed_on:
        if period.paid_on <= span.status_changed_on:
            return CoverageDecision(
                True,
                period.start,
                period.end,
                "coverage.suspended_paid",
                _(
                    "Covered: the enrollment is suspended since %(date)s, but the contribution was paid before the suspension, so the paid period %(start)s to %(end)s is covered"
                )
                % {
                    "date": say_date(span.status_changed_on),
                    "start": say_date(period.start),
                    "end": say_date(period.end),
                },
            )
        return CoverageDecision(
            False,
            None,
            None,
            "coverage.suspended",
            _("Not covered: the enrollment is suspended since %(date)s")
            % {"date": say_date(span.status_changed_on)},
        )
    if span.status == "terminated":
        return CoverageDecision(
            True,
            period.start,
            min(period.end, span.ended_on or period.end),
            "coverage.before_termination",
            _(
                "Covered: %(date)s is before the enrollment ended on %(end)s; costs before the termination are covered"
            )
            % {"date": say_date(day), "end": say_date(span.ended_on or day)},
        )
    return CoverageDecision(
        True,
        period.start,
        period.end,
        "coverage.normal_paid",
        _("Covered: enrolled and paid; benefit period %(start)s to %(end)s")
        % {
            "start": say_date(period.start),
            "end": say_date(period.end),
        },
    )
