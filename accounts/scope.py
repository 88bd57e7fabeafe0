"""Access scope: the one place that decides what a user may see and do.

A user's scope is their agency's region subtree plus their role's actions. Every page, API
endpoint, admin page, export and background task asks a ``Scope``:

- ``scope.require(action)`` raises ``PermissionDenied`` (403) when the role may not do it;
- ``scope.filter(queryset)`` keeps only rows whose region lies in the subtree; the model names
  its region path with ``scope_region_lookup`` (a lookup ending in a 12-digit region code);
- ``scope.get_object_or_404(queryset, ...)`` turns an out-of-scope object into 404, never data.

A school's clerk is narrowed further: their agency sits at the county, but they register and
see their own school's students, not the county's households. A model names the path to the
school a row belongs to with ``scope_school_lookup`` (``SCHOOL_WIDE`` for rows with nothing
personal, such as regions); a model that names none is out of a school clerk's sight.

Tasks receive a user id and rebuild the scope with ``Scope.for_user_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import connection, models
from django.http import Http404
from django.utils.translation import gettext as _

from .roles import ROLE_BUREAU, Role, actions_for

M = TypeVar("M", bound=models.Model)

# ``scope_school_lookup`` of a model whose rows a school's clerk sees as anyone of the area does.
SCHOOL_WIDE = "*"


@dataclass(frozen=True)
class Scope:
    user_id: int | None
    role: str | None
    # Prefix of the 12-digit codes inside the subtree; "" means everything (technical superuser).
    region_prefix: str | None
    region_code: str | None
    agency_id: int | None
    actions: frozenset[str]
    unrestricted: bool = False
    # A school clerk's school (their agency): they see that school's students only.
    school_id: int | None = None

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def for_user(cls, user: object) -> Scope:
        if (
            user is None
            or not getattr(user, "is_authenticated", False)
            or not getattr(user, "is_active", False)
        ):
            return cls.nobody()
        cached = getattr(user, "_portal_scope", None)
        if cached is not None:
            return cached
        agency = getattr(user, "agency", None)
        if agency is None:
            scope = (
                cls(user.pk, None, "", None, None, frozenset(), unrestricted=True)
                if user.is_superuser
                else cls.nobody()
            )
        else:
            region = agency.region
            scope = cls(
                user_id=user.pk,
                role=user.role,
                region_prefix=region.prefix,
                region_code=region.code,
                agency_id=agency.pk,
                actions=actions_for(user.role) if agency.is_active else frozenset(),
                school_id=agency.pk if user.role == Role.SCHOOL_CLERK else None,
            )
        user._portal_scope = scope
        return scope

    @classmethod
    def for_user_id(cls, user_id: int) -> Scope:
        from .models import User

        user = User.objects.select_related("agency__region").filter(pk=user_id).first()
        return cls.for_user(user)

    @classmethod
    def nobody(cls) -> Scope:
        return cls(None, None, None, None, None, frozenset())

    # --- questions --------------------------------------------------------------------------

    @property
    def bureau(self) -> str | None:
        return ROLE_BUREAU.get(self.role or "")

    def allows(self, action: str) -> bool:
        return self.unrestricted or action in self.actions

    def require(self, action: str) -> None:
        if not self.allows(action):
            raise PermissionDenied(_("Your role may not do this."))

    def covers_region_code(self, code: str) -> bool:
        if self.unrestricted:
            return True
        if self.school_id is not None:
            # A school registers its students where the school is, never in a village.
            return code == (self.region_code or "").ljust(12, "0")
        return self.region_prefix is not None and code.startswith(self.region_prefix)

    # --- querysets ----------------------------------------------------------------------------

    def filter(self, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
        lookup = getattr(queryset.model, "scope_region_lookup", None)
        if lookup is None:
            raise ImproperlyConfigured(f"{queryset.model.__name__} declares no scope_region_lookup")
        if self.unrestricted:
            return queryset
        if self.region_prefix is None:
            return queryset.none()
        queryset = queryset.filter(**{f"{lookup}__startswith": self.region_prefix})
        if self.school_id is None:
            return queryset
        school_lookup = getattr(queryset.model, "scope_school_lookup", None)
        if school_lookup is None:
            return queryset.none()
        if school_lookup == SCHOOL_WIDE:
            return queryset
        return queryset.filter(**{school_lookup: self.school_id})

    def region_sql(self, column: str, *, school_column: str | None = None) -> tuple[str, list[object]]:
        """``filter`` for hand-written SQL: a condition on ``column`` (12-digit region codes) and
        its parameters, for the few hot statements that skip the ORM. ``school_column``: the
        row's school, for a school clerk (without it, a school clerk reads nothing)."""
        if self.unrestricted:
            return "TRUE", []
        if self.region_prefix is None:
            return "FALSE", []
        region = f"{column} LIKE %s", [connection.ops.prep_for_like_query(self.region_prefix) + "%"]
        if self.school_id is None:
            return region
        if school_column is None:
            return "FALSE", []
        return f"{region[0]} AND {school_column} = %s", [*region[1], self.school_id]

    def get_object_or_404(self, queryset: models.QuerySet[M], **lookup: object) -> M:
        try:
            return self.filter(queryset).get(**lookup)
        except (queryset.model.DoesNotExist, ValueError, TypeError) as error:
            raise Http404(_("No such record in your area.")) from error


def scope_of(request: object) -> Scope:
    return Scope.for_user(getattr(request, "user", None))
