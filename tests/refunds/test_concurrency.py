"""Ten insurance staff approve one application at the same moment, each on their own database
connection with real commits: exactly one wins, the nine others are told who approved it and
when, and the timeline holds one approval."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import translation

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from refunds import services
from refunds.models import RefundApplication, WorkflowEvent
from tests.conftest import PASSWORD
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.support import YEAR, paid_person

pytestmark = pytest.mark.django_db(transaction=True)

AT_ONCE = 10


def test_given_ten_reviewers_approving_at_once_then_exactly_one_wins_and_nine_are_told_who(
    transactional_world,
):
    world = transactional_world
    reviewers = [
        accounts_services.user_create(
            username=f"reviewer_{n}", password=PASSWORD, full_name=f"审核员{n}",
            agency=world.agencies["insurance_a"], role=Role.INSURANCE_STAFF, check_password=False,
        )
        for n in range(AT_ONCE)
    ]  # fmt: skip
    application = services.refund_apply(
        scope=Scope.for_user(world.users["clerk_a"]), person_id=paid_person(TUNLI).pk, insurance_year=YEAR,
        reason="paid_twice", event_on=dt.date(2026, 10, 12), today=dt.date(2026, 11, 20),
    )  # fmt: skip
    scopes = [Scope.for_user_id(user.pk) for user in reviewers]
    start = threading.Barrier(AT_ONCE)

    def approve(scope: Scope) -> str:
        try:
            start.wait(30)
            with translation.override("en"):
                services.refund_approve(scope=scope, application_id=application.pk)
            return "approved"
        except services.TransitionConflictError as conflict:
            return conflict.message
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        outcomes = list(pool.map(approve, scopes))

    application = RefundApplication.objects.select_related("decided_by").get(pk=application.pk)
    winner = application.decided_by.full_name
    told = Counter(outcome.split(" at ")[0] for outcome in outcomes if outcome != "approved")
    assert outcomes.count("approved") == 1
    assert application.status == "approved"
    assert told == {
        f"This application is already Approved, awaiting payout: {winner} chose “Approve”": AT_ONCE - 1
    }
    assert outcomes.index("approved") == [user.full_name for user in reviewers].index(winner)
    assert list(WorkflowEvent.objects.filter(object_id=application.pk).values_list("action", flat=True)) == [
        "apply",
        "approve",
    ]
