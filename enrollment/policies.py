"""The rulebook's services and selectors: save (validated, versioned), import, export, presets, lookup.

Every write goes through ``policy_save``: the document is validated by the rule engine's reader
(every problem with its path) and refused when a price rule takes payments on days no benefit
rule covers (``engine.payments_without_cover``); the policy row is locked, a new
``PolicyVersion`` is appended with who saved it and why, and an identical document saves nothing.
``policy_for_county`` finds the most specific policy for a county and year (county → city →
province → nationwide).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Length
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Region
from accounts.roles import Action
from accounts.scope import Scope
from sharing.services import message_send

from .models import Policy, PolicyVersion, RunStatus, scope_prefix_of_region_code
from .rules import engine
from .rules import policy as rules
from .rules.presets import all_presets

if TYPE_CHECKING:
    from .models import AssessmentRun

MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class LoadedPolicy:
    """A stored policy with its parsed rules and current version row."""

    record: Policy
    rules: rules.Policy
    version: PolicyVersion


def _problems_as_error(error: rules.PolicyError) -> ValidationError:
    return ValidationError([f"{path}: {message}" for path, message in error.problems])


def policy_parse(*, document: Any) -> rules.Policy:
    """Validate a document; raise ValidationError listing every problem with its path."""
    try:
        return rules.Policy.from_document(document)
    except rules.PolicyError as error:
        raise _problems_as_error(error) from error


def policy_read_text(*, text: str | bytes, filename: str = "") -> Any:
    """Read a YAML or JSON document (JSON is YAML, so one safe reader does both)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            _("The file is larger than %(size)s KB.") % {"size": MAX_DOCUMENT_BYTES // 1024}
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValidationError(_("The file is not UTF-8 text.")) from error
    try:
        if filename.lower().endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise _syntax_error(error) from error


# The parser's own account of a syntax error, kept whole up to this length (it spans lines).
SYNTAX_DETAIL_CHARS = 2000


def _syntax_error(error: yaml.YAMLError | json.JSONDecodeError) -> ValidationError:
    """A syntax error as a translated sentence with the line and column where the parser stopped,
    then, after a line break, the parser's own text with its line breaks (``SYNTAX_DETAIL_MARK``)."""
    if isinstance(error, json.JSONDecodeError):
        line, column = error.lineno, error.colno
    else:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    if line is None:
        summary = _("The document is not valid YAML or JSON.")
    else:
        summary = _("The document is not valid YAML or JSON: line %(line)d, column %(column)d.") % {
            "line": line,
            "column": column,
        }
    return ValidationError(f"{summary}{SYNTAX_DETAIL_MARK}{str(error)[:SYNTAX_DETAIL_CHARS]}")


# Between a problem's sentence and the parser's detail shown under it as it was written.
SYNTAX_DETAIL_MARK = "\n\n"


def _check_manage(scope: Scope | None, region_code: str) -> None:
    if scope is None:
        return  # commands and presets: the operator of the installation
    scope.require(Action.POLICY_MANAGE)
    if scope.unrestricted:
        return
    if not region_code or not scope.covers_region_code(region_code.ljust(12, "0")):
        raise PermissionDenied(_("This policy's region lies outside your area."))


@transaction.atomic
def policy_save(
    *,
    document: Any,
    note: str,
    scope: Scope | None = None,
    actor_id: int | None = None,
    tags_may_lose_category: bool = False,
    reassess_reason: str = "",
    today: date | None = None,
) -> LoadedPolicy:
    """Create or update the policy named by the document's code; append a version. Identical → no new version.

    A new version for a year still open queues the yearly run again of every county it decides
    that was already assessed for that year (``assessment.assessment_runs_queue_for_policy``, with
    ``reassess_reason`` or a reason naming the version): tax holds each person's due item as the
    last run computed it, and a changed amount, subsidy or schedule reaches it only through a run.

    A version that leaves persons' tags counting in its year without a category is refused
    (``_tagged_categories_kept``) unless ``tags_may_lose_category``: the subsidy categories page's
    removal of a category, the one place that ends a category on purpose. A version that changes
    what a roster tag grants tells tax of the year's marks (``subsidies.marks.policy_marks_send``)."""
    parsed = policy_parse(document=document)
    # A price rule taking money on days no benefit rule covers would sell nothing: refused, with
    # the days (a copy whose grace period missed 29 February of a leap year, say).
    uncovered = engine.payments_without_cover(parsed)
    if uncovered:
        raise ValidationError([f"{path}: {message}" for path, message in uncovered])
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Say why the policy is saved (the version history keeps it).")})
    _check_manage(scope, parsed.region_code)
    canonical = parsed.to_document()
    prefix = scope_prefix_of_region_code(parsed.region_code)
    clash = (
        Policy.objects.filter(region_prefix=prefix, insurance_year=parsed.insurance_year)
        .exclude(code=parsed.code)
        .first()
    )
    if clash is not None:
        raise ValidationError(
            _("%(region)s already has a policy for %(year)d: %(name)s (%(code)s). Edit that one instead.")
            % {
                "region": parsed.region_code or _("the whole country"),
                "year": parsed.insurance_year,
                "name": clash.name,
                "code": clash.code,
            }
        )
    record = Policy.objects.select_for_update().filter(code=parsed.code).first()
    # The marks' lock after the policy's row, in the order of a roster import (which holds its
    # counties' policies FOR SHARE from checking the file, and takes it when it writes the tags)
    # and of ``subsidy_marks_send``; the tags are subsidies', which reads the policies.
    from subsidies.marks import marks_lock, policy_marks_send

    marks_lock()
    before = policy_parse(document=record.document) if record is not None else None
    if record is not None:
        # Saving under an existing code edits that policy: its current region must be ours too.
        _check_manage(scope, record.region_code)
        if not tags_may_lose_category:
            _tagged_categories_kept(record=record, before=before, parsed=parsed)
    now = timezone.now()
    if record is None:
        record = Policy.objects.create(
            region_code=parsed.region_code,
            region_prefix=prefix,
            insurance_year=parsed.insurance_year,
            code=parsed.code,
            name=parsed.name,
            document=canonical,
            version=1,
            updated_at=now,
        )
    else:
        if record.document == canonical:
            return LoadedPolicy(record, parsed, record.versions.order_by("-number").first())  # type: ignore[arg-type]
        record.region_code = parsed.region_code
        record.region_prefix = prefix
        record.insurance_year = parsed.insurance_year
        record.name = parsed.name
        record.document = canonical
        record.version += 1
        record.updated_at = now
        record.save()
    version = PolicyVersion.objects.create(
        policy=record, number=record.version, document=canonical, note=note[:300], saved_by_id=actor_id
    )
    _back_payment_window_send(record=record, rules_=parsed)
    policy_marks_send(record=record, before=before, after=parsed)
    loaded = LoadedPolicy(record, parsed, version)
    # the assessment reads policies
    from .assessment import assessment_runs_queue_for_policy

    if not reassess_reason:
        # Stored on the runs, read by everyone: the portal's language, whoever saved.
        with translation.override(settings.LANGUAGE_CODE):
            reassess_reason = _("Policy saved as version %(version)d: reassessed") % {
                "version": record.version
            }
    assessment_runs_queue_for_policy(
        loaded=loaded, reason=reassess_reason, actor_id=actor_id, today=today or timezone.localdate()
    )
    return loaded


def _tagged_categories_kept(*, record: Policy, before: rules.Policy, parsed: rules.Policy) -> None:
    """Refuse a version without a category for a roster tag that persons' tags still hold in the
    policy's year: the whole document is edited as text (the editor, a file, the API), where a
    category's code changed or a category dropped by mistake would end their subsidies at the next
    reassessment without a word. The policy's row is locked, so a roster import applying its tags
    (which holds it FOR SHARE) has committed them or waits. ``before`` is the version replaced."""
    kept = {category.tag_code for category in parsed.subsidy_categories if category.requires_tag}
    gone = {category.tag_code for category in before.subsidy_categories if category.requires_tag} - kept
    if not gone:
        return
    from subsidies.selectors import tags_holding_in  # the tags are subsidies' and it reads the policies

    holding = tags_holding_in(policy=before, region_prefix=record.region_prefix, tag_codes=gone)
    if holding:
        raise ValidationError(
            [
                "policy.subsidy_categories: "
                + _(
                    "%(count)d persons in this policy's area hold a %(tag)s tag that counts in %(year)d, and "
                    "this version has no category for %(tag)s: their subsidy would end at the next "
                    "reassessment. Keep a category whose roster tag is %(tag)s, or end the category on "
                    "purpose on the subsidy categories page."
                )
                % {"count": count, "tag": tag, "year": before.insurance_year}
                for tag, count in sorted(holding.items())
            ]
        )


def _back_payment_window_send(*, record: Policy, rules_: rules.Policy) -> None:
    """Tell tax when this policy takes back-payment applications (or that it takes none): the
    counter's way forward once the collection period is over."""
    back = rules_.back_payment
    message_send(
        topic="policy.back_payment_window",
        payload={
            "policy_code": record.code,
            "policy_version": record.version,
            "region_code": (record.region_code or "").ljust(12, "0"),
            "region_prefix": record.region_prefix,
            "insurance_year": record.insurance_year,
            "back_payment": back is not None,
            # Past an extension of the collection period: until it ends the period is not missed.
            "apply_from": engine.back_payment_apply_from(rules_).isoformat() if back else None,
            "apply_until": back.apply_until.isoformat() if back else None,
        },
    )


@transaction.atomic
def policy_back_payment_windows_send() -> int:
    """Tell tax the back-payment window of every policy: once after the upgrade that brought the
    message (a policy saved since tells it itself). Tax keeps the newest version of each, so sending
    again changes nothing. Returns the number of policies."""
    policies = list(Policy.objects.order_by("code"))
    for record in policies:
        _back_payment_window_send(record=record, rules_=policy_parse(document=record.document))
    return len(policies)


class Extension(NamedTuple):
    """An extended collection period: the policy's new version and the county runs queued for it
    (or, for a county whose run was already running, that run, marked to be run again), and how
    many approved, unpaid back-payments those runs withdraw (counted under the policy's lock, so no
    approval slips in between: ``back_payment_approve``)."""

    loaded: LoadedPolicy
    runs: list[AssessmentRun]
    back_payments_withdrawn: int = 0

    @property
    def counties_now(self) -> list[str]:
        """The counties whose run is queued: it reads the new version when it starts."""
        return [run.county_code for run in self.runs if run.status != RunStatus.RUNNING]

    @property
    def counties_after_running(self) -> list[str]:
        """The counties whose run was running with the previous version: reassessed when it ends."""
        return [run.county_code for run in self.runs if run.status == RunStatus.RUNNING]


@transaction.atomic
def policy_extend_collection(
    *,
    policy: Policy,
    extended_to: date,
    note: str,
    scope: Scope | None = None,
    actor_id: int | None = None,
    today: date | None = None,
) -> Extension:
    """Insurance and tax jointly extend the collection period (Linfen): a new version, with the reason.

    Tax accepts a payment by the schedule of each due item, which insurance computed with the old
    last day: every county of the policy already assessed for the (open) year is assessed again, so
    the new schedules reach tax; without it tax refused payments during the extension. Those runs
    withdraw the back-payments approved before the extension and not yet paid: the person pays the
    normal contribution until the new last day (``assessment._withdraw_back_payments``)."""
    note = (note or "").strip()
    extended = policy_extension_check(policy=policy, extended_to=extended_to, note=note)
    today = today or timezone.localdate()
    # policy_save locks the policy's row FOR UPDATE: a back-payment approval holds it FOR SHARE
    # from reading the policy to its commit, so from here on none is decided on the old version.
    # The version's note and the runs' reason are stored: the portal's language, whoever extended.
    with translation.override(settings.LANGUAGE_CODE):
        version_note = _("Collection period extended to %(date)s: %(note)s") % {
            "date": extended_to.isoformat(),
            "note": note,
        }
        run_reason = _("Collection period extended to %(date)s: reassessed") % {
            "date": extended_to.isoformat()
        }
    loaded = policy_save(
        document=extended.to_document(),
        note=version_note,
        scope=scope,
        actor_id=actor_id,
        reassess_reason=run_reason,
        today=today,
    )
    # the assessment reads policies
    from .assessment import assessment_runs_queue_for_policy, back_payments_an_extension_withdraws

    withdrawn = back_payments_an_extension_withdraws(policy=loaded.record, extended=loaded.rules, today=today)
    # Queued by the save already (a queued run is returned as it is): the runs the page follows.
    runs = assessment_runs_queue_for_policy(
        loaded=loaded,
        reason=run_reason,
        actor_id=actor_id,
        today=today,
    )
    return Extension(loaded, runs, withdrawn.count())


def policy_extension_check(*, policy: Policy, extended_to: date, note: str) -> rules.Policy:
    """The policy's rules with the collection period extended to ``extended_to``, or ValidationError
    (the new last day must be after the current one; who decided and why must be said): what the
    extension page shows before it is confirmed, and what ``policy_extend_collection`` saves."""
    current = policy_parse(document=policy.document)
    if extended_to <= current.collection.window.end:
        raise ValidationError(
            {
                "extended_to": _("The new last day must be after %(date)s.")
                % {"date": current.collection.window.end.isoformat()}
            }
        )
    # The period collects the contribution of one insurance year: a last day after that year has
    # ended would sell cover for a year already over (a back-payment's case, with its own rules).
    year_end = date(current.insurance_year, 12, 31)
    if extended_to > year_end:
        raise ValidationError(
            {
                "extended_to": _(
                    "The period collects the contributions of %(year)d: its last day can be %(date)s at "
                    "the latest."
                )
                % {"year": current.insurance_year, "date": year_end.isoformat()}
            }
        )
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": _("Say who decided the extension and why.")})
    return current.with_collection_extended(to=extended_to, note=note)


def policy_export(*, policy: Policy, fmt: str) -> tuple[bytes, str, str]:
    """The current document as YAML or JSON: (content, content type, file name).

    The stored JSON comes back from PostgreSQL with its keys reordered; re-reading it through the
    rulebook gives the documented order, so an export reads like the presets and imports as is.
    """
    document = policy_parse(document=policy.document).to_document()
    if fmt == "json":
        return (
            json.dumps(document, ensure_ascii=False, indent=2).encode(),
            "application/json",
            f"{policy.code}-v{policy.version}.json",
        )
    text = yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120)
    return text.encode(), "application/yaml", f"{policy.code}-v{policy.version}.yaml"


