"""A small state machine for applications whose every step needs an owner, a reason and a trace.

Refunds, back-payments (补缴) and fund-usage plans (用款计划) use it. A workflow is
data: its states are the model's ``status`` choices, its ``Transition`` rows say for each action
from which states it may be taken, to which state it leads, which role action it needs, and who
may not (four-eyes: the applicant never decides) or who alone may (the applicant withdraws).

The application model has a ``status`` field with choices, a ``region_code`` (its place in the
scope, copied to each event) and the applicant's user id (``applied_by_id`` by default).

Design choice — one shared event table. Every transition of every kind of application writes a
``refunds.models.WorkflowEvent`` row keyed by ``kind`` + ``object_id`` (from, to, action, actor,
time, note, and the application's region for the scope), in the transaction of the change. One
table rather than an abstract base per application model: the timeline, the "who decided and
when" answer to a lost race and the append-only trigger exist once, and a new workflow needs
no migration of its own for its trace. The price is no foreign key from the event to its
application; ``kind`` names the model and events are only ever written here.

Concurrency: ``transition`` locks the application row (``SELECT … FOR UPDATE``) before it reads
the state, so of two people approving at once the second waits, then finds the state moved on
and is refused with who took which step when (``TransitionConflictError``, HTTP 409). An action the
state does not allow is refused the same way. A rule about the person (the applicant deciding
their own application, someone else withdrawing it) is a ``ValidationError`` (HTTP 400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.scope import Scope

from .models import WorkflowEvent


class TransitionConflictError(Exception):
    """The application is not (or no longer) in a state that allows the action."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str
    label: str | Promise
    # The role action (accounts.roles.Action) the actor needs; "" for a step only the system takes.
    permission: str = ""
    four_eyes: bool = False  # the applicant may not take it
    applicant_only: bool = False  # only the applicant may take it
    note_required: bool = False

    @property
    def system(self) -> bool:
        return not self.permission


@dataclass(frozen=True)
class Workflow:
    kind: str
    model: type[models.Model]
    initial: str
    transitions: tuple[Transition, ...]
    applicant_field: str = "applied_by_id"
    status_field: str = "status"
    start_label: str | Promise = ""
    # Who takes the system's steps, as the timeline and a refusal name them ("the rules" for refund
    # applications; the finance bureau, through its messages, for fund-usage plans).
    system_actor: str | Promise = ""
    # Events that change no state but belong on the timeline (a draft plan taking more refunds).
    event_labels: Mapping[str, str | Promise] = field(default_factory=dict)
    _by_action: dict[str, Transition] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_action = {t.action: t for t in self.transitions}
        if len(by_action) != len(self.transitions):
            raise ValueError(f"{self.kind}: an action is defined twice")
        states = {value for value, _label in self.model._meta.get_field(self.status_field).choices}
        for t in self.transitions:
            unknown = ({*t.sources, t.target} | {self.initial}) - states
            if unknown:
                raise ValueError(f"{self.kind}.{t.action}: unknown states {sorted(unknown)}")
        object.__setattr__(self, "_by_action", by_action)

    # --- questions ---------------------------------------------------------------------------

    def transition_for(self, action: str) -> Transition:
        try:
            return self._by_action[action]
        except KeyError:
            raise TransitionConflictError(
                _("There is no step called “%(action)s”.") % {"action": action}
            ) from None

    def label_of(self, action: str) -> str:
        if action == "apply":
            return str(self.start_label)
        if action in self.event_labels:
            return str(self.event_labels[action])
        t = self._by_action.get(action)
        return str(t.label) if t else action

    def timeline(self, events: Iterable[WorkflowEvent]) -> list[dict[str, Any]]:
        """The events as a page shows them: each with its step's label and its new state's label."""
        states = dict(self.model._meta.get_field(self.status_field).choices)
        return [
            {"event": event, "label": self.label_of(event.action), "to_label": states.get(event.to_state, "")}
            for event in events
        ]

    def refusal(self, obj: models.Model, scope: Scope, action: str) -> str:
        """Why this viewer may not take the action now ("" when they may), without touching the row."""
        t = self.transition_for(action)
        if t.system:
            return _("Only the rules take this step.")
        if getattr(obj, self.status_field) not in t.sources:
            return self._stale_message(obj, t)
        if not scope.allows(t.permission):
            return _("Your role may not do this.")
        applicant = getattr(obj, self.applicant_field)
        if t.four_eyes and applicant == scope.user_id:
            return _("You applied for this, so someone else must decide it (four-eyes).")
        if t.applicant_only and applicant != scope.user_id:
            return _("Only the person who applied may do this.")
        return ""

    def actions_for(self, obj: models.Model, scope: Scope) -> list[Transition]:
        """The steps this viewer may take now, in the workflow's order."""
        return [t for t in self.transitions if not t.system and not self.refusal(obj, scope, t.action)]

    def events(self, obj: models.Model) -> models.QuerySet[WorkflowEvent]:
        return WorkflowEvent.objects.filter(kind=self.kind, object_id=obj.pk).select_related("actor")

    # --- the trace ---------------------------------------------------------------------------

    def _stale_message(self, obj: models.Model, t: Transition) -> str:
        state = getattr(obj, f"get_{self.status_field}_display")()
        last = self.events(obj).order_by("-at", "-pk").first()
        if last is None:
            return _("This application is %(state)s; “%(step)s” is not possible now.") % {
                "state": state,
                "step": t.label,
            }
        return _(
            "This application is already %(state)s: %(who)s chose “%(step)s” at %(when)s, "
            "so “%(wanted)s” is not possible now."
        ) % {
            "state": state,
            "who": _actor_name(last.actor) if last.actor or not self.system_actor else str(self.system_actor),
            "step": self.label_of(last.action),
            "when": timezone.localtime(last.at).strftime("%Y-%m-%d %H:%M:%S"),
            "wanted": t.label,
        }

    def record(
        self,
        obj: models.Model,
        *,
        action: str,
        from_state: str,
        to_state: str,
        actor_id: int | None,
        note: str,
    ) -> WorkflowEvent:
        return WorkflowEvent.objects.create(
            kind=self.kind,
            object_id=obj.pk,
            region_code=obj.region_code,
            action=action,
            from_state=from_state,
            to_state=to_state,
            actor_id=actor_id,
            at=timezone.now(),
            note=note,
        )

    def start(self, obj: models.Model, *, actor_id: int, note: str = "") -> WorkflowEvent:
        """The first event of a new application (saved in the initial state by the caller)."""
        assert getattr(obj, self.status_field) == self.initial
        return self.record(
            obj, action="apply", from_state="", to_state=self.initial, actor_id=actor_id, note=note
        )

    # --- moving ------------------------------------------------------------------------------

    def apply(
        self,
        obj: models.Model,
        *,
        action: str,
        scope: Scope | None,
        note: str = "",
        change: Callable[[Any], None] | None = None,
    ) -> Any:
        """Move an already locked ``obj``: check, let ``change`` set the step's fields, save, record.

        ``scope`` None means the system acts (only for a ``system`` transition).
        """
        t = self.transition_for(action)
        note = (note or "").strip()
        if scope is None:
            if not t.system:
                raise ValueError(f"{self.kind}.{action} needs a person to take it")
            actor_id = None
        else:
            if t.system:
                raise TransitionConflictError(_("Only the rules take this step."))
            scope.require(t.permission)
            actor_id = scope.user_id
        current = getattr(obj, self.status_field)
        if current not in t.sources:
            raise TransitionConflictError(self._stale_message(obj, t))
        if scope is not None:
            refusal = self.refusal(obj, scope, action)
            if refusal:
                raise ValidationError(refusal, code="not_allowed")
        if t.note_required and not note:
            raise ValidationError({"note": _("Give the reason; the applicant will see it.")}, code="required")
        if change is not None:
            change(obj)
        setattr(obj, self.status_field, t.target)
        obj.save()
        self.record(obj, action=action, from_state=current, to_state=t.target, actor_id=actor_id, note=note)
        return obj

    def transition(
        self,
        *,
        scope: Scope,
        pk: int,
        action: str,
        note: str = "",
        change: Callable[[Any], None] | None = None,
    ) -> Any:
        """Lock the application (in the caller's area, else 404), then ``apply`` the action; one transaction."""
        t = self.transition_for(action)
        if not t.system:
            scope.require(t.permission)
        with transaction.atomic():
            obj = scope.get_object_or_404(self.model.objects.select_for_update(of=("self",)), pk=pk)
            return self.apply(obj, action=action, scope=scope, note=note, change=change)


