"""Every write of the refunds app. Pages, the API, commands and tests call these.

Each function takes keyword arguments only and runs in one transaction; every state change goes
through ``REFUND_WORKFLOW`` (``refunds.workflow``), which locks the application, refuses an illegal
or stale step, keeps the applicant from deciding and writes the timeline event.

Whether a contribution is refundable is the rule engine's answer (``enrollment.rules.engine.refund_on``)
under the policy of the county and year, given at once: an application that is not refundable is
still recorded, and closed as rejected by the rules with the engine's reason in the same
transaction (the policy: "not refundable → the reason is given on the spot").

A payout for leaving resident insurance (death, employee insurance, elsewhere, emigration) marks the
year refunded in enrollment; see docs/refunds.md, "What a payout changes".
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.masking import mask_id_number
from accounts.models import Region, RegionLevel
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from enrollment.assessment import assessment_refund_record
from enrollment.deposits import assessments_lock, deposits_standing
from enrollment.evidence import validate_evidence
from enrollment.models import Assessment, AssessmentStatus, DepositRecord, Person
from enrollment.policies import policy_for_county_required
from enrollment.rules import engine
from enrollment.selectors import current_identifier_sql
from sharing.services import message_send, message_send_bulk

from .calendar import add_working_days
from .models import (
    LIVE_FUND_PLAN_STATUSES,
    OPEN_REFUND_STATUSES,
    FundPlan,
    FundPlanLine,
    FundPlanStatus,
    OvercollectionRefund,
    OvercollectionStatus,
    RefundApplication,
    RefundEvidence,
    RefundReason,
    RefundStatus,
    period_bounds,
)
from .workflow import (
    Transition,
    TransitionConflictError,
    Workflow,
    application_reject,
    closed_by_the_rules,
    decision_record,
    review_transitions,
)

__all__ = [
    "FUND_PLAN_WORKFLOW",
    "REFUND_WORKFLOW",
    "TransitionConflictError",
    "fund_plan_discard",
    "fund_plan_gather",
    "fund_plan_pay_out",
    "fund_plan_prepare",
    "fund_plan_submit",
    "overcollection_deposits_recheck",
    "overcollection_requests_record",
    "refund_apply",
    "refund_approve",
    "refund_pay_out",
    "refund_reject",
    "refund_withdraw",
]

logger = logging.getLogger(__name__)

MAX_EVIDENCE_FILES = 5
# The rules' refusal of paying twice when nothing is left of the payments beyond the year's own.
NO_DUPLICATE_LEFT_RULE = "refunds.reasons.paid_twice.given_back"

S = RefundStatus
REFUND_WORKFLOW = Workflow(
    kind=RefundApplication.workflow_kind,
    model=RefundApplication,
    initial=S.SUBMITTED,
    start_label=gettext_lazy("Apply"),
    transitions=(
        *review_transitions(S, review=Action.REFUND_REVIEW, apply=Action.REFUND_APPLY),
        Transition(
            "pay_out",
            (S.APPROVED,),
            S.PAID_OUT,
            gettext_lazy("Record the payout"),
            Action.REFUND_PAY_OUT,
            four_eyes=True,
        ),
        closed_by_the_rules(S),
    ),
)


def person_in_area(scope: Scope, person_id: int) -> Person:
    """The person an application is for, found only in the caller's area."""
    person = scope.filter(Person.objects.all()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError({"person": _("No such person in your area.")})
    return person


def evidence_validate(evidence: Sequence[UploadedFile]) -> None:
    """Every uploaded evidence file checked (type, size, first bytes); the first bad one names itself."""
    for upload in evidence:
        try:
            validate_evidence(upload)
        except ValidationError as error:
            raise ValidationError({"evidence": f"{upload.name}: {' '.join(error.messages)}"}) from error


def _paid_assessment(scope: Scope, person: Person, insurance_year: int) -> Assessment:
    assessment = (
        scope.filter(Assessment.objects.select_for_update(of=("self",)))
        .filter(person=person, insurance_year=insurance_year, status=AssessmentStatus.PAID)
        .first()
    )
    if assessment is None or not assessment.paid_fen:
        raise ValidationError(
            {
                "insurance_year": _("%(name)s has no paid contribution for %(year)d in your area.")
                % {"name": person.name, "year": insurance_year}
            }
        )
    return assessment


@transaction.atomic
def refund_apply(
    *,
    scope: Scope,
    person_id: int,
    insurance_year: int,
    reason: str,
    event_on: dt.date,
    note: str = "",
    evidence: Sequence[UploadedFile] = (),
    today: dt.date | None = None,
) -> RefundApplication:
    """Record an application for the person's paid contribution of the year; the engine decides at once."""
    scope.require(Action.REFUND_APPLY)
    today = today or timezone.localdate()
    person = person_in_area(scope, person_id)
    errors: dict[str, str] = {}
    if reason not in RefundReason.values:
        errors["reason"] = _("Choose the reason for the refund.")
    if event_on > today:
        errors["event_on"] = _("The date of the event cannot lie in the future.")
    if len(evidence) > MAX_EVIDENCE_FILES:
        errors["evidence"] = _("At most %(n)d files.") % {"n": MAX_EVIDENCE_FILES}
    if errors:
        raise ValidationError(errors)
    evidence_validate(evidence)
    assessment = _paid_assessment(scope, person, insurance_year)
    open_one = (
        RefundApplication.objects.filter(
            person=person, insurance_year=insurance_year, status__in=OPEN_REFUND_STATUSES
        )
        .order_by("-applied_at")
        .first()
    )
    if open_one is not None:
        raise ValidationError(_already_open(open_one))
    loaded = policy_for_county_required(county_code=assessment.county_code, insurance_year=insurance_year)
    # The facts the rules decide on; paying twice is verified against insurance's own deposit
    # records (入库, from tax's messages), never tax's tables.
    decision = engine.refund_on(
        loaded.rules,
        reason,
        event_on,
        assessment.benefit_start,
        person_category=person.category,
        deposits=deposits_standing(id_number=person.id_number, insurance_year=insurance_year),
        duplicates_refunded=RefundApplication.objects.filter(
            person=person,
            insurance_year=insurance_year,
            reason=RefundReason.PAID_TWICE,
            status=RefundStatus.PAID_OUT,
        ).count(),
    )
    amount_fen = assessment.paid_fen
    given_back_deposit = None
    if reason != RefundReason.PAID_TWICE:
        amount_fen -= _given_back_fen(assessment=assessment, person=person)
        if amount_fen <= 0:
            raise ValidationError({"insurance_year": _nothing_left(person.name, insurance_year, assessment)})
    elif decision.allowed:
        # Paying twice gives back a deposit of its own, named now: what is left of it, never more
        # than the year's contribution (more than that taken twice is tax's over-collection).
        beyond = _deposits_beyond_kept(assessment=assessment, id_number=person.id_number)
        duplicate = _deposit_to_give_back(beyond)
        if duplicate is None:
            # Nothing left of any deposit beyond the kept one: no duplicate payment to refund, as
            # when one was paid back as a duplicate already, so closed by the rules the same way.
            decision = _no_duplicate_left(decision, beyond)
        else:
            given_back_deposit = duplicate.deposit
            amount_fen = min(duplicate.left_fen, assessment.paid_fen)
    deadline = add_working_days(today, loaded.rules.refunds.decision_working_days)
    application = RefundApplication(
        person=person,
        assessment=assessment,
        insurance_year=insurance_year,
        region_code=assessment.region_code,
        reason=reason,
        event_on=event_on,
        note=note.strip()[:300],
        amount_fen=amount_fen,
        paid_fen=assessment.paid_fen,
        deposit_reference=assessment.deposit_reference,
        given_back_deposit=given_back_deposit,
        refundable=decision.allowed,
        rule=decision.rule,
        rule_reason=decision.reason,
        policy_version=loaded.version,
        status=RefundStatus.SUBMITTED,
        applied_by_id=scope.user_id,
        applied_at=timezone.now(),
        due_on=deadline.due_on,
        due_note=deadline.note[:300],
    )
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError as error:  # another clerk's application for the same year got in first
        raise ValidationError(
            _("%(name)s already has an open refund application for %(year)d.")
            % {"name": person.name, "year": insurance_year}
        ) from error
    REFUND_WORKFLOW.start(application, actor_id=scope.user_id, note=application.note)
    for upload in evidence:
        item = RefundEvidence(application=application, name=upload.name[:200], uploaded_by_id=scope.user_id)
        item.file.save(upload.name, upload, save=False)
        item.save()
    if not decision.allowed:

        def close(row: RefundApplication) -> None:
            row.decision_note = decision.reason[:500]
            row.decided_at = timezone.now()

        REFUND_WORKFLOW.apply(
            application, action="rule_reject", scope=None, note=decision.reason, change=close
        )
    return application


# The order tax took a year's deposits in: the earliest first; on the same day a deposit carried
# over when the ledger began (no payment id) before tax's.
_DEPOSIT_ORDER = ("paid_on", F("payment_id").asc(nulls_first=True))


def _kept_deposit(standing: Sequence[DepositRecord], deposit_reference: str) -> DepositRecord | None:
    """The deposit the year keeps, of its standing ones (in ``_DEPOSIT_ORDER``): the one with the
    assessment's receipt; without one, the earliest (the one ``deposits_left_standing`` makes the
    year's payment). The one rule for it: what paying twice gives back is any other deposit, what
    counts against the year's payment is what went back of this one."""
    return next(
        (d for d in standing if d.receipt_number == deposit_reference), standing[0] if standing else None
    )


@dataclass
class _YearDeposits:
    """A person's deposits for a year on insurance's ledger (reversed ones too), in
    ``_DEPOSIT_ORDER``, and the one the year keeps (None: none stands)."""

    deposits: list[DepositRecord]
    kept: DepositRecord | None

    @property
    def others(self) -> list[DepositRecord]:
        """The standing deposits beyond the one the year keeps that paying twice may give back. One
        carried over when the ledger began (no payment id of tax's) is never given back: tax's
        over-collections could not be tied to it."""
        kept_pk = self.kept.pk if self.kept else None
        return [
            d for d in self.deposits if d.reversed_on is None and d.pk != kept_pk and d.payment_id is not None
        ]

    def elsewhere(self, payment_id: int | None) -> DepositRecord | None:
        """The deposit of the year other than the one it keeps (reversed ones included) that tax's
        payment ``payment_id`` is, if any: an over-collection on it goes back of that deposit,
        counted against it (``_given_back_by_deposit``), not against the year's payment. A payment
        id on none of the year's deposits — its deposit message has not reached insurance, or the
        year keeps a deposit carried over when the ledger began, which has no payment id to match —
        cannot be told apart from the year's payment, so it counts against it, as it did before
        deposits were told apart: the year's payment is the one payment insurance knows it holds,
        and counting it nowhere would let the same money go back twice. Once that deposit arrives
        as a second payment, the request counts against it, and the deposit's handler checks that it
        fits (``overcollection_deposits_recheck``)."""
        if payment_id is None:
            return None
        kept_pk = self.kept.pk if self.kept else None
        return next((d for d in self.deposits if d.payment_id == payment_id and d.pk != kept_pk), None)


def _year_deposits(references: Mapping[tuple[str, int], str]) -> dict[tuple[str, int], _YearDeposits]:
    """For each (identifier, year), given its assessment's receipt, its deposits and the one the
    year keeps (``_kept_deposit``). One statement whatever the number; under the assessments' locks."""
    found: dict[tuple[str, int], list[DepositRecord]] = {key: [] for key in references}
    if found:
        for deposit in DepositRecord.objects.filter(
            id_number__in={id_number for id_number, _year in found},
            insurance_year__in={year for _id_number, year in found},
        ).order_by(*_DEPOSIT_ORDER, "pk"):
            found.get((deposit.id_number, deposit.insurance_year), []).append(deposit)
    return {
        key: _YearDeposits(
            deposits, _kept_deposit([d for d in deposits if d.reversed_on is None], references[key])
        )
        for key, deposits in found.items()
    }


def _refunds_giving_back(exclude_application: int | None = None) -> QuerySet[RefundApplication]:
    """Refund applications that give something back or are on their way to: open or paid out
    (``exclude_application``: the one being checked, left out)."""
    applications = RefundApplication.objects.filter(status__in=(*OPEN_REFUND_STATUSES, RefundStatus.PAID_OUT))
    if exclude_application is not None:
        applications = applications.exclude(pk=exclude_application)
    return applications


def _overcollections_giving_back() -> QuerySet[OvercollectionRefund]:
    """Tax's over-collections that give something back: in the pool, in a plan or paid out; not
    one insurance refused, which gave nothing back."""
    return OvercollectionRefund.objects.exclude(status=OvercollectionStatus.REFUSED)


def _given_back_by_year(
    *, years: Mapping[tuple[str, int], _YearDeposits], exclude_application: int | None = None
) -> dict[tuple[str, int], tuple[int, int]]:
    """What of each (identifier, year)'s kept payment went back or is on its way back to the payer,
    as (by refund application, as over-collections): refund applications (``_refunds_giving_back``)
    but "paid twice" of another deposit — one naming the deposit the year keeps counts (tax reversed
    the year's first payment, and the year is now paid by the one given back) — and tax's
    over-collections (``_overcollections_giving_back``) but those on another of the year's deposits
    (``_YearDeposits.elsewhere``), which ``_given_back_by_deposit`` counts against that deposit;
    except what of those goes beyond that deposit (recorded against the year's payment before the
    deposit arrived, and in a plan by then, so not refused: ``overcollection_deposits_recheck``),
    which still comes out of the year's payment. ``years``: from ``_year_deposits``. Two statements
    whatever the number (three when a second payment's over-collections are counted); the caller
    holds the assessments' locks."""
    if not years:
        return {}
    id_numbers = {id_number for id_number, _year in years}
    insurance_years = {year for _id_number, year in years}
    kept = [year.kept.pk for year in years.values() if year.kept is not None]
    given: dict[tuple[str, int], tuple[int, int]] = {}
    for id_number, year, fen in (
        _refunds_giving_back(exclude_application)
        .filter(person__id_number__in=id_numbers, insurance_year__in=insurance_years)
        .filter(~Q(reason=RefundReason.PAID_TWICE) | Q(given_back_deposit__in=kept))
        .values_list("person__id_number", "insurance_year")
        .annotate(fen=Sum("amount_fen"))
        .order_by()
    ):
        if (id_number, year) in years:
            given[id_number, year] = (int(fen or 0), 0)

    def overcollected(key: tuple[str, int], fen: int) -> None:
        by_application_fen, overcollected_fen = given.get(key, (0, 0))
        given[key] = (by_application_fen, overcollected_fen + fen)

    # Over-collections on another deposit of the year, per deposit: (the year, the deposit, fen).
    on_others: dict[int, tuple[tuple[str, int], DepositRecord, int]] = {}
    for id_number, year, payment_id, fen in (
        _overcollections_giving_back()
        .filter(person_id__in=id_numbers, insurance_year__in=insurance_years)
        .values_list("person_id", "insurance_year", "payment_id")
        .annotate(fen=Sum("amount_fen"))
        .order_by()
    ):
        key = (id_number, year)
        if key not in years:
            continue
        other = years[key].elsewhere(payment_id)
        if other is None:
            overcollected(key, int(fen or 0))
        else:
            on_others[other.pk] = (key, other, int(fen or 0))
    if on_others:
        paid_twice = dict(
            _refunds_giving_back(exclude_application)
            .filter(given_back_deposit__in=list(on_others))
            .values_list("given_back_deposit_id")
            .annotate(fen=Sum("amount_fen"))
            .order_by()
        )
        for deposit_pk, (key, deposit, fen) in on_others.items():
            beyond = fen + int(paid_twice.get(deposit_pk) or 0) - deposit.amount_fen
            if beyond > 0:
                overcollected(key, beyond)
    return given


def _given_back_fen(*, assessment: Assessment, person: Person, exclude_pk: int | None = None) -> int:
    """What of the person's kept year payment went back or is on its way back (``_given_back_by_year``)."""
    key = (person.id_number, assessment.insurance_year)
    given = _given_back_by_year(
        years=_year_deposits({key: assessment.deposit_reference}), exclude_application=exclude_pk
    )
    return sum(given.get(key, (0, 0)))


@dataclass
class _DepositLeft:
    """One deposit on insurance's ledger and what went back of it, or is on its way back: as a
    refund for paying twice that names it, and as over-collections tax reported on its payment."""

    deposit: DepositRecord
    by_paid_twice_fen: int = 0
    overcollected_fen: int = 0

    @property
    def left_fen(self) -> int:
        return self.deposit.amount_fen - self.by_paid_twice_fen - self.overcollected_fen


def _given_back_by_deposit(
    *, deposits: Sequence[DepositRecord], exclude_application: int | None = None
) -> dict[int, _DepositLeft]:
    """What of each deposit (by its id) went back or is on its way back: "paid twice" refunds
    naming it (``_refunds_giving_back``) and the over-collections tax reported on its payment id
    (``_overcollections_giving_back``). Two statements whatever the number; the caller holds the
    assessments' locks (the person's year: a deposit is of one person and year)."""
    held = {deposit.pk: _DepositLeft(deposit) for deposit in deposits}
    if not held:
        return held
    for deposit_id, fen in (
        _refunds_giving_back(exclude_application)
        .filter(given_back_deposit__in=list(held))
        .values_list("given_back_deposit_id")
        .annotate(fen=Sum("amount_fen"))
        .order_by()
    ):
        held[deposit_id].by_paid_twice_fen = int(fen or 0)
    by_payment = {deposit.payment_id: deposit.pk for deposit in deposits if deposit.payment_id is not None}
    for payment_id, fen in (
        _overcollections_giving_back()
        .filter(payment_id__in=list(by_payment))
        .values_list("payment_id")
        .annotate(fen=Sum("amount_fen"))
        .order_by()
    ):
        held[by_payment[payment_id]].overcollected_fen = int(fen or 0)
    return held


def _deposits_beyond_kept(
    *, assessment: Assessment, id_number: str, exclude_application: int | None = None
) -> list[_DepositLeft]:
    """The person's standing deposits for the year beyond the one it keeps
    (``_YearDeposits.others``), oldest first, each with what went back of it. Under the
    assessment's lock."""
    key = (id_number, assessment.insurance_year)
    others = _year_deposits({key: assessment.deposit_reference})[key].others
    held = _given_back_by_deposit(deposits=others, exclude_application=exclude_application)
    return [held[d.pk] for d in others]


def _deposit_to_give_back(beyond: Sequence[_DepositLeft]) -> _DepositLeft | None:
    """The deposit a "paid twice" refund gives back: of ``beyond`` (``_deposits_beyond_kept``), the
    newest of which something is left. None: nothing is left of any other deposit."""
    return next((left for left in reversed(beyond) if left.left_fen > 0), None)


def _no_duplicate_left(decision: engine.Decision, beyond: Sequence[_DepositLeft]) -> engine.Decision:
    """The rules' refusal of paying twice when every payment beyond the one the year keeps was given
    back or is being given back (as paid twice, or as tax's over-collections on it), with the
    amounts; recorded and closed on the spot like the engine's refusals."""
    values = {
        "receipts": ", ".join(left.deposit.receipt_number for left in beyond) or "—",
        "paid": yuan(sum(left.deposit.amount_fen for left in beyond)),
        "paid_twice": yuan(sum(left.by_paid_twice_fen for left in beyond)),
        "overcollections": yuan(sum(left.overcollected_fen for left in beyond)),
    }
    return engine.Decision(
        False,
        NO_DUPLICATE_LEFT_RULE,
        _(
            "Not refundable as paid twice: the payments beyond the one the year keeps (receipt %(receipts)s, "
            "%(paid)s yuan paid) were already given back or are being given back (%(paid_twice)s yuan by a "
            "refund for paying twice, %(overcollections)s yuan as over-collections tax reported); no "
            "duplicate payment is left to refund"
        )
        % values,
        note=decision.note,
    )


def _nothing_left(name: str, insurance_year: int, assessment: Assessment) -> str:
    return _(
        "Nothing is left to refund of %(name)s's contribution for %(year)d: the %(paid)s yuan paid "
        "were already given back or are being given back (earlier refunds, over-collections tax reported)."
    ) % {"name": name, "year": insurance_year, "paid": yuan(assessment.paid_fen)}


def _payment_still_standing(row: RefundApplication, assessment: Assessment | None) -> None:
    """At approval and payout: the year is still paid by the payment applied for, and what was
    given back of it since leaves the amount. ``assessment``: the application's, locked before the
    application (``_locked_assessment``)."""
    if assessment is None or assessment.pk != row.assessment_id:
        raise TransitionConflictError(_("The year is no longer paid; the refund cannot be paid out."))
    if (
        assessment.status != AssessmentStatus.PAID
        or assessment.paid_fen != row.paid_fen
        or assessment.deposit_reference != row.deposit_reference
    ):
        reversal = (
            DepositRecord.objects.filter(
                receipt_number=row.deposit_reference,
                reversed_on__isnull=False,
                insurance_year=row.insurance_year,
            )
            .order_by("-reversed_on")
            .first()
            if row.deposit_reference
            else None
        )
        if reversal is not None:
            raise TransitionConflictError(
                _(
                    "Tax reversed this payment (receipt %(receipt)s) on %(date)s; "
                    "the application cannot go ahead: reject it."
                )
                % {"receipt": row.deposit_reference, "date": reversal.reversed_on.isoformat()}
            )
        raise TransitionConflictError(
            _(
                "The year is no longer paid by the payment applied for (receipt %(receipt)s, %(paid)s yuan); "
                "the application cannot go ahead: reject it."
            )
            % {"receipt": row.deposit_reference or "—", "paid": yuan(row.paid_fen)}
        )
    if row.reason == RefundReason.PAID_TWICE:
        _duplicate_still_standing(row, assessment)
    else:
        left = row.paid_fen - _given_back_fen(assessment=assessment, person=row.person, exclude_pk=row.pk)
        if row.amount_fen > left:
            raise TransitionConflictError(
                _(
                    "Of this payment only %(left)s yuan are left to refund now, not %(amount)s: "
                    "more was given back since the application (an over-collection tax reported). Reject it."
                )
                % {"left": yuan(max(left, 0)), "amount": yuan(row.amount_fen)}
            )


def _duplicate_still_standing(row: RefundApplication, assessment: Assessment) -> None:
    """At approval and payout of "paid twice": the deposit it gives back still stands and what
    went back of it since (tax's over-collections on that payment) leaves the amount. An
    application stored before refunds named their deposit names it now, as ``refund_apply``
    would. Under the assessment's lock, like the rest of ``_payment_still_standing``."""
    if row.given_back_deposit_id is None:
        duplicate = _deposit_to_give_back(
            _deposits_beyond_kept(
                assessment=assessment, id_number=row.person.id_number, exclude_application=row.pk
            )
        )
        if duplicate is None:
            raise TransitionConflictError(
                _(
                    "No payment beyond the one the year keeps is left to give back as paid twice (given "
                    "back or being given back since: a refund for paying twice, an over-collection tax "
                    "reported, or tax reversed it). Reject it."
                )
            )
        row.given_back_deposit = duplicate.deposit
    deposit = row.given_back_deposit  # the one just named, or read once
    if deposit.reversed_on is not None:
        raise TransitionConflictError(
            _(
                "Tax reversed the payment this refund gives back (receipt %(receipt)s) on %(date)s; "
                "the application cannot go ahead: reject it."
            )
            % {"receipt": deposit.receipt_number, "date": deposit.reversed_on.isoformat()}
        )
    left = _given_back_by_deposit(deposits=[deposit], exclude_application=row.pk)[deposit.pk].left_fen
    if row.amount_fen > left:
        raise TransitionConflictError(
            _(
                "Of the payment this refund gives back (receipt %(receipt)s) only %(left)s yuan are left to "
                "refund now, not %(amount)s: more was given back since the application (an over-collection "
                "tax reported on it). Reject it."
            )
            % {"receipt": deposit.receipt_number, "left": yuan(max(left, 0)), "amount": yuan(row.amount_fen)}
        )


def _locked_assessment(scope: Scope, application_id: int) -> Assessment | None:
    """Lock the application's assessment first (the order ``refund_apply`` takes), so the year's
    payment cannot change under an approval or a payout; the locked row, for the check."""
    assessment_id = (
        scope.filter(RefundApplication.objects.all())
        .filter(pk=application_id)
        .values_list("assessment_id", flat=True)
        .first()
    )
    if assessment_id is None:  # the workflow says not found
        return None
    return Assessment.objects.select_for_update().filter(pk=assessment_id).first()


def _already_open(application: RefundApplication) -> str:
    return _(
        "This person already has an open refund application for %(year)d (%(status)s, applied on %(date)s)."
    ) % {
        "year": application.insurance_year,
        "status": application.get_status_display(),
        "date": timezone.localtime(application.applied_at).strftime("%Y-%m-%d"),
    }


def refund_approve(*, scope: Scope, application_id: int, note: str = "") -> RefundApplication:
    """Insurance staff (not the applicant) approve a refundable application; payout follows."""

    def change(row: RefundApplication) -> None:
        if not row.refundable:  # cannot happen through the services: the rules close those at once
            raise TransitionConflictError(_("The rules found this application not refundable."))
        _payment_still_standing(row, assessment)
        decision_record(row, scope=scope, note=note.strip())

    with transaction.atomic():
        assessment = _locked_assessment(scope, application_id)
        return REFUND_WORKFLOW.transition(
            scope=scope, pk=application_id, action="approve", note=note, change=change
        )


def refund_reject(*, scope: Scope, application_id: int, reason: str) -> RefundApplication:
    """Insurance staff (not the applicant) reject with the reason; the applicant sees it at once."""
    return application_reject(REFUND_WORKFLOW, scope=scope, application_id=application_id, reason=reason)


def refund_withdraw(*, scope: Scope, application_id: int, note: str = "") -> RefundApplication:
    """The applicant withdraws their own application while it waits for a decision."""
    return REFUND_WORKFLOW.transition(scope=scope, pk=application_id, action="withdraw", note=note)


# A refund for these reasons gives back the year because the person left resident insurance (the
# rules refund them only before the benefit period began): the year is no longer covered. Paid
# twice or an agency's error give back money taken wrongly; the year stays paid and covered.
LEAVING_REASONS = frozenset(
    {
        RefundReason.DEATH,
        RefundReason.EMPLOYEE_INSURANCE,
        RefundReason.ENROLLED_ELSEWHERE,
        RefundReason.EMIGRATION,
    }
)


def refund_pay_out(
    *, scope: Scope, application_id: int, bank_reference: str, note: str = ""
) -> RefundApplication:
    """Insurance staff record that the approved amount was transferred, with the bank's reference."""
    bank_reference = (bank_reference or "").strip()
    if not bank_reference:
        raise ValidationError({"bank_reference": _("Enter the bank's reference of the transfer.")})
    if len(bank_reference) > 64:
        raise ValidationError({"bank_reference": _("At most 64 characters.")})

    def change(row: RefundApplication) -> None:
        _payment_still_standing(row, assessment)
        row.paid_out_by_id = scope.user_id
        row.paid_out_at = timezone.now()
        row.bank_reference = bank_reference

    with transaction.atomic():
        assessment = _locked_assessment(scope, application_id)
        application = REFUND_WORKFLOW.transition(
            scope=scope, pk=application_id, action="pay_out", note=note or bank_reference, change=change
        )
        _report_to_tax(application)
        if application.reason in LEAVING_REASONS and not assessment_refund_record(
            assessment_id=application.assessment_id,
            refunded_on=timezone.localtime(application.paid_out_at).date(),
            refund_reason=application.reason,
        ):  # cannot happen with the assessment locked and checked: never pay out on an unpaid year
            raise TransitionConflictError(_("The year is no longer paid; the refund cannot be paid out."))
    return application


def _report_to_tax(application: RefundApplication) -> None:
    """The refund goes into the month's refund details for tax (``refund.monthly_details``), in
    the payout's transaction: tax then knows the money that left the fund, by its receipt."""
    paid_on = timezone.localtime(application.paid_out_at).date()
    message_send(
        topic="refund.monthly_details",
        payload={
            "refund_id": application.pk,
            "person_id": Person.objects.values_list("id_number", flat=True).get(pk=application.person_id),
            "region_code": application.region_code,
            "month": f"{paid_on:%Y-%m}",
            "amount_fen": application.amount_fen,
            # The receipt of the payment given back: tax caps its over-collections and reversals
            # of that payment by it (for "paid twice", the second payment, not the year's).
            "receipt_number": (
                application.given_back_deposit.receipt_number
                if application.given_back_deposit_id
                else application.deposit_reference
            ),
            "paid_on": paid_on.isoformat(),
            "kind": "application",
        },
    )


# --- over-collections caused by tax, gathered into fund-usage plans (用款计划) for finance -------
#
# Tax reports an over-collection (``refund.overcollection_requested``; ``refunds.handlers`` records
# it as an ``OvercollectionRefund`` in the county's pool). Insurance staff gather the pool of a
# county and month into a plan (draft), submit it to finance (``refund.fund_plan_submitted``, with
# its lines); finance's answers arrive as messages (``refund.fund_plan_decided``,
# ``refund.funds_transferred``) and move the plan by the system's steps; a rejected plan's refunds
# go back to the pool. Once funded, insurance records the payout, which reports each refund in the
# month's refund details to tax. Every change of a refund's state is pushed to tax
# (``refund.overcollection_status``), set-based: one statement for all the lines of a plan.

P = FundPlanStatus
FUND_PLAN_WORKFLOW = Workflow(
    kind=FundPlan.workflow_kind,
    model=FundPlan,
    initial=P.DRAFT,
    applicant_field="prepared_by_id",
    start_label=gettext_lazy("Prepare"),
    system_actor=gettext_lazy("the finance bureau"),
    event_labels={"gather": gettext_lazy("Waiting refunds added")},
    transitions=(
        Transition(
            "submit", (P.DRAFT,), P.SUBMITTED, gettext_lazy("Submit to finance"), Action.FUND_PLAN_PREPARE
        ),
        Transition(
            "discard", (P.DRAFT,), P.DISCARDED, gettext_lazy("Discard the draft"), Action.FUND_PLAN_PREPARE
        ),
        # Finance decides and transfers on its own pages; its messages take these steps here.
        Transition("finance_approve", (P.SUBMITTED,), P.APPROVED, gettext_lazy("Approved by finance")),
        Transition("finance_reject", (P.SUBMITTED,), P.REJECTED, gettext_lazy("Rejected by finance")),
        Transition(
            "funds_transferred", (P.APPROVED,), P.FUNDED, gettext_lazy("Funds transferred by finance")
        ),
        Transition(
            "pay_out", (P.FUNDED,), P.PAID_OUT, gettext_lazy("Record the payout"), Action.FUND_PLAN_PAY_OUT
        ),
    ),
)

# The refunds of one plan (every refund it ever held: a rejected plan's are back in the pool).
_PLAN_REFUNDS = "r.id IN (SELECT l.refund_id FROM refunds_fundplanline l WHERE l.plan_id = %(plan_id)s)"

_STATUS_PUSH = """
SELECT NULL AS subject, NULL AS region_code, jsonb_strip_nulls(jsonb_build_object(
    'request_id', r.request_id, 'region_code', r.region_code, 'status', %(status)s::text,
    'at', %(at)s::text, 'amount_fen', r.amount_fen, 'plan_id', %(push_plan)s::bigint,
    'period', %(period)s::text, 'note', coalesce(%(note)s::text, nullif(r.refusal, '')),
    'paid_on', %(paid_on)s::text,
    'bank_reference', %(bank_reference)s::text)) AS payload
FROM refunds_overcollectionrefund r WHERE {where} ORDER BY r.request_id
"""


def overcollection_status_push(
    *,
    where: str,
    params: dict[str, object],
    status: str,
    plan: FundPlan | None = None,
    note: str = "",
    paid_on: dt.date | None = None,
    bank_reference: str = "",
) -> int:
    """Tell tax the new state of the refunds ``where`` selects (SQL over ``r``), in the caller's
    transaction; one message per refund, one statement for all of them. Without ``note``, a
    refused refund's note is its own reason."""
    return message_send_bulk(
        topic="refund.overcollection_status",
        query=_STATUS_PUSH.format(where=where),
        params={
            **params,
            "status": status,
            "at": timezone.now().isoformat(),
            "push_plan": plan.pk if plan else None,
            "period": plan.period if plan else None,
            "note": note[:500] or None,
            "paid_on": paid_on.isoformat() if paid_on else None,
            "bank_reference": bank_reference or None,
        },
    )


# Tax's requests of a batch not recorded yet (a redelivery finds them all recorded), the first
# message of each.
_NEW_REQUESTS = """
SELECT DISTINCT ON ((m.payload->>'request_id')::bigint)
       (m.payload->>'request_id')::bigint, {person}, (m.payload->>'insurance_year')::int,
       (m.payload->>'amount_fen')::bigint, (m.payload->>'payment_id')::bigint
FROM ({batch}) AS m
WHERE NOT EXISTS (SELECT 1 FROM refunds_overcollectionrefund r
                  WHERE r.request_id = (m.payload->>'request_id')::bigint)
ORDER BY (m.payload->>'request_id')::bigint, m.seq
"""

# Each request recorded once (``request_id`` unique), as decided: in the pool, or refused with why.
# A request tax made under an identifier insurance has since corrected is kept (and checked) under
# the person's current one (``{person}``: ``current_identifier_sql``).
_RECORD_REQUESTS = """
WITH decided AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(refusals)s::text[])
        AS d(request_id, status, refusal)
), recorded AS (
    INSERT INTO refunds_overcollectionrefund
        (request_id, payment_id, person_id, region_code, insurance_year, amount_fen, receipt_number, reason,
         requested_on, received_at, source_message_id, status, bank_reference, refusal)
    SELECT DISTINCT ON (d.request_id)
           d.request_id, (m.payload->>'payment_id')::bigint, {person},
           m.payload->>'region_code', (m.payload->>'insurance_year')::int, (m.payload->>'amount_fen')::bigint,
           coalesce(m.payload->>'receipt_number', ''), m.payload->>'reason',
           coalesce((m.payload->>'requested_on')::date, (m.sent_at AT TIME ZONE %(tz)s)::date),
           now(), m.message_id, d.status, '', d.refusal
    FROM ({batch}) AS m JOIN decided d ON d.request_id = (m.payload->>'request_id')::bigint
    ORDER BY d.request_id, m.seq
    ON CONFLICT (request_id) DO NOTHING
    RETURNING id, status
)
SELECT coalesce(array_agg(id) FILTER (WHERE status = 'received'), '{{}}'),
       coalesce(array_agg(id) FILTER (WHERE status = 'refused'), '{{}}')
FROM recorded
"""

_REQUEST_PERSON = current_identifier_sql("(m.payload->>'person_id')")


@dataclass
class _PaymentLeft:
    """A person's year as insurance holds it, under the assessment's lock: the payment (None: no
    payment held) and what went back of it, or is on its way back, by application and as
    over-collections (those of the batch accepted so far included)."""

    paid_fen: int | None
    by_application_fen: int = 0
    overcollected_fen: int = 0

    @property
    def left_fen(self) -> int:
        return (self.paid_fen or 0) - self.by_application_fen - self.overcollected_fen


def _refusal(year: int, amount_fen: int, held: _PaymentLeft) -> str:
    """Why a request is refused, with the amounts; stored and sent to tax, so in the portal's language."""
    with translation.override(settings.LANGUAGE_CODE):
        if held.paid_fen is None:
            return _(
                "The medical insurance bureau holds no payment of this person for %(year)d (tax's deposit "
                "record has not reached it, or the payment was reversed): nothing can be refunded. Report "
                "again once insurance holds the payment."
            ) % {"year": year}
        return _(
            "This request asks for %(amount)s yuan back, but only %(left)s yuan are left to refund of the "
            "%(paid)s yuan paid for %(year)d (already given back or being given back: %(applications)s yuan "
            "by refund application, %(overcollections)s yuan as over-collections). Report again for at "
            "most what is left."
        ) % {
            "amount": yuan(amount_fen),
            "left": yuan(max(held.left_fen, 0)),
            "paid": yuan(held.paid_fen),
            "year": year,
            "applications": yuan(held.by_application_fen),
            "overcollections": yuan(held.overcollected_fen),
        }


def _deposit_figures(amount_fen: int, held: _DepositLeft) -> dict[str, object]:
    """The amounts a refusal on a deposit names: the request's, the payment's and what is left of it."""
    return {
        "amount": yuan(amount_fen),
        "receipt": held.deposit.receipt_number,
        "paid": yuan(held.deposit.amount_fen),
        "left": yuan(max(held.left_fen, 0)),
        "paid_twice": yuan(held.by_paid_twice_fen),
        "overcollections": yuan(held.overcollected_fen),
    }


def _deposit_refusal(amount_fen: int, held: _DepositLeft) -> str:
    """Why a request on a payment insurance gave back, or is giving back, as paid twice is refused."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "This request asks for %(amount)s yuan back of the payment with receipt %(receipt)s (%(paid)s "
            "yuan), but only %(left)s yuan are left to refund of it (already given back or being given back: "
            "%(paid_twice)s yuan by a refund for paying twice, %(overcollections)s yuan as over-collections). "
            "Report again for at most what is left."
        ) % _deposit_figures(amount_fen, held)


def _standing_deposit_of(held: _DepositLeft | None, key: tuple[str, int], *, locked: bool) -> bool:
    """Whether a request on a year insurance holds no payment for is judged against the deposit it
    names: a deposit of that person and year on insurance's ledger that tax has not reversed, with
    the year's assessment locked (``locked``: without one, nothing would keep two batches from
    giving the same deposit back at once)."""
    return (
        locked
        and held is not None
        and held.deposit.reversed_on is None
        and (held.deposit.id_number, held.deposit.insurance_year) == key
    )


@transaction.atomic
def overcollection_requests_record(*, rows_sql: str, params: dict[str, object]) -> None:
    """Record tax's over-collection requests (``refund.overcollection_requested``; ``rows_sql``: the
    batch as a relation) and tell tax each one's fate: a request that fits in what is left of the
    payment it names joins the county's pool; one that does not is refused whole, with the
    amounts, and never enters the pool or a plan (tax reports again with the right amount). The
    payment it names: the one the year keeps, bounded by what is left of the year's payment (and of
    its deposit); another deposit of the year, bounded by what is left of that deposit alone
    (``_YearDeposits.elsewhere``). For a year insurance holds no payment for (not paid), the deposit
    it names alone, if it stands on insurance's ledger (``_standing_deposit_of``); else refused.

    A payment is given back once: like ``refund_apply`` and the refund's approval and payout, this
    locks the year's assessments first (in id order, so batches and refunds never deadlock), and
    only then, in later statements, reads what went back — so it sees whatever a payout it waited
    for committed, and a payout waiting for it sees the requests recorded here. Set-based: a handful
    of statements whatever the batch. Idempotent: requests already recorded are left as they are
    and not acknowledged again."""
    with connection.cursor() as cursor:
        cursor.execute(_NEW_REQUESTS.format(batch=rows_sql, person=_REQUEST_PERSON), params)
        requests: list[tuple[int, str, int, int, int]] = cursor.fetchall()
    if not requests:
        return
    id_numbers = sorted({id_number for _request, id_number, _year, _fen, _payment in requests})
    years = sorted({year for _request, _id, year, _fen, _payment in requests})
    locked = (
        Assessment.objects.select_for_update(of=("self",))
        .filter(person__id_number__in=id_numbers, insurance_year__in=years)
        .order_by("pk")
        .values_list("person__id_number", "insurance_year", "status", "paid_fen", "deposit_reference")
    )
    # A payment insurance holds: the year paid, or paid and refunded since (the refund counts below).
    # A row this statement waited for is read as the holder committed it (PostgreSQL re-reads a
    # locked row once the lock is granted); everything else is read by the statements after it.
    held = {
        (id_number, year): _PaymentLeft(
            paid_fen if status in (AssessmentStatus.PAID, AssessmentStatus.REFUNDED) and paid_fen else None
        )
        for id_number, year, status, paid_fen, _reference in locked
    }
    # With the locks held: the years' deposits, which one each keeps, and what went back of it.
    year_deposits = _year_deposits(
        {(id_number, year): reference for id_number, year, *_r, reference in locked}
    )
    for key, (by_application_fen, overcollected_fen) in _given_back_by_year(years=year_deposits).items():
        held[key].by_application_fen = by_application_fen
        held[key].overcollected_fen = overcollected_fen
    # And of the payments the requests name, as insurance's ledger holds them: a second payment a
    # refund for paying twice gives back is not given back again as an over-collection.
    deposits = {
        left.deposit.payment_id: left
        for left in _given_back_by_deposit(
            deposits=list(
                DepositRecord.objects.filter(
                    payment_id__in=sorted({p for *_r, p in requests if p is not None})
                )
            )
        ).values()
    }
    statuses: list[str] = []
    refusals: list[str] = []
    # Tax's order: an earlier request of the batch on the same year takes its share first.
    for _request, id_number, year, amount_fen, payment_id in requests:
        key = (id_number, year)
        year_held = held.setdefault(key, _PaymentLeft(None))
        deposit_held = deposits.get(payment_id)
        if year_held.paid_fen is None:
            # No payment of the year (the government pays it, say, and tax took one anyway): a
            # deposit of the person's year standing on insurance's ledger bounds it alone — no
            # refund application gives back a year that is not paid. Nothing else can be refunded.
            of_year = False
            if not _standing_deposit_of(deposit_held, key, locked=key in year_deposits):
                statuses.append(OvercollectionStatus.REFUSED)
                refusals.append(_refusal(year, amount_fen, year_held))
                continue
        else:
            # A request on another of the year's deposits than the one it keeps takes nothing from
            # the year's payment: only that deposit bounds it (a year refunded by application leaves
            # a second payment standing, which a death refund does not give back).
            of_year = key not in year_deposits or year_deposits[key].elsewhere(payment_id) is None
        if of_year and amount_fen > year_held.left_fen:
            statuses.append(OvercollectionStatus.REFUSED)
            refusals.append(_refusal(year, amount_fen, year_held))
        elif deposit_held is not None and amount_fen > deposit_held.left_fen:
            statuses.append(OvercollectionStatus.REFUSED)
            refusals.append(_deposit_refusal(amount_fen, deposit_held))
        else:
            if of_year:
                year_held.overcollected_fen += amount_fen
            if deposit_held is not None:
                deposit_held.overcollected_fen += amount_fen
            statuses.append(OvercollectionStatus.RECEIVED)
            refusals.append("")
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_REQUESTS.format(batch=rows_sql, person=_REQUEST_PERSON),
            {
                **params,
                "ids": [request for request, *_rest in requests],
                "statuses": statuses,
                "refusals": refusals,
                "tz": settings.TIME_ZONE,
            },
        )
        received, refused = cursor.fetchone()
    if received:
        overcollection_status_push(
            where="r.id = ANY(%(ids)s)", params={"ids": list(received)}, status="received"
        )
    if refused:
        overcollection_status_push(
            where="r.id = ANY(%(ids)s)", params={"ids": list(refused)}, status="refused"
        )


def _arrived_refusal(amount_fen: int, held: _DepositLeft) -> str:
    """Why a request recorded before its payment's deposit record arrived is refused now that it has."""
    with translation.override(settings.LANGUAGE_CODE):
        return _(
            "Tax's deposit record of this payment (receipt %(receipt)s, %(paid)s yuan) reached the medical "
            "insurance bureau after this request: it asks for %(amount)s yuan back, but only %(left)s yuan "
            "are left to refund of that payment (already given back or being given back: %(paid_twice)s yuan "
            "by a refund for paying twice, %(overcollections)s yuan as over-collections). Report again for "
            "at most what is left."
        ) % _deposit_figures(amount_fen, held)