# Names of the regions the presets are for, so that loading them on an installation that does
# not have those regions yet creates them (GB/T 2260).
PRESET_REGIONS: dict[str, str] = {
    "140000": "山西省",
    "141000": "临汾市",
    "220000": "吉林省",
    "370000": "山东省",
    "371300": "临沂市",
    "371302": "兰山区",
    "450000": "广西壮族自治区",
    "450700": "钦州市",
    "450703": "钦北区",
    "450800": "贵港市",
}


def _ensure_region(code6: str) -> None:
    """Create the region of a preset (and its parents) when the installation lacks it."""
    from accounts.services import region_create

    chain = [code6[:2] + "0000", code6[:4] + "00", code6]
    parent = None
    for code in dict.fromkeys(chain):
        full = code.ljust(12, "0")
        region = Region.objects.filter(code=full).first()
        if region is None:
            region = region_create(code=full, name=PRESET_REGIONS.get(code, code), parent=parent)
        parent = region


@transaction.atomic
def policy_load_presets(*, actor_id: int | None = None) -> list[LoadedPolicy]:
    """Load every preset that ships with the portal (idempotent: unchanged presets add no version)."""
    loaded = []
    for preset in all_presets():
        if preset.region_code:
            _ensure_region(preset.region_code[:6])
        loaded.append(
            policy_save(
                document=preset.to_document(),
                note=_("Preset shipped with the portal"),
                actor_id=actor_id,
                # The installation's own presets: upgrading the portal is the operator's decision.
                tags_may_lose_category=True,
            )
        )
    return loaded


