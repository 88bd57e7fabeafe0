"""A region's rules for one insurance year, as data.

A policy is a plain document (YAML or JSON) that an administrator edits; ``Policy.from_document``
validates it completely (every problem reported with its path, not only the first) and turns it
into frozen dataclasses the engine evaluates. ``Policy.to_document`` gives the same document back,
so export → import is lossless. Money is whole fen; dates are ISO dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext as _

DOCUMENT_FORMAT = 1
POLICY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Words the rulebook's addresses use after /rulebook/.
RESERVED_POLICY_CODES = frozenset({"new", "import"})


class Situation(StrEnum):
    """How a person stands towards the insurance year being paid for."""

    CONTINUOUS = "continuous"  # paid for the previous insurance year
    FIRST = "first"  # has never paid before
    INTERRUPTED = "interrupted"  # paid before, but not for the previous insurance year
    NEWBORN = "newborn"  # born on or after the collection period opened
    TRANSFER = "transfer"  # moved in from another region's resident insurance


class Basis(StrEnum):
    """What a price is made of: the individual standard I, or the total F = I + S."""

    INDIVIDUAL = "individual"
    TOTAL = "total"


class Scheme(StrEnum):
    FULL = "full"  # the government pays the whole individual part: nothing collected by tax
    PERCENT = "percent"  # a percentage of I
    FIXED = "fixed"  # a fixed amount (定额)


class StartKind(StrEnum):
    COVERAGE_START = "coverage_start"  # the first day of the insurance (or academic) year
    DATE = "date"  # a fixed date
    DAYS_AFTER_PAYMENT = "days_after_payment"  # payment (deposit) date + N days
    FIRST_OF_MONTH = "first_of_month"  # the 1st of the N-th month after the month of payment
    BIRTH_DATE = "birth_date"  # from the day of birth
    WAITING_PERIOD = "waiting_period"  # the national waiting period (固定 + 变动待遇等待期)


class RefundWhen(StrEnum):
    ALWAYS = "always"  # refundable whatever the date (paid twice, an agency's error)
    BEFORE_BENEFIT_START = "before_benefit_start"  # only while the benefit period has not started
    # Only before the insurance (or academic) year paid for begins: a change within the year paid
    # for is not refunded (Guigang: 在缴费所属期内办理变更手续的，所缴费用不予以退回).
    BEFORE_INSURANCE_YEAR = "before_insurance_year"
    NEVER = "never"


REFUND_REASONS = (
    "paid_twice",
    "death",
    "employee_insurance",
    "enrolled_elsewhere",
    "emigration",
    "agency_error",
)
PERSON_CATEGORIES = ("rural", "urban", "student", "preschool", "newborn")
# The person categories that pay for and are covered by a school's academic year where the policy
# has one (``Policy.coverage_for``); the roster import's SQL reads the same list.
SCHOOL_CATEGORIES = ("student", "preschool")


class PolicyError(ValueError):
    """The document is not a valid policy; ``problems`` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass(frozen=True)