_REFUSE_REQUESTS = """
UPDATE refunds_overcollectionrefund r SET status = 'refused', refusal = d.refusal
FROM unnest(%(ids)s::bigint[], %(refusals)s::text[]) AS d(id, refusal)
WHERE r.id = d.id AND r.status = 'received' AND r.plan_id IS NULL
"""


@transaction.atomic
def overcollection_deposits_recheck(*, keys: Sequence[tuple[str, int]], payment_ids: Sequence[int]) -> int:
    """Tax's deposit records of ``payment_ids`` (for the persons and years ``keys``) have just reached
    insurance's ledger (``payment.deposited``): what tax reported over-collected on a payment before
    its deposit arrived was checked against the year's payment, and counts against that deposit
    from now on when it is a second payment of the year (``_YearDeposits.elsewhere``) — or, for a
    year insurance holds no payment for, any deposit of it. Check it fits there: what goes back of
    a deposit (a refund for paying twice naming it plus the over-collections on it) never exceeds it.

    Taken in tax's order (request id), after what can no longer be refused: a request still in the
    pool that does not fit is refused whole, with the amounts (in the portal's language), and tax is
    told (``refused``), as when it is recorded. One already in a fund-usage plan stays: the plan is
    what insurance asked finance for (finance rejects whole plans), and it was checked against the
    year's payment when recorded, so what of it goes beyond the deposit still comes out of the
    year's payment (``_given_back_by_year``): the money goes back once either way.

    Under the years' assessment locks, taken first in id order as every other check takes them (the
    handler takes them before it writes the deposits); then the requests' rows, so a plan gathering
    the pool at once waits or is waited for. A few statements; none beyond the lock and one read
    when no request names the payments (the usual deposit). Returns how many were refused."""
    locked = assessments_lock(keys=sorted(set(keys)))
    if not payment_ids or not locked:
        return 0
    requests = list(
        OvercollectionRefund.objects.select_for_update(of=("self",))
        .filter(payment_id__in=sorted(set(payment_ids)))
        .exclude(status=OvercollectionStatus.REFUSED)
        .order_by("request_id")
        .values_list("pk", "payment_id", "amount_fen", "status")
    )
    if not requests:
        return 0
    years = _year_deposits({(id_number, year): reference for id_number, year, *_r, reference in locked})
    named = set(payment_ids)
    bounded: dict[int, DepositRecord] = {}
    for id_number, year, status, paid_fen, _reference in locked:
        year_deposits = years[id_number, year]
        holds_payment = status in (AssessmentStatus.PAID, AssessmentStatus.REFUNDED) and bool(paid_fen)
        for deposit in year_deposits.deposits:
            if deposit.payment_id in named and (
                not holds_payment or year_deposits.elsewhere(deposit.payment_id) is not None
            ):
                bounded[deposit.payment_id] = deposit
    held = {
        left.deposit.payment_id: left
        for left in _given_back_by_deposit(deposits=list(bounded.values())).values()
    }
    # The over-collections on them are counted again here, request by request: first those that can
    # no longer be refused, then the pool's in tax's order.
    for left in held.values():
        left.overcollected_fen = 0
    for _pk, payment_id, amount_fen, status in requests:
        if payment_id in held and status != OvercollectionStatus.RECEIVED:
            held[payment_id].overcollected_fen += amount_fen
    refused: list[tuple[int, str]] = []
    for pk, payment_id, amount_fen, status in requests:
        left = held.get(payment_id)
        if left is None or status != OvercollectionStatus.RECEIVED:
            continue
        if amount_fen > left.left_fen:
            refused.append((pk, _arrived_refusal(amount_fen, left)))
        else:
            left.overcollected_fen += amount_fen
    for left in held.values():
        if left.left_fen < 0:  # in a plan already: it stays, and the rest comes out of the year's payment
            logger.warning(
                "deposit %s: %d fen more given back than its %d fen, by over-collections already planned",
                left.deposit.receipt_number,
                -left.left_fen,
                left.deposit.amount_fen,
            )
    if refused:
        with connection.cursor() as cursor:
            cursor.execute(
                _REFUSE_REQUESTS,
                {"ids": [pk for pk, _why in refused], "refusals": [why for _pk, why in refused]},
            )
        overcollection_status_push(
            where="r.id = ANY(%(ids)s)", params={"ids": [pk for pk, _why in refused]}, status="refused"
        )
    return len(refused)


