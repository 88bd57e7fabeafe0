"""API tokens work for PORTAL_API_TOKEN_DAYS days from their creation; a token sign-in shows when
the token stops working and renews it; the superuser's token page shows each token's expiry."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts import services
from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _token_created(user: User, created: dt.datetime) -> str:
    key = Token.objects.create(user=user).key
    Token.objects.filter(key=key).update(created=created)
    return key


def _me(key: str, language: str = "en"):
    return Client(HTTP_ACCEPT_LANGUAGE=language).get(
        reverse("me"), HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT="application/json"
    )


def _sign_in(username: str, **extra: object):
    return Client(HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("token-login"),
        {"username": username, "password": PASSWORD, **extra},
        content_type="application/json",
    )


def _refusal(message: str) -> dict:
    return {"error": {"status": 401, "code": "authentication_failed", "message": message, "fields": None}}


def _expired(day: str) -> str:
    return f"This token expired on {day}; sign in again for a new one, or ask your administrator."


# --- how long a token works -----------------------------------------------------------------------


def test_given_the_settings_then_a_token_works_for_90_days(settings):
    assert settings.PORTAL_API_TOKEN_DAYS == 90


def test_given_a_token_created_90_days_less_a_minute_ago_when_it_calls_the_api_then_it_is_answered(world):
    # given
    key = _token_created(
        world.users["tax_a"], timezone.now() - dt.timedelta(days=90) + dt.timedelta(minutes=1)
    )
    # when
    response = _me(key)
    # then
    assert (response.status_code, response.json()["username"]) == (200, "tax_a")


def test_given_a_token_created_90_days_and_a_minute_ago_when_it_calls_the_api_then_401_names_the_day(world):
    # given: it stopped working a minute ago
    created = timezone.now() - dt.timedelta(days=90, minutes=1)
    key = _token_created(world.users["tax_a"], created)
    # when
    response = _me(key)
    # then
    day = timezone.localdate(created + dt.timedelta(days=90)).isoformat()
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == _refusal(_expired(day))


def test_given_a_token_that_expired_at_7_in_the_morning_in_china_then_the_message_names_the_chinese_day(
    world,
):
    # given a token created at 07:00 on 1 January 2026 in Shanghai (23:00 on 31 December in UTC),
    # which stopped working at 07:00 on 1 April 2026 in Shanghai (still 31 March in UTC)
    key = _token_created(world.users["tax_a"], dt.datetime(2026, 1, 1, 7, 0, tzinfo=SHANGHAI))
    # when
    english, chinese = _me(key, "en"), _me(key, "zh-hans")
    # then
    assert english.json() == _refusal(_expired("2026-04-01"))
    assert chinese.json() == _refusal("此令牌已于2026-04-01过期；请重新登录获取新令牌，或联系管理员。")


def test_given_an_unknown_token_then_it_is_refused_the_same_way_with_401(world):
    response = _me("0" * 40)

    assert response.status_code == 401
    assert response.json() == _refusal("Invalid token.")


@override_settings(PORTAL_API_TOKEN_DAYS=7)
def test_given_tokens_of_7_days_then_one_a_minute_short_of_7_days_works_and_one_a_minute_past_is_refused(
    world,
):
    # given
    now = timezone.now()
    working = _token_created(world.users["tax_a"], now - dt.timedelta(days=7) + dt.timedelta(minutes=1))
    past = _token_created(world.users["tax_b"], now - dt.timedelta(days=7, minutes=1))
    # when
    answers = _me(working), _me(past)
    # then
    day = timezone.localdate(now - dt.timedelta(minutes=1)).isoformat()
    assert [answer.status_code for answer in answers] == [200, 401]
    assert answers[1].json() == _refusal(_expired(day))


@override_settings(PORTAL_API_TOKEN_DAYS=7)
def test_given_tokens_of_7_days_when_signing_in_then_the_answer_says_the_token_ends_7_days_after_it_was_made(
    world,
):
    # when
    answer = _sign_in("tax_a").json()
    # then
    token = Token.objects.get(user=world.users["tax_a"])
    assert answer == {
        "token": token.key,
        "expires_at": timezone.localtime(token.created + dt.timedelta(days=7)).isoformat(),
    }


# --- issuing and renewing -------------------------------------------------------------------------


def test_given_a_working_token_when_signing_in_again_then_the_same_token_and_expiry_are_answered(world):
    # given
    first = _sign_in("tax_a").json()
    # when
    second = _sign_in("tax_a").json()
    # then
    assert second == first
    created = Token.objects.get(key=first["token"]).created
    assert first["expires_at"] == timezone.localtime(created + dt.timedelta(days=90)).isoformat()


def test_given_an_expired_token_when_signing_in_then_a_new_token_is_issued_and_it_works(world):
    # given
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=91))
    # when
    new = _sign_in("tax_a").json()["token"]
    # then
    assert new != old
    assert list(Token.objects.filter(user=world.users["tax_a"]).values_list("key", flat=True)) == [new]
    assert _me(new).status_code == 200


def test_given_a_client_still_sending_its_expired_token_when_it_signs_in_then_it_gets_a_new_one(world):
    # given
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=91))
    # when the sign-in carries the old token's header too
    answer = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("token-login"),
        {"username": "tax_a", "password": PASSWORD},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {old}",
    )
    # then
    new = Token.objects.get(user=world.users["tax_a"]).key
    assert (answer.status_code, answer.json()["token"]) == (200, new)
    assert new != old


def test_given_a_working_token_when_signing_in_with_renew_then_a_new_key_works_and_the_old_key_is_refused(
    world,
):
    # given a token taken a while ago
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=30))
    # when
    answer = _sign_in("tax_a", renew=True)
    # then
    new = Token.objects.get(user=world.users["tax_a"])
    assert answer.status_code == 200
    assert answer.json() == {
        "token": new.key,
        "expires_at": timezone.localtime(new.created + dt.timedelta(days=90)).isoformat(),
    }
    assert new.key != old
    assert timezone.now() - new.created < dt.timedelta(minutes=1)
    assert _me(new.key).status_code == 200
    assert (_me(old).status_code, _me(old).json()) == (401, _refusal("Invalid token."))


def test_given_a_token_when_the_service_renews_it_then_the_new_key_works_and_the_old_one_is_refused(world):
    # given
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=89))
    # when
    new = services.token_renew(user=world.users["tax_a"])
    # then
    assert new.key != old
    assert [_me(new.key).status_code, _me(old).status_code] == [200, 401]


def test_given_a_wrong_password_with_renew_then_no_token_is_renewed(world):
    # given
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=30))
    # when
    answer = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        reverse("token-login"),
        {"username": "tax_a", "password": "not-the-password", "renew": True},
        content_type="application/json",
    )
    # then
    assert answer.status_code == 400
    assert list(Token.objects.values_list("key", flat=True)) == [old]


# --- the superuser's page of tokens ---------------------------------------------------------------


@pytest.fixture
def superuser_client(db) -> Client:
    superuser = User.objects.create_superuser(username="root", password=PASSWORD)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(superuser)
    return client


def test_given_a_working_and_an_expired_token_when_the_superuser_lists_the_expired_then_only_that_one_shows(
    world, superuser_client
):
    # given
    now = timezone.now()
    _token_created(world.users["tax_a"], now - dt.timedelta(days=10))
    expired = _token_created(world.users["tax_b"], dt.datetime(2026, 1, 1, 7, 0, tzinfo=SHANGHAI))
    url = reverse("admin:authtoken_tokenproxy_changelist")
    # when
    expired_only = superuser_client.get(url, {"expired": "yes"})
    working_only = superuser_client.get(url, {"expired": "no"})
    # then
    assert [t.user.username for t in expired_only.context["cl"].result_list] == ["tax_b"]
    assert [t.user.username for t in working_only.context["cl"].result_list] == ["tax_a"]
    model_admin = expired_only.context["cl"].model_admin
    (shown,) = expired_only.context["cl"].result_list
    assert shown.key == expired
    assert model_admin.expires_at(shown) == "2026年4月1日 07:00"
    assert model_admin.working(shown) is False
    assert "到期时间" in expired_only.content.decode()


def test_given_a_user_with_a_token_when_the_superuser_adds_one_for_them_then_it_is_renewed(
    world, superuser_client
):
    # given
    old = _token_created(world.users["tax_a"], timezone.now() - dt.timedelta(days=30))
    # when
    response = superuser_client.post(
        reverse("admin:authtoken_tokenproxy_add"), {"user": world.users["tax_a"].pk}
    )
    # then
    assert response.status_code == 302
    (new,) = Token.objects.filter(user=world.users["tax_a"])
    assert new.key != old
    assert [_me(new.key).status_code, _me(old).status_code] == [200, 401]


def test_given_a_token_when_the_superuser_opens_it_then_its_expiry_is_shown_and_it_cannot_be_edited(
    world, superuser_client
):
    # given
    _token_created(world.users["tax_a"], dt.datetime(2026, 1, 1, 7, 0, tzinfo=SHANGHAI))
    url = reverse("admin:authtoken_tokenproxy_change", args=[world.users["tax_a"].pk])
    # when
    page = superuser_client.get(url)
    # then
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert "<label>到期时间:</label>" in page.content.decode()
    assert '<div class="readonly">2026年4月1日 07:00</div>' in page.content.decode()