class Window:
    """An inclusive date range."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@dataclass(frozen=True)
class Start:
    """When cover starts, given a payment."""

    kind: StartKind
    days: int = 0
    months: int = 0
    on: date | None = None


@dataclass(frozen=True)
class Financing:
    individual_fen: int
    subsidy_fen: int
    # Where a number is not in the source document: which standard it came from.
    note: str = ""

    @property
    def total_fen(self) -> int:
        return self.individual_fen + self.subsidy_fen


@dataclass(frozen=True)
class Collection:
    """The collection period (集中征缴期) in the year before the insurance year."""

    window: Window
    # Payments accepted only on these days of each month (Linfen: 1st–25th), inclusive.
    days_of_month: tuple[int, int] | None = None
    # False: a deadline on a holiday is not moved (Linfen: 25 Dec is 25 Dec).
    holiday_extension: bool = False
    # Set by the administrator action "extend the collection period" (insurance and tax jointly).
    extended_to: date | None = None
    extension_note: str = ""
    # Students and kindergarten children paying through their school, if they have a period of their own.
    student_window: Window | None = None
    # A grace period after the collection period (Qinbei: 有困难的可延迟缴费至2023年2月28日): its last day.
    grace_until: date | None = None
    grace_note: str = ""

    @property
    def effective_window(self) -> Window:
        if self.extended_to and self.extended_to > self.window.end:
            return Window(self.window.start, self.extended_to)
        return self.window

    @property
    def grace_window(self) -> Window | None:
        """The days after the (possibly extended) collection period up to ``grace_until``, if any."""
        end = self.effective_window.end
        if self.grace_until is None or self.grace_until <= end:
            return None
        return Window(end + timedelta(days=1), self.grace_until)

    @property
    def extension_days(self) -> int:
        return (self.effective_window.end - self.window.end).days


@dataclass(frozen=True)
class Match:
    """Which persons a rule is for: situations and person categories (empty = all)."""

    situations: frozenset[Situation] = frozenset()
    person_categories: frozenset[str] = frozenset()

    def holds(self, situation: Situation, person_category: str) -> bool:
        return (not self.situations or situation in self.situations) and (
            not self.person_categories or person_category in self.person_categories
        )


@dataclass(frozen=True)
class PriceRule:
    """Paid within ``paid`` (or the collection period when ``in_collection_period``, or the grace
    period after it when ``in_grace_period``) → price."""

    match: Match
    paid: Window | None
    in_collection_period: bool
    basis: Basis
    subsidy: bool
    note: str = ""
    in_grace_period: bool = False


@dataclass(frozen=True)
class BenefitRule:
    """Paid within ``paid`` (or the collection period, or its grace period) → cover starts at ``start``."""

    match: Match
    paid: Window | None
    in_collection_period: bool
    start: Start
    note: str = ""
    in_grace_period: bool = False


@dataclass(frozen=True)
class NewbornRule:
    """For a person born on or after the collection period opened (first matching rule applies)."""

    born: Window | None
    # How long after birth the parents may pay under this rule: a date, or a number of days or months
    # counted as the law counts periods (民法典 第二百零一条、第二百零三条: the day of birth is not
    # counted; a period in months ends on the corresponding day, or the month's last day if there is none).
    pay_until: date | None
    pay_within_days: int | None
    pay_within_months: int | None
    # A pay_until date, and the end of the birth window, move with an extension of the collection
    # period by as many days as it was extended (Linfen: 如遇集中征缴期调整，则顺延).
    moves_with_collection: bool
    basis: Basis
    start: Start
    note: str = ""
    # True: the newborn pays what the pricing rules say for the payment date (``basis`` is unused);
    # the rule only says when cover starts (Qinbei: the price depends on the date for everyone).
    price_by_date: bool = False


@dataclass(frozen=True)
class AgeCondition:
    years: int
    on: date


@dataclass(frozen=True)
class Conditions:
    paid_by: date | None = None
    born_on_or_before: date | None = None
    age_at_least: AgeCondition | None = None
    age_below: AgeCondition | None = None
    hukou_in_region: bool = False
    recognised_by: date | None = None


@dataclass(frozen=True)
class SubsidyCategory:
    code: str
    name: str
    marker: str  # the city-wide unified marker code pushed to tax
    scheme: Scheme
    percent: int = 0
    amount_fen: int = 0
    # False: applies by the conditions alone, without a roster tag (Lanshan: everyone aged 70+).
    requires_tag: bool = True
    conditions: Conditions = field(default_factory=Conditions)
    note: str = ""
    # The roster tag the category needs, when it is not the category's own code: several categories
    # may share one tag and differ by their conditions (Qinbei: a rural low-income family member
    # aged 60+, or under 18).
    tag: str = ""

    @property
    def tag_code(self) -> str:
        return self.tag or self.code


@dataclass(frozen=True)
class WaitingPeriod:
    """国办发〔2024〕38号: the wait after enrolling outside the period or after a break."""

    base_months: int
    per_break_year_months: int
    # Break years that add nothing (the first year of a break is covered by the fixed wait).
    free_break_years: int
    long_break_years: int
    long_break_min_months: int
    exempt: frozenset[Situation]


@dataclass(frozen=True)
class ContinuityIncentive:
    """国办发〔2024〕38号: after ``after_years`` continuous years, each further continuous year raises the
    critical-illness insurance cap (大病保险最高支付限额) by ``raise_fen_per_year``, in all at most
    ``max_percent_of_cap`` percent of the original cap."""

    after_years: int
    raise_fen_per_year: int
    max_percent_of_cap: int
    note: str = ""


@dataclass(frozen=True)
class BackPayment:
    eligible: frozenset[Situation]
    basis: Basis
    apply_from: date
    apply_until: date
    start: Start
    note: str = ""


@dataclass(frozen=True)
class Refunds:
    reasons: Mapping[str, RefundWhen]
    decision_working_days: int
    # The policy's general words on refunds (the policy page shows them).
    note: str = ""
    # A reason's own words (Linfen's "重复缴费可申请退费…" is about paying twice alone): an application's
    # page shows those of its reason, never another reason's.
    reason_notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    code: str
    name: str
    source: str
    region_code: str  # '' = nationwide default
    insurance_year: int
    financing: Financing
    coverage: Window
    student_coverage: Window | None
    collection: Collection
    pricing: tuple[PriceRule, ...]
    benefit: tuple[BenefitRule, ...]
    newborn: tuple[NewbornRule, ...]
    subsidy_categories: tuple[SubsidyCategory, ...]
    waiting_period: WaitingPeriod | None
    back_payment: BackPayment | None
    refunds: Refunds
    notes: tuple[str, ...] = ()
    incentive: ContinuityIncentive | None = None

    def category(self, code: str) -> SubsidyCategory | None:
        return next((category for category in self.subsidy_categories if category.code == code), None)

    def coverage_for(self, person_category: str) -> Window:
        if self.student_coverage and person_category in SCHOOL_CATEGORIES:
            return self.student_coverage
        return self.coverage

    @classmethod
    def from_document(cls, document: Any) -> Policy:
        return _Reader(document).policy()

    def to_document(self) -> dict[str, Any]:
        return _write_policy(self)

    def with_collection_extended(self, *, to: date, note: str) -> Policy:
        """The same policy with the collection period extended (an administrator action, recorded)."""
        document = self.to_document()
        document["collection"]["extended_to"] = to.isoformat()
        document["collection"]["extension_note"] = note
        return Policy.from_document(document)


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """Reads a document, collecting every problem with its path before failing."""

    def __init__(self, document: Any) -> None:
        self.document = document
        self.problems: list[tuple[str, str]] = []
        # Paths of rules paid in the grace period: the collection period must then have one.
        self.grace_rules: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, value: Any, path: str, required: bool = True) -> Mapping[str, Any] | None:
        if value is None and not required:
            return None
        if not isinstance(value, Mapping):
            self.fail(
                path, _("must be a mapping of names to values") if value is not None else _("is required")
            )
            return None
        if True in value and "on" not in value:
            # YAML 1.1 (PyYAML) reads an unquoted key ``on`` as the boolean true: take it as "on".
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value

    def unknown(self, value: Mapping[str, Any], path: str, known: Iterable[str]) -> None:
        for key in value:
            if key not in known:
                self.fail(f"{path}.{key}", _("is not a known field"))

    def text(
        self, value: Mapping[str, Any], key: str, path: str, required: bool = True, max_length: int = 300
    ) -> str:
        raw = value.get(key)
        if raw is None or raw == "":
            if required:
                self.fail(f"{path}.{key}", _("is required"))
            return ""
        if not isinstance(raw, str):
            self.fail(f"{path}.{key}", _("must be text"))
            return ""
        if len(raw) > max_length:
            self.fail(f"{path}.{key}", _("is longer than %(length)s characters") % {"length": max_length})
        return raw

    def integer(
        self,
        value: Mapping[str, Any],
        key: str,
        path: str,
        required: bool = True,
        minimum: int | None = 0,
        maximum: int | None = None,
        default: int = 0,
    ) -> int:
        raw = value.get(key)
        if raw is None:
            if required:
                self.fail(f"{path}.{key}", _("is required"))
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.fail(f"{path}.{key}", _("must be a whole number"))
            return default
        if minimum is not None and raw < minimum:
            self.fail(f"{path}.{key}", _("must be at least %(minimum)s") % {"minimum": minimum})
        if maximum is not None and raw > maximum:
            self.fail(f"{path}.{key}", _("must be at most %(maximum)s") % {"maximum": maximum})
        return raw

    def boolean(self, value: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
        raw = value.get(key, default)
        if not isinstance(raw, bool):
            self.fail(f"{path}.{key}", _("must be true or false"))
            return default
        return raw

    def day(self, value: Mapping[str, Any], key: str, path: str, required: bool = True) -> date | None:
        raw = value.get(key)
        if raw is None:
            if required:
                self.fail(f"{path}.{key}", _("is required"))
            return None
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError:
                pass
        self.fail(f"{path}.{key}", _("must be a date written as YYYY-MM-DD"))
        return None

    def window(self, value: Any, path: str, required: bool = True) -> Window | None:
        mapping = self.mapping(value, path, required)
        if mapping is None:
            return None
        self.unknown(mapping, path, ("from", "to"))
        start, end = self.day(mapping, "from", path), self.day(mapping, "to", path)
        if start and end and end < start:
            self.fail(f"{path}.to", _("must not be before the start date"))
        return Window(start, end) if start and end else None

    def choice(self, raw: Any, path: str, enum: type[StrEnum], default: Any = None) -> Any:
        try:
            return enum(raw)
        except ValueError:
            self.fail(
                path,
                _("must be one of %(choices)s") % {"choices": ", ".join(member.value for member in enum)},
            )
            return default

    def situations(self, raw: Any, path: str) -> frozenset[Situation]:
        if raw is None:
            return frozenset()
        if not isinstance(raw, list):
            self.fail(path, _("must be a list"))
            return frozenset()
        return frozenset(
            situation
            for index, item in enumerate(raw)
            if (situation := self.choice(item, f"{path}[{index}]", Situation)) is not None
        )

    def match(self, value: Mapping[str, Any], path: str) -> Match:
        categories = value.get("person_categories") or []
        if not isinstance(categories, list) or any(item not in PERSON_CATEGORIES for item in categories):
            self.fail(
                f"{path}.person_categories",
                _("must be a list of %(choices)s") % {"choices": ", ".join(PERSON_CATEGORIES)},
            )
            categories = []
        return Match(self.situations(value.get("situations"), f"{path}.situations"), frozenset(categories))

    def paid(self, value: Mapping[str, Any], path: str) -> tuple[Window | None, bool, bool]:
        """(window, in the collection period, in the grace period after it)."""
        raw = value.get("paid")
        if raw == "collection_period":
            return None, True, False
        if raw == "grace_period":
            self.grace_rules.append(f"{path}.paid")
            return None, False, True
        if raw is None:
            self.fail(f"{path}.paid", _("is required: a date range, collection_period or grace_period"))
            return None, False, False
        if isinstance(raw, str):
            self.fail(f"{path}.paid", _("must be a date range, collection_period or grace_period"))
            return None, False, False
        return self.window(raw, f"{path}.paid"), False, False

    def start(self, value: Any, path: str) -> Start:
        mapping = self.mapping(value, path)
        if mapping is None:
            return Start(StartKind.COVERAGE_START)
        self.unknown(mapping, path, ("kind", "days", "months", "on"))
        kind = self.choice(mapping.get("kind"), f"{path}.kind", StartKind, StartKind.COVERAGE_START)
        days = self.integer(mapping, "days", path, required=kind == StartKind.DAYS_AFTER_PAYMENT, maximum=730)
        months = self.integer(mapping, "months", path, required=kind == StartKind.FIRST_OF_MONTH, maximum=24)
        on = self.day(mapping, "on", path, required=kind == StartKind.DATE)
        return Start(kind, days=days, months=months, on=on)

    def _reason_notes(self, refunds_map: Mapping[str, Any], path: str) -> dict[str, str]:
        """``refunds.reason_notes``: a refund reason's own words, by reason (optional)."""
        notes_map = (
            self.mapping(refunds_map.get("reason_notes"), f"{path}.reason_notes", required=False) or {}
        )
        notes: dict[str, str] = {}
        for reason in notes_map:
            if reason not in REFUND_REASONS:
                self.fail(
                    f"{path}.reason_notes.{reason}",
                    _("is not a refund reason; known reasons: %(choices)s")
                    % {"choices": ", ".join(REFUND_REASONS)},
                )
                continue
            note = self.text(notes_map, reason, f"{path}.reason_notes")
            if note:
                notes[reason] = note
        return notes

    def sequence(self, raw: Any, path: str, required: bool = False) -> list[Any]:
        if raw is None:
            if required:
                self.fail(path, _("is required"))
            return []
        if not isinstance(raw, list):
            self.fail(path, _("must be a list"))
            return []
        return raw

    def price_rule(self, value: Any, path: str) -> PriceRule | None:
        mapping = self.mapping(value, path)
        if mapping is None:
            return None
        self.unknown(mapping, path, ("situations", "person_categories", "paid", "basis", "subsidy", "note"))
        window, in_period, in_grace = self.paid(mapping, path)
        return PriceRule(
            match=self.match(mapping, path),
            paid=window,
            in_collection_period=in_period,
            basis=self.choice(mapping.get("basis"), f"{path}.basis", Basis, Basis.INDIVIDUAL),
            subsidy=self.boolean(mapping, "subsidy", path, default=True),
            note=self.text(mapping, "note", path, required=False),
            in_grace_period=in_grace,
        )

    def benefit_rule(self, value: Any, path: str) -> BenefitRule | None:
        mapping = self.mapping(value, path)
        if mapping is None:
            return None
        self.unknown(mapping, path, ("situations", "person_categories", "paid", "start", "note"))
        window, in_period, in_grace = self.paid(mapping, path)
        return BenefitRule(
            match=self.match(mapping, path),
            paid=window,
            in_collection_period=in_period,
            start=self.start(mapping.get("start"), f"{path}.start"),
            note=self.text(mapping, "note", path, required=False),
            in_grace_period=in_grace,
        )

    def newborn_rule(self, value: Any, path: str) -> NewbornRule | None:
        mapping = self.mapping(value, path)
        if mapping is None:
            return None
        known = (
            "born",
            "pay_until",
            "pay_within_days",
            "pay_within_months",
            "moves_with_collection",
            "price_by_date",
        )
        self.unknown(mapping, path, (*known, "basis", "start", "note"))
        price_by_date = self.boolean(mapping, "price_by_date", path)
        limits = [
            key
            for key in ("pay_until", "pay_within_days", "pay_within_months")
            if mapping.get(key) is not None
        ]
        if len(limits) > 1:
            self.fail(path, _("give at most one of pay_until, pay_within_days and pay_within_months"))
        return NewbornRule(
            born=self.window(mapping.get("born"), f"{path}.born", required=False),
            pay_until=self.day(mapping, "pay_until", path, required=False),
            pay_within_days=self.integer(mapping, "pay_within_days", path, required=False, default=0) or None,
            pay_within_months=self.integer(mapping, "pay_within_months", path, required=False, default=0)
            or None,
            moves_with_collection=self.boolean(mapping, "moves_with_collection", path),
            basis=Basis.INDIVIDUAL
            if price_by_date and mapping.get("basis") is None
            else self.choice(mapping.get("basis"), f"{path}.basis", Basis, Basis.INDIVIDUAL),
            start=self.start(mapping.get("start"), f"{path}.start"),
            note=self.text(mapping, "note", path, required=False),
            price_by_date=price_by_date,
        )

    def age(self, raw: Any, path: str) -> AgeCondition | None:
        mapping = self.mapping(raw, path, required=False)
        if mapping is None:
            return None
        self.unknown(mapping, path, ("years", "on"))
        years = self.integer(mapping, "years", path, maximum=150)
        on = self.day(mapping, "on", path)
        return AgeCondition(years, on) if on else None

    def conditions(self, raw: Any, path: str) -> Conditions:
        mapping = self.mapping(raw, path, required=False)
        if mapping is None:
            return Conditions()
        known = (
            "paid_by",
            "born_on_or_before",
            "age_at_least",
            "age_below",
            "hukou_in_region",
            "recognised_by",
        )
        self.unknown(mapping, path, known)
        return Conditions(
            paid_by=self.day(mapping, "paid_by", path, required=False),
            born_on_or_before=self.day(mapping, "born_on_or_before", path, required=False),
            age_at_least=self.age(mapping.get("age_at_least"), f"{path}.age_at_least"),
            age_below=self.age(mapping.get("age_below"), f"{path}.age_below"),
            hukou_in_region=self.boolean(mapping, "hukou_in_region", path),
            recognised_by=self.day(mapping, "recognised_by", path, required=False),
        )

    def category(self, value: Any, path: str, financing: Financing | None) -> SubsidyCategory | None:
        mapping = self.mapping(value, path)
        if mapping is None:
            return None
        known = (
            "code",
            "name",
            "marker",
            "scheme",
            "percent",
            "amount_fen",
            "requires_tag",
            "tag",
            "conditions",
            "note",
        )
        self.unknown(mapping, path, known)
        code = self.text(mapping, "code", path, max_length=32)
        if code and not code.replace("_", "").isalnum():
            self.fail(f"{path}.code", _("may contain only letters, digits and underscores"))
        tag = self.text(mapping, "tag", path, required=False, max_length=32)
        if tag and not tag.replace("_", "").isalnum():
            self.fail(f"{path}.tag", _("may contain only letters, digits and underscores"))
        scheme = self.choice(mapping.get("scheme"), f"{path}.scheme", Scheme, Scheme.FULL)
        percent = self.integer(mapping, "percent", path, required=scheme == Scheme.PERCENT, maximum=100)
        amount = self.integer(mapping, "amount_fen", path, required=scheme == Scheme.FIXED)
        if scheme == Scheme.FIXED and financing and amount > financing.individual_fen:
            self.fail(f"{path}.amount_fen", _("must not exceed the individual standard"))
        return SubsidyCategory(
            code=code,
            name=self.text(mapping, "name", path, max_length=60),
            marker=self.text(mapping, "marker", path, max_length=16),
            scheme=scheme,
            percent=percent,
            amount_fen=amount,
            requires_tag=self.boolean(mapping, "requires_tag", path, default=True),
            conditions=self.conditions(mapping.get("conditions"), f"{path}.conditions"),
            note=self.text(mapping, "note", path, required=False),
            tag=tag,
        )

    def policy(self) -> Policy:
        root = self.mapping(self.document, "policy")
        if root is None:
            raise PolicyError(self.problems)
        known = (
            "format",
            "code",
            "name",
            "source",
            "region_code",
            "insurance_year",
            "financing",
            "coverage",
            "student_coverage",
            "collection",
            "pricing",
            "benefit",
            "newborn",
            "subsidy_categories",
            "waiting_period",
            "back_payment",
            "refunds",
            "notes",
            "incentive",
        )
        self.unknown(root, "policy", known)
        if root.get("format", DOCUMENT_FORMAT) != DOCUMENT_FORMAT:
            self.fail("policy.format", _("must be %(format)s") % {"format": DOCUMENT_FORMAT})
        code = self.text(root, "code", "policy", max_length=64)
        # The code names the policy in addresses (/rulebook/<code>/) and file names.
        if code and (not POLICY_CODE.fullmatch(code) or code in RESERVED_POLICY_CODES):
            self.fail(
                "policy.code",
                _("may contain only letters, digits, hyphens and underscores"),
            )
        region_code = root.get("region_code", "")
        if not isinstance(region_code, str) or (
            region_code
            and not (region_code.isascii() and region_code.isdigit() and len(region_code) in (2, 4, 6, 9, 12))
        ):
            self.fail(
                "policy.region_code",
                _("must be a region code of 2, 4, 6, 9 or 12 digits, or empty for the whole country"),
            )
            region_code = ""
        year = self.integer(root, "insurance_year", "policy", minimum=2000, maximum=2100)

        financing_map = self.mapping(root.get("financing"), "policy.financing")
        financing = None
        if financing_map is not None:
            self.unknown(financing_map, "policy.financing", ("individual_fen", "subsidy_fen", "note"))
            financing = Financing(
                self.integer(financing_map, "individual_fen", "policy.financing", maximum=10_000_000),
                self.integer(financing_map, "subsidy_fen", "policy.financing", maximum=10_000_000),
                self.text(financing_map, "note", "policy.financing", required=False),
            )

        coverage = self.window(root.get("coverage"), "policy.coverage")
        student_coverage = self.window(
            root.get("student_coverage"), "policy.student_coverage", required=False
        )

        collection = None
        collection_map = self.mapping(root.get("collection"), "policy.collection")
        if collection_map is not None:
            path = "policy.collection"
            self.unknown(
                collection_map,
                path,
                (
                    "from",
                    "to",
                    "days_of_month",
                    "holiday_extension",
                    "extended_to",
                    "extension_note",
                    "student_window",
                    "grace_until",
                    "grace_note",
                ),
            )
            window = self.window({key: collection_map.get(key) for key in ("from", "to")}, path)
            days = collection_map.get("days_of_month")
            days_of_month = None
            if days is not None:
                if (
                    not isinstance(days, list)
                    or len(days) != 2
                    or not all(isinstance(item, int) and 1 <= item <= 31 for item in days)
                    or days[0] > days[1]
                ):
                    self.fail(
                        f"{path}.days_of_month",
                        _("must be two days of the month, first and last, such as [1, 25]"),
                    )
                else:
                    days_of_month = (days[0], days[1])
            extended_to = self.day(collection_map, "extended_to", path, required=False)
            if window and extended_to and extended_to <= window.end:
                self.fail(f"{path}.extended_to", _("must be after the end of the collection period"))
            grace_until = self.day(collection_map, "grace_until", path, required=False)
            if window and grace_until and grace_until <= window.end:
                self.fail(f"{path}.grace_until", _("must be after the end of the collection period"))
            if window:
                collection = Collection(
                    window=window,
                    days_of_month=days_of_month,
                    holiday_extension=self.boolean(collection_map, "holiday_extension", path),
                    extended_to=extended_to,
                    extension_note=self.text(
                        collection_map, "extension_note", path, required=bool(extended_to)
                    ),
                    student_window=self.window(
                        collection_map.get("student_window"), f"{path}.student_window", required=False
                    ),
                    grace_until=grace_until,
                    grace_note=self.text(collection_map, "grace_note", path, required=False),
                )

        pricing = [
            self.price_rule(item, f"policy.pricing[{index}]")
            for index, item in enumerate(self.sequence(root.get("pricing"), "policy.pricing", required=True))
        ]
        if not pricing and "pricing" in root:
            self.fail("policy.pricing", _("needs at least one rule"))
        benefit = [
            self.benefit_rule(item, f"policy.benefit[{index}]")
            for index, item in enumerate(self.sequence(root.get("benefit"), "policy.benefit", required=True))
        ]
        if not benefit and "benefit" in root:
            self.fail("policy.benefit", _("needs at least one rule"))
        newborn = [
            self.newborn_rule(item, f"policy.newborn[{index}]")
            for index, item in enumerate(self.sequence(root.get("newborn"), "policy.newborn"))
        ]
        categories = [
            self.category(item, f"policy.subsidy_categories[{index}]", financing)
            for index, item in enumerate(
                self.sequence(root.get("subsidy_categories"), "policy.subsidy_categories")
            )
        ]
        codes = [category.code for category in categories if category]
        for code_seen in {code for code in codes if codes.count(code) > 1}:
            self.fail("policy.subsidy_categories", _("the code %(code)s is used twice") % {"code": code_seen})

        waiting = None
        waiting_map = self.mapping(root.get("waiting_period"), "policy.waiting_period", required=False)
        if waiting_map is not None:
            path = "policy.waiting_period"
            known_waiting = (
                "base_months",
                "per_break_year_months",
                "free_break_years",
                "long_break_years",
                "long_break_min_months",
                "exempt",
            )
            self.unknown(waiting_map, path, known_waiting)
            waiting = WaitingPeriod(
                base_months=self.integer(waiting_map, "base_months", path, maximum=24),
                per_break_year_months=self.integer(waiting_map, "per_break_year_months", path, maximum=12),
                free_break_years=self.integer(waiting_map, "free_break_years", path, maximum=10),
                long_break_years=self.integer(waiting_map, "long_break_years", path, maximum=50),
                long_break_min_months=self.integer(waiting_map, "long_break_min_months", path, maximum=36),
                exempt=self.situations(waiting_map.get("exempt"), f"{path}.exempt"),
            )
        if collection_map is not None and collection_map.get("grace_until") is None:
            for rule_path in self.grace_rules:
                self.fail(rule_path, _("grace_period needs collection.grace_until"))

        back_payment = None
        back_map = self.mapping(root.get("back_payment"), "policy.back_payment", required=False)
        if back_map is not None:
            path = "policy.back_payment"
            self.unknown(back_map, path, ("eligible", "basis", "apply_from", "apply_until", "start", "note"))
            apply_from = self.day(back_map, "apply_from", path)
            apply_until = self.day(back_map, "apply_until", path)
            if apply_from and apply_until and apply_until < apply_from:
                self.fail(f"{path}.apply_until", _("must not be before the start date"))
            back_payment = BackPayment(
                eligible=self.situations(back_map.get("eligible"), f"{path}.eligible"),
                basis=self.choice(back_map.get("basis"), f"{path}.basis", Basis, Basis.TOTAL),
                apply_from=apply_from or date.min,
                apply_until=apply_until or date.max,
                start=self.start(back_map.get("start"), f"{path}.start"),
                note=self.text(back_map, "note", path, required=False),
            )

        if waiting is None:
            starts = [
                (f"policy.benefit[{index}].start", rule.start) for index, rule in enumerate(benefit) if rule
            ]
            starts += [
                (f"policy.newborn[{index}].start", rule.start) for index, rule in enumerate(newborn) if rule
            ]
            if back_payment is not None:
                starts.append(("policy.back_payment.start", back_payment.start))
            for start_path, start in starts:
                if start.kind == StartKind.WAITING_PERIOD:
                    self.fail(
                        "policy.waiting_period",
                        _("is required when a rule starts after the waiting period (%(path)s)")
                        % {"path": start_path},
                    )

        incentive = None
        incentive_map = self.mapping(root.get("incentive"), "policy.incentive", required=False)
        if incentive_map is not None:
            path = "policy.incentive"
            self.unknown(
                incentive_map, path, ("after_years", "raise_fen_per_year", "max_percent_of_cap", "note")
            )
            incentive = ContinuityIncentive(
                after_years=self.integer(incentive_map, "after_years", path, maximum=50),
                raise_fen_per_year=self.integer(
                    incentive_map, "raise_fen_per_year", path, maximum=100_000_000
                ),
                max_percent_of_cap=self.integer(incentive_map, "max_percent_of_cap", path, maximum=100),
                note=self.text(incentive_map, "note", path, required=False),
            )

        refunds = Refunds({}, 5)
        refunds_map = self.mapping(root.get("refunds"), "policy.refunds")
        if refunds_map is not None:
            path = "policy.refunds"
            self.unknown(refunds_map, path, ("reasons", "decision_working_days", "note", "reason_notes"))
            # No reasons: nothing is refundable.
            reasons_map = self.mapping(refunds_map.get("reasons"), f"{path}.reasons", required=False) or {}
            reasons: dict[str, RefundWhen] = {}
            for reason, when in reasons_map.items():
                if reason not in REFUND_REASONS:
                    self.fail(
                        f"{path}.reasons.{reason}",
                        _("is not a refund reason; known reasons: %(choices)s")
                        % {"choices": ", ".join(REFUND_REASONS)},
                    )
                    continue
                value = self.choice(when, f"{path}.reasons.{reason}", RefundWhen)
                if value is not None:
                    reasons[reason] = value
            refunds = Refunds(
                reasons=reasons,
                decision_working_days=self.integer(
                    refunds_map, "decision_working_days", path, minimum=1, maximum=60
                ),
                note=self.text(refunds_map, "note", path, required=False),
                reason_notes=self._reason_notes(refunds_map, path),
            )

        notes = self.sequence(root.get("notes"), "policy.notes")
        if not all(isinstance(note, str) for note in notes):
            self.fail("policy.notes", _("must be a list of texts"))

        if coverage and collection and collection.window.start > coverage.end:
            self.fail("policy.collection.from", _("must not be after the end of the insurance year"))
        if year and coverage and coverage.start.year not in (year, year - 1):
            self.fail("policy.coverage.from", _("must lie in the insurance year"))

        if self.problems:
            raise PolicyError(self.problems)
        assert financing and coverage and collection
        return Policy(
            code=code,
            name=self.text(root, "name", "policy", max_length=120),
            source=self.text(root, "source", "policy", required=False),
            region_code=region_code,
            insurance_year=year,
            financing=financing,
            coverage=coverage,
            student_coverage=student_coverage,
            collection=collection,
            pricing=tuple(rule for rule in pricing if rule),
            benefit=tuple(rule for rule in benefit if rule),
            newborn=tuple(rule for rule in newborn if rule),
            subsidy_categories=tuple(category for category in categories if category),
            waiting_period=waiting,
            back_payment=back_payment,
            refunds=refunds,
            notes=tuple(str(note) for note in notes),
            incentive=incentive,
        )