def _county(scope: Scope, county_code: str) -> Region:
    code = (county_code or "").strip().ljust(12, "0")
    region = Region.objects.filter(code=code, level=RegionLevel.COUNTY).first()
    if region is None or not scope.covers_region_code(code):
        raise ValidationError({"county": _("Choose a county in your area.")})
    return region


@transaction.atomic
def fund_plan_prepare(
    *, scope: Scope, county_code: str, period: str, today: dt.date | None = None
) -> FundPlan:
    """Gather the county's over-collection refunds waiting in the pool, requested up to the end of
    ``period`` (a month, "2026-11"), into a draft plan. Refused when there is nothing to gather or
    the county already has a live plan for the period."""
    scope.require(Action.FUND_PLAN_PREPARE)
    today = today or timezone.localdate()
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period or ""):
        raise ValidationError({"period": _("Give the month as YYYY-MM.")})
    if period > f"{today:%Y-%m}":
        raise ValidationError({"period": _("The month has not begun yet.")})
    county = _county(scope, county_code)
    county_code = county.code[:6]
    live = FundPlan.objects.filter(
        county_code=county_code, period=period, status__in=LIVE_FUND_PLAN_STATUSES
    ).first()
    if live is not None:
        raise ValidationError(_already_planned(live, county_name=county.name))
    ids, count, total = _pool_lock(county_code=county_code, period=period)
    if not count:
        raise ValidationError(
            _("No over-collection refund of %(county)s requested up to %(period)s is waiting for a plan.")
            % {"county": county.name, "period": period}
        )
    plan = FundPlan(
        county_code=county_code,
        region_code=county.code,
        period=period,
        refund_count=count,
        amount_fen=total,
        status=P.DRAFT,
        prepared_by_id=scope.user_id,
        prepared_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError as error:  # another clerk's plan for the county and month got in first
        raise ValidationError(
            _("%(county)s already has a plan for %(period)s.") % {"county": county.name, "period": period}
        ) from error
    _pool_move(plan=plan, ids=ids)
    FUND_PLAN_WORKFLOW.start(plan, actor_id=scope.user_id)
    overcollection_status_push(where=_PLAN_REFUNDS, params={"plan_id": plan.pk}, status="planned", plan=plan)
    return plan


def _pool_lock(*, county_code: str, period: str) -> tuple[list[int], int, int]:
    """Lock the county's refunds waiting in the pool, requested up to the end of ``period``: a plan
    being prepared or added to at once waits here, then finds them gone (one refund is never in two
    plans). Their ids, count and total."""
    _first, end = period_bounds(period)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT coalesce(array_agg(p.id ORDER BY p.id), '{}'), count(*), coalesce(sum(p.amount_fen), 0)
            FROM (SELECT r.id, r.amount_fen FROM refunds_overcollectionrefund r
                  WHERE r.plan_id IS NULL AND r.status = 'received' AND r.region_code LIKE %s
                    AND r.requested_on < %s
                  FOR UPDATE) AS p
            """,
            [county_code + "%", end],
        )
        ids, count, total = cursor.fetchone()
    # sum() of a bigint is numeric in PostgreSQL: money stays whole fen, an int.
    return list(ids), int(count), int(total)


def _pool_move(*, plan: FundPlan, ids: list[int]) -> None:
    """The locked refunds ``ids`` into ``plan``, each with its line: two statements, whatever the number."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                UPDATE refunds_overcollectionrefund SET plan_id = %(plan_id)s, status = 'planned'
                WHERE id = ANY(%(ids)s) RETURNING id, amount_fen
            )
            INSERT INTO refunds_fundplanline (plan_id, refund_id, amount_fen)
            SELECT %(plan_id)s, id, amount_fen FROM picked
            """,
            {"plan_id": plan.pk, "ids": ids},
        )


@transaction.atomic
def fund_plan_gather(*, scope: Scope, plan_id: int) -> FundPlan:
    """Add to a draft plan the county's refunds that reached the pool after it was prepared (requested
    up to the end of its month). The county keeps one plan a month, so a refund that arrives while
    that plan is still insurance's own draft joins it rather than waiting a month for the next one;
    once submitted, finance is looking at its lines and total, so it takes nothing more. Submitting
    confirms the total, so a page that saw the total before this addition is refused."""
    scope.require(Action.FUND_PLAN_PREPARE)
    plan = scope.get_object_or_404(FundPlan.objects.select_for_update(of=("self",)), pk=plan_id)
    if plan.status != P.DRAFT:
        raise TransitionConflictError(fund_plan_closed_note(plan))
    ids, count, total = _pool_lock(county_code=plan.county_code, period=plan.period)
    if not count:
        raise ValidationError(
            _("No over-collection refund of this county requested up to %(period)s is waiting for a plan.")
            % {"period": plan.period}
        )
    _pool_move(plan=plan, ids=ids)
    plan.refund_count += count
    plan.amount_fen += total
    plan.save(update_fields=["refund_count", "amount_fen"])
    FUND_PLAN_WORKFLOW.record(
        plan,
        action="gather",
        from_state=P.DRAFT,
        to_state=P.DRAFT,
        actor_id=scope.user_id,
        note=ngettext(
            "%(count)d refund added (%(amount)s yuan); the plan now asks for %(total)s yuan.",
            "%(count)d refunds added (%(amount)s yuan); the plan now asks for %(total)s yuan.",
            count,
        )
        % {"count": count, "amount": yuan(total), "total": yuan(plan.amount_fen)},
    )
    overcollection_status_push(where="r.id = ANY(%(ids)s)", params={"ids": ids}, status="planned", plan=plan)
    return plan


def _next_month(period: str) -> dict[str, str]:
    """The month after ``period`` and its first day: when its plan can be prepared."""
    _first, end = period_bounds(period)
    return {"next": f"{end:%Y-%m}", "first": f"{end:%Y-%m-%d}"}


def fund_plan_closed_note(plan: FundPlan) -> str:
    """What a plan past its draft means for the refunds still waiting: they go into the next month's
    plan, once that month has begun (the refusal, and the pages)."""
    return _(
        "Plan No. %(plan)d for %(period)s is %(status)s: only a draft takes more refunds. The waiting "
        "refunds go into the plan for %(next)s, which can be prepared from %(first)s."
    ) % {
        "plan": plan.pk,
        "period": plan.period,
        "status": plan.get_status_display(),
        **_next_month(plan.period),
    }


def _already_planned(plan: FundPlan, *, county_name: str) -> str:
    """Why the month cannot have a second plan, and what the clerk does instead."""
    values = {
        "county": county_name,
        "period": plan.period,
        "plan": plan.pk,
        "status": plan.get_status_display(),
        "date": timezone.localtime(plan.prepared_at).strftime("%Y-%m-%d"),
        **_next_month(plan.period),
    }
    if plan.status == P.DRAFT:
        return (
            _(
                "%(county)s already has a draft plan for %(period)s (No. %(plan)d, prepared on %(date)s): "
                "open it and add the waiting refunds to it."
            )
            % values
        )
    return (
        _(
            "%(county)s already has a plan for %(period)s (No. %(plan)d, %(status)s, prepared on %(date)s); "
            "it takes no more refunds. The waiting refunds go into the plan for %(next)s, which can be "
            "prepared from %(first)s."
        )
        % values
    )


def _release(plan: FundPlan) -> None:
    """The plan's refunds go back to the pool, for the next plan."""
    OvercollectionRefund.objects.filter(plan=plan).update(plan=None, status=OvercollectionStatus.RECEIVED)


