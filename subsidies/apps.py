from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubsidiesConfig(AppConfig):
    name = "subsidies"
    verbose_name = _("Subsidies")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        from .exports import register_exports

        register_exports()

        section = _("Subsidies")
        for label, url_name, action in (
            (_("Subsidy rosters"), "subsidies:roster-upload", Action.SUBSIDY_ROSTER_IMPORT),
            (_("Subsidy categories"), "subsidies:categories", Action.POLICY_VIEW),
            (_("Subsidy totals"), "subsidies:totals", Action.SUBSIDY_TOTALS),
        ):
            register(NavEntry(section, label, url_name, action, weight=25))
