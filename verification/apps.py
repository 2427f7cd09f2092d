"""App config for verification: linking Discord members to Roblox accounts."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _verified_members(guild) -> int:
    from .selectors import verified_members_count

    return verified_members_count(guild_id=guild.discord_id)


class VerificationConfig(AppConfig):
    """Verification: linking Discord members to Roblox accounts."""

    name = "verification"
    verbose_name = _("Verification")

    def ready(self) -> None:
        from botproject import registry

        from .selectors import verified_members_count

        # What the core shows of this app (botproject.registry): its switch, settings and card.
        registry.register_module("verification", _("Verification"), "verification_enabled")
        registry.register_settings("verification", _("Verification"), ("verification_set_nickname",
                                                                       "verification_allow_shared_accounts"))
        registry.register_card("verified_members", _("Verified members"), _verified_members)
        registry.register_metric_gauge("verified_members", "Members linked to a Roblox account now, in all guilds.",
                                       verified_members_count)
