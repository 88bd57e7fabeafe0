"""The rulebook's pages: the policies of the user's area, one policy read as a clerk reads it (every
rule with the path the rule engine cites), its versions, download, edit, a new year's policy,
import and the extension of the collection period; and a "try the rules" box.

Thin: each view takes the scope, checks a form, calls one service or selector of
``enrollment.policies`` and renders. The wording of a policy (``describe_policy``) is presentation
only: it reads the validated dataclasses of ``enrollment.rules.policy``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from accounts.access import ScopedViewMixin
from accounts.days import day_of_month
from accounts.models import Region
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import county_names

from .. import policies, selectors_assessment
from ..models import PersonCategory, Policy
from ..rules import engine
from ..rules import policy as rules
from ..rules.dates import shift_document
from ..rules.presets import PRESETS, load_preset
from ..selectors_assessment import policy_code_owner

# The rulebook's own rule for codes (the service refuses the rest too); checked here first so the
# form says it next to the other problems of the code.
CODE_PATTERN = rules.POLICY_CODE
RESERVED_CODES = rules.RESERVED_POLICY_CODES
# Problems with the code are listed like the reader's, with their path in front (not translated).
CODE_PATH = "policy.code: "


# --- money, dates, paths ----------------------------------------------------------------------------


def rule_anchor(path: str) -> str:
    """The HTML id of a rule on the policy page: ``pricing[0]`` → ``rule-pricing-0``."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "-", path.removeprefix("policy.")).strip("-")
    return f"rule-{cleaned}"


def problem_rows(messages_: list[str]) -> list[dict[str, str]]:
    """A service's problems ("policy.pricing[0].basis: must be …") as path and message."""
    rows = []
    for whole in messages_:
        message, _mark, detail = whole.partition(policies.SYNTAX_DETAIL_MARK)
        path, separator, text = message.partition(": ")
        if separator and " " not in path:
            rows.append({"path": path, "message": text, "detail": detail})
        else:
            rows.append({"path": "", "message": message, "detail": detail})
    return rows


def error_messages(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [message for messages_ in error.message_dict.values() for message in messages_]
    return list(error.messages)


def who(user: Any) -> str:
    """The name of whoever saved or started something; "the system" for commands and presets."""
    if user is None:
        return _("the system")
    return user.full_name or user.username


def dump_yaml(document: Any) -> str:
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120)


def readable_yaml(document: Any) -> str:
    """A stored document as YAML in the order of the policy format (the database keeps keys in its own order)."""
    return dump_yaml(ordered(document))


def ordered(document: Any) -> Any:
    try:
        return policies.policy_parse(document=document).to_document()
    except ValidationError:
        return document


def shift_years(document: Any, years: int) -> Any:
    """The document with every ISO date, and every "2021年" of the years around, moved by ``years``;
    the last day of a month stays the last day of its month (``rules.dates.shift_date``)."""
    return shift_document(document, years)


def next_year_copy(document: dict[str, Any]) -> dict[str, Any]:
    """A policy document for the following insurance year: dates, years, code and name moved on by one
    year; the extension of the collection period (a decision for one year) left out."""
    year = int(document.get("insurance_year") or timezone.localdate().year)
    copied = shift_years(copy.deepcopy(document), 1)
    copied["insurance_year"] = year + 1
    code = str(document.get("code") or "policy")
    copied["code"] = code.replace(str(year), str(year + 1)) if str(year) in code else f"{code}-{year + 1}"
    name = str(document.get("name") or "")
    copied["name"] = name.replace(str(year), str(year + 1)) if str(year) in name else name
    collection = copied.get("collection")
    if isinstance(collection, dict):
        collection.pop("extended_to", None)
        collection.pop("extension_note", None)
    return copied


# --- the policy in words ----------------------------------------------------------------------------


@dataclass
class RuleView:
    path: str
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""

    @property
    def anchor(self) -> str:
        return rule_anchor(self.path)


@dataclass
class SectionView:
    key: str
    title: str
    path: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)
    rules: list[RuleView] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: str = ""
    # Rules of one fact each, shown as the rows of a table.
    compact: bool = False

    @property
    def anchor(self) -> str:
        return rule_anchor(self.path or self.key)


def _say_category(code: str) -> str:
    try:
        return str(PersonCategory(code).label)
    except ValueError:
        return code


def _who(match: rules.Match) -> str:
    if not match.situations and not match.person_categories:
        return _("everyone")
    parts = []
    if match.situations:
        parts.append(", ".join(engine.say_situation(item) for item in sorted(match.situations)))
    if match.person_categories:
        parts.append(", ".join(_say_category(item) for item in sorted(match.person_categories)))
    return _("only %(who)s") % {"who": "; ".join(parts)}


