"""Roles, agency kinds and the actions each role may perform: the one table of who may do what."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    VILLAGE_CLERK = "village_clerk", _("Village clerk")
    SCHOOL_CLERK = "school_clerk", _("School clerk")
    INSURANCE_STAFF = "insurance_staff", _("Insurance staff")
    TAX_STAFF = "tax_staff", _("Tax staff")
    FINANCE_STAFF = "finance_staff", _("Finance staff")
    ADMINISTRATOR = "administrator", _("Administrator")


class AgencyKind(models.TextChoices):
    INSURANCE_AGENCY = "insurance_agency", _("Medical insurance agency")
    TAX_BUREAU = "tax_bureau", _("Tax bureau")
    FINANCE_BUREAU = "finance_bureau", _("Finance bureau")
    VILLAGE_COMMITTEE = "village_committee", _("Village or community committee")
    SCHOOL = "school", _("School")
    CIVIL_AFFAIRS = "civil_affairs", _("Civil affairs bureau")
    DISABLED_FEDERATION = "disabled_federation", _("Disabled persons' federation")
    RURAL_REVITALISATION = "rural_revitalisation", _("Rural revitalisation bureau")


class Bureau(models.TextChoices):
    """The separate organisations that talk only over the sharing platform."""

    INSURANCE = "insurance", _("Medical insurance bureau")
    TAX = "tax", _("Tax bureau")
    FINANCE = "finance", _("Finance bureau")


# Which agency kinds a role's user may belong to.
ROLE_AGENCY_KINDS: dict[str, frozenset[str]] = {
    Role.VILLAGE_CLERK: frozenset({AgencyKind.VILLAGE_COMMITTEE}),
    Role.SCHOOL_CLERK: frozenset({AgencyKind.SCHOOL}),
    Role.INSURANCE_STAFF: frozenset({AgencyKind.INSURANCE_AGENCY}),
    Role.TAX_STAFF: frozenset({AgencyKind.TAX_BUREAU}),
    Role.FINANCE_STAFF: frozenset({AgencyKind.FINANCE_BUREAU}),
    Role.ADMINISTRATOR: frozenset({AgencyKind.INSURANCE_AGENCY}),
}

# Which bureau a role works for (None: outside the three bureaus, e.g. a village committee).
ROLE_BUREAU: dict[str, str | None] = {
    Role.VILLAGE_CLERK: Bureau.INSURANCE,
    Role.SCHOOL_CLERK: Bureau.INSURANCE,
    Role.INSURANCE_STAFF: Bureau.INSURANCE,
    Role.TAX_STAFF: Bureau.TAX,
    Role.FINANCE_STAFF: Bureau.FINANCE,
    Role.ADMINISTRATOR: Bureau.INSURANCE,
}


class Action(models.TextChoices):
    """Everything a user may be allowed to do. Views, APIs, admin, exports and tasks name one."""

    PORTAL_USE = "portal.use", _("Use the portal")
    REGION_VIEW = "region.view", _("View regions")
    REGION_MANAGE = "region.manage", _("Manage regions")
    AGENCY_VIEW = "agency.view", _("View agencies")
    AGENCY_MANAGE = "agency.manage", _("Manage agencies")
    USER_VIEW = "user.view", _("View users")
    USER_MANAGE = "user.manage", _("Manage users")
    AUDIT_VIEW = "audit.view", _("View the audit trail")
    SYSTEM_MONITOR = "system.monitor", _("Monitor the system")
    API_DOCS_VIEW = "api_docs.view", _("Read the API schema and its documentation")
    ENROLLMENT_VIEW = "enrollment.view", _("View households, persons and enrollments")
    ENROLLMENT_REGISTER = "enrollment.register", _("Register households and persons")
    ENROLLMENT_REVIEW = "enrollment.review", _("Approve or reject registrations")
    ENROLLMENT_CHANGE = "enrollment.change", _("Suspend, resume, terminate and transfer enrollments")
    ENROLLMENT_IMPORT = "enrollment.import", _("Import households and employee-insurance lists")
    PERSON_FULL_VIEW = "person.full_view", _("See full identifiers and phone numbers")
    PERSON_IDENTIFIER_CORRECT = (
        "person.identifier_correct",
        _("Correct the identifier of a person who has been assessed, together with tax"),
    )
    SHARING_MONITOR = "sharing.monitor", _("Monitor the sharing platform")
    SHARING_REDRIVE = "sharing.redrive", _("Re-drive dead letters of the sharing platform")
    POLICY_VIEW = "policy.view", _("View the rulebook (policies)")
    POLICY_MANAGE = "policy.manage", _("Edit, import and extend policies")
    ASSESSMENT_VIEW = "assessment.view", _("View assessments")
    ASSESSMENT_RUN = "assessment.run", _("Run the yearly assessment")
    COVERAGE_VIEW = "coverage.view", _("Check whether a person is covered")
    REPORT_VIEW = "report.view", _("View coverage reports and follow-up lists")
    SUBSIDY_ROSTER_IMPORT = "subsidy.roster_import", _("Import rosters of subsidised persons")
    SUBSIDY_TOTALS = "subsidy.totals", _("View and export subsidy totals")
    COLLECTION_VIEW = "collection.view", _("View payers, amounts due and payments")
    COLLECTION_RECORD = "collection.record", _("Record payments and print receipts")
    COLLECTION_PROGRESS_VIEW = "collection_progress.view", _("View the collection progress dashboard")
    REFUND_VIEW = "refund.view", _("View refund applications")
    REFUND_APPLY = "refund.apply", _("Apply for a refund, and withdraw one's own application")
    REFUND_REVIEW = "refund.review", _("Approve or reject refund applications")
    REFUND_PAY_OUT = "refund.pay_out", _("Record the payout of an approved refund")
    OVERCOLLECTION_VIEW = "overcollection.view", _("View over-collections tax reported for refund")
    OVERCOLLECTION_REQUEST = "overcollection.request", _("Report an over-collection for refund")
    FUND_PLAN_VIEW = "fund_plan.view", _("View over-collection refunds and fund-usage plans")
    FUND_PLAN_PREPARE = "fund_plan.prepare", _("Prepare, discard and submit fund-usage plans")
    FUND_PLAN_PAY_OUT = "fund_plan.pay_out", _("Record the payout of a funded fund-usage plan")
    FINANCE_PLAN_VIEW = "finance_plan.view", _("View fund-usage plans received by finance")
    FINANCE_PLAN_DECIDE = "finance_plan.decide", _("Approve or reject fund-usage plans")
    FINANCE_PLAN_TRANSFER = "finance_plan.transfer", _("Record the transfer of an approved plan's funds")
    FINANCE_REPORT_VIEW = (
        "finance_report.view",
        _("View finance's reports: subsidy funds, transfers per month"),
    )
    BACKPAY_VIEW = "backpayment.view", _("View back-payment applications")
    BACKPAY_APPLY = "backpayment.apply", _("Apply for a back-payment, and withdraw one's own application")
    BACKPAY_REVIEW = "backpayment.review", _("Approve or reject back-payment applications")


_EVERYONE = frozenset({Action.PORTAL_USE, Action.REGION_VIEW, Action.AGENCY_VIEW})

_CLERK = _EVERYONE | {
    Action.ENROLLMENT_VIEW,
    Action.ENROLLMENT_REGISTER,
    Action.PERSON_FULL_VIEW,
    Action.COVERAGE_VIEW,
}

# Village clerks take refund applications at the village office; insurance staff take them at
# the county counter, decide them (never their own: four-eyes, in refunds.workflow) and pay out.
_REFUND_APPLICANT = frozenset({Action.REFUND_VIEW, Action.REFUND_APPLY})
# Back-payments (补缴) likewise: applied for at the village or the county, decided by insurance.
_BACKPAY_APPLICANT = frozenset({Action.BACKPAY_VIEW, Action.BACKPAY_APPLY})

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    # Clerks register the people in front of them, so they see their own area's full identifiers.
    # A village's clerk also chases the village's unenrolled and unpaid (催缴); a school's clerk, whose
    # agency sits at the county, does not get the county's household register.
    Role.VILLAGE_CLERK: _CLERK | _REFUND_APPLICANT | _BACKPAY_APPLICANT | {Action.REPORT_VIEW},
    Role.SCHOOL_CLERK: _CLERK,
    Role.INSURANCE_STAFF: _EVERYONE
    | {
        Action.USER_VIEW,
        Action.AUDIT_VIEW,
        Action.ENROLLMENT_VIEW,
        Action.ENROLLMENT_REGISTER,
        Action.ENROLLMENT_REVIEW,
        Action.ENROLLMENT_CHANGE,
        Action.ENROLLMENT_IMPORT,
        Action.PERSON_FULL_VIEW,
        # The county's office corrects a mistyped identifier (tax follows by a message); a clerk
        # corrects one only before the person is assessed (services.person_update).
        Action.PERSON_IDENTIFIER_CORRECT,
        Action.POLICY_VIEW,
        Action.ASSESSMENT_VIEW,
        Action.ASSESSMENT_RUN,
        Action.COVERAGE_VIEW,
        Action.REPORT_VIEW,
        Action.SUBSIDY_TOTALS,
        *_REFUND_APPLICANT,
        Action.REFUND_REVIEW,
        Action.REFUND_PAY_OUT,
        Action.FUND_PLAN_VIEW,
        Action.FUND_PLAN_PREPARE,
        Action.FUND_PLAN_PAY_OUT,
        *_BACKPAY_APPLICANT,
        Action.BACKPAY_REVIEW,
    },
    # Tax collects by the rules, so it reads them; it never sees insurance's records. It reports
    # the over-collections it caused and follows them through insurance's pushes.
    Role.TAX_STAFF: _EVERYONE
    | {
        Action.POLICY_VIEW,
        Action.COLLECTION_VIEW,
        Action.COLLECTION_RECORD,
        Action.COLLECTION_PROGRESS_VIEW,
        Action.OVERCOLLECTION_VIEW,
        Action.OVERCOLLECTION_REQUEST,
    },
    # Finance funds the subsidies (it sees their totals) and the over-collection refunds (it
    # approves insurance's fund-usage plans and records the transfer). Its own actions: finance
    # never reads insurance's plan tables, only the plans it received.
    Role.FINANCE_STAFF: _EVERYONE
    | {
        Action.POLICY_VIEW,
        Action.FINANCE_PLAN_VIEW,
        Action.FINANCE_PLAN_DECIDE,
        Action.FINANCE_PLAN_TRANSFER,
        Action.FINANCE_REPORT_VIEW,
    },
    Role.ADMINISTRATOR: _EVERYONE
    | {
        Action.REGION_MANAGE,
        Action.AGENCY_MANAGE,
        Action.USER_VIEW,
        Action.USER_MANAGE,
        Action.AUDIT_VIEW,
        Action.SYSTEM_MONITOR,
        # Connecting other systems to the API is the administrators' job; clerks and counter
        # staff work in the portal's pages and have no use for the (English) schema pages.
        Action.API_DOCS_VIEW,
        Action.ENROLLMENT_VIEW,
        Action.ENROLLMENT_IMPORT,
        Action.SHARING_MONITOR,
        Action.SHARING_REDRIVE,
        Action.POLICY_VIEW,
        Action.POLICY_MANAGE,
        Action.ASSESSMENT_VIEW,
        Action.COVERAGE_VIEW,
        Action.REPORT_VIEW,
        Action.SUBSIDY_ROSTER_IMPORT,
        Action.SUBSIDY_TOTALS,
        # The reports of tax and finance, read from their own summary tables (never their ledgers).
        Action.COLLECTION_PROGRESS_VIEW,
        Action.FINANCE_REPORT_VIEW,
    },
}


def actions_for(role: str | None) -> frozenset[str]:
    return ROLE_ACTIONS.get(role or "", frozenset())
