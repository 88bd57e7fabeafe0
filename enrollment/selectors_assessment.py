"""Reads for the rulebook, yearly-assessment and coverage pages and API, always through a scope.

``AssessmentRun`` names its county by a 6-digit code (``scope_region_lookup = "county_code"``), so
``Scope.filter`` (a prefix match) shows a county's runs to users of that county, its city and its
province; a user below the county (a township or a village) sees no run: a run covers the whole
county, which is more than their area. ``Assessment`` rows carry the 12-digit village code and are
filtered like every other record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.digits import ascii_digits
from accounts.models import Region, RegionLevel
from accounts.roles import Action
from accounts.scope import Scope
from accounts.selectors import counts_by

from .assessment import back_payments_an_extension_withdraws, counties_reassessed_for
from .models import Assessment, AssessmentRun, AssessmentStatus, Person, Policy, RunStatus
from .rules import engine


def county_choices(*, scope: Scope) -> QuerySet[Region]:
    """The counties (level 3) inside the user's area, by code."""
    return scope.filter(Region.objects.filter(level=RegionLevel.COUNTY)).order_by("code")


def county_detail(*, scope: Scope, code: str) -> Region:
    """A county given by its 6-digit code; 404 when it is unknown or lies outside the user's area."""
    if not (len(code) == 6 and ascii_digits(code)):
        raise Http404(_("No such county in your area."))
    return scope.get_object_or_404(Region.objects.filter(level=RegionLevel.COUNTY), code=code.ljust(12, "0"))


def assessment_run_list(*, scope: Scope, county_code: str = "") -> QuerySet[AssessmentRun]:
    """County-wide runs in the user's area, newest first (one person's reassessments are not listed)."""
    scope.require(Action.ASSESSMENT_VIEW)
    runs = scope.filter(AssessmentRun.objects.filter(person__isnull=True))
    if county_code:
        runs = runs.filter(county_code=county_code)
    return runs.select_related("started_by", "policy_version__policy").order_by("-created_at", "-pk")


def assessment_run_detail(*, scope: Scope, pk: int) -> AssessmentRun:
    scope.require(Action.ASSESSMENT_VIEW)
    return scope.get_object_or_404(
        AssessmentRun.objects.select_related("started_by", "policy_version__policy", "person"), pk=pk
    )


def assessment_list(
    *,
    scope: Scope,
    county_code: str | None = None,
    insurance_year: int | None = None,
    status: str | None = None,
    subsidy_category: str | None = None,
) -> QuerySet[Assessment]:
    """Assessments in the user's area, optionally of one county and year, by status and subsidy category.

    ``subsidy_category`` "-" means "without a subsidy".
    """
    scope.require(Action.ASSESSMENT_VIEW)
    assessments = scope.filter(
        Assessment.objects.select_related("person", "decision__policy_version__policy")
    )
    if county_code:
        assessments = assessments.filter(county_code=county_code)
    if insurance_year:
        assessments = assessments.filter(insurance_year=insurance_year)
    if status:
        assessments = assessments.filter(status=status)
    if subsidy_category == "-":
        assessments = assessments.filter(subsidy_category="")
    elif subsidy_category:
        assessments = assessments.filter(subsidy_category=subsidy_category)
    return assessments.order_by("region_code", "id")


def assessment_status_counts(*, scope: Scope, county_code: str, insurance_year: int) -> dict[str, int]:
    """How many assessments of a county and year are in each payment status (one grouped query)."""
    return counts_by(assessment_list(scope=scope, county_code=county_code, insurance_year=insurance_year))


def assessment_county_figures(*, scope: Scope, county_code: str, insurance_year: int) -> dict[str, int]:
    """The county's figures for a year as they stand now, whatever run made them (one aggregate):
    assessments in force (not cancelled), persons paid by the government and that money (their
    subsidy), the money still due. A run's own figures are only of the persons it assessed."""
    government = Q(status=AssessmentStatus.GOVERNMENT)
    return assessment_list(scope=scope, county_code=county_code, insurance_year=insurance_year).aggregate(
        assessed=Count("id", filter=~Q(status=AssessmentStatus.CANCELLED)),
        government_paid=Count("id", filter=government),
        government_paid_fen=Coalesce(Sum("subsidy_fen", filter=government), 0),
        payable_fen=Coalesce(Sum("payable_fen", filter=Q(status=AssessmentStatus.DUE)), 0),
    )


