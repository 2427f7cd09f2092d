"""App config for verification: linking Discord members to Roblox accounts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VerificationConfig(AppConfig):
    """Verification: linking Discord members to Roblox accounts."""

    name = "verification"
    verbose_name = _("Verification")
