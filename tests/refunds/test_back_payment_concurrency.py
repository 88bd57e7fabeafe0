"""Ten insurance staff approve one back-payment application at the same moment, over HTTP against
the real server (gunicorn on the test database, ``tests/live_http.py``): exactly one gets 200, the
nine others a 409 that says who approved it and when, tax is sent one message, and the timeline
holds one approval."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts import services as accounts_services
from accounts.roles import Role
from refunds.models import BackPaymentApplication, WorkflowEvent
from sharing.models import OutboxMessage
from tests.conftest import PASSWORD
from tests.live_http import ApiClient, at_once, http_server_fixture  # noqa: F401
from tests.matrix.enrollment_review import TUNLI
from tests.refunds.backpay_support import make_back_payment, window_around_today

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

AT_ONCE = 10


def test_given_ten_reviewers_approving_a_back_payment_at_once_then_one_wins_nine_are_told_and_tax_hears_once(
    http_server, transactional_world
):
    world = transactional_world
    window_around_today()  # the API approves on the real day
    reviewers = [
        accounts_services.user_create(
            username=f"bp_reviewer_{n}", password=PASSWORD, full_name=f"补缴审核员{n}",
            agency=world.agencies["insurance_a"], role=Role.INSURANCE_STAFF, check_password=False,
        )
        for n in range(AT_ONCE)
    ]  # fmt: skip
    application = make_back_payment(TUNLI, world.users["clerk_a"])
    clients = [ApiClient(http_server, user) for user in reviewers]

    answers = at_once([lambda c=c: c.post(f"/api/back-payments/{application.pk}/approve/") for c in clients])
    outcomes = [
        "approved" if answer.status == 200 else f"{answer.status} {answer.error}" for answer in answers
    ]

    application = BackPaymentApplication.objects.select_related("decided_by").get(pk=application.pk)
    winner = application.decided_by.full_name
    told = Counter(outcome.rsplit(" at ", 1)[0] for outcome in outcomes if outcome != "approved")
    assert outcomes.count("approved") == 1
    assert application.status == "approved"
    assert told == {
        f"409 This application is already Approved, payable at tax: {winner} chose “Approve”": AT_ONCE - 1
    }
    assert outcomes.index("approved") == [user.full_name for user in reviewers].index(winner)
    assert OutboxMessage.objects.filter(topic="backpayment.due").count() == 1
    assert list(
        WorkflowEvent.objects.filter(kind="back_payment", object_id=application.pk).values_list(
            "action", flat=True
        )
    ) == ["apply", "approve"]
