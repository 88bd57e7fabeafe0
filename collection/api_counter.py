"""The counter's payment call in its usual form, answered without REST framework's request cycle.

A counter, a bank or WeChat records payments one after another, all alike: a token, a JSON body of
the four fields, nothing unusual. For that call alone the payment endpoint (``PaymentViewSet``)
answers here, with the answer REST framework would give, byte for byte. It uses the same parts:
the token checked by ``PortalTokenAuthentication.token_accepted``, the same scope and the same
service (``services.payment_record``). Only the token and the due item are read in one statement
(``token_statement`` with ``services.DUE_ITEM_COLUMNS``), one round trip fewer; the service still
checks the item's area. ``tests/collection/test_api_counter.py`` sends each request both ways.

Everything else — another
field or type, ``paid_at``, a session instead of a token, an ``Accept`` or format asked for, a
refused token or role, and every refusal of the service (404, 400, 409) — goes through REST
framework's whole cycle, whose answer is the reference. A refusal writes nothing, so answering it
there means only that its checks run a second time.

Why: under 64 concurrent clients on two cores, REST framework's request cycle (the request
wrapper, its parsing, the request serializer, the response and its rendering) was about a quarter
of a payment's Python (docs/collection.md).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer

from accounts.api_authentication import PortalTokenAuthentication, token_from_row, token_statement
from accounts.masking import mask_id_number
from accounts.prepared import prepared_cursor
from accounts.roles import Action
from accounts.scope import Scope

from . import services
from .models import SINGLE_PAYMENT_CHANNELS, Payment

# The request body's fields, exactly: another (``paid_at``, a misspelt one) goes the long way.
_FIELDS = frozenset({"due_item", "amount_fen", "channel", "paid_by"})
# What ``PaymentRequestSerializer`` allows for ``paid_by``.
_PAID_BY_MAX = 60
# What the service may refuse with; REST framework's cycle answers these (and only these).
_REFUSALS = (
    services.PaymentConflictError,
    ValidationError,
    Http404,
    PermissionDenied,
    exceptions.APIException,
)
# The two moments as PaymentSerializer's fields write them (the API's format and time zone).
_MOMENT = serializers.DateTimeField()


def payment_data(payment: Payment) -> dict[str, Any]:
    """The payment as ``PaymentSerializer`` answers it, written out: the answer of every payment
    recorded through the API, where walking the serializer's fields cost a tenth of the request's
    Python. ``tests/collection/test_api.py`` holds the two to the same answer."""
    return {
        "id": payment.pk,
        "due_item": payment.due_item_id,
        "person_id": mask_id_number(payment.person_id),
        "insurance_year": payment.insurance_year,
        "region_code": payment.region_code,
        "amount_fen": payment.amount_fen,
        "channel": payment.channel,
        "paid_at": _MOMENT.to_representation(payment.paid_at),
        "paid_time_known": payment.paid_time_known,
        "paid_by": payment.paid_by,
        "agency": payment.agency_id,
        "collector": payment.collector_id,
        "receipt": payment.receipt,
        "status": payment.status,
        "recorded_at": _MOMENT.to_representation(payment.recorded_at),
    }


_AUTHENTICATION = PortalTokenAuthentication()
# "Token" and the key as REST framework's tokens are made (40 hexadecimal digits, lower case).
_TOKEN_HEADER = re.compile(r"Token ([0-9a-f]{40})")
_RENDERER = JSONRenderer()


@functools.cache
def _statement() -> tuple[str, int]:
    """The token's statement reading the due item too, and where the item's columns begin."""
    return token_statement(
        columns=services.DUE_ITEM_COLUMNS, join="LEFT JOIN collection_dueitem d ON d.id = %s"
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def payment_fields(body: bytes) -> dict[str, Any] | None:
    """The validated data ``PaymentRequestSerializer`` gives for ``body``, when it is a JSON object
    of exactly the four fields with values the serializer takes as they are (whole numbers from 1,
    the item's below 2**63 as the database's, a single payment's channel, a payer's name of 1-60 characters once trimmed); None otherwise."""
    try:
        # As REST framework's parser reads it: UTF-8, no NaN or Infinity.
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError among them
        return None
    if type(data) is not dict or data.keys() != _FIELDS:
        return None
    due_item, amount_fen, channel, paid_by = (
        data["due_item"],
        data["amount_fen"],
        data["channel"],
        data["paid_by"],
    )
    if type(due_item) is not int or type(amount_fen) is not int or not 0 < due_item < 2**63 or amount_fen < 1:
        return None
    if type(channel) is not str or channel not in SINGLE_PAYMENT_CHANNELS:
        return None
    if type(paid_by) is not str:
        return None
    paid_by = paid_by.strip()
    if not 0 < len(paid_by) <= _PAID_BY_MAX or "\x00" in paid_by:
        return None
    try:
        paid_by.encode("utf-8")  # a lone surrogate ("\ud800" in the JSON) is the serializer's to refuse
    except UnicodeEncodeError:
        return None
    return {"due_item": due_item, "amount_fen": amount_fen, "channel": channel, "paid_by": paid_by}


def _plain_call(request: HttpRequest) -> bool:
    """A JSON body in UTF-8, and an answer in JSON as REST framework would choose it at once."""
    if request.content_type != "application/json":
        return False
    charset = request.content_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        return False
    if request.META.get("HTTP_ACCEPT", "*/*") not in ("*/*", "application/json"):
        return False
    return "format" not in request.GET


def payment_record_from(
    data: Mapping[str, Any],
    *,
    scope: Scope,
    idempotency_key: str | None,
    read: services.DueItemRead | None = None,
) -> services.Recorded:
    """``services.payment_record`` for a request's validated fields: both ways of the payment call
    (here and ``PaymentViewSet.create``) hand them over alike."""
    return services.payment_record(
        scope=scope,
        due_item_id=data["due_item"],
        amount_fen=data["amount_fen"],
        channel=data["channel"],
        paid_by=data["paid_by"],
        paid_at=data.get("paid_at"),
        idempotency_key=idempotency_key,
        read=read,
    )


def payment_answer(request: HttpRequest, *, allowed_methods: list[str]) -> HttpResponse | None:
    """The answer to the usual payment call, or None for REST framework's cycle to answer."""
    if not _plain_call(request):
        return None
    fields = payment_fields(request.body)
    if fields is None:
        return None
    # The token as REST framework's header parsing reads it, in the one form its keys take; any
    # other form (another case, a space too many) is its to read or refuse.
    token_key = _TOKEN_HEADER.fullmatch(request.META.get("HTTP_AUTHORIZATION", ""))
    if token_key is None:
        return None
    # From META: request.headers would build every header's name for this one.
    idempotency_key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    statement, item_starts = _statement()
    # The token (as PortalTokenAuthentication reads it) and the due item (as the service reads
    # it) in one round trip.
    with prepared_cursor() as cursor:
        cursor.execute(
            statement,
            [(idempotency_key or "").strip() or None, fields["due_item"], token_key[1]],
            prepare=True,
        )
        row = cursor.fetchone()
    try:
        user, _token = _AUTHENTICATION.token_accepted(token_from_row(row))
    except exceptions.APIException:
        return None
    scope = Scope.for_user(user)
    if not scope.allows(Action.COLLECTION_RECORD):
        return None
    assert row is not None  # an accepted token had its row
    if row[item_starts] is None:  # no such item: REST framework's 404
        return None
    # As REST framework sets it: the history context names the user (pghistory's request class).
    request.user = user
    try:
        recorded = payment_record_from(
            fields,
            scope=scope,
            idempotency_key=idempotency_key,
            read=services.due_item_from_row(row[item_starts:]),
        )
    except _REFUSALS:
        return None
    response = HttpResponse(
        _RENDERER.render(payment_data(recorded.payment)),
        status=200 if recorded.replayed else 201,
        content_type=_RENDERER.media_type,
    )
    # The headers REST framework's view adds, in its order (finalize_response).
    response["Vary"] = "Accept"
    response["Allow"] = ", ".join(allowed_methods)
    return response
