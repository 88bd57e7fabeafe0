from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    name = "collection"
    verbose_name = _("Collection (tax bureau)")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        register(
            NavEntry(
                _("Collection"), _("Payment counter"), "collection:counter", Action.COLLECTION_VIEW, weight=10
            )
        )
