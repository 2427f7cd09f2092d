"""Languages on the Discord side: the member's locale, and command localizations from gettext."""

from __future__ import annotations

import discord
from discord import app_commands
from django.conf import settings
from django.utils import translation

SUPPORTED = ("en", "vi")
# pgettext context for names Discord shows as commands, groups and options (lowercase, no spaces).
NAME_CONTEXT = "discord command name"
_NAME_LOCATIONS = {
    app_commands.TranslationContextLocation.command_name,
    app_commands.TranslationContextLocation.group_name,
    app_commands.TranslationContextLocation.parameter_name,
}


def is_supported(locale: discord.Locale | str | None) -> bool:
    """True when the locale is one we answer in (any English variant, or Vietnamese)."""
    if locale is None:
        return False
    value = locale.value if isinstance(locale, discord.Locale) else str(locale)
    return value.split("-")[0].lower() in SUPPORTED


def language_for(locale: discord.Locale | str | None, fallback: str | None = None) -> str:
    """Pick en or vi from a Discord locale ('vi', 'en-US', ...), else the fallback, else the site default."""
    if locale is not None:
        value = locale.value if isinstance(locale, discord.Locale) else str(locale)
        base = value.split("-")[0].lower()
        if base in SUPPORTED:
            return base
    if fallback in SUPPORTED:
        return fallback
    return settings.LANGUAGE_CODE if settings.LANGUAGE_CODE in SUPPORTED else "en"


class GettextTranslator(app_commands.Translator):
    """Localize command names, descriptions and options from the Django catalogs."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContext
    ) -> str | None:
        if not is_supported(locale) or language_for(locale) == "en":
            return None  # source strings are English
        with translation.override(language_for(locale)):
            if context.location in _NAME_LOCATIONS:
                text = translation.pgettext(NAME_CONTEXT, string.message)
            else:
                text = translation.gettext(string.message)
        return text if text != string.message else None


async def activate_for(interaction: discord.Interaction) -> str:
    """Make the member's language active for the rest of this interaction's task, and return it."""
    language = await interaction.client.language_for(interaction)  # type: ignore[attr-defined]
    translation.activate(language)
    return language