# --- selectors -------------------------------------------------------------------------------


def _applies_to(code: str) -> Q:
    """Policies whose region contains the 12-digit ``code`` (nationwide included)."""
    prefixes = {code[:length] for length in (2, 4, 6, 9, 12)} | {""}
    return Q(region_prefix__in=prefixes)


def policy_list(*, scope: Scope) -> QuerySet[Policy]:
    """The policies a user may read: those of their area and of the regions above it."""
    scope.require(Action.POLICY_VIEW)
    policies = Policy.objects.all()
    if scope.unrestricted:
        return policies
    prefix = scope.region_prefix or ""
    return policies.filter(
        _applies_to((scope.region_code or "").ljust(12, "0"))
        | Q(region_prefix__startswith=prefix, region_prefix__gt="")
    )


def policy_detail(*, scope: Scope, code: str) -> Policy:
    """One readable policy; 404 when it does not exist or lies outside the user's area."""
    policy = policy_list(scope=scope).filter(code=code).first()
    if policy is None:
        raise Http404(_("No such policy in your area."))
    return policy


def policy_can_manage(*, scope: Scope, policy: Policy) -> bool:
    try:
        _check_manage(scope, policy.region_code)
    except PermissionDenied:
        return False
    return True


def policy_for_county_required(*, county_code: str, insurance_year: int) -> LoadedPolicy:
    """``policy_for_county``, refusing with a message for the clerk when the county and year have none."""
    loaded = policy_for_county(county_code=county_code, insurance_year=insurance_year)
    if loaded is None:
        raise ValidationError(
            _(
                "There is no policy for %(county)s and %(year)d, so the rules cannot decide; ask the administrator."
            )
            % {"county": county_code, "year": insurance_year}
        )
    return loaded


