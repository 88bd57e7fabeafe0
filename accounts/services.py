"""Every write to regions, agencies and users. Views, API, admin and commands all call these."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .digits import ascii_digits
from .export_jobs import ExportKind
from .models import CODE_PATTERN, PREFIX_LENGTH, Agency, ExportJob, Region, RegionLevel, User
from .roles import ROLE_AGENCY_KINDS, AgencyKind, Role
from .scope import Scope

if TYPE_CHECKING:
    from rest_framework.authtoken.models import Token

logger = logging.getLogger("portal.exports")

# The level a village committee or a school may sit at.
AGENCY_KIND_LEVELS: dict[str, frozenset[int]] = {
    AgencyKind.VILLAGE_COMMITTEE: frozenset({RegionLevel.VILLAGE}),
    AgencyKind.SCHOOL: frozenset({RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE}),
}
_OFFICE_LEVELS = frozenset({RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY})


def normalise_region_code(raw: str) -> str:
    """Accept the 6-digit (GB/T 2260), 9-digit (township) or 12-digit form; store 12 digits."""
    code = (raw or "").strip()
    if not ascii_digits(code) or len(code) not in (6, 9, 12):
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
    agency: Agency | None,
    role: str,
    scope: Scope | None = None,
    check_password: bool = True,
) -> User:
    if agency is None:  # every user works for an agency, which places them in a region
        raise ValidationError({"agency": _("Choose the agency the user works for.")})
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
    before = (user.agency_id, user.role, user.is_active)
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
    if (user.agency_id, user.role, user.is_active) != before:
        # A token answers with the scope of whoever holds it: one handed out for the old agency or
        # role, or to a user now deactivated, is not to be used again (sign in for a new one).
        user_tokens_revoke(user=user)
    user.save()
    return user


@transaction.atomic
def user_set_password(*, user: User, password: str, check_password: bool = True) -> User:
    if check_password:
        validate_password(password, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    user.set_password(password)
    user.save(update_fields=["password"])
    # A new password ends the sessions (Django's session hash) and, here, the API tokens: a token
    # taken with the old password, perhaps by whoever learnt it, would otherwise work for ever.
    user_tokens_revoke(user=user)
    return user


def user_tokens_revoke(*, user: User) -> int:
    """Delete the user's API tokens; the next token sign-in issues a new one. How many were deleted."""
    from rest_framework.authtoken.models import Token

    deleted, _kinds = Token.objects.filter(user_id=user.pk).delete()
    return deleted


@transaction.atomic
def user_token_issue(*, user: User, renew: bool = False) -> Token:
    """The user's API token (one per user): the one they hold while it works, else a new one
    (``token_renew``: after a revocation, once it has expired, or when ``renew`` asks for one)."""
    from rest_framework.authtoken.models import Token

    from .tokens import token_expires_at

    # An integration's many clients, refused at once when the token expires, sign in at once: all
    # are to get the one new token, not replace each other's (tests/test_api_token_races.py).
    _lock_user_tokens(user)
    token = Token.objects.filter(user_id=user.pk).first()
    if token is None or renew or token_expires_at(token) <= timezone.now():
        token = token_renew(user=user)
    return token


@transaction.atomic
def token_renew(*, user: User) -> Token:
    """A new API token for the user: a new key, working ``PORTAL_API_TOKEN_DAYS`` days from now. The
    token they held is deleted, so its key is refused from now on."""
    from rest_framework.authtoken.models import Token

    _lock_user_tokens(user)
    user_tokens_revoke(user=user)
    return Token.objects.create(user=user)


def _lock_user_tokens(user: User) -> None:
    """The user's row is the lock on their token (one per user): the password, role and agency
    changes that revoke it lock that row too."""
    User.objects.select_for_update().values_list("pk", flat=True).get(pk=user.pk)


# --- background exports (accounts/export_jobs.py) ------------------------------------------------

EXPORT_KEEP_DAYS = 7
_EXPORT_PROGRESS_TTL = 24 * 3600


def _export_progress_key(job_id: int) -> str:
    return f"accounts:export-progress:{job_id}"


def export_progress_of(job_id: int) -> int | None:
    """Rows written so far by the worker building the job (kept in the cache: the build runs in one
    long read transaction, so a count written to the job's row would show only at its end)."""
    value = cache.get(_export_progress_key(job_id))
    return int(value) if value is not None else None


def export_job_create(
    *, scope: Scope, user: User, kind: str, data: Mapping[str, str], language: str
) -> ExportJob:
    """Queue an export for ``user`` (whose scope ``scope`` is): the parameters are checked as the
    page checks them (403 for a role without the export's action, 404 for an area outside the
    user's), then a worker builds the file once the job is committed."""
    from .export_jobs import kind_of
    from .models import ExportJob
    from .tasks import build_export

    export = kind_of(kind)
    if export is None:
        raise ValidationError(_("No such export."))
    scope.require(export.action)
    params = export.params(scope, data)
    with transaction.atomic():
        job = ExportJob.objects.create(
            user=user, kind=kind, params=params, language=language, filename=str(export.label)
        )
        transaction.on_commit(lambda: build_export.delay(job.pk))
    return job


def _export_file_name(job_id: int) -> str:
    # One name per job: a build delivered again overwrites it, so a job never has two files.
    return f"exports/{job_id}/{job_id}.xlsx"


