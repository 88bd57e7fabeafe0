"""Every write of the subsidies app: single tags, roster imports, and the categories of a policy.

Each function takes keyword arguments only and runs in one transaction. What tax must learn
(tags, withdrawn tags, the new amounts due) is sent through the sharing platform in that same
transaction; a tag change reassesses the persons it touches in it too.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.roles import Action
from accounts.scope import Scope
from enrollment import imports
from enrollment.assessment import assessment_reassess
from enrollment.models import ImportStatus, Person, Policy
from enrollment.policies import LoadedPolicy, policy_detail, policy_for_county_held, policy_parse, policy_save

from . import rosters
from .marks import hand_tags_marks_send, marks_lock, tag_marks_send
from .models import RosterImport, RosterMode, RosterOutcome, SubsidyRoster, SubsidyTag
from .selectors import roster_of

logger = logging.getLogger("portal.subsidies")

# --- single tags --------------------------------------------------------------------------------

# The database's rule of one open tag per person and category (SubsidyTag's constraint).
ONE_OPEN_TAG = "subsidy_tag_one_open_per_category"


@transaction.atomic
def subsidy_tag_add(
    *, person: Person, category: str, source: str, valid_from: dt.date, actor_id: int | None = None
) -> SubsidyTag:
    """Tag a person (one open tag per category); the person is reassessed, and tax gets the tag's
    marks (``subsidies.marks``) and the adjustment."""
    # First: the marks' revision follows the commit order of every change to tags (``marks_lock``).
    marks_lock()
    already = ValidationError(
        _("%(name)s already holds an open %(category)s tag.") % {"name": person.name, "category": category}
    )
    if SubsidyTag.objects.filter(person=person, category=category, valid_to__isnull=True).exists():
        raise already
    try:
        # Two adds at once are one after the other under the marks lock, and the second finds the
        # first's tag above; the database's one open tag per category is the last word all the same.
        with transaction.atomic():
            tag = SubsidyTag.objects.create(
                person=person,
                category=category,
                region_code=person.region_code,
                source=source[:100],
                valid_from=valid_from,
            )
    except IntegrityError as error:
        if getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) != ONE_OPEN_TAG:
            raise
        raise already from error
    assessment_reassess(person_id=person.pk, reason=f"subsidy tag added: {category}", actor_id=actor_id)
    tag_marks_send(tag=tag, counted_from=tag.valid_from, counted_to=tag.valid_to)
    return tag


@transaction.atomic
def subsidy_marks_send(*, county_code: str, insurance_year: int) -> int:
    """Tell tax of the county's tags given by hand that count in ``insurance_year`` (active marks,
    ``marks.hand_tags_marks_send``): after the county's yearly run, so a year whose policy came
    after the tag was given (every new year) is marked too, and by the command for tags given before
    hand tags were marked. Nothing for a year that is over or has no policy. Idempotent: tax keeps
    the newest revision, and this one says what stands now. Returns the messages sent."""
    if insurance_year < timezone.localdate().year:
        return 0
    # Held FOR SHARE: a change of the policy's categories waits, or has committed and is read. Then
    # the marks' lock, whose revision follows the commit order of every change of tags: after the
    # policy's row, the order of a roster import and of a new version (``policy_save``).
    loaded = policy_for_county_held(county_code=county_code, insurance_year=insurance_year)
    if loaded is None:
        return 0
    marks_lock()
    return hand_tags_marks_send(county_code=county_code, insurance_year=insurance_year, rules=loaded.rules)


@transaction.atomic
def subsidy_tag_end(
    *, tag: SubsidyTag, valid_to: dt.date, reason: str, actor_id: int | None = None
) -> SubsidyTag:
    """End a tag on a date (never deleted); the person is reassessed, and tax gets the marks of the
    years the tag counted in (``subsidies.marks``: withdrawn where it no longer does).

    A tag given by hand ends once; a roster's tag (valid for its insurance year) may end earlier.
    """
    # Before the tag's lock, as a roster import takes it before the tags it ends: no deadlock.
    marks_lock()
    tag = SubsidyTag.objects.select_for_update().get(pk=tag.pk)
    if tag.end_reason or (tag.roster_id is None and tag.valid_to is not None):
        raise ValidationError(_("This tag has already ended."))
    if valid_to < tag.valid_from:
        raise ValidationError(_("A tag cannot end before it started."))
    if tag.valid_to is not None and valid_to > tag.valid_to:
        raise ValidationError(
            _("This tag is valid only until %(date)s.") % {"date": tag.valid_to.isoformat()}
        )
    counted_to = tag.valid_to
    tag.valid_to = valid_to
    tag.end_reason = reason[:200] or _("Ended")
    tag.save(update_fields=["valid_to", "end_reason"])
    assessment_reassess(
        person_id=tag.person_id, reason=f"subsidy tag ended: {tag.category}", actor_id=actor_id
    )
    tag_marks_send(tag=tag, counted_from=tag.valid_from, counted_to=counted_to)
    return tag


# --- roster imports -----------------------------------------------------------------------------


def _queue(roster_import: RosterImport, user_id: int) -> None:
    """After commit, hand the import to a worker; if no worker can be reached, say so on the import."""
    import_id = roster_import.pk

    def queue() -> None:
        from .tasks import process_roster_import

        try:
            process_roster_import.apply_async(
                kwargs={"import_id": import_id, "user_id": user_id}, retry=False
            )
        except Exception as error:
            logger.warning("roster import %s: could not queue (%s)", import_id, type(error).__name__)
            RosterImport.objects.filter(
                pk=import_id, status__in=[ImportStatus.PENDING, ImportStatus.CONFIRMED]
            ).update(
                status=ImportStatus.FAILED,
                message=_(
                    "The background workers could not be reached; nothing was imported. Upload the file again."
                ),
                finished_at=timezone.now(),
            )

    transaction.on_commit(queue)


def _check_roster_fields(*, source: str, insurance_year: int, roster_date: dt.date) -> str:
    source = " ".join((source or "").split())
    problems: dict[str, str] = {}
    if not source:
        problems["source"] = _("Say which office sent the roster.")
    elif len(source) > 100:
        problems["source"] = _("At most 100 characters.")
    today = timezone.localdate()
    if not (today.year - 3 <= insurance_year <= today.year + 1):
        problems["insurance_year"] = _("Give an insurance year from %(first)s to %(last)s.") % {
            "first": today.year - 3,
            "last": today.year + 1,
        }
    if roster_date > today:
        problems["roster_date"] = _("The roster's date cannot lie in the future.")
    elif roster_date.year < today.year - 4:
        problems["roster_date"] = _("The roster's date is not plausible.")
    if problems:
        raise ValidationError(problems)
    return source


@transaction.atomic
def roster_import_create(
    *,
    scope: Scope,
    upload: UploadedFile,
    source: str,
    insurance_year: int,
    roster_date: dt.date,
    language: str = "zh-hans",
    queue: bool = True,
) -> RosterImport:
    """Keep an uploaded roster under MEDIA_ROOT/rosters/ and queue it for a worker to check (the preview).

    ``queue=False``: the caller runs ``roster_import_process`` itself once this has committed, as the
    admin's import through django-import-export does in its request; the checks are the same.
    """
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    if scope.user_id is None or (scope.region_code is None and not scope.unrestricted):
        raise PermissionDenied(_("Your role may not do this."))
    source = _check_roster_fields(source=source, insurance_year=insurance_year, roster_date=roster_date)
    name, file_format = imports.upload_checked(upload, allow_xls=True)
    roster_import = RosterImport(
        source=source,
        insurance_year=insurance_year,
        roster_date=roster_date,
        original_name=name,
        file_format=file_format,
        region_code=scope.region_code or "000000000000",
        language=language or "zh-hans",
        created_by_id=scope.user_id,
    )
    roster_import.file.save(name, upload, save=False)
    roster_import.save()
    if queue:
        _queue(roster_import, scope.user_id)
    return roster_import


def _for_update(scope: Scope, import_id: int) -> RosterImport:
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    roster_import = scope.filter(RosterImport.objects.select_for_update()).filter(pk=import_id).first()
    if roster_import is None:
        raise ValidationError(_("No such roster import in your area."))
    return roster_import


@transaction.atomic
def roster_import_confirm(*, scope: Scope, import_id: int, mode: str, queue: bool = True) -> RosterImport:
    """Confirm a checked roster with the mode the administrator chose; a worker applies it (checking it anew).

    ``queue=False``: the caller runs ``roster_import_process`` itself once this has committed (the admin's
    import applies it in its request).
    """
    roster_import = _for_update(scope, import_id)
    if mode not in RosterMode.values:
        raise ValidationError({"mode": _("Choose “all or nothing” or “import the valid rows”.")})
    if roster_import.status != ImportStatus.CHECKED:
        raise ValidationError(
            _("This roster import is “%(status)s”; only a checked file can be confirmed.")
            % {"status": roster_import.get_status_display()}
        )
    counts = roster_import.counts or {}
    if mode == RosterMode.ALL_OR_NOTHING and counts.get("blocking"):
        raise ValidationError(
            {
                "mode": _(
                    "All or nothing is not possible: %(n)s rows cannot be imported. Correct the file, or "
                    "import the valid rows."
                )
                % {"n": counts["blocking"]}
            }
        )
    if not any(counts.get(key) for key in ("added", "unchanged", "removed")):
        raise ValidationError(
            _("Nothing in this file can be imported; correct the file and upload it again.")
        )
    roster_import.status = ImportStatus.CONFIRMED
    roster_import.mode = mode
    roster_import.confirmed_by_id = scope.user_id
    roster_import.confirmed_at = timezone.now()
    roster_import.save()
    if queue:
        _queue(roster_import, scope.user_id)
    return roster_import


@transaction.atomic
def roster_import_discard(*, scope: Scope, import_id: int) -> RosterImport:
    """Drop a checked roster instead of importing it; the stored file is deleted."""
    roster_import = _for_update(scope, import_id)
    if roster_import.status != ImportStatus.CHECKED:
        raise ValidationError(
            _(
                "This roster import is “%(status)s”; only a checked file waiting for confirmation can be discarded."
            )
            % {"status": roster_import.get_status_display()}
        )
    roster_import.status = ImportStatus.DISCARDED
    roster_import.finished_at = timezone.now()
    roster_import.save()
    with connection.cursor() as cursor:
        rosters.rows_forget(cursor, import_id=roster_import.pk)
    stored, storage = roster_import.file.name, roster_import.file.storage
    if stored:
        transaction.on_commit(lambda: storage.delete(stored))
    return roster_import


class RosterChangedError(imports.ImportFileError):
    pass


def _check_date(roster: SubsidyRoster | None, roster_import: RosterImport) -> None:
    if roster is not None and roster.roster_date and roster.roster_date > roster_import.roster_date:
        raise imports.ImportFileError(
            _("The roster's current file is dated %(current)s; a file dated %(date)s cannot replace it.")
            % {"current": roster.roster_date.isoformat(), "date": roster_import.roster_date.isoformat()}
        )


def roster_check(
    *, scope: Scope, roster_import: RosterImport, sheet: Any, cursor: Any, keep: bool = False
) -> rosters.Staged:
    """Stage and check a sheet against the roster's standing tags (the preview); writes the report.
    ``keep``: the checked rows stay for the confirmation (``rosters.stage``)."""
    roster = roster_of(roster_import, lock=False)
    _check_date(roster, roster_import)
    staged = rosters.stage(
        cursor,
        sheet=sheet,
        scope=scope,
        insurance_year=roster_import.insurance_year,
        roster_date=roster_import.roster_date,
        roster_id=roster.pk if roster else None,
        import_id=roster_import.pk,
        keep=keep,
    )
    roster_import.based_on_id = roster.current_import_id if roster else None
    _record(roster_import, staged)
    rosters.write_report(cursor, roster_import=roster_import, staged=staged)
    return staged


def _record(roster_import: RosterImport, staged: rosters.Staged) -> None:
    roster_import.rows_total = staged.rows_total
    roster_import.columns = staged.header
    roster_import.sheet_name = staged.sheet_name[:100]
    roster_import.notes = staged.notes
    roster_import.counts = staged.counts
    roster_import.check_basis = staged.basis


def roster_apply(
    *, scope: Scope, roster_import: RosterImport, sheet: Any, cursor: Any, actor_id: int | None
) -> bool:
    """Check the file anew and apply it in the caller's transaction. False: refused (all or nothing)."""
    SubsidyRoster.objects.bulk_create(
        [
            SubsidyRoster(
                region_code=roster_import.region_code,
                source=roster_import.source,
                insurance_year=roster_import.insurance_year,
            )
        ],
        ignore_conflicts=True,
    )
    roster = roster_of(roster_import, lock=True)
    assert roster is not None
    if roster.current_import_id != roster_import.based_on_id:
        raise RosterChangedError(
            _(
                "Another file of this roster was imported after this one was checked; nothing was imported. "
                "Upload the file again to see what it changes now."
            )
        )
    _check_date(roster, roster_import)
    staged = rosters.stage(
        cursor,
        sheet=sheet,
        scope=scope,
        insurance_year=roster_import.insurance_year,
        roster_date=roster_import.roster_date,
        roster_id=roster.pk,
        import_id=roster_import.pk,
        hold=True,
    )
    _record(roster_import, staged)
    rosters.write_report(cursor, roster_import=roster_import, staged=staged)
    if roster_import.mode == RosterMode.ALL_OR_NOTHING and staged.counts.get("blocking"):
        roster_import.message = _(
            "All or nothing: %(n)s rows cannot be imported now (the registry changed since the preview); "
            "nothing was imported. The report lists them."
        ) % {"n": staged.counts["blocking"]}
        rosters.drop(cursor, staged)
        return False
    applied = rosters.apply(
        cursor, staged=staged, roster_import=roster_import, roster_id=roster.pk, actor_id=actor_id
    )
    roster_import.counts = {
        **staged.counts,
        RosterOutcome.REMOVED.value: staged.counts[RosterOutcome.REMOVED.value] - applied.ended_meanwhile,
        "tagged": applied.tagged,
        "untagged": applied.untagged,
        "persons": applied.persons,
        "pushed": applied.pushed,
        "back_payments_withdrawn": applied.back_payment_applications_withdrawn,
    }
    roster_import.roster = roster
    roster.current_import = roster_import
    roster.roster_date = roster_import.roster_date
    roster.updated_at = timezone.now()
    roster.save(update_fields=["current_import", "roster_date", "updated_at"])
    rosters.drop(cursor, staged)
    return True