def _confirmed(plan: FundPlan, amount_fen: int) -> None:
    """The caller states the total it acts on: a page or client that saw another total (the plan
    changed since) is refused rather than acting on an amount nobody looked at."""
    if amount_fen != plan.amount_fen:
        raise ValidationError(
            {"amount_fen": _("The plan's total is %(total)s yuan, not %(given)s yuan.")
             % {"total": yuan(plan.amount_fen), "given": yuan(amount_fen)}}
        )  # fmt: skip


def fund_plan_discard(*, scope: Scope, plan_id: int, reason: str) -> FundPlan:
    """Insurance staff throw a draft away, saying why; its refunds go back to the pool."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the draft is discarded.")})
    with transaction.atomic():
        plan = FUND_PLAN_WORKFLOW.transition(
            scope=scope, pk=plan_id, action="discard", note=reason, change=_release
        )
        # Kept on tax's timeline: the portal's language, whoever discarded the draft.
        with translation.override(settings.LANGUAGE_CODE):
            note = _("The draft plan was discarded; waiting for the next plan.")
        overcollection_status_push(
            where=_PLAN_REFUNDS, params={"plan_id": plan.pk}, status="received", note=note
        )
    return plan


def fund_plan_submit(*, scope: Scope, plan_id: int, amount_fen: int, note: str = "") -> FundPlan:
    """Insurance staff send the draft, whose total they confirm, to finance with its lines
    (``refund.fund_plan_submitted``)."""

    def change(row: FundPlan) -> None:
        _confirmed(row, amount_fen)
        row.submitted_by_id = scope.user_id
        row.submitted_at = timezone.now()

    with transaction.atomic():
        plan = FUND_PLAN_WORKFLOW.transition(
            scope=scope, pk=plan_id, action="submit", note=note, change=change
        )
        lines = FundPlanLine.objects.filter(plan=plan).select_related("refund").order_by("refund__request_id")
        message_send(
            topic="refund.fund_plan_submitted",
            payload={
                "plan_id": plan.pk,
                "region_code": plan.region_code,
                "period": plan.period,
                "refund_count": plan.refund_count,
                "amount_fen": plan.amount_fen,
                "submitted_on": timezone.localtime(plan.submitted_at).date().isoformat(),
                # Finance pays, it need not know whom in full.
                "lines": [
                    {
                        "request_id": line.refund.request_id,
                        "person_id": mask_id_number(line.refund.person_id),
                        "region_code": line.refund.region_code,
                        "insurance_year": line.refund.insurance_year,
                        "receipt_number": line.refund.receipt_number,
                        "reason": line.refund.reason[:200],
                        "amount_fen": line.amount_fen,
                    }
                    for line in lines
                ],
            },
        )
    return plan


def fund_plan_pay_out(*, scope: Scope, plan_id: int, bank_reference: str, note: str = "") -> FundPlan:
    """Insurance staff record that the funded plan's refunds were paid to the payers (one bank
    batch, one reference); each refund goes to tax in the month's refund details."""
    bank_reference = (bank_reference or "").strip()
    if not bank_reference:
        raise ValidationError({"bank_reference": _("Enter the bank's reference of the transfer.")})
    if len(bank_reference) > 64:
        raise ValidationError({"bank_reference": _("At most 64 characters.")})
    now = timezone.now()

    def change(row: FundPlan) -> None:
        row.paid_out_by_id = scope.user_id
        row.paid_out_at = now
        row.bank_reference = bank_reference
        OvercollectionRefund.objects.filter(plan=row).update(
            status=OvercollectionStatus.PAID_OUT, paid_out_at=now, bank_reference=bank_reference
        )

    with transaction.atomic():
        plan = FUND_PLAN_WORKFLOW.transition(
            scope=scope, pk=plan_id, action="pay_out", note=note or bank_reference, change=change
        )
        paid_on = timezone.localtime(now).date()
        message_send_bulk(
            topic="refund.monthly_details",
            query="""
                SELECT NULL AS subject, NULL AS region_code, jsonb_build_object(
                    'refund_id', r.request_id, 'person_id', r.person_id, 'region_code', r.region_code,
                    'month', %(month)s::text, 'amount_fen', r.amount_fen, 'receipt_number', r.receipt_number,
                    'paid_on', %(paid_on)s::text, 'kind', 'overcollection') AS payload
                FROM refunds_overcollectionrefund r WHERE r.plan_id = %(plan_id)s ORDER BY r.request_id
            """,
            params={"plan_id": plan.pk, "month": f"{paid_on:%Y-%m}", "paid_on": paid_on.isoformat()},
        )
        overcollection_status_push(
            where="r.plan_id = %(plan_id)s",
            params={"plan_id": plan.pk},
            status="paid_out",
            plan=plan,
            paid_on=paid_on,
            bank_reference=bank_reference,
        )
    return plan


