"""Translations: complete Vietnamese catalogs, compiled catalogs in step, localized command names."""

import asyncio
import gettext
import re
from pathlib import Path

import polib
import pytest
from discord import Locale
from django.conf import settings
from django.utils import translation

from botproject.bot.client import CommunityBot
from botproject.bot.i18n import GettextTranslator, language_for
from botproject.exceptions import InvalidConfigValue

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted(ROOT.glob("*/locale/vi/LC_MESSAGES/django.po"))
# Discord's rule for localized command and option names.
NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def test_there_is_a_vietnamese_catalog():
    assert CATALOGS, "no */locale/vi/LC_MESSAGES/django.po"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalog_is_complete_and_compiled(path):
    po = polib.pofile(str(path))
    untranslated = [e.msgid for e in po
                    if not e.obsolete and not (e.msgstr_plural.get(0) if e.msgid_plural else e.msgstr)]
    fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]
    assert untranslated == [] and fuzzy == []
    with open(path.with_suffix(".mo"), "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in po:
        if entry.msgid_plural:
            assert compiled.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0], entry.msgid
        elif entry.msgctxt:
            assert compiled.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr, entry.msgid
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, f".mo is stale for {entry.msgid!r}"


def test_placeholders_survive_translation():
    for path in CATALOGS:
        for entry in polib.pofile(str(path)):
            translated = entry.msgstr_plural.get(0, "") if entry.msgid_plural else entry.msgstr
            # Vietnamese has one plural form, used for every count: it needs the plural's placeholders (msgfmt
            # refuses a msgstr[0] without them, and compilemessages with it).
            source = entry.msgid_plural or entry.msgid
            assert sorted(re.findall(r"%\(\w+\)", source)) == sorted(re.findall(r"%\(\w+\)", translated)), entry.msgid


@pytest.mark.django_db
def test_every_command_name_option_and_description_has_a_vietnamese_localization():
    async def payloads():
        # `async with` initialises the client without logging in, so the cogs' loops wait for a ready
        # event instead of failing (tasks that die unobserved are logged, with a traceback, whenever the
        # garbage collector happens to run; inside an ast.parse that trips CPython 3.11.7's
        # python/cpython#106905 and breaks every later parse in the process).
        async with CommunityBot(extensions=settings.DISCORD_EXTENSIONS, sync_guilds=[]) as bot:
            await bot.tree.set_translator(GettextTranslator())
            for name in bot.extension_names:
                await bot.load_extension(name)
            result = [await c.get_translated_payload(bot.tree, bot.tree.translator) for c in bot.tree.get_commands()]
            for name in bot.extension_names:
                await bot.unload_extension(name)
        return result

    def walk(node, path):
        assert "vi" in node.get("name_localizations", {}), f"{path}: name has no vi localization"
        assert NAME_RE.match(node["name_localizations"]["vi"]), node["name_localizations"]["vi"]
        assert node["name_localizations"]["vi"] == node["name_localizations"]["vi"].lower()
        if node.get("description"):
            assert "vi" in node.get("description_localizations", {}), f"{path}: description has no vi localization"
        for option in node.get("options", []):
            walk(option, f"{path} {option['name']}")

    commands = asyncio.run(payloads())
    assert {c["name"] for c in commands} >= {"status", "setup", "config"}
    for command in commands:
        walk(command, command["name"])


def test_language_choice_follows_the_members_locale_then_the_guild():
    assert language_for(Locale.vietnamese, "en") == "vi"
    assert language_for(Locale.american_english, "vi") == "en"
    assert language_for(Locale.british_english, "vi") == "en"
    assert language_for(Locale.french, "vi") == "vi"
    assert language_for(Locale.french, None) == settings.LANGUAGE_CODE


def test_domain_errors_render_in_the_active_language():
    error = InvalidConfigValue()
    with translation.override("vi"):
        assert error.user_message() == "Không thể dùng giá trị đó ở đây."
    with translation.override("en"):
        assert error.user_message() == "That value cannot be used here."


def test_a_moment_in_a_refusal_is_a_discord_timestamp_at_the_edge_and_local_time_elsewhere(settings):
    from datetime import UTC, datetime

    from botproject.bot.errors import message_for
    from tickets.exceptions import CloseRequestPending

    settings.TIME_ZONE = "Asia/Ho_Chi_Minh"
    error = CloseRequestPending(when=datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    with translation.override("en"):
        assert message_for(error) == ("A close request already waits for the opener's answer (it closes the "
                                      "ticket at <t:1796637600:f>).", True)
        assert error.user_message().endswith("(it closes the ticket at Dec. 7, 2026, 5 p.m.).")