@transaction.atomic
def _run(*, scope: Scope, import_id: int) -> RosterImport | None:
    roster_import = RosterImport.objects.select_for_update().filter(pk=import_id).first()
    if roster_import is None or not roster_import.waiting:
        return roster_import  # gone, or already done by an earlier delivery of the task
    scope.require(Action.SUBSIDY_ROSTER_IMPORT)
    if not scope.filter(RosterImport.objects.filter(pk=roster_import.pk)).exists():
        raise ValidationError(_("No such roster import in your area."))
    path = Path(roster_import.file.path)
    with translation.override(roster_import.language), connection.cursor() as cursor:
        if roster_import.status == ImportStatus.PENDING:
            sheet = rosters.open_sheet(path, roster_import.file_format)
            staged = roster_check(
                scope=scope, roster_import=roster_import, sheet=sheet, cursor=cursor, keep=True
            )
            rosters.drop(cursor, staged)
            roster_import.status, roster_import.checked_at = ImportStatus.CHECKED, timezone.now()
            roster_import.message = ""
        else:
            # The rows the preview read (checked anew against the registry); the file only if they are gone.
            sheet = rosters.rows_kept(cursor, roster_import=roster_import) or rosters.open_sheet(
                path, roster_import.file_format
            )
            applied = roster_apply(
                scope=scope, roster_import=roster_import, sheet=sheet, cursor=cursor, actor_id=scope.user_id
            )
            rosters.rows_forget(cursor, import_id=roster_import.pk)
            roster_import.status = ImportStatus.DONE if applied else ImportStatus.FAILED
            roster_import.finished_at = timezone.now()
            if applied:
                roster_import.message = ""
    roster_import.save()
    return roster_import


