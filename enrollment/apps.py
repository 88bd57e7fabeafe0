from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = _("Enrollment")

    def ready(self) -> None:
        from accounts.agency_panels import register_agency_panel
        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        from .agency_panels import school_panel, village_panel
        from .exports import register_exports

        register_exports()
        register_agency_panel(village_panel)
        register_agency_panel(school_panel)

        section = _("Enrollment")
        for label, url_name, action in (
            (_("Registration"), "enrollment:workspace", Action.ENROLLMENT_REGISTER),
            (_("Registration applications"), "enrollment:application-queue", Action.ENROLLMENT_REVIEW),
            (_("Transfer in (转移接续)"), "enrollment:transfer-in", Action.ENROLLMENT_CHANGE),
            (_("Duplicate enrollments"), "enrollment:duplicate-queue", Action.ENROLLMENT_CHANGE),
            (_("Employee-insurance list"), "enrollment:employee-import", Action.ENROLLMENT_IMPORT),
            (_("Household import"), "enrollment:household-import", Action.ENROLLMENT_IMPORT),
            (_("Household register"), "enrollment:register-import", Action.ENROLLMENT_IMPORT),
            (_("Publicity lists"), "enrollment:publicity-list", Action.ENROLLMENT_VIEW),
        ):
            register(NavEntry(section, label, url_name, action, weight=10))

        report_section = _("Coverage and follow-up")
        for label, url_name, action in (
            (_("Coverage"), "enrollment:report-coverage", Action.REPORT_VIEW),
            (_("Not enrolled"), "enrollment:report-unenrolled", Action.REPORT_VIEW),
            (_("Unpaid (催缴)"), "enrollment:report-unpaid", Action.REPORT_VIEW),
            (_("Subsidised, not enrolled"), "subsidies:not-enrolled", Action.REPORT_VIEW),
        ):
            register(NavEntry(report_section, label, url_name, action, weight=15))

        rulebook = _("Rulebook and assessment")
        for label, url_name, action in (
            (_("Coverage check"), "enrollment:coverage-check", Action.COVERAGE_VIEW),
            (_("Yearly assessment"), "enrollment:assessment-runs", Action.ASSESSMENT_VIEW),
            (_("Rulebook"), "enrollment:policy-list", Action.POLICY_VIEW),
        ):
            register(NavEntry(rulebook, label, url_name, action, weight=20))
