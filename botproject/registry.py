"""What the apps show through the core, registered by each app from its AppConfig.ready().

The core knows no app by name: an app adds its module switch, the channels it needs configured, its
settings, overview cards, /helper stats figures, metrics gauges (GET /metrics) and legacy-file converters
here, and the core's services, selectors, admin, metrics, convert_legacy and Discord surface read them
back. Registering the same key again replaces it and keeps its place (idempotent, so a test may re-register).
Apps register in INSTALLED_APPS order, which is the order everything is shown in.

    from botproject import registry
    registry.register_module("pads", _("Pads"), "pads_enabled")
    registry.register_channel("pads", _("Pads channel"), _("pads channel"), "pads_channel_id", ("text", "news"))
    registry.register_settings("limits", _("Limits"), ("pads_max_duration_minutes",))
    registry.register_card("active_pads", _("Active pads"), selectors.active_sessions_count)
    registry.register_helper_figure(_("Tickets claimed"), selectors.helper_claims)
    registry.register_metric_gauge("active_pad_sessions", "Pad sessions running now, in all guilds.", total_active)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Module:
    """A module a guild can switch on or off (/config module, the admin): its name, label and GuildConfig field."""

    name: str
    label: Any
    enabled_field: str


@dataclass(frozen=True)
class ChannelSetting:
    """A channel a guild configures (/config channel, the /setup wizard): where it is kept and which types fit.

    `types` are Discord channel type names ("text", "news", "category"); `label` heads a select, `noun` is
    the same in the middle of a sentence ("the pads channel must be a text channel").
    """

    kind: str
    label: Any
    noun: Any
    field: str
    types: tuple[str, ...]


@dataclass(frozen=True)
class Card:
    """An overview card on the admin's landing page: a title and how to measure it for one guild.

    provider(guild) returns the value to show, or None when nothing was measured (the card then says
    `empty_text` instead of showing a zero nobody measured).
    """

    key: str
    title: Any
    provider: Callable[[Any], Any]
    empty_text: Any


@dataclass(frozen=True)
class HelperFigure:
    """A figure /helper stats shows: provider(guild_id, user_id) -> a number or a short text."""

    label: Any
    provider: Callable[[int, int], int | str]


@dataclass(frozen=True)
class MetricGauge:
    """A gauge GET /metrics exposes as `discordbot_<name>`: provider() -> a number, over all guilds.

    The provider runs at every scrape: one cheap statement (a count on an indexed column), no Discord call.
    `help` is the metric's HELP text (English, as Prometheus shows it; not translated).
    """

    name: str
    help: str
    provider: Callable[[], float]


@dataclass(frozen=True)
class LegacyFile:
    """An old bot's file an app converts: `manage.py convert_legacy <option> FILE`.

    `role` names the file in the report and its backup (and is the option's argparse dest);
    count(source) says how many records it holds (the progress bar's total).
    """

    role: str
    option: str
    help: str
    count: Callable[[Any], int]


@dataclass
class LegacyPart:
    """What one app's converter brings to the fixture.

    `payload` is what the fixture's checksum covers; objects(key) are the fixture rows (given that checksum);
    `figures` go to the report and the import's record.
    """

    payload: list
    figures: dict[str, int]
    objects: Callable[[str], list[dict]]


@dataclass(frozen=True)
class LegacyConverter:
    """An app's part of convert_legacy: its files, and convert(sources, guild_id, report, bar, now) -> LegacyPart.

    `sources` holds only the app's files that were given (role -> Source); with none it returns an empty part.
    """

    app: str
    files: tuple[LegacyFile, ...]
    convert: Callable[..., LegacyPart]


_modules: dict[str, Module] = {}
_channels: dict[str, ChannelSetting] = {}
_settings: dict[str, tuple[Any, list[str]]] = {}
cards: dict[str, Card] = {}
_figures: dict[Any, HelperFigure] = {}
_legacy: dict[str, LegacyConverter] = {}
_legacy_record: list[Callable[..., dict]] = []
_metric_gauges: dict[str, MetricGauge] = {}


def register_module(name: str, label: Any, enabled_field: str) -> None:
    """Add (or replace) a module switch kept in the GuildConfig field `enabled_field`."""
    _modules[name] = Module(name, label, enabled_field)


def modules() -> list[Module]:
    """The registered modules, in registration order."""
    return list(_modules.values())


def module(name: str) -> Module | None:
    """The module called `name`, or None."""
    return _modules.get(name)


def register_channel(kind: str, label: Any, noun: Any, field: str, types: tuple[str, ...]) -> None:
    """Add (or replace) a configurable channel kept in the GuildConfig field `field`."""
    _channels[kind] = ChannelSetting(kind, label, noun, field, tuple(types))


def channels() -> list[ChannelSetting]:
    """The configurable channels, in registration order."""
    return list(_channels.values())


def channel(kind: str) -> ChannelSetting | None:
    """The configurable channel `kind`, or None."""
    return _channels.get(kind)


def register_settings(key: str, title: Any, fields: tuple[str, ...]) -> None:
    """Show the GuildConfig `fields` under the section `key` (titled `title`) of the admin's configuration form.

    Apps that register into the same key share the section (points, tickets and pads all add to "limits").
    """
    _title, listed = _settings.setdefault(key, (title, []))
    listed.extend(name for name in fields if name not in listed)


def settings_sections() -> list[tuple[Any, tuple[str, ...]]]:
    """(section title, fields) of the apps' settings, in registration order."""
    return [(label, tuple(fields)) for label, fields in _settings.values()]


def register_card(key: str, title: Any, provider: Callable[[Any], Any], *, empty_text: Any = None) -> None:
    """Add or replace the overview card `key`; provider(guild) returns the value, or None when not measured."""
    cards[key] = Card(key, title, provider, _("Not measured yet.") if empty_text is None else empty_text)


def unregister_card(key: str) -> None:
    """Remove a card (tests, or an app switched off)."""
    cards.pop(key, None)


def registered_cards() -> list[Card]:
    """The cards in the order they were first registered."""
    return list(cards.values())


def register_helper_figure(label: Any, provider: Callable[[int, int], int | str]) -> None:
    """Add a /helper stats figure (once per provider, so ready() may run again)."""
    _figures[provider] = HelperFigure(label, provider)


def helper_figures() -> list[HelperFigure]:
    """The registered /helper stats figures, in registration order."""
    return list(_figures.values())


def register_legacy_source(app: str, files: tuple[LegacyFile, ...], convert: Callable[..., LegacyPart]) -> None:
    """Add (or replace) an app's converter of the old bots' files (manage.py convert_legacy)."""
    _legacy[app] = LegacyConverter(app, tuple(files), convert)


def legacy_sources() -> list[LegacyConverter]:
    """The registered converters, in registration order (the order their rows take in the fixture)."""
    return list(_legacy.values())


def register_legacy_record(header: Callable[..., dict]) -> None:
    """Name the app row that records a legacy import: header(guild_id, key, *, sources, figures, converted_at)."""
    _legacy_record[:] = [header]


def legacy_record() -> Callable[..., dict] | None:
    """The registered import record's builder, or None when no app keeps one."""
    return _legacy_record[0] if _legacy_record else None


def register_metric_gauge(name: str, help: str, provider: Callable[[], float]) -> None:  # noqa: A002 - HELP
    """Add (or replace) the gauge `discordbot_<name>` of GET /metrics, measured by provider() at each scrape."""
    _metric_gauges[name] = MetricGauge(name, help, provider)


def metric_gauges() -> list[MetricGauge]:
    """The registered metrics gauges, in registration order."""
    return list(_metric_gauges.values())
