"""Ten insurance staff approve one application at the same moment, over HTTP against the real
server (gunicorn on the test database, ``tests/live_http.py``): exactly one gets 200, the nine
others a 409 that says who approved it and when, and the timeline holds one approval."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from refunds import services
from refunds.models import RefundApplication, WorkflowEvent
from tests.conftest import PASSWORD
from tests.live_http import ApiClient, at_once, http_server_fixture  # noqa: F401
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.support import YEAR, paid_person

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AT_ONCE = 10


def test_given_ten_reviewers_approving_at_once_then_exactly_one_wins_and_nine_are_told_who(
    http_server, transactional_world
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
        scope=Scope.for_user(world.users["clerk_a"]), person_id=paid_person(TUNLI, deposits=2).pk, insurance_year=YEAR,
        reason="paid_twice", event_on=dt.date(2026, 10, 12), today=dt.date(2026, 11, 20),
    )  # fmt: skip
    clients = [ApiClient(http_server, user) for user in reviewers]

    answers = at_once([lambda c=c: c.post(f"/api/refunds/{application.pk}/approve/") for c in clients])
    outcomes = [
        "approved" if answer.status == 200 else f"{answer.status} {answer.error}" for answer in answers
    ]

    application = RefundApplication.objects.select_related("decided_by").get(pk=application.pk)
    winner = application.decided_by.full_name
    told = Counter(outcome.split(" at ")[0] for outcome in outcomes if outcome != "approved")
    assert outcomes.count("approved") == 1
    assert application.status == "approved"
    assert told == {
        f"409 This application is already Approved, awaiting payout: {winner} chose “Approve”": AT_ONCE - 1
    }
    assert outcomes.index("approved") == [user.full_name for user in reviewers].index(winner)
    assert list(WorkflowEvent.objects.filter(object_id=application.pk).values_list("action", flat=True)) == [
        "apply",
        "approve",
    ]