def _paid(policy: rules.Policy, rule: rules.PriceRule | rules.BenefitRule) -> str:
    if rule.in_collection_period:
        text = _("within the collection period (%(window)s)") % {
            "window": engine.say_window(policy.collection.effective_window)
        }
        if policy.collection.student_window:
            text += _("; students within their school's period (%(window)s)") % {
                "window": engine.say_window(policy.collection.student_window)
            }
        return text
    if rule.in_grace_period:
        grace = policy.collection.grace_window
        return _("in the grace period after the collection period (%(window)s)") % {
            "window": engine.say_window(grace) if grace else "—"
        }
    return engine.say_window(rule.paid) if rule.paid else "—"


def _start(policy: rules.Policy, start: rules.Start) -> str:
    kind = start.kind
    if kind == rules.StartKind.COVERAGE_START:
        return _("on the first day of the insurance year (%(date)s)") % {
            "date": engine.say_date(policy.coverage.start)
        }
    if kind == rules.StartKind.DATE and start.on:
        return _("on %(date)s") % {"date": engine.say_date(start.on)}
    if kind == rules.StartKind.DAYS_AFTER_PAYMENT:
        return _("%(days)d days after the payment date") % {"days": start.days}
    if kind == rules.StartKind.FIRST_OF_MONTH:
        return _("on the 1st of the month %(months)d months after the month of payment") % {
            "months": start.months
        }
    if kind == rules.StartKind.BIRTH_DATE:
        return _("on the day of birth")
    return _("after the waiting period (see waiting_period)")


def _category_pays(policy: rules.Policy, category: rules.SubsidyCategory) -> str:
    individual = policy.financing.individual_fen
    if category.scheme == rules.Scheme.FULL:
        return _("the whole individual part (%(amount)s)") % {"amount": engine.say_money(individual)}
    if category.scheme == rules.Scheme.PERCENT:
        amount = (individual * category.percent + 50) // 100
        return _("%(percent)d%% of the individual part (%(amount)s)") % {
            "percent": category.percent,
            "amount": engine.say_money(amount),
        }
    return _("a fixed amount of %(amount)s") % {
        "amount": engine.say_money(min(category.amount_fen, individual))
    }


def _conditions(conditions: rules.Conditions) -> str:
    parts = []
    if conditions.paid_by:
        parts.append(_("paid by %(date)s") % {"date": engine.say_date(conditions.paid_by)})
    if conditions.born_on_or_before:
        parts.append(
            _("born on or before %(date)s") % {"date": engine.say_date(conditions.born_on_or_before)}
        )
    if conditions.age_at_least:
        parts.append(
            _("aged %(years)d or over on %(date)s")
            % {"years": conditions.age_at_least.years, "date": engine.say_date(conditions.age_at_least.on)}
        )
    if conditions.age_below:
        parts.append(
            _("under %(years)d on %(date)s")
            % {"years": conditions.age_below.years, "date": engine.say_date(conditions.age_below.on)}
        )
    if conditions.hukou_in_region:
        parts.append(_("hukou in the region"))
    if conditions.recognised_by:
        parts.append(_("recognised by %(date)s") % {"date": engine.say_date(conditions.recognised_by)})
    return "; ".join(parts) if parts else _("none")


def _refund_when(when: rules.RefundWhen) -> str:
    return {
        rules.RefundWhen.ALWAYS: _("always refundable"),
        rules.RefundWhen.BEFORE_BENEFIT_START: _("refundable only before the benefit period starts"),
        rules.RefundWhen.BEFORE_INSURANCE_YEAR: _(
            "refundable only before the insurance year paid for begins"
        ),
        rules.RefundWhen.NEVER: _("not refundable"),
    }[when]


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


def _financing(policy: rules.Policy) -> SectionView:
    financing = policy.financing
    facts = [
        (_("Individual contribution (I)"), engine.say_money(financing.individual_fen)),
        (_("Government subsidy (S)"), engine.say_money(financing.subsidy_fen)),
        (_("Total financing (F = I + S)"), engine.say_money(financing.total_fen)),
    ]
    if financing.note:
        facts.append((_("Where the numbers come from"), financing.note))
    return SectionView("financing", _("Financing"), path="financing", facts=facts)


def _coverage(policy: rules.Policy) -> SectionView:
    facts = [
        (_("Insurance year"), str(policy.insurance_year)),
        (_("Cover period"), engine.say_window(policy.coverage)),
    ]
    if policy.student_coverage:
        facts.append(
            (_("Cover of students and pre-school children"), engine.say_window(policy.student_coverage))
        )
    return SectionView("coverage", _("Insurance year"), path="coverage", facts=facts)


def _collection(policy: rules.Policy) -> SectionView:
    collection = policy.collection
    facts = [(_("Collection period"), engine.say_window(collection.window))]
    if collection.days_of_month:
        first, last = collection.days_of_month
        facts.append(
            (
                _("Collection days"),
                _("only from the %(first)s to the %(last)s of each month")
                % {"first": day_of_month(first), "last": day_of_month(last)},
            )
        )
    else:
        facts.append((_("Collection days"), _("every day of the period")))
    facts.append(
        (
            _("A last day on a holiday"),
            _("moves to the next working day") if collection.holiday_extension else _("does not move"),
        )
    )
    if collection.extended_to:
        facts.append((_("Extended to"), engine.say_date(collection.extended_to)))
        facts.append((_("Why it was extended"), collection.extension_note or "—"))
        facts.append((_("Collection period now"), engine.say_window(collection.effective_window)))
    if collection.student_window:
        facts.append((_("Students, through their school"), engine.say_window(collection.student_window)))
    if collection.grace_until:
        grace = collection.grace_window
        facts.append((_("Grace period"), engine.say_window(grace) if grace else "—"))
        if collection.grace_note:
            facts.append((_("About the grace period"), collection.grace_note))
    return SectionView("collection", _("Collection period"), path="collection", facts=facts)