@transaction.atomic
def _fail(*, import_id: int, message: str) -> RosterImport | None:
    roster_import = RosterImport.objects.select_for_update().filter(pk=import_id).first()
    if roster_import is None or not roster_import.waiting:
        return roster_import
    roster_import.status = ImportStatus.FAILED
    roster_import.message = message[:2000]
    roster_import.finished_at = timezone.now()
    roster_import.save()
    with connection.cursor() as cursor:
        rosters.rows_forget(cursor, import_id=roster_import.pk)
    return roster_import


@transaction.atomic
def roster_rows_prune() -> list[int]:
    """Drop the rows kept for imports no longer waiting for confirmation (the nightly clean-up)."""
    with connection.cursor() as cursor:
        return rosters.rows_prune(cursor)


def roster_import_process(*, scope: Scope, import_id: int) -> RosterImport | None:
    """A worker checks (pending) or applies (confirmed) one roster import; all of it is one transaction.

    Whatever goes wrong, nothing is half-applied: the transaction rolls back and the import is
    marked failed with a message for the administrator.
    """
    try:
        return imports.run_import_guarded(
            run=lambda: _run(scope=scope, import_id=import_id),
            fail=lambda message: _fail(import_id=import_id, message=message),
            conflict_message=_(
                "Someone changed these tags while the roster was imported; nothing was imported. "
                "Upload the file again to check it anew."
            ),
            log=logger,
            label=f"roster import {import_id}",
        )
    finally:
        rosters.progress_clear(import_id)


