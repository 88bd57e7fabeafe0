from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    name = "collection"
    verbose_name = _("Collection (tax bureau)")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        from .exports import register_exports

        register_exports()

        section = _("Collection")
        for label, url_name, action in (
            (_("Payment counter"), "collection:counter", Action.COLLECTION_VIEW),
            (_("Collective payments"), "collection:collective", Action.COLLECTION_VIEW),
            (_("Bank debit files"), "collection:bank", Action.COLLECTION_VIEW),
            (_("Daily collection report"), "collection:daily", Action.COLLECTION_VIEW),
            (_("Collection progress"), "collection:progress", Action.COLLECTION_PROGRESS_VIEW),
            (_("Refund details"), "collection:refunds", Action.COLLECTION_VIEW),
        ):
            register(NavEntry(section, label, url_name, action, weight=10))
        register(
            NavEntry(
                section,
                _("Over-collection refunds"),
                "collection:overcollections",
                Action.OVERCOLLECTION_VIEW,
                weight=10,
            )
        )
