from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinanceConfig(AppConfig):
    name = "refunds.finance"
    label = "finance"
    verbose_name = _("Fund-usage plans (finance bureau)")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register, register_home_alert
        from accounts.roles import Action

        register(
            NavEntry(
                _("Finance"), _("Fund-usage plans"), "finance:plans", Action.FINANCE_PLAN_VIEW, weight=20
            )
        )
        for label, url_name in (
            (_("Subsidy funds"), "finance:subsidy-funds"),
            (_("Transfers per month"), "finance:transfers"),
        ):
            register(NavEntry(_("Finance"), label, url_name, Action.FINANCE_REPORT_VIEW, weight=20))
        register_home_alert(waiting_alert)


def waiting_alert(scope):  # type: ignore[no-untyped-def]
    """Plans waiting for finance's decision or transfer, for the finance staff's home page."""
    from django.urls import reverse
    from django.utils.translation import ngettext

    from accounts.navigation import HomeAlert

    from .selectors import plans_waiting_count

    count = plans_waiting_count(scope=scope)
    if not count:
        return None
    return HomeAlert(
        label=ngettext(
            "fund-usage plan waits for finance's decision or transfer",
            "fund-usage plans wait for finance's decision or transfer",
            count,
        ),
        count=count,
        url=reverse("finance:plans"),
        testid="waiting-fund-plans",
    )
