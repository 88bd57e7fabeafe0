"""An integration's clients, all refused at once when their token expires, sign in at once over HTTP
against the real server (``tests/live_http.py``): all get the one new token, which works (without
the lock on the user's row, some replaced each other's new token or failed on the one per user)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests.conftest import PASSWORD
from tests.live_http import ApiClient, at_once, http_server_fixture  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# As many sign-ins as one address may make in a minute (the "login" throttle, 20/min); with fewer
# the sign-ins rarely overlap enough to find a race.
AT_ONCE = 20


def test_given_an_expired_token_when_its_clients_sign_in_at_once_then_all_get_the_same_new_working_token(
    http_server, transactional_world
):
    # given twenty clients of one tax clerk, still sending the token that expired a day ago
    clerk = transactional_world.users["tax_a"]
    clients = [ApiClient(http_server, clerk) for _ in range(AT_ONCE)]
    expired = clients[0].token
    Token.objects.filter(key=expired).update(created=timezone.now() - dt.timedelta(days=91))
    assert clients[0].request("GET", "/api/me/").status == 401
    # when they all sign in at once
    body = {"username": "tax_a", "password": PASSWORD}
    answers = at_once([lambda c=c: c.post("/api/auth/token/", body) for c in clients])
    # then
    (new,) = Token.objects.filter(user=clerk).values_list("key", flat=True)
    assert [answer.status for answer in answers] == [200] * AT_ONCE
    assert {answer.body["token"] for answer in answers} == {new}
    assert new != expired
    clients[0].token = new
    assert clients[0].request("GET", "/api/me/").status == 200
