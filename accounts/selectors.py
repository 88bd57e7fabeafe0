"""Reads of regions, agencies, users and their history, always through a scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from .digits import ascii_digits
from .models import Agency, ExportJob, Region, User
from .scope import Scope


def counts_by(queryset: QuerySet, field: str = "status") -> dict[str, int]:
    """How many rows of a (scoped) queryset have each value of ``field``: one grouped query, for tabs."""
    rows = queryset.order_by().values_list(field).annotate(n=Count("pk"))
    return dict(rows.values_list(field, "n"))


def region_list(
    *, scope: Scope, level: int | None = None, parent_code: str | None = None
) -> QuerySet[Region]:
    queryset = scope.filter(Region.objects.select_related("parent"))
    if level is not None:
        queryset = queryset.filter(level=level)
    if parent_code is not None:
        queryset = queryset.filter(parent__code=parent_code)
    return queryset.order_by("code")


def region_root(*, scope: Scope) -> Region | None:
    """The top of what the user sees: their agency's region."""
    if scope.region_code is None:
        return (
            Region.objects.filter(parent__isnull=True).order_by("code").first()
            if scope.unrestricted
            else None
        )
    return Region.objects.filter(code=scope.region_code).first()


def region_detail(*, scope: Scope, code: str) -> Region:
    """Accepts the code as shown (6, 9 or 12 digits) or as stored (12 digits)."""
    padded = code.ljust(12, "0") if ascii_digits(code) and len(code) in (6, 9) else code
    return scope.get_object_or_404(Region.objects.select_related("parent"), code=padded)


def region_children(*, scope: Scope, region: Region) -> QuerySet[Region]:
    return scope.filter(region.children.all()).annotate(child_count=Count("children")).order_by("code")


def region_ancestors(*, region: Region) -> list[Region]:
    chain: list[Region] = []
    current = region.parent
    while current is not None:
        chain.append(current)
        current = current.parent
    return list(reversed(chain))


def agency_list(*, scope: Scope, kind: str | None = None, region_code: str | None = None) -> QuerySet[Agency]:
    queryset = scope.filter(Agency.objects.select_related("region"))
    if kind:
        queryset = queryset.filter(kind=kind)
    if region_code:
        queryset = queryset.filter(region__code__startswith=region_code.rstrip("0") or region_code)
    return queryset.annotate(user_count=Count("users"))


def agency_detail(*, scope: Scope, pk: int) -> Agency:
    return scope.get_object_or_404(Agency.objects.select_related("region"), pk=pk)


def agency_colleagues(*, scope: Scope, agency: Agency) -> QuerySet[User] | None:
    """The active people of the viewer's own agency (name and role), for its page: who else works
    there. Another agency's people are for those who may view users (``user_list``): None."""
    if scope.agency_id != agency.pk:
        return None
    return scope.filter(User.objects.filter(agency=agency, is_active=True)).order_by(
        "role", "full_name", "pk"
    )


def user_list(*, scope: Scope) -> QuerySet[User]:
    return scope.filter(User.objects.select_related("agency__region")).order_by("username")


def user_detail(*, scope: Scope, pk: int) -> User:
    return scope.get_object_or_404(User.objects.select_related("agency__region"), pk=pk)


def history_of(*, obj: object, limit: int = 100) -> list[dict[str, object]]:
    """The audit trail of one record (the caller has already checked it may see the record)."""
    import pghistory.models

    events = pghistory.models.Events.objects.tracks(obj).order_by("-pgh_created_at", "-pgh_id")[:limit]
    user_ids = {(event.pgh_context or {}).get("user") for event in events}
    names = {user.pk: str(user) for user in User.objects.filter(pk__in=[pk for pk in user_ids if pk])}
    rows = []
    for event in events:
        metadata = event.pgh_context or {}
        rows.append(
            {
                "at": event.pgh_created_at,
                "label": event.pgh_label,
                "user": names.get(metadata.get("user"), ""),
                "url": metadata.get("url", ""),
                "source": metadata.get("source", ""),
                "diff": event.pgh_diff or {},
                "data": event.pgh_data,
            }
        )
    return rows