def _pricing(policy: rules.Policy) -> SectionView:
    section = SectionView("pricing", _("Price rules (the first rule that fits decides)"), path="pricing")
    for index, rule in enumerate(policy.pricing):
        facts = [
            (_("For"), _who(rule.match)),
            (_("When paid"), _paid(policy, rule)),
            (_("Pays"), engine.say_basis(policy, rule.basis)),
        ]
        if rule.basis == rules.Basis.INDIVIDUAL:
            facts.append((_("Subsidy categories apply"), _yes_no(rule.subsidy)))
        section.rules.append(
            RuleView(f"pricing[{index}]", _("Price rule %(n)d") % {"n": index + 1}, facts, rule.note)
        )
    return section


def _benefit(policy: rules.Policy) -> SectionView:
    section = SectionView(
        "benefit", _("Benefit rules: when cover starts (the first rule that fits decides)"), path="benefit"
    )
    for index, rule in enumerate(policy.benefit):
        facts = [
            (_("For"), _who(rule.match)),
            (_("When paid"), _paid(policy, rule)),
            (_("Cover starts"), _start(policy, rule.start)),
        ]
        section.rules.append(
            RuleView(f"benefit[{index}]", _("Benefit rule %(n)d") % {"n": index + 1}, facts, rule.note)
        )
    return section


def _newborn(policy: rules.Policy) -> SectionView:
    section = SectionView(
        "newborn",
        _("Newborns (born on or after the collection period opened)"),
        path="newborn",
        empty=_("No rule of its own: newborns pay by the price and benefit rules."),
    )
    for index, rule in enumerate(policy.newborn):
        born = engine.newborn_born_window(policy, rule)
        facts = [(_("Born"), engine.say_window(born) if born else _("any day"))]
        if rule.pay_until:
            limit = _("by %(date)s") % {"date": engine.say_date(rule.pay_until)}
            if rule.moves_with_collection:
                limit += _(" (moves with an extension of the collection period)")
        elif rule.pay_within_days:
            limit = _("within %(days)d days after birth") % {"days": rule.pay_within_days}
        elif rule.pay_within_months:
            limit = _("within %(months)d months after birth") % {"months": rule.pay_within_months}
        else:
            limit = _("no limit")
        facts.append((_("Parents pay"), limit))
        facts.append(
            (
                _("Pays"),
                _("what the price rules say for the payment date")
                if rule.price_by_date
                else engine.say_basis(policy, rule.basis),
            )
        )
        facts.append((_("Cover starts"), _start(policy, rule.start)))
        section.rules.append(
            RuleView(f"newborn[{index}]", _("Newborn rule %(n)d") % {"n": index + 1}, facts, rule.note)
        )
    return section


def _subsidies(policy: rules.Policy) -> SectionView:
    section = SectionView(
        "subsidy_categories",
        _("Subsidy categories (never stacked: the most favourable one applies)"),
        path="subsidy_categories",
        empty=_("No subsidy categories."),
    )
    for index, category in enumerate(policy.subsidy_categories):
        facts = [
            (_("Code"), category.code),
            (_("Marker sent to tax"), category.marker),
            (_("The government pays"), _category_pays(policy, category)),
            (
                _("Roster tag"),
                category.tag_code
                if category.requires_tag
                else _("none needed: applies by the conditions alone"),
            ),
            (_("Conditions"), _conditions(category.conditions)),
        ]
        section.rules.append(RuleView(f"subsidy_categories[{index}]", category.name, facts, category.note))
    return section


def _waiting(policy: rules.Policy) -> SectionView:
    waiting = policy.waiting_period
    section = SectionView(
        "waiting_period",
        _("Waiting period"),
        path="waiting_period",
        empty=_("No waiting period."),
    )
    if waiting is None:
        return section
    section.facts = [
        (_("Fixed waiting period"), _("%(months)d months") % {"months": waiting.base_months}),
        (
            _("Added per further year of break"),
            _("%(months)d months") % {"months": waiting.per_break_year_months},
        ),
        (_("Years of break that add nothing"), str(waiting.free_break_years)),
        (
            _("After a long break"),
            _("%(years)d years of break or more: at least %(months)d months")
            % {"years": waiting.long_break_years, "months": waiting.long_break_min_months},
        ),
        (
            _("Exempt"),
            ", ".join(engine.say_situation(item) for item in sorted(waiting.exempt)) or _("nobody"),
        ),
    ]
    return section