def _export_fail(job_id: int, message: str) -> None:
    from django.core.files.storage import default_storage

    from .models import ExportJob, ExportStatus

    ExportJob.objects.filter(pk=job_id, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).update(
        status=ExportStatus.FAILED, error=message[:2000], finished_at=timezone.now()
    )
    # What a worker that died half-way left behind.
    if default_storage.exists(_export_file_name(job_id)):
        default_storage.delete(_export_file_name(job_id))


def _export_build(job: ExportJob, export: ExportKind, scope: Scope) -> None:
    """Write the workbook (rows streamed, progress to the cache), store it under the job's one name."""
    from django.core.files import File
    from django.core.files.storage import default_storage
    from openpyxl import Workbook

    from .export_jobs import ProgressCounter
    from .models import ExportStatus

    # The build starts from row 0, also when it takes over from a delivery whose worker died:
    # the bar restarts from nothing instead of showing that delivery's count until this one passes it.
    cache.set(_export_progress_key(job.pk), 0, _EXPORT_PROGRESS_TTL)
    counter = ProgressCounter(
        lambda rows: cache.set(_export_progress_key(job.pk), rows, _EXPORT_PROGRESS_TTL)
    )
    book = Workbook(write_only=True)
    filename = export.write(scope, job.params, book, counter)
    name = _export_file_name(job.pk)
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        if default_storage.exists(name):
            default_storage.delete(name)
        stored = default_storage.save(name, File(handle))
    job.status = ExportStatus.DONE
    job.file = stored
    job.filename = filename[:200]
    job.rows_written = counter.rows
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "file", "filename", "rows_written", "finished_at"])


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Build the job's workbook with the scope its user has *now*, into its own private file.

    Idempotent: a job already done or failed is left alone, and a job another delivery of the task
    is building (its row locked) too; a job left running by a worker that died is built again into
    the same file name, so a job never has more than one file."""
    from django.core.exceptions import PermissionDenied
    from django.http import Http404
    from django.utils import translation

    from .export_jobs import kind_of
    from .models import ExportJob, ExportStatus

    with transaction.atomic():
        # Without skip_locked a second delivery waited here for the whole build of the first.
        job = ExportJob.objects.select_for_update(skip_locked=True).filter(pk=job_id).first()
        if job is None:
            return ExportJob.objects.filter(pk=job_id).first()  # gone, or being built
        if not job.waiting:
            return job
        if job.status == ExportStatus.QUEUED:
            job.status = ExportStatus.RUNNING
            job.started_at = timezone.now()
            job.save(update_fields=["status", "started_at"])
    export = kind_of(job.kind)
    if export is None:
        _export_fail(job.pk, _("No such export."))
        return ExportJob.objects.get(pk=job.pk)
    scope = Scope.for_user_id(job.user_id)
    try:
        with translation.override(job.language):
            scope.require(export.action)
            if export.expected is not None and job.rows_expected is None:
                # Before the build's transaction, so the progress bar has it from the start.
                expected = export.expected(scope, job.params)
                ExportJob.objects.filter(pk=job.pk).update(rows_expected=expected)
            with transaction.atomic():
                # Held for the build: a second delivery of the task finds the row locked and leaves it.
                job = ExportJob.objects.select_for_update(skip_locked=True).filter(pk=job.pk).first()
                if job is None or job.status != ExportStatus.RUNNING:
                    return job
                _export_build(job, export, scope)
    except (PermissionDenied, Http404) as error:
        # The user may no longer see what they asked for (deactivated, moved, role changed).
        _export_fail(job_id, str(error) or _("You may no longer export this."))
    except Exception:
        logger.exception("export job %s failed", job_id)
        with translation.override(job.language):
            _export_fail(
                job_id,
                _("The export could not be built. Ask again; if it fails again, tell the administrator."),
            )
    return ExportJob.objects.filter(pk=job_id).first()


def export_jobs_expire(*, now: dt.datetime | None = None) -> int:
    """Remove the files of the exports asked for more than ``EXPORT_KEEP_DAYS`` days ago; keep
    their rows, marked expired, for the audit of who exported what (one statement for the rows,
    the files once it has committed). A failed job has no file and stays as it is."""
    from django.core.files.storage import default_storage

    from .models import ExportJob, ExportStatus

    moment = now or timezone.now()
    cutoff = moment - dt.timedelta(days=EXPORT_KEEP_DAYS)
    with transaction.atomic():
        # A job a worker is building right now (its row locked) is left to the next hour.
        stale = list(
            ExportJob.objects.select_for_update(skip_locked=True)
            .filter(
                created_at__lt=cutoff,
                status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING, ExportStatus.DONE],
            )
            .values_list("pk", "file")
        )
        # The job's one file name too: a job a worker died building may have left it unrecorded.
        names = {name for pk, file in stale for name in (file, _export_file_name(pk)) if name}
        expired = ExportJob.objects.filter(pk__in=[pk for pk, _file in stale]).update(
            status=ExportStatus.EXPIRED, file="", expired_at=moment
        )

        def delete_files() -> None:
            for name in sorted(names):
                if default_storage.exists(name):
                    default_storage.delete(name)

        transaction.on_commit(delete_files)
    return expired