def policy_record_for_county(*, county_code: str, insurance_year: int) -> Policy | None:
    """The row of the most specific policy for a county and year (county, then city, province,
    nationwide), unparsed: for asking which policy governs."""
    return (
        Policy.objects.filter(_applies_to(county_code.ljust(12, "0")), insurance_year=insurance_year)
        .order_by(Length("region_prefix").desc())
        .first()
    )


def policy_for_county(*, county_code: str, insurance_year: int) -> LoadedPolicy | None:
    """The most specific policy for a county and year: county, then city, province, nationwide."""
    record = policy_record_for_county(county_code=county_code, insurance_year=insurance_year)
    if record is None:
        return None
    version = record.versions.order_by("-number").first()
    assert version is not None
    return LoadedPolicy(record, rules.Policy.from_document(record.document), version)


def policy_years_for_county(*, county_code: str, from_year: int) -> list[int]:
    """The insurance years from ``from_year`` on for which some policy covers the county."""
    years = (
        Policy.objects.filter(_applies_to(county_code.ljust(12, "0")), insurance_year__gte=from_year)
        .values_list("insurance_year", flat=True)
        .distinct()
    )
    return sorted(set(years))


def policy_for_county_held(*, county_code: str, insurance_year: int) -> LoadedPolicy | None:
    """``policy_for_county``, its row locked FOR SHARE until the caller's transaction ends, and read
    after the lock: a decision that must not outrun a change of the policy (a back-payment approval
    against an extension of the collection period) stands on the version it read.

    ``policy_save`` (so ``policy_extend_collection``) locks the same row FOR UPDATE: a change
    begun first is waited for and then read; one begun later waits until the caller commits, and
    whatever follows it (the county runs it queues) sees what the caller wrote. Readers holding
    the row FOR SHARE do not wait for each other."""
    assert connection.in_atomic_block, "the lock lasts until the transaction ends: take it in one"
    loaded = policy_for_county(county_code=county_code, insurance_year=insurance_year)
    if loaded is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Policy._meta.db_table} WHERE id = %s FOR SHARE",  # noqa: S608 - the model's table
            [loaded.record.pk],
        )
    # Read again: a change that held the row committed while we waited (read committed: this
    # statement sees it).
    return policy_for_county(county_code=county_code, insurance_year=insurance_year)


def policy_versions(*, policy: Policy) -> QuerySet[PolicyVersion]:
    return policy.versions.select_related("saved_by").order_by("-number")