@dataclass(frozen=True)
class RecentChange:
    """One request or task of the user that changed records: when, and what it changed."""

    at: dt.datetime
    # (kind of record, kind of change, how many; ``RECENT_COUNT_CAP`` + 1 meaning more than the cap)
    changes: list[tuple[str, str, int]]


# A yearly run or an import changes a million rows in one context: counted up to here.
RECENT_COUNT_CAP = 1000


def recent_changes_by(*, user_id: int, limit: int = 10) -> list[RecentChange]:
    """The user's own last ``limit`` requests or tasks that changed anything (their history
    contexts, newest first, by ``accounts_history_context_by_user``) and, for each, how many
    records of each kind it added, changed or removed: one probe of each history table's context
    index per context, at most ``RECENT_COUNT_CAP`` + 1 rows counted in each."""
    import pghistory.models

    contexts = list(
        pghistory.models.Context.objects.filter(metadata__user=user_id)
        .order_by("-created_at")
        .values_list("id", "created_at")[:limit]
    )
    if not contexts:
        return []
    event_models = [model for model in apps.get_models() if issubclass(model, pghistory.models.Event)]
    quote = connection.ops.quote_name
    parts = [
        f"SELECT c.id, {index}, e.pgh_label, count(*) FROM c CROSS JOIN LATERAL "  # noqa: S608 - model tables only
        f"(SELECT pgh_label FROM {quote(model._meta.db_table)} WHERE pgh_context_id = c.id "
        f"LIMIT {RECENT_COUNT_CAP + 1}) e GROUP BY 1, 3"
        for index, model in enumerate(event_models)
    ]
    sql = "WITH c AS (SELECT unnest(%s::uuid[]) AS id) " + " UNION ALL ".join(parts)
    with connection.cursor() as cursor:
        cursor.execute(sql, [[context_id for context_id, _at in contexts]])
        counted = cursor.fetchall()
    changes: dict[Any, list[tuple[str, str, int]]] = {context_id: [] for context_id, _at in contexts}
    for context_id, index, label, count in sorted(counted, key=lambda row: (row[1], row[2])):
        kind = capfirst(str(event_models[index].pgh_tracked_model._meta.verbose_name))
        changes[context_id].append((kind, label, min(count, RECENT_COUNT_CAP + 1)))
    return [RecentChange(at=at, changes=changes[context_id]) for context_id, at in contexts]


def county_names(codes: set[str]) -> dict[str, str]:
    """Counties' names by their six-digit codes (regions are kept by twelve digits), one query."""
    padded = {code.ljust(12, "0"): code for code in codes}
    return dict(
        (padded[code], name)
        for code, name in Region.objects.filter(code__in=padded).values_list("code", "name")
    )


def region_names(codes: set[str]) -> dict[str, str]:
    """Regions' names by their codes (shared reference data, no scope: a name is not personal), one query."""
    return dict(Region.objects.filter(code__in=codes).values_list("code", "name")) if codes else {}


# --- background exports: each user sees their own, nobody else's ---------------------------------


def export_job_list(*, scope: Scope) -> QuerySet[ExportJob]:
    """The user's own export jobs, newest first (an administrator sees only theirs too)."""
    if scope.user_id is None:
        return ExportJob.objects.none()
    return ExportJob.objects.filter(user_id=scope.user_id).order_by("-created_at", "-pk")


def export_job_detail(*, scope: Scope, pk: int) -> ExportJob:
    """One of the user's own export jobs; anyone else's is 404, never data."""
    job = export_job_list(scope=scope).filter(pk=pk).first()
    if job is None:
        raise Http404(_("No such export of yours."))
    return job
