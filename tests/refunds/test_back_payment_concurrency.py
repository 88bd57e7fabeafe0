"""Ten insurance staff approve one back-payment application at the same moment, each on their own
database connection with real commits: exactly one wins, the nine others are told who approved it
and when, tax is sent one message, and the timeline holds one approval."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import translation

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from refunds import services_backpay as services
from refunds.models import BackPaymentApplication, WorkflowEvent
from sharing.models import OutboxMessage
from tests.conftest import PASSWORD
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import APPLY_ON, APPROVE_ON, YEAR, due_person

pytestmark = pytest.mark.django_db(transaction=True)

AT_ONCE = 10


def test_given_ten_reviewers_approving_a_back_payment_at_once_then_one_wins_nine_are_told_and_tax_hears_once(
    transactional_world,
):
    world = transactional_world
    reviewers = [
        accounts_services.user_create(
            username=f"bp_reviewer_{n}", password=PASSWORD, full_name=f"补缴审核员{n}",
            agency=world.agencies["insurance_a"], role=Role.INSURANCE_STAFF, check_password=False,
        )
        for n in range(AT_ONCE)
    ]  # fmt: skip
    application = services.back_payment_apply(
        scope=Scope.for_user(world.users["clerk_a"]), person_id=due_person(TUNLI).pk, insurance_year=YEAR,
        reason="外出务工", today=APPLY_ON,
    )  # fmt: skip
    scopes = [Scope.for_user_id(user.pk) for user in reviewers]
    start = threading.Barrier(AT_ONCE)

    def approve(scope: Scope) -> str:
        try:
            start.wait(30)
            with translation.override("en"):
                services.back_payment_approve(scope=scope, application_id=application.pk, today=APPROVE_ON)
            return "approved"
        except services.TransitionConflictError as conflict:
            return conflict.message
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        outcomes = list(pool.map(approve, scopes))

    application = BackPaymentApplication.objects.select_related("decided_by").get(pk=application.pk)
    winner = application.decided_by.full_name
    told = Counter(outcome.rsplit(" at ", 1)[0] for outcome in outcomes if outcome != "approved")
    assert outcomes.count("approved") == 1
    assert application.status == "approved"
    assert told == {
        f"This application is already Approved, payable at tax: {winner} chose “Approve”": AT_ONCE - 1
    }
    assert outcomes.index("approved") == [user.full_name for user in reviewers].index(winner)
    assert OutboxMessage.objects.filter(topic="backpayment.due").count() == 1
    assert list(
        WorkflowEvent.objects.filter(kind="back_payment", object_id=application.pk).values_list(
            "action", flat=True
        )
    ) == ["apply", "approve"]
