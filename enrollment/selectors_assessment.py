"""Reads for the rulebook, yearly-assessment and coverage pages and API, always through a scope.

``AssessmentRun`` names its county by a 6-digit code (``scope_region_lookup = "county_code"``), so
``Scope.filter`` (a prefix match) shows a county's runs to users of that county, its city and its
province; a user below the county (a township or a village) sees no run: a run covers the whole
county, which is more than their area. ``Assessment`` rows carry the 12-digit village code and are
filtered like every other record.
"""

from __future__ import annotations

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


def extension_back_payments(
    *, scope: Scope, policy: Policy, extended: engine.Policy, today: date
) -> list[tuple[str, int]]:
    """What an extension of ``policy`` (to the rules ``extended``) confirmed ``today`` withdraws in
    the user's area: each county it reassesses, with its approved back-payments not yet paid that
    the county's run withdraws (those persons pay the normal contribution instead), by code."""
    scope.require(Action.POLICY_MANAGE)
    counties = [
        code
        for code in counties_reassessed_for(policy=policy, today=today)
        if scope.covers_region_code(code.ljust(12, "0"))
    ]
    found = dict(
        scope.filter(back_payments_an_extension_withdraws(policy=policy, extended=extended, today=today))
        .values("county_code")
        .annotate(count=Count("id"))
        .values_list("county_code", "count")
    )
    return [(code, found.get(code, 0)) for code in counties]


def runs_back_payments_withdrawn(*, scope: Scope, run_ids: list[int]) -> int | None:
    """How many back-payments these county runs withdrew (an extension's runs), once every one of
    them is done; None while one is still queued or running (or failed: it is run again)."""
    runs = scope.filter(AssessmentRun.objects.filter(pk__in=run_ids))
    figures = runs.aggregate(
        done=Count("id", filter=Q(status=RunStatus.DONE)),
        withdrawn=Coalesce(Sum("back_payments_withdrawn"), 0),
    )
    if not run_ids or figures["done"] != len(set(run_ids)):
        return None
    return figures["withdrawn"]
