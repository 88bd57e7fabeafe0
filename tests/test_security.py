"""Sign-in throttling, CSRF, the content-security policy and production settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _login(client: Client, username: str, password: str):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def test_given_five_wrong_passwords_when_the_right_one_follows_then_the_account_is_locked(world, client):
    for _ in range(5):
        assert _login(client, "clerk_a", "wrong-password").status_code in (200, 429)
    response = _login(client, "clerk_a", PASSWORD)
    assert response.status_code == 429
    assert "账户已锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_given_four_wrong_passwords_when_the_right_one_follows_then_sign_in_succeeds(world, client):
    for _ in range(4):
        _login(client, "clerk_a", "wrong-password")
    response = _login(client, "clerk_a", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_given_a_username_of_300_characters_when_signing_in_then_the_page_says_it_is_wrong_not_a_server_error(
    world, client
):
    # When: five sign-ins with a username longer than axes' record holds (255)
    responses = [_login(client, "a" * 300, "wrong-password") for _ in range(5)]

    # Then: the page answers each (a wrong sign-in, then the lock), and the lock counts that username
    assert [response.status_code for response in responses] == [200, 200, 200, 200, 429]


def test_given_a_username_of_300_characters_when_the_admin_signs_in_then_no_server_error(world, client):
    response = client.post("/admin/login/", {"username": "a" * 300, "password": "wrong-password"})

    assert response.status_code == 200


def test_given_five_wrong_api_logins_when_the_right_one_follows_then_no_token_is_issued(world):
    api = Client()
    url = reverse("token-login")
    for _ in range(5):
        api.post(url, {"username": "tax_a", "password": "wrong"}, content_type="application/json")
    response = api.post(url, {"username": "tax_a", "password": PASSWORD}, content_type="application/json")
    assert response.status_code in (400, 403, 429)
    assert "token" not in response.json()


def test_given_a_form_post_without_csrf_token_then_it_is_refused(world):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("accounts:login"), {"username": "clerk_a", "password": PASSWORD})
    assert response.status_code == 403


def test_given_any_page_then_the_content_security_policy_allows_only_the_portals_own_assets(world, client):
    policy = client.get(reverse("accounts:login"))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    assert ("unsafe-inline" in policy, "unsafe-eval" in policy, "unsafe-hashes" in policy) == (
        False,
        False,
        False,
    )


@pytest.mark.parametrize("url_name", ["home", "api-docs", "api-root", "admin:index"])
def test_given_a_signed_in_page_then_it_carries_the_same_policy_as_the_sign_in_page(world, client, url_name):
    expected = client.get(reverse("accounts:login"))["Content-Security-Policy"]
    client.force_login(world.users["admin"])
    assert client.get(reverse(url_name), HTTP_ACCEPT="text/html")["Content-Security-Policy"] == expected


def test_given_any_page_then_clickjacking_and_sniffing_are_refused(world, client):
    response = client.get(reverse("accounts:login"))
    assert (response["X-Frame-Options"], response["X-Content-Type-Options"]) == ("DENY", "nosniff")


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="ybj.linfen.gov.cn",
        DATABASE_URL="postgres://portal:secret@db.internal:5432/portal",
        REDIS_URL="redis://redis.internal:6379/0",
    )
    env.update(extra)
    return env


def test_given_production_settings_when_check_deploy_runs_then_there_is_nothing_to_report():
    env = _production_env(DJANGO_SECRET_KEY="k" * 20 + "-production-only-secret-from-env-" + "x" * 20)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_given_production_settings_without_a_secret_key_then_the_portal_refuses_to_start():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in the environment" in result.stderr


@pytest.mark.parametrize("name", ["SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY"])
def test_given_the_settings_then_cookies_are_out_of_reach_of_scripts(settings, name):
    assert getattr(settings, name) is True


# --- per address: one password tried on many accounts --------------------------------------------


def _spray(client: Client, url: str, count: int, **extra: str) -> None:
    for number in range(count):
        client.post(url, {"username": f"nobody{number}", "password": "Summer-2026!"}, **extra)


def test_given_thirty_failed_sign_ins_for_thirty_accounts_from_one_address_then_that_address_is_refused(
    world, client
):
    _spray(client, reverse("accounts:login"), 30, REMOTE_ADDR="10.1.1.1")
    refused = client.post(
        reverse("accounts:login"), {"username": "clerk_a", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1"
    )
    elsewhere = Client().post(
        reverse("accounts:login"), {"username": "clerk_a", "password": PASSWORD}, REMOTE_ADDR="10.1.1.2"
    )
    assert (refused.status_code, elsewhere.status_code) == (429, 302)
    assert "_auth_user_id" not in client.session


def test_given_twenty_nine_failed_sign_ins_from_one_address_then_the_next_right_one_still_signs_in(
    world, client
):
    _spray(client, reverse("accounts:login"), 29, REMOTE_ADDR="10.1.1.3")
    response = client.post(
        reverse("accounts:login"), {"username": "clerk_a", "password": PASSWORD}, REMOTE_ADDR="10.1.1.3"
    )
    assert response.status_code == 302


def test_given_thirty_failed_token_sign_ins_from_one_address_then_the_api_refuses_that_address(
    world, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "1000/min"}}  # fmt: skip
    api = Client()
    url = reverse("token-login")
    for number in range(30):
        api.post(
            url, {"username": f"nobody{number}", "password": "x"}, content_type="application/json",
            REMOTE_ADDR="10.1.1.4",
        )  # fmt: skip
    refused = api.post(
        url,
        {"username": "tax_a", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.1.1.4",
    )
    elsewhere = api.post(
        url,
        {"username": "tax_a", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.1.1.5",
    )
    assert (refused.status_code, "token" in refused.json()) == (429, False)
    assert (elsewhere.status_code, "token" in elsewhere.json()) == (200, True)


def test_given_the_api_sign_in_then_it_is_rate_limited_per_address():
    from accounts.api import LoginThrottle, TokenLoginView

    assert TokenLoginView.throttle_classes == [LoginThrottle]
    assert LoginThrottle.scope == "login"


# --- API tokens end with the password, the account, the agency or the role they were issued for ---


def _token_of(username: str) -> str:
    answer = Client().post(
        reverse("token-login"), {"username": username, "password": PASSWORD}, content_type="application/json"
    )
    return answer.json()["token"]


def _me_status(token: str) -> int:
    return (
        Client()
        .get("/api/me/", HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json")
        .status_code
    )


def test_given_an_api_token_when_the_password_is_reset_then_the_token_is_refused_and_a_new_one_issued(world):
    from accounts import services

    # given a token taken with the old password
    old = _token_of("insurance_a")
    assert _me_status(old) == 200
    # when the password is reset
    services.user_set_password(user=world.users["insurance_a"], password="Another-pass-2026!xyz")
    # then the old token no longer works (401, the token's challenge: token authentication comes first),
    # and signing in with the new password gives another one
    assert _me_status(old) == 401
    answer = Client().post(
        reverse("token-login"),
        {"username": "insurance_a", "password": "Another-pass-2026!xyz"},
        content_type="application/json",
    )
    assert answer.json()["token"] != old
    assert _me_status(answer.json()["token"]) == 200


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"role": "administrator"}],
    ids=["deactivated", "role-changed"],
)
def test_given_an_api_token_when_the_account_is_deactivated_or_its_role_changed_then_the_token_is_deleted(
    world, change
):
    from rest_framework.authtoken.models import Token

    from accounts import services

    # given county insurance staff with a token
    _token_of("insurance_a")
    # when
    services.user_update(user=world.users["insurance_a"], **change)
    # then
    assert Token.objects.filter(user=world.users["insurance_a"]).count() == 0


def test_given_an_api_token_when_the_agency_is_changed_then_the_token_is_deleted(world):
    from rest_framework.authtoken.models import Token

    from accounts import services

    # given a village clerk with a token, and another village's committee
    clerk = world.users["clerk_a"]
    _token_of("clerk_a")
    other = world.users["clerk_b"].agency
    assert other != clerk.agency
    # when
    services.user_update(user=clerk, agency=other)
    # then
    assert Token.objects.filter(user=clerk).count() == 0


def test_given_an_api_token_when_only_the_name_is_changed_then_the_token_keeps_working(world):
    from accounts import services

    # given
    token = _token_of("clerk_a")
    # when the admin's form saves the account with everything else as it was
    clerk = world.users["clerk_a"]
    services.user_update(
        user=clerk, full_name="村经办甲", agency=clerk.agency, role=clerk.role, is_active=True
    )
    # then
    assert _me_status(token) == 200


# --- the client's address behind the documented proxy (PORTAL_NUM_PROXIES) ------------------------

PROXY = "127.0.0.1"  # gunicorn behind the TLS proxy: every request's REMOTE_ADDR


@pytest.fixture
def behind_one_proxy(settings):
    settings.PORTAL_NUM_PROXIES = 1
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    from django.core.cache import cache

    cache.clear()  # the per-address failure counts of other tests


@pytest.mark.parametrize(
    ("proxies", "forwarded", "address"),
    [
        (0, "203.0.113.9", PROXY),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, "", PROXY),
    ],
    ids=[
        "no-proxy-header-ignored",
        "one-proxy",
        "one-proxy-spoofed-entry-ignored",
        "two-proxies",
        "no-header",
    ],
)
def test_given_the_number_of_proxies_then_the_client_address_is_the_entry_the_outermost_one_appended(
    settings, rf, proxies, forwarded, address
):
    from accounts.audit import client_address

    # given
    settings.PORTAL_NUM_PROXIES = proxies
    request = rf.get("/", REMOTE_ADDR=PROXY, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}))
    # then
    assert client_address(request) == address


def test_given_one_proxy_when_one_address_sprays_sign_ins_then_a_clerk_elsewhere_still_signs_in(
    world, behind_one_proxy
):
    # given thirty failed sign-ins from one client through the proxy
    client = Client()
    _spray(client, reverse("accounts:login"), 30, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    # when a clerk on another PC signs in, on the page and through the API
    page = Client().post(
        reverse("accounts:login"),
        {"username": "insurance_a", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="10.8.1.23",
    )
    api = Client().post(
        reverse("token-login"),
        {"username": "insurance_a", "password": PASSWORD},
        content_type="application/json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="10.8.1.23",
    )
    sprayer = Client().post(
        reverse("accounts:login"),
        {"username": "insurance_a", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    # then the clerk is in; the spraying address alone is refused
    assert (page.status_code, page["Location"]) == (302, "/")
    assert api.status_code == 200
    assert sprayer.status_code == 429


def test_given_one_proxy_when_an_account_is_locked_from_one_address_then_its_owner_elsewhere_signs_in(
    world, behind_one_proxy
):
    # given five wrong passwords for tax_a from one client through the proxy
    for _ in range(5):
        Client().post(
            reverse("accounts:login"),
            {"username": "tax_a", "password": "wrong"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="203.0.113.9",
        )
    # when tax_a signs in from their own PC
    response = Client().post(
        reverse("accounts:login"),
        {"username": "tax_a", "password": PASSWORD},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="10.8.1.23",
    )
    # then
    assert (response.status_code, response["Location"]) == (302, "/")


def test_given_no_proxy_when_a_client_varies_x_forwarded_for_then_its_own_address_is_still_refused(world):
    from django.core.cache import cache

    # given no proxy is configured (the default) and thirty failures, each claiming another address
    cache.clear()
    client = Client()
    for number in range(30):
        client.post(
            reverse("accounts:login"),
            {"username": f"nobody{number}", "password": "x"},
            REMOTE_ADDR="10.1.1.6",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{number}",
        )
    # when it signs in claiming yet another address
    response = client.post(
        reverse("accounts:login"),
        {"username": "clerk_a", "password": PASSWORD},
        REMOTE_ADDR="10.1.1.6",
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )
    # then the header is ignored: the address is refused
    assert response.status_code == 429


def test_given_one_proxy_when_a_record_changes_then_the_history_names_the_clients_address(settings, rf):
    from django.contrib.auth.models import AnonymousUser

    from accounts.middleware import AuditContextMiddleware

    # given
    settings.PORTAL_NUM_PROXIES = 1
    request = rf.post("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.8.1.23")
    request.user = AnonymousUser()
    # when
    context = AuditContextMiddleware(lambda request: None).get_context(request)
    # then
    assert context["ip"] == "10.8.1.23"


def test_given_the_proxy_count_in_the_environment_then_axes_the_throttles_and_the_portal_share_it():
    # given production settings told of two proxies
    env = _production_env(DJANGO_SECRET_KEY="k" * 60, PORTAL_NUM_PROXIES="2")
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.PORTAL_NUM_PROXIES, s.REST_FRAMEWORK['NUM_PROXIES'], s.AXES_CLIENT_IP_CALLABLE)"
    )
    # when
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    # then
    assert result.stdout.split() == ["2", "2", "accounts.audit.client_address"], result.stderr
