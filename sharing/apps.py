"""The information-sharing platform: the only way one bureau tells another anything."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Information-sharing platform")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        from .exports import register_exports

        register_exports()

        # Receivers keep their handlers in <app>/handlers.py; sharing never imports them by name.
        autodiscover_modules("handlers")
        register(
            NavEntry(
                _("Sharing platform"),
                _("Message monitor"),
                "sharing:monitor",
                Action.SHARING_MONITOR,
                weight=80,
            )
        )
        register(
            NavEntry(
                _("Sharing platform"),
                _("Dead letters"),
                "sharing:dead-letters",
                Action.SHARING_MONITOR,
                weight=80,
            )
        )
        register(
            NavEntry(
                _("Sharing platform"),
                _("Reconciliation"),
                "sharing:reconciliation-list",
                Action.SHARING_MONITOR,
                weight=80,
            )
        )
