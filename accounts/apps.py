from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """Regions, agencies, users and roles: the reference data every bureau shares."""

    name = "accounts"
    verbose_name = _("Regions, agencies and users")