def person_assessments(*, scope: Scope, person: Person) -> QuerySet[Assessment] | None:
    """A person's assessments (newest year first), or None when the role may not see assessments.

    The caller has already fetched ``person`` through the scope; assessments made while the person
    lived in another county are kept out unless they too lie in the user's area.
    """
    if not scope.allows(Action.ASSESSMENT_VIEW):
        return None
    return scope.filter(
        Assessment.objects.filter(person=person).select_related("decision__policy_version__policy")
    ).order_by("-insurance_year")


def policy_code_owner(*, code: str) -> Policy | None:
    """The stored policy holding ``code``, whoever may see it: saving a document with a code that is
    taken changes that policy, so the pages and the API check who owns the code first."""
    return Policy.objects.filter(code=code).first()


def policy_saved_said(*, policy: Policy, today: date, said: str) -> str:
    """What a user who just saved a version of ``policy`` is told: ``said``, and how many counties
    already assessed for its open year the save queued to be assessed again (``policy_save``)."""
    counties = counties_reassessed_for(policy=policy, today=today)
    if not counties:
        return said
    reassessing = _(
        "%(count)d counties already assessed for %(year)d are being assessed again with this version, "
        "so that tax collects the new amounts."
    ) % {"count": len(counties), "year": policy.insurance_year}
    # Sentences in English are set apart by a space, in Chinese not.
    return _("%(first)s %(second)s") % {"first": said, "second": reassessing}


def extension_back_payments(
    *, scope: Scope, policy: Policy, extended: engine.Policy, today: date
) -> list[tuple[str, int]]:
    """What an extension of ``policy`` (to the rules ``extended``) confirmed ``today`` withdraws in
    the user's area: each county it reassesses, with its approved back-payments not yet paid that
    the county's run withdraws (those persons pay the normal contribution instead), by code.
    Counted by the run's own condition (``assessment.back_payments_withdrawable``), under the
    county the person is enrolled in: the one whose run withdraws it."""
    scope.require(Action.POLICY_MANAGE)
    counties = [
        code
        for code in counties_reassessed_for(policy=policy, today=today)
        if scope.covers_region_code(code.ljust(12, "0"))
    ]
    found = dict(
        scope.filter(back_payments_an_extension_withdraws(policy=policy, extended=extended, today=today))
        .values("withdrawn_in")
        .annotate(count=Count("id"))
        .values_list("withdrawn_in", "count")
    )
    return [(code, found.get(code, 0)) for code in counties]


@dataclass(frozen=True)
class ReassessmentProgress:
    """Where the county runs an extension of the collection period queued stand now, by county
    code. A run that a later change of the policy marked to be run again is followed to that
    follow-up (``AssessmentRun.rerun``), which is the one that reads the extended version."""

    # Queued or running with the extended version.
    running: list[str]
    # Running with the previous version, to be assessed again when it ends.
    after_running: list[str]
    failed: list[str]
    done: list[str]
    # What the done runs withdrew (a failed run withdrew nothing: its changes were rolled back).
    back_payments_withdrawn: int

    @property
    def finished(self) -> bool:
        """No run is waiting or running: each county is done or failed."""
        return not self.running and not self.after_running


def reassessment_progress(*, scope: Scope, run_ids: list[int]) -> ReassessmentProgress:
    """Where these county runs (an extension's, ``policies.Extension.runs``) stand now, in the
    user's area: the policy page says the counties are being reassessed while they run, and that
    they were reassessed (with the back-payments withdrawn) or failed once they end."""
    runs = {run.pk: run for run in scope.filter(AssessmentRun.objects.filter(pk__in=run_ids))}
    running: list[str] = []
    after_running: list[str] = []
    failed: list[str] = []
    done: list[str] = []
    withdrawn = 0
    for run_id in dict.fromkeys(run_ids):
        run = runs.get(run_id)
        seen = set()
        # A run marked to be run again has one follow-up at most; a later extension may mark that
        # one too. The chain is short: read it a link at a time.
        while run is not None and run.rerun_id is not None and run.pk not in seen:
            seen.add(run.pk)
            run = AssessmentRun.objects.filter(pk=run.rerun_id).first()
        if run is None:
            continue
        if run.status == RunStatus.DONE:
            done.append(run.county_code)
            withdrawn += run.back_payments_withdrawn
        elif run.status == RunStatus.FAILED:
            failed.append(run.county_code)
        elif run.status == RunStatus.RUNNING and run.rerun_reason:
            after_running.append(run.county_code)
        else:
            running.append(run.county_code)
    return ReassessmentProgress(
        running=sorted(running),
        after_running=sorted(after_running),
        failed=sorted(failed),
        done=sorted(done),
        back_payments_withdrawn=withdrawn,
    )
