"""Ten finance staff decide one fund-usage plan at the same moment (half approve, half reject), over
HTTP against the real server (gunicorn on the test database, ``tests/live_http.py``): exactly one
gets 200, the nine others a 409 that says who decided what and when, finance's timeline holds one
decision and insurance is sent one."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts import services as accounts_services
from accounts.roles import Role
from accounts.scope import Scope
from collection import services as tax
from refunds import services as insurance
from refunds.finance.models import PlanEvent, ReceivedPlan
from sharing.models import OutboxMessage
from tests.conftest import PASSWORD
from tests.live_http import ApiClient, at_once, http_server_fixture  # noqa: F401
from tests.refunds.overcollection_support import deliver, no_nudge, tax_payment, this_month  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_nudge")]

AT_ONCE = 10


def test_given_ten_finance_staff_deciding_at_once_then_one_wins_and_nine_are_told_who(
    http_server, transactional_world
):
    world = transactional_world
    staff = [
        accounts_services.user_create(
            username=f"finance_{n}", password=PASSWORD, full_name=f"财政员{n}",
            agency=world.agencies["finance_a"], role=Role.FINANCE_STAFF, check_password=False,
        )
        for n in range(AT_ONCE)
    ]  # fmt: skip
    payment = tax_payment(world)
    tax.overcollection_request(
        scope=Scope.for_user(world.users["tax_a"]),
        receipt=payment.receipt,
        amount_fen=500,
        reason="charged_twice",
    )
    deliver()
    insurance_scope = Scope.for_user(world.users["insurance_a"])
    plan = insurance.fund_plan_prepare(scope=insurance_scope, county_code="141002", period=this_month())
    insurance.fund_plan_submit(scope=insurance_scope, plan_id=plan.pk, amount_fen=plan.amount_fen)
    deliver()
    received = ReceivedPlan.objects.get(plan_id=plan.pk)
    clients = [ApiClient(http_server, user) for user in staff]
    plan_url = f"/api/finance/plans/{received.pk}"

    def decide(n: int, client: ApiClient):  # type: ignore[no-untyped-def]
        if n % 2:
            return client.post(f"{plan_url}/reject/", {"reason": "不符"})
        return client.post(f"{plan_url}/approve/", {"amount_fen": received.amount_fen})

    answers = at_once([lambda n=n, c=c: decide(n, c) for n, c in enumerate(clients)])
    outcomes = [
        "decided" if answer.status == 200 else f"{answer.status} {answer.error}" for answer in answers
    ]

    received = ReceivedPlan.objects.select_related("decided_by").get(pk=received.pk)
    winner = received.decided_by.full_name
    did = "Approve" if received.status == "approved" else "Reject"
    status = "Approved, waiting for the transfer" if did == "Approve" else "Rejected"
    told = Counter(outcome.split(" at ")[0] for outcome in outcomes if outcome != "decided")
    assert outcomes.count("decided") == 1
    assert told == {f"409 This plan is already {status}: {winner} chose “{did}”": AT_ONCE - 1}
    assert list(PlanEvent.objects.filter(plan=received).values_list("action", flat=True)) == [
        "receive", did.lower(),
    ]  # fmt: skip
    assert OutboxMessage.objects.filter(topic="refund.fund_plan_decided").count() == 1
