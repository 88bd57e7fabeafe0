"""Finance's writes: record a plan insurance submitted, approve or reject it, record the transfer.

Each decision locks the plan row (``SELECT … FOR UPDATE``) before it reads the state, so of two
finance staff deciding at once the second waits, then finds the plan decided and is told who did
what when (``PlanConflictError``, HTTP 409). Every step writes a ``PlanEvent`` and answers insurance
in the same transaction (``refund.fund_plan_decided``, ``refund.funds_transferred``).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope
from sharing.services import message_send

from .models import PlanEvent, PlanStatus, ReceivedPlan

S = PlanStatus
# action -> (the states it may start from, where it leads, its label, the role action it needs)
STEPS = {
    "approve": ((S.RECEIVED,), S.APPROVED, gettext_lazy("Approve"), Action.FINANCE_PLAN_DECIDE),
    "reject": ((S.RECEIVED,), S.REJECTED, gettext_lazy("Reject"), Action.FINANCE_PLAN_DECIDE),
    "transfer": (
        (S.APPROVED,),
        S.TRANSFERRED,
        gettext_lazy("Record the transfer"),
        Action.FINANCE_PLAN_TRANSFER,
    ),
}
LABELS = {"receive": gettext_lazy("Received from insurance"), **{k: v[2] for k, v in STEPS.items()}}


class PlanConflictError(Exception):
    """The plan is not (or no longer) in a state that allows the step: someone was quicker."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def steps_for(plan: ReceivedPlan, scope: Scope) -> list[str]:
    """The steps this viewer may take on the plan now (the page offers exactly those)."""
    return [
        name
        for name, (sources, _t, _l, permission) in STEPS.items()
        if plan.status in sources and scope.allows(permission)
    ]


def _stale(plan: ReceivedPlan, action: str) -> str:
    last = plan.timeline.select_related("actor").order_by("-at", "-pk").first()
    if last is None or last.actor is None:
        return _("This plan is %(status)s, so “%(step)s” is not possible.") % {
            "status": plan.get_status_display(),
            "step": LABELS[action],
        }
    return _(
        "This plan is already %(status)s: %(who)s chose “%(did)s” at %(at)s, so “%(step)s” is not possible now."
    ) % {
        "status": plan.get_status_display(),
        "who": last.actor.full_name or last.actor.get_username(),
        "did": LABELS.get(last.action, last.action),
        "at": timezone.localtime(last.at).strftime("%Y-%m-%d %H:%M:%S"),
        "step": LABELS[action],
    }


def _step(*, scope: Scope, plan_id: int, action: str, note: str, change) -> ReceivedPlan:  # type: ignore[no-untyped-def]
    sources, target, _label, permission = STEPS[action]
    scope.require(permission)
    with transaction.atomic():
        plan = scope.get_object_or_404(ReceivedPlan.objects.select_for_update(of=("self",)), pk=plan_id)
        if plan.status not in sources:
            raise PlanConflictError(_stale(plan, action))
        current = plan.status
        change(plan)
        plan.status = target
        plan.save()
        PlanEvent.objects.create(
            plan=plan, action=action, from_state=current, to_state=target, actor_id=scope.user_id,
            at=timezone.now(), note=note[:200],
        )  # fmt: skip
        return plan


def _decided(plan: ReceivedPlan, decision: str) -> None:
    message_send(
        topic="refund.fund_plan_decided",
        payload={
            "plan_id": plan.plan_id,
            "region_code": plan.region_code,
            "decision": decision,
            "reason": plan.decision_reason or None,
            "amount_fen": plan.amount_fen,
            "decided_on": timezone.localtime(plan.decided_at).date().isoformat(),
        },
    )


def plan_approve(*, scope: Scope, plan_id: int, amount_fen: int, note: str = "") -> ReceivedPlan:
    """Finance staff approve the plan for the total they state (it must be the plan's: finance
    approves an amount, never whatever the plan holds); insurance is told, the transfer follows."""
    note = (note or "").strip()

    def change(plan: ReceivedPlan) -> None:
        if amount_fen != plan.amount_fen:
            raise ValidationError(
                {"amount_fen": _("The plan's total is %(total)s yuan, not %(given)s yuan.")
                 % {"total": yuan(plan.amount_fen), "given": yuan(amount_fen)}}
            )  # fmt: skip
        plan.decided_by_id = scope.user_id
        plan.decided_at = timezone.now()
        plan.decision_reason = note[:200]

    with transaction.atomic():
        plan = _step(scope=scope, plan_id=plan_id, action="approve", note=note, change=change)
        _decided(plan, "approved")
    return plan


def plan_reject(*, scope: Scope, plan_id: int, reason: str) -> ReceivedPlan:
    """Finance staff reject the plan with the reason; insurance puts its refunds back in the pool."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason; insurance and tax will see it.")})
    if len(reason) > 200:
        raise ValidationError({"reason": _("At most 200 characters.")})

    def change(plan: ReceivedPlan) -> None:
        plan.decided_by_id = scope.user_id
        plan.decided_at = timezone.now()
        plan.decision_reason = reason

    with transaction.atomic():
        plan = _step(scope=scope, plan_id=plan_id, action="reject", note=reason, change=change)
        _decided(plan, "rejected")
    return plan


def plan_transfer(
    *,
    scope: Scope,
    plan_id: int,
    voucher: str,
    transferred_on: dt.date | None = None,
    today: dt.date | None = None,
) -> ReceivedPlan:
    """Finance staff record that the approved plan's funds went to insurance (voucher number, day)."""
    voucher = (voucher or "").strip()
    today = today or timezone.localdate()
    transferred_on = transferred_on or today
    errors = {}
    if not voucher:
        errors["voucher"] = _("Enter the voucher number of the transfer.")
    elif len(voucher) > 64:
        errors["voucher"] = _("At most 64 characters.")
    if transferred_on > today:
        errors["transferred_on"] = _("The day of the transfer cannot lie in the future.")
    if errors:
        raise ValidationError(errors)

    def change(plan: ReceivedPlan) -> None:
        plan.transferred_by_id = scope.user_id
        plan.transferred_at = timezone.now()
        plan.transferred_on = transferred_on
        plan.voucher = voucher

    with transaction.atomic():
        plan = _step(scope=scope, plan_id=plan_id, action="transfer", note=voucher, change=change)
        message_send(
            topic="refund.funds_transferred",
            payload={
                "plan_id": plan.plan_id,
                "region_code": plan.region_code,
                "amount_fen": plan.amount_fen,
                "transferred_on": transferred_on.isoformat(),
                "voucher": voucher,
            },
        )
    return plan
