"""How long an API token works (``PORTAL_API_TOKEN_DAYS`` from its creation), for the token's
authentication, its sign-in answer and the admin alike."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from rest_framework.authtoken.models import Token


def token_lifetime() -> dt.timedelta:
    return dt.timedelta(days=settings.PORTAL_API_TOKEN_DAYS)


def token_expires_at(token: Token) -> dt.datetime:
    """The moment the token stops working (refused from then on)."""
    return token.created + token_lifetime()


def token_cutoff(now: dt.datetime) -> dt.datetime:
    """Tokens created at or before this moment have expired at ``now``."""
    return now - token_lifetime()
