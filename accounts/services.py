"""Every write to regions, agencies and users. Views, API, admin and commands all call these."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import CODE_PATTERN, PREFIX_LENGTH, Agency, Region, RegionLevel, User
from .roles import ROLE_AGENCY_KINDS, AgencyKind, Role
from .scope import Scope

# The level a village committee or a school may sit at.
AGENCY_KIND_LEVELS: dict[str, frozenset[int]] = {
    AgencyKind.VILLAGE_COMMITTEE: frozenset({RegionLevel.VILLAGE}),
    AgencyKind.SCHOOL: frozenset({RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE}),
}
_OFFICE_LEVELS = frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY})


def normalise_region_code(raw: str) -> str:
    """Accept the 6-digit (GB/T 2260), 9-digit (township) or 12-digit form; store 12 digits."""
    code = (raw or "").strip()
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise ValidationError({"code": _("A region code has 6, 9 or 12 digits.")})
    return code.ljust(12, "0")


def level_of_code(code: str) -> int:
    import re

    for level in sorted(CODE_PATTERN, reverse=True):
        if re.match(CODE_PATTERN[level], code):
            return level
    raise ValidationError({"code": _("%(code)s is not a valid division code.") % {"code": code}})


def _check_scope(scope: Scope | None, region_code: str) -> None:
    if scope is not None and not scope.covers_region_code(region_code):
        raise ValidationError(_("This region lies outside your area."))


@transaction.atomic
def region_create(
    *, code: str, name: str, parent: Region | None = None, scope: Scope | None = None
) -> Region:
    code = normalise_region_code(code)
    level = level_of_code(code)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A region needs a name.")})
    if level == RegionLevel.PROVINCE:
        if parent is not None:
            raise ValidationError({"parent": _("A province has no parent region.")})
    else:
        if parent is None:
            raise ValidationError({"parent": _("Only a province has no parent region.")})
        if parent.level != level - 1:
            raise ValidationError(
                {
                    "parent": _("A %(level)s belongs directly to a %(parent)s.")
                    % {"level": RegionLevel(level).label, "parent": RegionLevel(level - 1).label}
                }
            )
        if not code.startswith(parent.prefix):
            raise ValidationError(
                {
                    "code": _("The code must start with the parent's code %(prefix)s.")
                    % {"prefix": parent.prefix}
                }
            )
    _check_scope(scope, parent.code if parent else code)
    if Region.objects.filter(code=code).exists():
        raise ValidationError(
            {"code": _("Region %(code)s already exists.") % {"code": code[: PREFIX_LENGTH[level]]}}
        )
    return Region.objects.create(code=code, name=name, level=level, parent=parent)


@transaction.atomic
def region_rename(*, region: Region, name: str, scope: Scope | None = None) -> Region:
    _check_scope(scope, region.code)
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("A region needs a name.")})
    region = Region.objects.select_for_update().get(pk=region.pk)
    region.name = name
    region.save(update_fields=["name"])
    return region


def _validate_agency(*, kind: str, region: Region) -> None:
    if kind not in AgencyKind.values:
        raise ValidationError({"kind": _("Unknown agency kind.")})
    allowed = AGENCY_KIND_LEVELS.get(kind, _OFFICE_LEVELS)
    if region.level not in allowed:
        raise ValidationError(
            {
                "region": _("A %(kind)s cannot sit at %(level)s level.")
                % {"kind": AgencyKind(kind).label, "level": RegionLevel(region.level).label}
            }
        )


@transaction.atomic
def agency_create(*, name: str, kind: str, region: Region, scope: Scope | None = None) -> Agency:
    _check_scope(scope, region.code)
    _validate_agency(kind=kind, region=region)
    name = name.strip()
    if Agency.objects.filter(region=region, name=name).exists():
        raise ValidationError({"name": _("An agency of this name already exists in this region.")})
    return Agency.objects.create(name=name, kind=kind, region=region)


@transaction.atomic
def agency_update(
    *, agency: Agency, name: str | None = None, is_active: bool | None = None, scope: Scope | None = None
) -> Agency:
    _check_scope(scope, agency.region.code)
    agency = Agency.objects.select_for_update().get(pk=agency.pk)
    if name is not None:
        agency.name = name.strip()
    if is_active is not None:
        agency.is_active = is_active
    agency.save()
    return agency


def _validate_role(*, role: str, agency: Agency) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if agency.kind not in ROLE_AGENCY_KINDS[role]:
        raise ValidationError(
            {
                "role": _("A %(role)s cannot belong to a %(kind)s.")
                % {"role": Role(role).label, "kind": AgencyKind(agency.kind).label}
            }
        )


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    full_name: str,
    agency: Agency,
    role: str,
    scope: Scope | None = None,
    check_password: bool = True,
) -> User:
    _check_scope(scope, agency.region.code)
    _validate_role(role=role, agency=agency)
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    user = User(username=username, full_name=full_name.strip(), agency=agency, role=role)
    # Only administrators use Django's admin site, and it stays scoped like every other page.
    user.is_staff = role == Role.ADMINISTRATOR
    if check_password:
        validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    full_name: str | None = None,
    agency: Agency | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    scope: Scope | None = None,
) -> User:
    _check_scope(scope, user.agency.region.code if user.agency else "")
    user = User.objects.select_for_update(of=("self",)).select_related("agency__region").get(pk=user.pk)
    if agency is not None:
        _check_scope(scope, agency.region.code)
        user.agency = agency
    if role is not None:
        user.role = role
    if user.agency is not None and user.role is not None:
        _validate_role(role=user.role, agency=user.agency)
        user.is_staff = user.role == Role.ADMINISTRATOR
    if full_name is not None:
        user.full_name = full_name.strip()
    if is_active is not None:
        user.is_active = is_active
    user.save()
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, check_password: bool = True) -> User:
    if check_password:
        validate_password(password, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
