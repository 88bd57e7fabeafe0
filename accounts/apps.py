from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """Regions, agencies, users and roles: the reference data every bureau shares."""

    name = "accounts"
    verbose_name = _("Regions, agencies and users")

    def ready(self) -> None:
        from . import login_guard  # noqa: F401 - connects the per-address count of failed sign-ins
