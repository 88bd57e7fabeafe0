"""Insurance's panels on an agency's page (``accounts.agency_panels``): a village committee's
coverage and collection of the insurance year, a school's students.

Both read what the viewer's role already reads elsewhere, through the same selectors: the
village's figures are the coverage report's (``Action.REPORT_VIEW``, insurance's own pre-counted
``CoverageStat``: paid is what tax's deposit messages told insurance, never tax's ledger), the
school's are its student list's (``Action.ENROLLMENT_VIEW``, a school's clerk their own school only).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.agency_panels import AgencyPanel, PanelFigure, PanelLink
from accounts.charts import percent
from accounts.models import Agency, AgencyKind
from accounts.money import yuan
from accounts.roles import Action
from accounts.scope import Scope

from . import exports, reports, students


def village_panel(scope: Scope, agency: Agency) -> AgencyPanel | None:
    """The village's coverage and collection of the current insurance year, for those who read
    the village's coverage report (its clerk, the county's insurance staff)."""
    if agency.kind != AgencyKind.VILLAGE_COMMITTEE or not scope.allows(Action.REPORT_VIEW):
        return None
    code = agency.region.code
    if not scope.covers_region_code(code):
        return None
    year = exports.year_of("")
    report = reports.coverage_report(scope=scope, insurance_year=year, area_code=code)
    total = report.total
    query = urlencode({"year": year, "area": code})
    links = [
        PanelLink(_("Coverage report"), f"{reverse('enrollment:report-coverage')}?{query}"),
        PanelLink(_("Not enrolled"), f"{reverse('enrollment:report-unenrolled')}?{query}"),
        PanelLink(_("Unpaid (催缴)"), f"{reverse('enrollment:report-unpaid')}?{query}"),
    ]
    title = _("%(area)s: coverage and collection, insurance year %(year)s") % {
        "area": agency.region.name,
        "year": year,
    }
    if report.as_of is None:
        return AgencyPanel(
            title=title,
            testid="village-collection",
            links=links,
            note=_("No figures have been counted for %(year)s yet.") % {"year": year},
        )
    figures = [
        PanelFigure(_("Registered population"), f"{total.registered:,}", "registered"),
        PanelFigure(
            _("Of them enrolled"),
            f"{total.registered_enrolled:,} ({percent(total.coverage_rate)})",
            "registered-enrolled",
        ),
        PanelFigure(_("Assessed for the year"), f"{total.assessed:,}", "assessed"),
        PanelFigure(_("Paid"), f"{total.paid:,}", "paid"),
        PanelFigure(_("Paid by the government"), f"{total.government_paid:,}", "government-paid"),
        PanelFigure(_("Collected (paid ÷ assessed)"), percent(total.collection_rate), "collection-rate"),
        PanelFigure(_("Due, not paid"), f"{total.due:,}", "due"),
        PanelFigure(_("Due, not paid (yuan)"), yuan(total.due_fen), "due-yuan"),
        PanelFigure(_("Paid (yuan)"), yuan(total.paid_fen), "paid-yuan"),
    ]
    as_of = timezone.localtime(report.as_of).strftime("%Y-%m-%d %H:%M")
    return AgencyPanel(
        title=title,
        testid="village-collection",
        figures=figures,
        links=links,
        note=_("Counted at %(at)s from insurance's records: paid means the deposit reached insurance.")
        % {"at": as_of},
    )


def school_panel(scope: Scope, agency: Agency) -> AgencyPanel | None:
    """The school's students by enrollment and the year's payment, with the way to their list."""
    if agency.kind != AgencyKind.SCHOOL or not scope.allows(Action.ENROLLMENT_VIEW):
        return None
    if scope.school_id is not None and scope.school_id != agency.pk:
        return None
    year = exports.year_of("")
    counts = students.student_counts(scope=scope, school=agency, insurance_year=year)
    return AgencyPanel(
        title=_("Students, insurance year %(year)s") % {"year": year},
        testid="school-students",
        figures=[
            PanelFigure(_("Students"), f"{counts.total:,}", "students"),
            PanelFigure(_("Enrolled (normal)"), f"{counts.of_status('normal'):,}", "enrolled"),
            PanelFigure(_("Not yet enrolled"), f"{counts.of_status(students.UNENROLLED):,}", "unenrolled"),
            PanelFigure(_("Paid (or by the government)"), f"{counts.of_payment(students.PAID):,}", "paid"),
            PanelFigure(_("Due, not paid"), f"{counts.of_payment(students.DUE):,}", "due"),
        ],
        links=[
            PanelLink(
                _("Student list (学生名册)"),
                f"{reverse('enrollment:school-students', kwargs={'pk': agency.pk})}?year={year}",
            )
        ],
    )
