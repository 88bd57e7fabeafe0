from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refunds (medical insurance bureau)")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register, register_home_alert
        from accounts.roles import Action

        section = _("Refunds")
        register(NavEntry(section, _("Refund applications"), "refunds:list", Action.REFUND_VIEW, weight=15))
        register(NavEntry(section, _("Apply for a refund"), "refunds:apply", Action.REFUND_APPLY, weight=15))
        register(
            NavEntry(
                section,
                _("Over-collection refunds"),
                "refunds:overcollections",
                Action.FUND_PLAN_VIEW,
                weight=15,
            )
        )
        register(NavEntry(section, _("Fund-usage plans"), "refunds:plans", Action.FUND_PLAN_VIEW, weight=15))
        backpay = _("Back-payments")
        register(
            NavEntry(
                backpay,
                _("Back-payment applications"),
                "refunds:backpay-list",
                Action.BACKPAY_VIEW,
                weight=16,
            )
        )
        register(
            NavEntry(
                backpay,
                _("Apply for a back-payment"),
                "refunds:backpay-apply",
                Action.BACKPAY_APPLY,
                weight=16,
            )
        )
        register_home_alert(overdue_alert)


def overdue_alert(scope):  # type: ignore[no-untyped-def]
    """Overdue refund applications in the viewer's area, for the home page."""
    from django.urls import reverse
    from django.utils.translation import ngettext

    from accounts.navigation import HomeAlert

    from .selectors import refund_overdue_count

    count = refund_overdue_count(scope=scope)
    if not count:
        return None
    return HomeAlert(
        label=ngettext(
            "refund application is overdue: not decided or not paid out by its deadline",
            "refund applications are overdue: not decided or not paid out by their deadline",
            count,
        ),
        count=count,
        url=f"{reverse('refunds:list')}?overdue=1",
        testid="overdue-refunds",
    )