# --- finance's answers, as its messages bring them (``refunds.handlers``) ---------------------

_BEYOND = {
    "finance_approve": (P.APPROVED, P.FUNDED, P.PAID_OUT),
    "finance_reject": (P.REJECTED,),
    "funds_transferred": (P.FUNDED, P.PAID_OUT),
}


def _finance_step(*, plan_id: int, action: str, note: str, change) -> FundPlan | None:  # type: ignore[no-untyped-def]
    """Take finance's step on the locked plan; a step already taken (a redelivery) changes nothing."""
    plan = FundPlan.objects.select_for_update(of=("self",)).get(pk=plan_id)
    if plan.status in _BEYOND[action]:
        return None
    return FUND_PLAN_WORKFLOW.apply(plan, action=action, scope=None, note=note, change=change)


def fund_plan_decided(*, plan_id: int, decision: str, reason: str, decided_on: dt.date) -> FundPlan | None:
    """Finance approved or rejected the plan: move it, its refunds, and tell tax."""
    reason = (reason or "").strip()
    if decision == "approved":

        def approve(row: FundPlan) -> None:
            row.decided_on = decided_on
            row.finance_reason = reason[:500]
            OvercollectionRefund.objects.filter(plan=row).update(status=OvercollectionStatus.APPROVED)

        plan = _finance_step(plan_id=plan_id, action="finance_approve", note=reason, change=approve)
        if plan is not None:
            overcollection_status_push(
                where="r.plan_id = %(plan_id)s",
                params={"plan_id": plan.pk},
                status="approved",
                plan=plan,
                note=reason,
            )
        return plan

    def reject(row: FundPlan) -> None:
        row.decided_on = decided_on
        row.finance_reason = reason[:500] or _("No reason given.")
        _release(row)

    plan = _finance_step(plan_id=plan_id, action="finance_reject", note=reason, change=reject)
    if plan is not None:
        overcollection_status_push(
            where=_PLAN_REFUNDS,
            params={"plan_id": plan.pk},
            status="rejected",
            plan=plan,
            note=plan.finance_reason,
        )
    return plan


def fund_plan_funded(*, plan_id: int, voucher: str, transferred_on: dt.date) -> FundPlan | None:
    """Finance transferred the approved plan's funds to insurance."""

    def funded(row: FundPlan) -> None:
        row.voucher = voucher[:64]
        row.transferred_on = transferred_on
        OvercollectionRefund.objects.filter(plan=row).update(status=OvercollectionStatus.FUNDED)

    plan = _finance_step(plan_id=plan_id, action="funds_transferred", note=voucher, change=funded)
    if plan is not None:
        overcollection_status_push(
            where="r.plan_id = %(plan_id)s", params={"plan_id": plan.pk}, status="funded", plan=plan
        )
    return plan
