"""The state machine: from each state only its own steps; every other step is refused with a
message and changes nothing; the rules' own step is never a person's; a workflow naming a state its
model does not have is refused when defined."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.roles import Role
from accounts.scope import Scope
from refunds import services
from refunds.models import RefundApplication, RefundStatus, WorkflowEvent
from refunds.services import REFUND_WORKFLOW, TransitionConflictError
from refunds.workflow import Transition, Workflow
from tests.conftest import World
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.support import YEAR, paid_person

pytestmark = pytest.mark.django_db

ALLOWED = {
    "submitted": {"approve", "reject", "withdraw"},
    "approved": {"pay_out"},
    "rejected": set(),
    "withdrawn": set(),
    "paid_out": set(),
}
STEPS = ("approve", "reject", "withdraw", "pay_out")


def _in_state(world: World, state: str) -> RefundApplication:
    clerk = Scope.for_user(world.users["clerk_a"])
    insurance = Scope.for_user(world.users["insurance_a"])
    application = services.refund_apply(
        scope=clerk, person_id=paid_person(TUNLI, deposits=2).pk, insurance_year=YEAR, reason="paid_twice",
        event_on=dt.date(2026, 10, 12), today=dt.date(2026, 11, 20),
    )  # fmt: skip
    pk = application.pk
    if state in ("approved", "paid_out"):
        services.refund_approve(scope=insurance, application_id=pk)
    if state == "paid_out":
        services.refund_pay_out(scope=insurance, application_id=pk, bank_reference="B-1")
    if state == "rejected":
        services.refund_reject(scope=insurance, application_id=pk, reason="不符合")
    if state == "withdrawn":
        services.refund_withdraw(scope=clerk, application_id=pk)
    application.refresh_from_db()
    assert application.status == state
    return application


def _take(world: World, step: str, pk: int):  # type: ignore[no-untyped-def]
    # Each step by the user who may take it when the state allows it: the refusal is the state's.
    insurance = Scope.for_user(world.users["insurance_a"])
    clerk = Scope.for_user(world.users["clerk_a"])
    return {
        "approve": lambda: services.refund_approve(scope=insurance, application_id=pk),
        "reject": lambda: services.refund_reject(scope=insurance, application_id=pk, reason="理由"),
        "withdraw": lambda: services.refund_withdraw(scope=clerk, application_id=pk),
        "pay_out": lambda: services.refund_pay_out(scope=insurance, application_id=pk, bank_reference="B-2"),
    }[step]()


ILLEGAL = [(state, step) for state in ALLOWED for step in STEPS if step not in ALLOWED[state]]


@pytest.mark.parametrize(("state", "step"), ILLEGAL, ids=[f"{s}-{a}" for s, a in ILLEGAL])
def test_given_a_state_when_a_step_it_does_not_allow_is_taken_then_refused_and_nothing_changes(
    world, state, step
):
    application = _in_state(world, state)
    before = WorkflowEvent.objects.filter(object_id=application.pk).count()

    with pytest.raises(TransitionConflictError) as refused:
        _take(world, step, application.pk)

    application.refresh_from_db()
    assert application.status == state
    assert WorkflowEvent.objects.filter(object_id=application.pk).count() == before
    assert str(RefundStatus(state).label) in refused.value.message


LEGAL = [(state, step) for state in ALLOWED for step in sorted(ALLOWED[state])]


@pytest.mark.parametrize(("state", "step"), LEGAL, ids=[f"{s}-{a}" for s, a in LEGAL])
def test_given_a_state_when_its_own_step_is_taken_then_it_moves_and_one_event_is_written(world, state, step):
    application = _in_state(world, state)
    target = REFUND_WORKFLOW.transition_for(step).target

    _take(world, step, application.pk)

    application.refresh_from_db()
    last = WorkflowEvent.objects.filter(object_id=application.pk).order_by("-at", "-pk").first()
    assert application.status == target
    assert (last.action, last.from_state, last.to_state) == (step, state, target)


def test_given_the_rules_step_when_a_person_takes_it_then_refused(world):
    application = _in_state(world, "submitted")
    insurance = Scope.for_user(world.users["insurance_a"])

    with pytest.raises(TransitionConflictError):
        REFUND_WORKFLOW.transition(scope=insurance, pk=application.pk, action="rule_reject")
    with pytest.raises(TransitionConflictError):
        REFUND_WORKFLOW.transition(scope=insurance, pk=application.pk, action="delete")


def test_given_each_viewer_then_the_steps_offered_are_exactly_theirs(world):
    application = _in_state(world, "submitted")

    offered = {
        role: [
            t.action for t in REFUND_WORKFLOW.actions_for(application, Scope.for_user(world.user_for(role)))
        ]
        for role in Role.values
    }

    assert offered == {
        Role.VILLAGE_CLERK: ["withdraw"],  # the applicant
        Role.SCHOOL_CLERK: [],
        Role.INSURANCE_STAFF: ["approve", "reject"],
        Role.TAX_STAFF: [],
        Role.FINANCE_STAFF: [],
        Role.ADMINISTRATOR: [],
    }


def test_given_an_event_when_changed_or_deleted_then_the_database_refuses(world):
    from django.db import ProgrammingError, transaction

    application = _in_state(world, "submitted")
    event = WorkflowEvent.objects.get(object_id=application.pk)

    for change in (lambda: WorkflowEvent.objects.filter(pk=event.pk).update(note="x"), event.delete):
        with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
            change()
    assert WorkflowEvent.objects.filter(pk=event.pk, note="").exists()


def test_given_a_workflow_naming_an_unknown_state_then_refused_when_defined():
    with pytest.raises(ValueError, match="unknown states"):
        Workflow(
            kind="x",
            model=RefundApplication,
            initial="submitted",
            transitions=(Transition("archive", ("submitted",), "archived", "Archive", "refund.review"),),
        )