def _back_payment(policy: rules.Policy) -> SectionView:
    back = policy.back_payment
    section = SectionView(
        "back_payment", _("Back-payment"), path="back_payment", empty=_("This policy has no back-payment")
    )
    if back is None:
        return section
    section.facts = [
        (
            _("Who may pay back"),
            ", ".join(engine.say_situation(item) for item in sorted(back.eligible)) or _("everyone"),
        ),
        (_("Pays"), engine.say_basis(policy, back.basis)),
        (
            _("Applications"),
            _("%(start)s to %(end)s")
            % {
                "start": engine.say_date(engine.back_payment_apply_from(policy)),
                "end": engine.say_date(back.apply_until),
            },
        ),
        (_("Cover starts"), _start(policy, back.start)),
    ]
    if back.note:
        section.notes.append(back.note)
    return section


def _refunds(policy: rules.Policy) -> SectionView:
    refunds = policy.refunds
    section = SectionView(
        "refunds",
        _("Refunds"),
        path="refunds",
        compact=True,
        facts=[
            (
                _("Decided within"),
                _("%(days)d working days") % {"days": refunds.decision_working_days},
            )
        ],
    )
    for reason in rules.REFUND_REASONS:
        when = refunds.reasons.get(reason, rules.RefundWhen.NEVER)
        section.rules.append(
            RuleView(
                f"refunds.reasons.{reason}",
                engine.say_refund_reason(reason),
                [(_("Refund"), _refund_when(when))],
                refunds.reason_notes.get(reason, ""),
            )
        )
    if refunds.note:
        section.notes.append(refunds.note)
    return section


def _incentive(policy: rules.Policy) -> SectionView | None:
    incentive = policy.incentive
    if incentive is None:
        return None
    section = SectionView(
        "incentive",
        _("Incentive for continuous enrollment"),
        path="incentive",
        facts=[
            (_("After continuous years"), str(incentive.after_years)),
            (
                _("Critical-illness cap raised per further year"),
                engine.say_money(incentive.raise_fen_per_year),
            ),
            (
                _("At most"),
                _("%(percent)d%% of the original cap") % {"percent": incentive.max_percent_of_cap},
            ),
        ],
    )
    if incentive.note:
        section.notes.append(incentive.note)
    return section


def describe_policy(policy: rules.Policy) -> list[SectionView]:
    """The whole policy in a clerk's words, section by section, every rule with its path."""
    sections = [
        _financing(policy),
        _coverage(policy),
        _collection(policy),
        _pricing(policy),
        _benefit(policy),
        _newborn(policy),
        _subsidies(policy),
        _waiting(policy),
        _back_payment(policy),
        _refunds(policy),
    ]
    incentive = _incentive(policy)
    if incentive is not None:
        sections.append(incentive)
    if policy.notes:
        sections.append(SectionView("notes", _("Notes"), path="notes", notes=list(policy.notes)))
    return sections


def region_labels(codes: set[str]) -> dict[str, str]:
    """Region names for policy region codes (6, 9 or 12 digits; '' is the whole country), one query."""
    padded = {code: code.ljust(12, "0") for code in codes if code}
    names = dict(Region.objects.filter(code__in=padded.values()).values_list("code", "name"))
    labels = {code: names.get(full, code) for code, full in padded.items()}
    labels[""] = _("Whole country")
    return labels


# --- try the rules ----------------------------------------------------------------------------------