# --- the categories of a policy -----------------------------------------------------------------


def _managed_policy(*, scope: Scope, code: str) -> Policy:
    scope.require(Action.POLICY_MANAGE)
    policy = policy_detail(scope=scope, code=code)
    # Locked before its document is read and its tags counted: a roster import being applied holds
    # the row FOR SHARE from reading the categories to its commit, so this waits and counts its tags.
    policy = Policy.objects.select_for_update().get(pk=policy.pk)
    if not scope.unrestricted and not (
        policy.region_code and scope.covers_region_code(policy.region_code.ljust(12, "0"))
    ):
        raise PermissionDenied(_("This policy's region lies outside your area."))
    return policy


def _tag_code(category: dict[str, Any]) -> str:
    """The tag a roster gives for a category (``SubsidyCategory.tag_code``): its tag, or its code."""
    return str(category.get("tag") or category.get("code") or "")


def _check_tags_kept(*, policy: Policy, before: dict[str, Any], after: dict[str, Any]) -> None:
    """A category that persons are tagged for keeps its tag: a new code (or tag) would leave every
    tag given for it matching no category, and their subsidies would vanish at the next
    reassessment without a word."""
    if before.get("requires_tag") is False or _tag_code(before) == _tag_code(after):
        return
    tagged = SubsidyTag.objects.filter(
        category=_tag_code(before), region_code__startswith=policy.region_prefix
    ).count()
    if tagged:
        raise ValidationError(
            {
                "code": _(
                    "%(count)s tags in this policy's area are for %(tag)s; with another code they would "
                    "match no category. Keep the code, or give the category the roster tag %(tag)s."
                )
                % {"count": tagged, "tag": _tag_code(before)}
            }
        )


