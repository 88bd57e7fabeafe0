from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    name = "collection"
    verbose_name = _("Collection (tax bureau)")

    def ready(self) -> None:
        from accounts.navigation import NavEntry, register
        from accounts.roles import Action

        section = _("Collection")
        for label, url_name in (
            (_("Payment counter"), "collection:counter"),
            (_("Collective payments"), "collection:collective"),
            (_("Bank debit files"), "collection:bank"),
            (_("Daily collection report"), "collection:daily"),
            (_("Collection progress"), "collection:progress"),
            (_("Refund details"), "collection:refunds"),
        ):
            register(NavEntry(section, label, url_name, Action.COLLECTION_VIEW, weight=10))
        register(
            NavEntry(
                section,
                _("Over-collection refunds"),
                "collection:overcollections",
                Action.OVERCOLLECTION_VIEW,
                weight=10,
            )
        )