class TryForm(forms.Form):
    """A person's facts and a payment date: what the engine decides (nothing is stored)."""

    birth_date = forms.DateField(
        label=gettext_lazy("Birth date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    person_category = forms.ChoiceField(label=gettext_lazy("Person category"), choices=PersonCategory.choices)
    last_paid_year = forms.IntegerField(
        label=gettext_lazy("Last insurance year paid for"),
        required=False,
        min_value=1990,
        max_value=2100,
        help_text=gettext_lazy("Empty: never paid before."),
    )
    tags = forms.MultipleChoiceField(
        label=gettext_lazy("Subsidy tags"), required=False, widget=forms.CheckboxSelectMultiple
    )
    paid_on = forms.DateField(
        label=gettext_lazy("Payment date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    transfer = forms.BooleanField(label=gettext_lazy("Transferred in from another region"), required=False)
    outside_hukou = forms.BooleanField(label=gettext_lazy("Hukou outside the region"), required=False)

    def __init__(self, *args: Any, policy: rules.Policy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Several categories may share one roster tag (and differ by their conditions).
        names: dict[str, list[str]] = {}
        for category in policy.subsidy_categories:
            names.setdefault(category.tag_code, []).append(category.name)
        self.fields["tags"].choices = [(tag, " / ".join(found)) for tag, found in sorted(names.items())]

    def facts(self, policy: rules.Policy) -> engine.PersonFacts:
        data = self.cleaned_data
        # Recognised in time for every category: by the collection period, or by a category's deadline.
        deadlines = [
            c.conditions.recognised_by for c in policy.subsidy_categories if c.conditions.recognised_by
        ]
        recognised = min([policy.collection.window.start, *deadlines])
        return engine.PersonFacts(
            birth_date=data["birth_date"],
            person_category=data["person_category"],
            hukou_in_region=not data["outside_hukou"],
            tags=tuple(engine.Tag(code, recognised) for code in data["tags"]),
            last_paid_year=data["last_paid_year"],
            transfer=data["transfer"],
        )


def _try_result(form: TryForm, policy: rules.Policy) -> dict[str, Any] | None:
    if not form.is_bound or not form.is_valid():
        return None
    facts = form.facts(policy)
    paid_on = form.cleaned_data["paid_on"]
    price = engine.price_on(policy, facts, paid_on)
    benefit = engine.benefit_period(policy, facts, paid_on) if price.accepted else None
    return {
        "price": price,
        "situation": engine.say_situation(price.situation),
        "payable": yuan(price.payable_fen),
        "subsidy": yuan(price.subsidy.subsidy_fen),
        "government": yuan(price.government_fen),
        "price_anchor": rule_anchor(price.rule),
        "benefit": benefit,
        "benefit_anchor": rule_anchor(benefit.rule) if benefit else "",
    }


# --- pages ------------------------------------------------------------------------------------------


class PolicyListView(ScopedViewMixin, View):
    """The policies the user may read: their area's and those of the regions above it."""

    required_action = Action.POLICY_VIEW
    template_name = "enrollment/rulebook/policy_list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        rows = list(
            policies.policy_list(scope=self.scope).order_by("region_prefix", "-insurance_year", "code")
        )
        labels = region_labels({policy.region_code for policy in rows})
        context = {
            "rows": [
                {
                    "policy": policy,
                    "region": labels.get(policy.region_code, policy.region_code),
                    "can_manage": policies.policy_can_manage(scope=self.scope, policy=policy),
                }
                for policy in rows
            ],
            "can_manage": self.scope.allows(Action.POLICY_MANAGE),
        }
        return render(request, self.template_name, context)


class PolicyDetailView(ScopedViewMixin, View):
    """One policy in words, its versions, downloads, and (GET ``try-…``) what the rules decide for a person."""

    required_action = Action.POLICY_VIEW
    template_name = "enrollment/rulebook/policy_detail.html"

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = policies.policy_detail(scope=self.scope, code=code)
        try:
            parsed = policies.policy_parse(document=policy.document)
        except ValidationError as error:
            parsed, problems = None, problem_rows(error_messages(error))
        else:
            problems = []
        tried = request.GET.get("try-paid_on") is not None
        form = (
            TryForm(
                request.GET if tried else None, policy=parsed, prefix="try", initial=self._initial(parsed)
            )
            if parsed
            else None
        )
        labels = region_labels({policy.region_code})
        context = {
            "policy": policy,
            "parsed": parsed,
            "problems": problems,
            "region": labels.get(policy.region_code, policy.region_code),
            "sections": describe_policy(parsed) if parsed else [],
            "versions": [
                {"version": version, "by": who(version.saved_by)}
                for version in policies.policy_versions(policy=policy)
            ],
            "can_manage": policies.policy_can_manage(scope=self.scope, policy=policy),
            "try_form": form,
            "tried": tried,
            "result": _try_result(form, parsed) if form is not None and parsed else None,
            "followup": extension_followup(request, self.scope, policy.code),
        }
        return render(request, self.template_name, context)

    @staticmethod
    def _initial(parsed: rules.Policy | None) -> dict[str, Any]:
        if parsed is None:
            return {}
        return {
            "birth_date": dt.date(1980, 1, 1),
            "person_category": PersonCategory.RURAL,
            "last_paid_year": parsed.insurance_year - 1,
            "paid_on": parsed.collection.window.start,
        }


# The session's record of the collection-period extensions this user made, by policy code: their
# county runs, so the policy page can say where those stand (``extension_followup``).
_EXTENSIONS_KEY = "enrollment.policy_extensions"


@dataclass(frozen=True)
class ExtensionFollowup:
    """What the policy page says about the reassessment an extension queued: ``state`` is
    running (a run waits or runs), failed (every run ended, one or more failed) or done."""

    state: str
    said: list[str]


def extension_followup(request: HttpRequest, scope: Scope, code: str) -> ExtensionFollowup | None:
    """Where the county runs of the extension this user made to policy ``code`` stand now, in words;
    None when they made none. Said as long as a run waits or runs, and once more when all have
    ended (then forgotten, as a message would be)."""
    kept = request.session.get(_EXTENSIONS_KEY, {})
    extension = kept.get(code)
    if not extension:
        return None
    progress = selectors_assessment.reassessment_progress(scope=scope, run_ids=extension["runs"])
    until = engine.say_date(dt.date.fromisoformat(extension["until"]))
    said = [
        sentence % {"counties": ", ".join(counties)}
        for counties, sentence in (
            (
                progress.running,
                _(
                    "The counties of this policy are being reassessed, so that tax takes "
                    "payments until the new last day: %(counties)s."
                ),
            ),
            (
                progress.after_running,
                _(
                    "The assessment of %(counties)s was already running with the previous "
                    "version; each is reassessed when its current run ends."
                ),
            ),
            (
                progress.done,
                _(
                    "These counties were reassessed, so that tax takes payments until the new last day: %(counties)s."
                ),
            ),
            (
                progress.failed,
                _(
                    "The reassessment of %(counties)s failed: tax does not yet take payments there until "
                    "the new last day. See the run's error and start the county's run again."
                ),
            ),
        )
        if counties
    ]
    # The back-payments the runs withdraw: their own figures once every run has ended (a failed
    # one withdrew nothing), else as the extension counted them.
    if progress.finished:
        if progress.back_payments_withdrawn or extension["counted"]:
            said.append(
                _(
                    "Approved back-payment applications not yet paid that were withdrawn: %(count)d; "
                    "until %(date)s those persons pay the normal contribution."
                )
                % {"count": progress.back_payments_withdrawn, "date": until}
            )
        del kept[code]
        request.session[_EXTENSIONS_KEY] = kept
    elif extension["counted"]:
        said.append(
            _(
                "Approved back-payment applications not yet paid that are being withdrawn as the "
                "counties are reassessed: %(count)d; until %(date)s those persons pay the normal "
                "contribution."
            )
            % {"count": extension["counted"], "date": until}
        )
    if not said:
        return None
    state = "running" if not progress.finished else "failed" if progress.failed else "done"
    return ExtensionFollowup(state, said)


class PolicyVersionView(ScopedViewMixin, View):
    """One saved version's document, as it was saved."""

    required_action = Action.POLICY_VIEW
    template_name = "enrollment/rulebook/policy_version.html"

    def get(self, request: HttpRequest, code: str, number: int) -> HttpResponse:
        policy = policies.policy_detail(scope=self.scope, code=code)
        version = policies.policy_versions(policy=policy).filter(number=number).first()
        if version is None:
            raise Http404(_("No such version of this policy."))
        context = {
            "policy": policy,
            "version": version,
            "by": who(version.saved_by),
            "text": readable_yaml(version.document),
        }
        return render(request, self.template_name, context)


class PolicyDownloadView(ScopedViewMixin, View):
    """``?format=yaml`` (default) or ``json``: the current document as a file, to edit or import elsewhere."""

    required_action = Action.POLICY_VIEW

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = policies.policy_detail(scope=self.scope, code=code)
        fmt = "json" if request.GET.get("format") == "json" else "yaml"
        content, content_type, filename = policies.policy_export(policy=policy, fmt=fmt)
        response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response


# --- editing ----------------------------------------------------------------------------------------


class DocumentForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Policy document (YAML)"),
        strip=False,
        max_length=policies.MAX_DOCUMENT_BYTES,
        widget=forms.Textarea(attrs={"rows": 32, "spellcheck": "false", "class": "code-editor"}),
    )
    note = forms.CharField(
        label=gettext_lazy("Why (kept in the version history)"),
        max_length=300,
        widget=forms.TextInput(attrs={"class": "wide"}),
    )

    def __init__(self, *args: Any, expected_code: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected_code = expected_code

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "text" in data:
            try:
                data["document"] = policies.policy_read_text(text=data["text"], filename="policy.yaml")
            except ValidationError as error:
                self.add_error("text", error)
                return data
            check_code(self, data["document"], self.expected_code)
        return data


def check_code(form: forms.Form, document: Any, expected: str = "") -> None:
    """The code names the policy (and its address): kept when editing, letters, digits, - and _ only."""
    if not isinstance(document, dict):
        return
    code = document.get("code")
    if expected and code != expected:
        form.add_error(
            None,
            CODE_PATH + _("must stay %(code)s; to add another policy, use “New policy”") % {"code": expected},
        )
    elif isinstance(code, str) and code and (not CODE_PATTERN.fullmatch(code) or code in RESERVED_CODES):
        form.add_error(None, CODE_PATH + _("may contain only letters, digits, hyphens and underscores"))


def _form_problems(form: forms.Form) -> list[dict[str, str]]:
    found = [str(message) for message in form.non_field_errors()]
    if "text" in form.errors:
        found += [str(message) for message in form.errors["text"]]
    if "file" in form.errors:
        found += [str(message) for message in form.errors["file"]]
    return problem_rows(found)


class _ManageMixin(ScopedViewMixin):
    required_action = Action.POLICY_MANAGE

    def managed(self, code: str) -> Policy:
        """The policy, if the user may change it: 404 outside the area, 403 for a region above it."""
        policy = policies.policy_detail(scope=self.scope, code=code)
        if not policies.policy_can_manage(scope=self.scope, policy=policy):
            raise PermissionDenied(_("This policy's region lies outside your area."))
        return policy


def _saved(request: HttpRequest, loaded: policies.LoadedPolicy, previous_version: int | None) -> HttpResponse:
    record = loaded.record
    if previous_version is not None and record.version == previous_version:
        messages.info(
            request,
            _("Nothing changed: the policy stays at version %(version)d.") % {"version": record.version},
        )
    else:
        said = _("%(name)s saved as version %(version)d.") % {"name": record.name, "version": record.version}
        messages.success(
            request,
            selectors_assessment.policy_saved_said(policy=record, today=timezone.localdate(), said=said),
        )
    return redirect("enrollment:policy-detail", code=record.code)


def _save(scope: Scope, request: HttpRequest, document: Any, note: str) -> policies.LoadedPolicy:
    return policies.policy_save(document=document, note=note, scope=scope, actor_id=request.user.pk)


class PolicyEditView(_ManageMixin, View):
    """The policy's YAML and a required "why": every problem listed with its path, the text kept."""

    template_name = "enrollment/rulebook/policy_edit.html"

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        text = readable_yaml(policy.document)
        return self._render(policy, DocumentForm(initial={"text": text}, expected_code=policy.code))

    def post(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        form = DocumentForm(request.POST, expected_code=policy.code)
        if form.is_valid():
            try:
                loaded = _save(self.scope, request, form.cleaned_data["document"], form.cleaned_data["note"])
            except ValidationError as error:
                _add_errors(form, error)
            else:
                return _saved(request, loaded, policy.version)
        return self._render(policy, form, status=400)

    def _render(self, policy: Policy, form: DocumentForm, status: int = 200) -> HttpResponse:
        context = {"policy": policy, "form": form, "problems": _form_problems(form), "mode": "edit"}
        return render(self.request, self.template_name, context, status=status)


def _add_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's errors: the note's next to the note, every other problem in the list above."""
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields and name == "note" else None, problems)
    else:
        form.add_error(None, error.messages)


class PolicyNewView(_ManageMixin, View):
    """A new policy (next year's, usually): the form pre-filled with a copy of a policy or a preset,
    dates and years moved on by one year. ``?from=policy:<code>`` or ``?from=preset:<code>``."""

    template_name = "enrollment/rulebook/policy_edit.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        sources = self._sources()
        chosen = request.GET.get("from") or self._default_source(sources)
        document = self._source_document(chosen)
        text = dump_yaml(next_year_copy(document)) if document else ""
        form = DocumentForm(initial={"text": text})
        return self._render(form, sources=sources, chosen=chosen)

    def post(self, request: HttpRequest) -> HttpResponse:
        form = DocumentForm(request.POST)
        if form.is_valid():
            document = form.cleaned_data["document"]
            code = document.get("code") if isinstance(document, dict) else None
            if isinstance(code, str) and policy_code_owner(code=code) is not None:
                form.add_error(
                    None,
                    CODE_PATH
                    + _("%(code)s is taken by another policy; give the new policy a code of its own")
                    % {"code": code},
                )
            else:
                try:
                    loaded = _save(self.scope, request, document, form.cleaned_data["note"])
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    return _saved(request, loaded, None)
        return self._render(form, sources=self._sources(), chosen=request.GET.get("from", ""), status=400)

    def _sources(self) -> list[tuple[str, str]]:
        readable = policies.policy_list(scope=self.scope).order_by("region_prefix", "-insurance_year")
        found = [(f"policy:{policy.code}", f"{policy.name} ({policy.code})") for policy in readable]
        found += [(f"preset:{code}", _("Preset: %(code)s") % {"code": code}) for code in PRESETS]
        return found

    def _default_source(self, sources: list[tuple[str, str]]) -> str:
        """The newest policy of the user's own region, else the newest one they may read, else a preset."""
        own = (
            policies.policy_list(scope=self.scope)
            .filter(region_prefix=self.scope.region_prefix or "")
            .order_by("-insurance_year")
            .first()
        )
        if own is not None:
            return f"policy:{own.code}"
        newest = policies.policy_list(scope=self.scope).order_by("-insurance_year").first()
        if newest is not None:
            return f"policy:{newest.code}"
        return sources[0][0] if sources else ""

    def _source_document(self, chosen: str) -> dict[str, Any] | None:
        kind, _separator, code = chosen.partition(":")
        try:
            if kind == "policy":
                return ordered(policies.policy_detail(scope=self.scope, code=code).document)
            if kind == "preset":
                return load_preset(code).to_document()
        except (Http404, KeyError):
            return None
        return None

    def _render(
        self, form: DocumentForm, *, sources: list[tuple[str, str]], chosen: str, status: int = 200
    ) -> HttpResponse:
        context = {
            "form": form,
            "problems": _form_problems(form),
            "mode": "new",
            "sources": sources,
            "chosen": chosen,
        }
        return render(self.request, self.template_name, context, status=status)


class ImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Policy file (.yaml, .yml or .json)"))
    note = forms.CharField(
        label=gettext_lazy("Why (kept in the version history)"),
        max_length=300,
        widget=forms.TextInput(attrs={"class": "wide"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        name = upload.name or ""
        if not name.lower().endswith((".yaml", ".yml", ".json")):
            raise ValidationError(_("Choose a .yaml, .yml or .json file."))
        if upload.size > policies.MAX_DOCUMENT_BYTES:
            raise ValidationError(
                _("The file is larger than %(size)s KB.") % {"size": policies.MAX_DOCUMENT_BYTES // 1024}
            )
        document = policies.policy_read_text(text=upload.read(), filename=name)
        check_code(self, document)
        if isinstance(document, dict) and isinstance(document.get("code"), str):
            self.owner = policy_code_owner(code=document["code"])
        return document


class PolicyImportView(_ManageMixin, View):
    """Upload a policy document (exported here or written elsewhere): validated, saved as a new version."""

    template_name = "enrollment/rulebook/policy_import.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(ImportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            owner = getattr(form, "owner", None)
            if owner is not None and not policies.policy_can_manage(scope=self.scope, policy=owner):
                form.add_error(
                    None,
                    CODE_PATH + _("%(code)s is taken by a policy you may not change") % {"code": owner.code},
                )
            else:
                try:
                    loaded = _save(self.scope, request, form.cleaned_data["file"], form.cleaned_data["note"])
                except ValidationError as error:
                    _add_errors(form, error)
                else:
                    return _saved(request, loaded, owner.version if owner else None)
        return self._render(form, status=400)

    def _render(self, form: ImportForm, status: int = 200) -> HttpResponse:
        context = {"form": form, "problems": _form_problems(form)}
        return render(self.request, self.template_name, context, status=status)


class ExtendForm(forms.Form):
    extended_to = forms.DateField(
        label=gettext_lazy("New last day of the collection period"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    note = forms.CharField(
        label=gettext_lazy("Who decided, and why"),
        max_length=250,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PolicyExtendView(_ManageMixin, View):
    """Insurance and tax jointly extend the collection period: a new version, with the reason.

    GET: the form. POST ``step=check``: the service's checks, then a confirmation that says what
    the extension does: the counties reassessed and, in each, the approved back-payments not yet
    paid it withdraws (those persons pay the normal contribution until the new last day). POST
    ``step=confirm``: the extension (``policies.policy_extend_collection``), then the policy page
    saying what was (or is being) withdrawn."""

    template_name = "enrollment/rulebook/policy_extend.html"

    def get(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        return self._render(policy, ExtendForm())

    def post(self, request: HttpRequest, code: str) -> HttpResponse:
        policy = self.managed(code)
        form = ExtendForm(request.POST)
        if form.is_valid():
            extended_to, note = form.cleaned_data["extended_to"], form.cleaned_data["note"]
            try:
                if request.POST.get("step") != "confirm":
                    extended = policies.policy_extension_check(
                        policy=policy, extended_to=extended_to, note=note
                    )
                    return self._render(policy, form, preview=self._preview(policy, extended))
                extension = policies.policy_extend_collection(
                    policy=policy,
                    extended_to=extended_to,
                    note=note,
                    scope=self.scope,
                    actor_id=request.user.pk,
                )
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for name, problems in error.message_dict.items():
                        form.add_error(name if name in form.fields else None, problems)
                else:
                    form.add_error(None, error.messages)
            else:
                self._say_what_follows(request, extension)
                return _saved(request, extension.loaded, policy.version)
        return self._render(policy, form, status=400)

    def _preview(self, policy: Policy, extended: rules.Policy) -> dict[str, Any]:
        counties = selectors_assessment.extension_back_payments(
            scope=self.scope, policy=policy, extended=extended, today=timezone.localdate()
        )
        names = county_names({code for code, _count in counties})
        return {
            "window": engine.say_window(extended.collection.effective_window),
            "until": engine.say_date(extended.collection.effective_window.end),
            "counties": [(code, names.get(code, code), count) for code, count in counties],
            "withdrawn": sum(count for _code, count in counties),
        }

    def _say_what_follows(self, request: HttpRequest, extension: policies.Extension) -> None:
        """Remember the extension's runs for the policy page, which says where they stand each time
        it is shown (``extension_followup``): a message written now would still say "being
        reassessed" after the runs had ended."""
        if not extension.runs:
            return
        kept = dict(request.session.get(_EXTENSIONS_KEY, {}))
        kept[extension.loaded.record.code] = {
            "runs": [run.pk for run in extension.runs],
            # As the extension counted them under its lock: said while the runs have not ended.
            "counted": extension.back_payments_withdrawn,
            "until": extension.loaded.rules.collection.effective_window.end.isoformat(),
        }
        request.session[_EXTENSIONS_KEY] = kept

    def _render(
        self, policy: Policy, form: ExtendForm, *, preview: dict[str, Any] | None = None, status: int = 200
    ) -> HttpResponse:
        try:
            parsed = policies.policy_parse(document=policy.document)
        except ValidationError:
            parsed = None
        context = {
            "policy": policy,
            "form": form,
            "preview": preview,
            "collection": parsed.collection if parsed else None,
            "window": engine.say_window(parsed.collection.effective_window) if parsed else "",
        }
        return render(self.request, self.template_name, context, status=status)


def policy_url(code: str, path: str = "") -> str:
    """The policy page, at the rule ``path`` cites (for decisions shown elsewhere)."""
    url = reverse("enrollment:policy-detail", kwargs={"code": code})
    return f"{url}#{rule_anchor(path)}" if path else url
