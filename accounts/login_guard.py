"""Sign-in throttling per client address, beside django-axes' lock per account and address.

Axes locks one username from one address after five failures, which stops guessing one account's
password. Trying one common password on many accounts (password spraying) fails once per account
and never trips it; so failures are also counted per address, whatever the username, and an
address with too many in the cool-off window is refused — for the sign-in page and the API's
token sign-in alike. The limit sits well above one office's typing mistakes (clerks of a county
office share an address behind its router).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest

from .audit import client_address


def _limit() -> int:
    return int(getattr(settings, "PORTAL_LOGIN_ADDRESS_FAILURE_LIMIT", 30))


def _window_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _key(request: HttpRequest) -> str:
    return f"login-failures:address:{client_address(request)}"


@receiver(user_login_failed, dispatch_uid="accounts.login_guard.count_failure")
def count_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None:
        return
    key = _key(request)
    cache.add(key, 0, timeout=_window_seconds())
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_window_seconds())


def address_blocked(request: HttpRequest) -> bool:
    """Whether sign-ins from this request's address are refused for now."""
    return int(cache.get(_key(request), 0)) >= _limit()


# django-axes records a failed sign-in with its username in 255 characters at most; a longer one
# (the sign-in page's form checks no bound, and the Django admin's neither) failed that record with
# a server error. Axes reads the username through ``AXES_USERNAME_CALLABLE``, for the record and the
# lockout check alike, so both see the same first 255 characters.
LOCKOUT_USERNAME_LENGTH = 255


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username axes locks by: what it reads by default (the credentials, else the form or
    request data), cut to what its record holds."""
    field = settings.AXES_USERNAME_FORM_FIELD
    source = credentials or getattr(request, "data", request.POST)
    username = source.get(field)
    return None if username is None else str(username)[:LOCKOUT_USERNAME_LENGTH]