def _actor_name(user: Any) -> str:
    if user is None:
        return _("the rules")
    return getattr(user, "full_name", "") or user.get_username()


# --- what every application staff review shares ---------------------------------------------------


def review_transitions(statuses: Any, *, review: str, apply: str) -> tuple[Transition, ...]:
    """Staff with ``review`` approve or reject (with the reason) an application waiting for a
    decision, never their own; the applicant withdraws it meanwhile. ``statuses``: the model's
    status choices, with SUBMITTED, APPROVED, REJECTED and WITHDRAWN."""
    waiting = (statuses.SUBMITTED,)
    return (
        Transition("approve", waiting, statuses.APPROVED, gettext_lazy("Approve"), review, four_eyes=True),
        Transition(
            "reject",
            waiting,
            statuses.REJECTED,
            gettext_lazy("Reject"),
            review,
            four_eyes=True,
            note_required=True,
        ),
        Transition(
            "withdraw", waiting, statuses.WITHDRAWN, gettext_lazy("Withdraw"), apply, applicant_only=True
        ),
    )


def closed_by_the_rules(statuses: Any) -> Transition:
    """The rule engine closes an application it does not allow, on the spot."""
    return Transition(
        "rule_reject", (statuses.SUBMITTED,), statuses.REJECTED, gettext_lazy("Closed by the rules")
    )


def decision_record(row: Any, *, scope: Scope, note: str = "") -> None:
    """Who decided an application, when, and the note (a rejection's reason)."""
    row.decided_by_id = scope.user_id
    row.decided_at = timezone.now()
    if note:
        row.decision_note = note[:500]


def application_reject(workflow: Workflow, *, scope: Scope, application_id: int, reason: str) -> Any:
    """Staff (not the applicant) reject with the reason; the applicant sees it at once."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason; the applicant will see it.")})
    return workflow.transition(
        scope=scope,
        pk=application_id,
        action="reject",
        note=reason,
        change=lambda row: decision_record(row, scope=scope, note=reason),
    )
