"""API token authentication that loads the user's agency and region with the token (one query):
every API request builds the caller's scope from them.

The query is written once (from the models' columns) and run as plain SQL, prepared on the
server (``accounts.prepared``): compiling the ORM's four-table ``select_related``, and then
planning the join, cost more than running it on every API call. The token is still checked
against the database on every request, so a deleted token or a deactivated user is refused at
once. A token works for ``PORTAL_API_TOKEN_DAYS`` days from its creation: the row read already
carries ``created``, so the expiry is compared in Python, with no statement or parameter added."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import pghistory
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from .models import Agency, Region, User
from .prepared import prepared_cursor
from .rows import model_from_row
from .tokens import token_expires_at

# The models read, with their table alias; each joined to the one before it.
_CHAIN: tuple[tuple[type[models.Model], str], ...] = ((Token, "t"), (User, "u"), (Agency, "a"), (Region, "r"))


@cache
def _query(
    columns_after: str = "", join_after: str = ""
) -> tuple[str, tuple[tuple[type[models.Model], list[str], slice], ...]]:
    """The SQL and, per model, its field names and where its columns sit in a row; a caller's
    columns and join (``token_statement``) come after the token's own."""
    columns: list[str] = []
    parts = []
    for model, alias in _CHAIN:
        fields = model._meta.concrete_fields
        start = len(columns)
        columns.extend(f'{alias}."{field.column}"' for field in fields)
        parts.append((model, [field.attname for field in fields], slice(start, len(columns))))
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {', '.join(columns)}{columns_after} FROM {quote(Token._meta.db_table)} t "  # noqa: S608 - model names only
        f"JOIN {quote(User._meta.db_table)} u ON u.id = t.user_id "
        f"LEFT JOIN {quote(Agency._meta.db_table)} a ON a.id = u.agency_id "
        f"LEFT JOIN {quote(Region._meta.db_table)} r ON r.id = a.region_id{join_after} "
        "WHERE t.key = %s"
    )
    return sql, tuple(parts)


def token_statement(*, columns: str, join: str) -> tuple[str, int]:
    """The token's statement with a caller's ``columns`` (after the token's, their parameters
    first) and a ``join`` (then its parameters; the key comes last), for a hot path that reads
    what it needs with the token in one round trip; and where the caller's columns begin in a row.
    ``token_from_row`` reads the token's part."""
    sql, parts = _query(f", {columns}", f" {join}")
    return sql, parts[-1][2].stop


def token_from_row(row: Sequence[Any] | None) -> Token | None:
    """The token with its user, the user's agency and the agency's region, from a row of the
    token's statement (None: no such token)."""
    if row is None:
        return None
    _sql, parts = _query()
    token, user, agency, region = (
        None if row[where.start] is None else model_from_row(model, names, row[where])
        for model, names, where in parts
    )
    if agency is not None:
        agency.region = region
    user.agency = agency
    token.user = user
    return token


def token_with_user(key: str) -> Token | None:
    """The token with its user, the user's agency and the agency's region loaded, or None."""
    sql, _parts = _query()
    with prepared_cursor() as cursor:
        cursor.execute(sql, [key], prepare=True)
        row = cursor.fetchone()
    return token_from_row(row)


class PortalTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        return self.token_accepted(token_with_user(key))

    def token_accepted(self, token: Token | None) -> tuple[Any, Token]:
        """The user and the token read for a key, if they may call the API now (else
        ``AuthenticationFailed``): the token's expiry, an active user."""
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        expires_at = token_expires_at(token)
        if expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                _("This token expired on %(day)s; sign in again for a new one, or ask your administrator.")
                % {"day": timezone.localdate(expires_at).isoformat()}
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # The request's history context (accounts.middleware) names the role of a signed-in user;
        # an API caller is known only now. pghistory adds the user itself when DRF sets it.
        pghistory.context(role=token.user.role)
        return token.user, token
