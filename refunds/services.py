"""Every write of the refunds app. Pages, the API, commands and tests call these.

Each function takes keyword arguments only and runs in one transaction; every state change goes
through ``REFUND_WORKFLOW`` (``refunds.workflow``), which locks the application, refuses an illegal
or stale step, keeps the applicant from deciding and writes the timeline event.

Whether a contribution is refundable is the rule engine's answer (``enrollment.rules.engine.refund_on``)
under the policy of the county and year, given at once: an application that is not refundable is
still recorded, and closed as rejected by the rules with the engine's reason in the same
transaction (the policy: "not refundable → the reason is given on the spot").

A payout changes nothing in enrollment: see docs/refunds.md, "What a payout changes".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.roles import Action
from accounts.scope import Scope
from enrollment.evidence import validate_evidence
from enrollment.models import Assessment, AssessmentStatus, Person
from enrollment.policies import policy_for_county
from enrollment.rules import engine
from sharing.services import message_send

from .calendar import add_working_days
from .models import OPEN_REFUND_STATUSES, RefundApplication, RefundEvidence, RefundReason, RefundStatus
from .workflow import Transition, TransitionConflictError, Workflow

__all__ = [
    "REFUND_WORKFLOW",
    "TransitionConflictError",
    "refund_apply",
    "refund_approve",
    "refund_pay_out",
    "refund_reject",
    "refund_withdraw",
]

MAX_EVIDENCE_FILES = 5

S = RefundStatus
REFUND_WORKFLOW = Workflow(
    kind=RefundApplication.workflow_kind,
    model=RefundApplication,
    initial=S.SUBMITTED,
    start_label=gettext_lazy("Apply"),
    transitions=(
        Transition(
            "approve",
            (S.SUBMITTED,),
            S.APPROVED,
            gettext_lazy("Approve"),
            Action.REFUND_REVIEW,
            four_eyes=True,
        ),
        Transition(
            "reject",
            (S.SUBMITTED,),
            S.REJECTED,
            gettext_lazy("Reject"),
            Action.REFUND_REVIEW,
            four_eyes=True,
            note_required=True,
        ),
        Transition(
            "withdraw",
            (S.SUBMITTED,),
            S.WITHDRAWN,
            gettext_lazy("Withdraw"),
            Action.REFUND_APPLY,
            applicant_only=True,
        ),
        Transition(
            "pay_out",
            (S.APPROVED,),
            S.PAID_OUT,
            gettext_lazy("Record the payout"),
            Action.REFUND_PAY_OUT,
            four_eyes=True,
        ),
        # The rule engine closes an application that is not refundable, on the spot.
        Transition("rule_reject", (S.SUBMITTED,), S.REJECTED, gettext_lazy("Closed by the rules")),
    ),
)


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
    person = scope.filter(Person.objects.all()).filter(pk=person_id).first()
    if person is None:
        raise ValidationError({"person": _("No such person in your area.")})
    errors: dict[str, str] = {}
    if reason not in RefundReason.values:
        errors["reason"] = _("Choose the reason for the refund.")
    if event_on > today:
        errors["event_on"] = _("The date of the event cannot lie in the future.")
    if len(evidence) > MAX_EVIDENCE_FILES:
        errors["evidence"] = _("At most %(n)d files.") % {"n": MAX_EVIDENCE_FILES}
    if errors:
        raise ValidationError(errors)
    for upload in evidence:
        try:
            validate_evidence(upload)
        except ValidationError as error:
            raise ValidationError({"evidence": f"{upload.name}: {' '.join(error.messages)}"}) from error
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
    loaded = policy_for_county(county_code=assessment.county_code, insurance_year=insurance_year)
    if loaded is None:
        raise ValidationError(
            _(
                "There is no policy for %(county)s and %(year)d, so the rules cannot decide; ask the administrator."
            )
            % {"county": assessment.county_code, "year": insurance_year}
        )
    decision = engine.refund_on(
        loaded.rules, reason, event_on, assessment.benefit_start, person_category=person.category
    )
    deadline = add_working_days(today, loaded.rules.refunds.decision_working_days)
    application = RefundApplication(
        person=person,
        assessment=assessment,
        insurance_year=insurance_year,
        region_code=assessment.region_code,
        reason=reason,
        event_on=event_on,
        note=note.strip()[:300],
        amount_fen=assessment.paid_fen,
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


def _already_open(application: RefundApplication) -> str:
    return _(
        "This person already has an open refund application for %(year)d (%(status)s, applied on %(date)s)."
    ) % {
        "year": application.insurance_year,
        "status": application.get_status_display(),
        "date": timezone.localtime(application.applied_at).strftime("%Y-%m-%d"),
    }


def _decided(scope: Scope, note: str = ""):  # type: ignore[no-untyped-def]
    def change(row: RefundApplication) -> None:
        row.decided_by_id = scope.user_id
        row.decided_at = timezone.now()
        if note:
            row.decision_note = note[:500]

    return change


def refund_approve(*, scope: Scope, application_id: int, note: str = "") -> RefundApplication:
    """Insurance staff (not the applicant) approve a refundable application; payout follows."""

    def change(row: RefundApplication) -> None:
        if not row.refundable:  # cannot happen through the services: the rules close those at once
            raise TransitionConflictError(_("The rules found this application not refundable."))
        _decided(scope, note.strip())(row)

    return REFUND_WORKFLOW.transition(
        scope=scope, pk=application_id, action="approve", note=note, change=change
    )


def refund_reject(*, scope: Scope, application_id: int, reason: str) -> RefundApplication:
    """Insurance staff (not the applicant) reject with the reason; the applicant sees it at once."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason; the applicant will see it.")})
    return REFUND_WORKFLOW.transition(
        scope=scope, pk=application_id, action="reject", note=reason, change=_decided(scope, reason)
    )


def refund_withdraw(*, scope: Scope, application_id: int, note: str = "") -> RefundApplication:
    """The applicant withdraws their own application while it waits for a decision."""
    return REFUND_WORKFLOW.transition(scope=scope, pk=application_id, action="withdraw", note=note)


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
        row.paid_out_by_id = scope.user_id
        row.paid_out_at = timezone.now()
        row.bank_reference = bank_reference

    with transaction.atomic():
        application = REFUND_WORKFLOW.transition(
            scope=scope, pk=application_id, action="pay_out", note=note or bank_reference, change=change
        )
        _report_to_tax(application)
    return application


def _report_to_tax(application: RefundApplication) -> None:
    """The refund goes into the month's refund details for tax (``refund.monthly_details``), in
    the payout's transaction: tax then knows the money that left the fund, by its receipt."""
    paid_on = timezone.localtime(application.paid_out_at).date()
    assessment = Assessment.objects.only("deposit_reference").get(pk=application.assessment_id)
    message_send(
        topic="refund.monthly_details",
        payload={
            "refund_id": application.pk,
            "person_id": Person.objects.values_list("id_number", flat=True).get(pk=application.person_id),
            "region_code": application.region_code,
            "month": f"{paid_on:%Y-%m}",
            "amount_fen": application.amount_fen,
            "receipt_number": assessment.deposit_reference,
            "paid_on": paid_on.isoformat(),
        },
    )
