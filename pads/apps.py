"""App config for pads: training and tryout sessions on pads 1-9."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PadsConfig(AppConfig):
    """Pads: training and tryout sessions on pads 1-9."""

    name = "pads"
    verbose_name = _("Pads")
