"""Every write of back-payment applications (补缴). Pages, the API, the demo and tests call these.

Each function takes keyword arguments only and runs in one transaction; every state change goes
through ``BACK_PAYMENT_WORKFLOW`` (``refunds.workflow``): the row is locked, an illegal or stale
step refused with who did what when, the applicant never decides, and each step is an event.

The rule engine (``enrollment.rules.engine.back_payment_on``, through
``enrollment.back_payments.back_payment_decide``) answers at once whether the person may pay the
year back and how much: not allowed (not eligible, before the applications open or after they
close, a newborn who pays under the newborn rule instead) → the application is recorded and
closed by the rules with the engine's words, as refunds are. On approval the engine is asked
again for the approval day: its amount and rule are what the approval stands on, and what tax
is sent (``enrollment.back_payments.assessment_back_payment_approve`` → ``backpayment.due``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import Action
from accounts.scope import Scope
from enrollment.back_payments import (
    BackPaymentAnswer,
    assessment_back_payment_approve,
    back_payment_decide,
    extension_running,
)
from enrollment.models import Assessment, AssessmentStatus, Person
from enrollment.policies import policy_for_county_held
from enrollment.rules import engine

from .models import WorkflowEvent
from .models_backpay import (
    OPEN_BACK_PAYMENT_STATUSES,
    BackPaymentApplication,
    BackPaymentEvidence,
    BackPaymentStatus,
)
from .services import MAX_EVIDENCE_FILES, evidence_validate, person_in_area
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
    "BACK_PAYMENT_WORKFLOW",
    "WITHDRAWALS_BY_THE_RULES",
    "BackPaymentAnswer",
    "TransitionConflictError",
    "back_payment_apply",
    "back_payment_approve",
    "back_payment_decide",
    "back_payment_reject",
    "back_payment_withdraw",
    "back_payments_withdraw_for_cancellation",
    "back_payments_withdraw_for_extension",
    "back_payments_withdraw_for_government_payment",
]


S = BackPaymentStatus
BACK_PAYMENT_WORKFLOW = Workflow(
    kind=BackPaymentApplication.workflow_kind,
    model=BackPaymentApplication,
    initial=S.SUBMITTED,
    start_label=gettext_lazy("Apply"),
    transitions=(
        *review_transitions(S, review=Action.BACKPAY_REVIEW, apply=Action.BACKPAY_APPLY),
        closed_by_the_rules(S),
        # An extension of the collection period reopens the normal payment of the year: the
        # back-payment approved before it and not yet paid is withdrawn by the rules
        # (``back_payments_withdraw_for_extension``).
        Transition(
            "extension_withdraw",
            (S.APPROVED,),
            S.WITHDRAWN,
            gettext_lazy("Withdrawn: the collection period was extended"),
        ),
        # A reassessment cancelled the year's contribution (the enrollment ended or was suspended
        # before it was paid): there is nothing left to pay back, whether the application was
        # decided or not (``back_payments_withdraw_for_cancellation``).
        Transition(
            "cancel_withdraw",
            (S.SUBMITTED, S.APPROVED),
            S.WITHDRAWN,
            gettext_lazy("Withdrawn: the year's contribution was cancelled"),
        ),
        # A reassessment turned the unpaid year into one the government pays in full (a subsidy tag
        # arrived): nothing is left for the person to pay back, decided or not
        # (``back_payments_withdraw_for_government_payment``).
        Transition(
            "government_withdraw",
            (S.SUBMITTED, S.APPROVED),
            S.WITHDRAWN,
            gettext_lazy("Withdrawn: the government pays the year's contribution in full"),
        ),
    ),
)
# The steps by which the rules, not a person, withdraw an application: its page says why at the top.
WITHDRAWALS_BY_THE_RULES = ("extension_withdraw", "cancel_withdraw", "government_withdraw")


def _due_assessment(scope: Scope, person: Person, insurance_year: int) -> Assessment:
    assessment = (
        scope.filter(Assessment.objects.select_for_update(of=("self",)))
        .filter(person=person, insurance_year=insurance_year, status=AssessmentStatus.DUE)
        .first()
    )
    if assessment is None:
        raise ValidationError(
            {
                "insurance_year": _("%(name)s has no unpaid contribution for %(year)d in your area.")
                % {"name": person.name, "year": insurance_year}
            }
        )
    return assessment


def _already_open(application: BackPaymentApplication) -> str:
    return _(
        "This person already has an open back-payment application for %(year)d (%(status)s, applied on %(date)s)."
    ) % {
        "year": application.insurance_year,
        "status": application.get_status_display(),
        "date": timezone.localtime(application.applied_at).strftime("%Y-%m-%d"),
    }


@transaction.atomic
def back_payment_apply(
    *,
    scope: Scope,
    person_id: int,
    insurance_year: int,
    reason: str,
    evidence: Sequence[UploadedFile] = (),
    today: dt.date | None = None,
) -> BackPaymentApplication:
    """Record an application to pay the person's unpaid year back; the engine decides at once."""
    scope.require(Action.BACKPAY_APPLY)
    today = today or timezone.localdate()
    person = person_in_area(scope, person_id)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("Say why the collection period was missed.")
    elif len(reason) > 500:
        errors["reason"] = _("At most 500 characters.")
    if len(evidence) > MAX_EVIDENCE_FILES:
        errors["evidence"] = _("At most %(n)d files.") % {"n": MAX_EVIDENCE_FILES}
    if errors:
        raise ValidationError(errors)
    evidence_validate(evidence)
    assessment = _due_assessment(scope, person, insurance_year)
    open_one = (
        BackPaymentApplication.objects.filter(
            person=person, insurance_year=insurance_year, status__in=OPEN_BACK_PAYMENT_STATUSES
        )
        .order_by("-applied_at")
        .first()
    )
    if open_one is not None:
        raise ValidationError(_already_open(open_one))
    answer = back_payment_decide(assessment=assessment, person=person, on=today)
    decision = answer.decision
    application = BackPaymentApplication(
        person=person,
        assessment=assessment,
        insurance_year=insurance_year,
        region_code=assessment.region_code,
        reason=reason,
        allowed=decision.allowed,
        amount_fen=decision.amount_fen,
        rule=decision.rule[:64],
        rule_reason=decision.reason,
        policy_version=answer.loaded.version,
        pay_until=answer.pay_until,
        status=BackPaymentStatus.SUBMITTED,
        applied_by_id=scope.user_id,
        applied_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError as error:  # another clerk's application for the same year got in first
        raise ValidationError(
            _("%(name)s already has an open back-payment application for %(year)d.")
            % {"name": person.name, "year": insurance_year}
        ) from error
    BACK_PAYMENT_WORKFLOW.start(application, actor_id=scope.user_id, note=reason)
    for upload in evidence:
        item = BackPaymentEvidence(
            application=application, name=upload.name[:200], uploaded_by_id=scope.user_id
        )
        item.file.save(upload.name, upload, save=False)
        item.save()
    if not decision.allowed:

        def close(row: BackPaymentApplication) -> None:
            row.decision_note = decision.reason[:500]
            row.decided_at = timezone.now()

        BACK_PAYMENT_WORKFLOW.apply(
            application, action="rule_reject", scope=None, note=decision.reason, change=close
        )
    return application


@transaction.atomic
def back_payment_approve(
    *, scope: Scope, application_id: int, note: str = "", today: dt.date | None = None
) -> BackPaymentApplication:
    """Insurance staff (not the applicant) approve; the engine is asked again for today, and the
    year's assessment becomes payable at tax at its amount until the pay-by day, in one transaction.

    An extension of the collection period withdraws the back-payments approved before it (the
    county runs it queues), so an approval must not read the policy before an extension and commit
    after it. Lock order, the same in every path: the county's policy row (FOR SHARE here, FOR
    UPDATE by ``policy_save``, which the extension goes through), then the application, then the
    year's assessment. The extension takes only the policy row (its runs, in their own
    transactions after it commits, take assessments then approved applications, never the policy),
    so the two cannot deadlock: whichever locks the policy row first goes first. An approval that
    comes second reads the extended policy and is refused; one that came first is committed before
    the extension, and the county's run withdraws it."""
    scope.require(BACK_PAYMENT_WORKFLOW.transition_for("approve").permission)
    today = today or timezone.localdate()
    note = (note or "").strip()
    year = (
        scope.filter(BackPaymentApplication.objects.filter(pk=application_id))
        .values_list("assessment__county_code", "insurance_year")
        .first()
    )
    if year is not None:  # else the transition below answers 404
        policy_for_county_held(county_code=year[0], insurance_year=year[1])

    def change(row: BackPaymentApplication) -> None:
        # The decision reads the year's county and the person's other years; the assessment row
        # itself is locked and its status checked by assessment_back_payment_approve below. The
        # policy is read under its lock (held again: the county may have changed meanwhile).
        assessment = Assessment.objects.only("county_code", "insurance_year").get(pk=row.assessment_id)
        answer = back_payment_decide(assessment=assessment, person=row.person, on=today, held=True)
        extended_to = extension_running(loaded=answer.loaded, on=today)
        if extended_to is not None:
            raise ValidationError(
                _(
                    "The collection period for %(year)d was extended to %(date)s: until then %(name)s "
                    "pays the normal contribution at tax, not a back-payment, so this back-payment "
                    "cannot be approved. Back-payment applications open again on %(opens)s."
                )
                % {
                    "year": row.insurance_year,
                    "date": engine.say_date(extended_to),
                    "name": row.person.name,
                    "opens": engine.say_date(engine.back_payment_apply_from(answer.loaded.rules)),
                },
                code="extended",
            )
        if not answer.decision.allowed or answer.pay_until is None:
            raise ValidationError(
                _("The rules no longer allow this back-payment: %(why)s") % {"why": answer.decision.reason},
                code="not_allowed",
            )
        row.allowed = True
        row.amount_fen = answer.decision.amount_fen
        row.rule = answer.decision.rule[:64]
        row.rule_reason = answer.decision.reason
        row.policy_version = answer.loaded.version
        row.pay_until = answer.pay_until
        decision_record(row, scope=scope, note=note)
        assessment_back_payment_approve(
            assessment_id=row.assessment_id,
            application_id=row.pk,
            amount_fen=row.amount_fen,
            approved_on=today,
            pay_until=answer.pay_until,
            rule=row.rule,
            reason=row.rule_reason,
        )

    return BACK_PAYMENT_WORKFLOW.transition(
        scope=scope, pk=application_id, action="approve", note=note, change=change
    )


def back_payment_reject(*, scope: Scope, application_id: int, reason: str) -> BackPaymentApplication:
    """Insurance staff (not the applicant) reject with the reason; the applicant sees it at once."""
    return application_reject(
        BACK_PAYMENT_WORKFLOW, scope=scope, application_id=application_id, reason=reason
    )


def back_payment_withdraw(*, scope: Scope, application_id: int, note: str = "") -> BackPaymentApplication:
    """The applicant withdraws their own application while it waits for a decision."""
    return BACK_PAYMENT_WORKFLOW.transition(scope=scope, pk=application_id, action="withdraw", note=note)


def back_payments_withdraw_for_extension(*, assessment_ids: Sequence[int], reason: str) -> int:
    """The approved applications of these assessments, whose back-payment an extension of the
    collection period withdrew (``enrollment.assessment``: the person pays the normal amount until
    the extension ends), are withdrawn by the rules with the reason: one event each on their
    timeline, nothing deleted. Set-based, in the caller's transaction (the run's, which sends tax
    the normal items). Returns how many were withdrawn."""
    return _withdraw_by_the_rules(
        action="extension_withdraw",
        assessment_ids=assessment_ids,
        notes=lambda ids: dict.fromkeys(ids, reason),
    )


def back_payments_withdraw_for_cancellation(
    *,
    assessment_ids: Sequence[int],
    notes: Callable[[Sequence[int]], Mapping[int, str]],
    skip_locked: bool = False,
) -> int:
    """The open (submitted or approved, not paid) applications of these assessments, which a
    reassessment is cancelling (``enrollment.assessment``: the enrollment ended, was suspended,
    or began too late to pay for the year), are withdrawn by the rules: nothing is left to pay
    back. ``notes`` says why for the assessments that have such an application (asked once, for
    those alone). Set-based, in the caller's transaction (the reassessment's, which sends tax the
    cancelled item). Returns how many were withdrawn."""
    return _withdraw_by_the_rules(
        action="cancel_withdraw", assessment_ids=assessment_ids, notes=notes, skip_locked=skip_locked
    )


def back_payments_withdraw_for_government_payment(
    *,
    assessment_ids: Sequence[int],
    notes: Callable[[Sequence[int]], Mapping[int, str]],
    skip_locked: bool = False,
) -> int:
    """The open (submitted or approved, not paid) applications of these assessments, whose unpaid
    year a reassessment is turning into one the government pays in full (``enrollment.assessment``:
    a subsidy tag arrived), are withdrawn by the rules: the person has nothing left to pay back.
    ``notes`` says why, as for a cancellation. Set-based, in the caller's transaction (the
    reassessment's, which sends tax the cancelled item). Returns how many were withdrawn."""
    return _withdraw_by_the_rules(
        action="government_withdraw", assessment_ids=assessment_ids, notes=notes, skip_locked=skip_locked
    )


def _withdraw_by_the_rules(
    *,
    action: str,
    assessment_ids: Sequence[int],
    notes: Callable[[Sequence[int]], Mapping[int, str]],
    skip_locked: bool = False,
) -> int:
    """One step of ``BACK_PAYMENT_WORKFLOW`` without an actor for every application of these
    assessments in the step's source states: locked, moved by one UPDATE, one event each with the
    note of its assessment (one INSERT). ``skip_locked``: leave an application another transaction
    holds (for a caller that holds the assessments: that transaction may be waiting for them)."""
    step = BACK_PAYMENT_WORKFLOW.transition_for(action)
    with transaction.atomic():
        rows = list(
            BackPaymentApplication.objects.select_for_update(skip_locked=skip_locked)
            .filter(assessment_id__in=assessment_ids, status__in=step.sources)
            .order_by("pk")
            .values_list("pk", "assessment_id", "region_code", "status")
        )
        if not rows:
            return 0
        note_of = notes(sorted({assessment_id for _pk, assessment_id, _region, _status in rows}))
        BackPaymentApplication.objects.filter(pk__in=[pk for pk, *_rest in rows]).update(status=step.target)
        at = timezone.now()
        WorkflowEvent.objects.bulk_create(
            WorkflowEvent(
                kind=BACK_PAYMENT_WORKFLOW.kind,
                object_id=pk,
                region_code=region_code,
                action=step.action,
                from_state=status,
                to_state=step.target,
                actor=None,
                at=at,
                note=note_of[assessment_id],
            )
            for pk, assessment_id, region_code, status in rows
        )
    return len(rows)