# --- writing ---------------------------------------------------------------------------------


def _paid(rule: PriceRule | BenefitRule) -> str | dict[str, str] | None:
    if rule.in_collection_period:
        return "collection_period"
    if rule.in_grace_period:
        return "grace_period"
    return _window(rule.paid)


def _window(window: Window | None) -> dict[str, str] | None:
    return None if window is None else {"from": window.start.isoformat(), "to": window.end.isoformat()}


def _start(start: Start) -> dict[str, Any]:
    document: dict[str, Any] = {"kind": start.kind.value}
    if start.kind == StartKind.DAYS_AFTER_PAYMENT:
        document["days"] = start.days
    if start.kind == StartKind.FIRST_OF_MONTH:
        document["months"] = start.months
    if start.kind == StartKind.DATE and start.on:
        document["on"] = start.on.isoformat()
    return document


def _match(match: Match) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if match.situations:
        document["situations"] = sorted(situation.value for situation in match.situations)
    if match.person_categories:
        document["person_categories"] = sorted(match.person_categories)
    return document


def _without_empty(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if value not in (None, "", [], {})}


def _age(condition: AgeCondition | None) -> dict[str, Any] | None:
    return None if condition is None else {"years": condition.years, "on": condition.on.isoformat()}


def _write_policy(policy: Policy) -> dict[str, Any]:
    collection = policy.collection
    return _without_empty(
        {
            "format": DOCUMENT_FORMAT,
            "code": policy.code,
            "name": policy.name,
            "source": policy.source,
            "region_code": policy.region_code,
            "insurance_year": policy.insurance_year,
            "financing": _without_empty(
                {
                    "individual_fen": policy.financing.individual_fen,
                    "subsidy_fen": policy.financing.subsidy_fen,
                    "note": policy.financing.note,
                }
            ),
            "coverage": _window(policy.coverage),
            "student_coverage": _window(policy.student_coverage),
            "collection": _without_empty(
                {
                    **(_window(collection.window) or {}),
                    "days_of_month": list(collection.days_of_month) if collection.days_of_month else None,
                    "holiday_extension": collection.holiday_extension,
                    "extended_to": collection.extended_to.isoformat() if collection.extended_to else None,
                    "extension_note": collection.extension_note,
                    "student_window": _window(collection.student_window),
                    "grace_until": collection.grace_until.isoformat() if collection.grace_until else None,
                    "grace_note": collection.grace_note,
                }
            )
            | {"holiday_extension": collection.holiday_extension},
            "pricing": [
                _without_empty(
                    {
                        **_match(rule.match),
                        "paid": _paid(rule),
                        "basis": rule.basis.value,
                        "note": rule.note,
                    }
                )
                | {"subsidy": rule.subsidy}
                for rule in policy.pricing
            ],
            "benefit": [
                _without_empty(
                    {
                        **_match(rule.match),
                        "paid": _paid(rule),
                        "start": _start(rule.start),
                        "note": rule.note,
                    }
                )
                for rule in policy.benefit
            ],
            "newborn": [
                _without_empty(
                    {
                        "born": _window(rule.born),
                        "pay_until": rule.pay_until.isoformat() if rule.pay_until else None,
                        "pay_within_days": rule.pay_within_days,
                        "pay_within_months": rule.pay_within_months,
                        "basis": rule.basis.value,
                        "start": _start(rule.start),
                        "note": rule.note,
                    }
                )
                | ({"moves_with_collection": True} if rule.moves_with_collection else {})
                | ({"price_by_date": True} if rule.price_by_date else {})
                for rule in policy.newborn
            ],
            "subsidy_categories": [
                _without_empty(
                    {
                        "code": category.code,
                        "name": category.name,
                        "marker": category.marker,
                        "scheme": category.scheme.value,
                        "percent": category.percent if category.scheme == Scheme.PERCENT else None,
                        "amount_fen": category.amount_fen if category.scheme == Scheme.FIXED else None,
                        "conditions": _without_empty(
                            {
                                "paid_by": category.conditions.paid_by.isoformat()
                                if category.conditions.paid_by
                                else None,
                                "born_on_or_before": category.conditions.born_on_or_before.isoformat()
                                if category.conditions.born_on_or_before
                                else None,
                                "age_at_least": _age(category.conditions.age_at_least),
                                "age_below": _age(category.conditions.age_below),
                                "hukou_in_region": category.conditions.hukou_in_region or None,
                                "recognised_by": category.conditions.recognised_by.isoformat()
                                if category.conditions.recognised_by
                                else None,
                            }
                        ),
                        "note": category.note,
                        "tag": category.tag,
                    }
                )
                | ({} if category.requires_tag else {"requires_tag": False})
                for category in policy.subsidy_categories
            ],
            "waiting_period": None
            if policy.waiting_period is None
            else {
                "base_months": policy.waiting_period.base_months,
                "per_break_year_months": policy.waiting_period.per_break_year_months,
                "free_break_years": policy.waiting_period.free_break_years,
                "long_break_years": policy.waiting_period.long_break_years,
                "long_break_min_months": policy.waiting_period.long_break_min_months,
                "exempt": sorted(situation.value for situation in policy.waiting_period.exempt),
            },
            "back_payment": None
            if policy.back_payment is None
            else _without_empty(
                {
                    "eligible": sorted(situation.value for situation in policy.back_payment.eligible),
                    "basis": policy.back_payment.basis.value,
                    "apply_from": policy.back_payment.apply_from.isoformat(),
                    "apply_until": policy.back_payment.apply_until.isoformat(),
                    "start": _start(policy.back_payment.start),
                    "note": policy.back_payment.note,
                }
            ),
            "refunds": _without_empty(
                {
                    "reasons": {reason: when.value for reason, when in policy.refunds.reasons.items()},
                    "decision_working_days": policy.refunds.decision_working_days,
                    "note": policy.refunds.note,
                    "reason_notes": dict(policy.refunds.reason_notes),
                }
            ),
            "notes": list(policy.notes),
            "incentive": None
            if policy.incentive is None
            else _without_empty(
                {
                    "after_years": policy.incentive.after_years,
                    "raise_fen_per_year": policy.incentive.raise_fen_per_year,
                    "max_percent_of_cap": policy.incentive.max_percent_of_cap,
                    "note": policy.incentive.note,
                }
            ),
        }
    )
