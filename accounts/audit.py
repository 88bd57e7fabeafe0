"""Database-level history for every domain table: inserts, updates and deletes, by trigger.

Triggers catch bulk writes (``bulk_create``, ``update()``, COPY-then-merge) as well as
single saves; the request middleware and tasks attach who acted, from where, and why. Reads of
a person's full record are not writes: ``full_view_log`` writes them to the access log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pghistory
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def tracked(**kwargs: Any) -> Callable[[type], type]:
    # Statement-level triggers (transition tables): one trigger call per statement, not per row,
    # so a bulk insert of a million persons costs one call, and the history stays complete.
    kwargs.setdefault("level", pghistory.Statement)
    return pghistory.track(
        pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), **kwargs
    )


def acting(*, user_id: int | None, source: str, **extra: Any) -> Any:
    """Context manager for tasks and commands: ``with acting(user_id=..., source="task:..."):``."""
    return pghistory.context(user=user_id, source=source, **extra)


def history_context() -> tuple[str, str]:
    """The history context of this request or task as pghistory's triggers read it: its id and
    its metadata as JSON, or empty outside any (the triggers then attach none). For a statement
    that sets the context itself (``accounts.prepared``), as pghistory's prefix would have."""
    from pghistory import config, runtime

    current = getattr(runtime._tracker, "value", None)
    if current is None:
        return "", ""
    return str(current.id), json.dumps(current.metadata, cls=config.json_encoder())


# The first part of a statement that sets the history context (parameters ``history_id`` and
# ``history_metadata`` from ``history_context``); its writes name ``history`` (e.g. ``WHERE
# EXISTS (SELECT FROM history)``) so that it is set before they run, hence before the statement's
# history triggers fire at its end. Short: psycopg caches its parsing of statements up to 4,096
# characters.
HISTORY_CONTEXT_CTE = (
    "history AS (SELECT set_config('pghistory.context_id', %(history_id)s, true), "
    "set_config('pghistory.context_metadata', %(history_metadata)s, true))"
)


# --- the access log: who saw a person's full record, when, which one, from where ------------------

access_log = logging.getLogger("portal.audit")


def client_address(request: HttpRequest) -> str:
    """The client's address, read as REST framework's throttles read it (``NUM_PROXIES``): behind
    ``PORTAL_NUM_PROXIES`` proxies the X-Forwarded-For entry the outermost one appended, else
    REMOTE_ADDR — with no proxy the header is the client's own words and is ignored.

    django-axes (``AXES_CLIENT_IP_CALLABLE``), the per-address sign-in guard, the access log and the
    audit context all take it from here."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    proxies = int(getattr(settings, "PORTAL_NUM_PROXIES", 0))
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    entries = forwarded.split(",")
    return entries[-min(proxies, len(entries))].strip() or remote


def full_view_log(
    request: HttpRequest, *, record: str, record_id: int | str, person_id: int | str | None = None
) -> None:
    """One structured line per view of a full record (identifier, phone, address in full).

    ``record`` names the kind ("person", "household", "refund", "back_payment", "payer"), ``record_id``
    its key; ``person_id`` the person it is about, where there is one.
    """
    user = getattr(request, "user", None)
    entry: dict[str, Any] = {
        "event": f"{record}.full_view",
        "at": timezone.now().isoformat(timespec="seconds"),
        "user_id": getattr(user, "pk", None),
        "username": getattr(user, "username", ""),
        "record_id": record_id,
        "ip": client_address(request),
        "path": request.path,
    }
    if person_id is not None:
        entry["person_id"] = person_id
    access_log.info(json.dumps(entry, sort_keys=True, ensure_ascii=False))