def _check_unique(categories: list[dict[str, Any]], index: int) -> None:
    category = categories[index]
    for position, other in enumerate(categories):
        if position == index:
            continue
        if other.get("code") == category.get("code"):
            raise ValidationError(
                {
                    "code": _("Another category of this policy has the code %(code)s.")
                    % {"code": category.get("code")}
                }
            )
        if category.get("marker") and other.get("marker") == category.get("marker"):
            raise ValidationError(
                {
                    "marker": _("Another category of this policy has the marker %(marker)s.")
                    % {"marker": category.get("marker")}
                }
            )


@transaction.atomic
def subsidy_category_save(
    *,
    scope: Scope,
    policy_code: str,
    original_code: str | None,
    category: dict[str, Any],
    note: str,
    actor_id: int | None,
) -> LoadedPolicy:
    """Add a category to a policy, or change one (``original_code``): a new version of the policy.

    The whole policy is validated by the rule engine's reader (``policy_save``); codes and markers
    are unique within the policy, so a roster's words and tax's marker mean one category each.
    Tax hears of changed terms at once (``policy_save`` → ``marks.policy_marks_send``).
    """
    policy = _managed_policy(scope=scope, code=policy_code)
    document = copy.deepcopy(policy.document)
    categories: list[dict[str, Any]] = list(document.get("subsidy_categories") or [])
    if original_code is None:
        categories.append(category)
        index = len(categories) - 1
    else:
        index = next((i for i, item in enumerate(categories) if item.get("code") == original_code), -1)
        if index < 0:
            raise ValidationError(_("The policy has no category %(code)s.") % {"code": original_code})
        _check_tags_kept(policy=policy, before=categories[index], after=category)
        categories[index] = category
    _check_unique(categories, index)
    document["subsidy_categories"] = categories
    return policy_save(document=document, note=note, scope=scope, actor_id=actor_id)


@transaction.atomic
def subsidy_category_remove(
    *, scope: Scope, policy_code: str, code: str, note: str, actor_id: int | None
) -> LoadedPolicy:
    """Remove a category from a policy (a new version); tags already given keep their history.

    Where the roster tag no longer grants any category of the policy, tax is told at once that its
    marks for the policy's year are withdrawn (``policy_save`` → ``marks.policy_marks_send``), in
    the counties this policy governs; what the persons owe changes when the counties already
    assessed for the year are assessed again, which the save queues, as for any change of the policy."""
    policy = _managed_policy(scope=scope, code=policy_code)
    document = copy.deepcopy(policy.document)
    categories = list(document.get("subsidy_categories") or [])
    kept = [item for item in categories if item.get("code") != code]
    if len(kept) == len(categories):
        raise ValidationError(_("The policy has no category %(code)s.") % {"code": code})
    document["subsidy_categories"] = kept
    return policy_save(
        document=document, note=note, scope=scope, actor_id=actor_id, tags_may_lose_category=True
    )


def subsidy_category_document(*, policy: Policy, code: str) -> dict[str, Any] | None:
    """One category of a stored policy as its document part (for the edit form)."""
    parsed = policy_parse(document=policy.document).to_document()
    return next((item for item in parsed.get("subsidy_categories", []) if item.get("code") == code), None)
