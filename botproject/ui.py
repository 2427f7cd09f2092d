"""Discord UI of the core: the configuration summary and the /setup wizard's selects."""

from __future__ import annotations

import re

import discord
from django.utils.translation import gettext as _

from . import registry, services
from .bot import pages
from .bot.checks import require
from .bot.db import db_call
from .bot.preflight import require_manageable_role, require_safe_role
from .bot.ui import SafeDynamicItem
from .selectors import Access, ConfigSnapshot

ROLE_FIELDS = ("staff", "helper", "admin", "verified")


def _channel_types(setting: registry.ChannelSetting) -> list[discord.ChannelType]:
    return [getattr(discord.ChannelType, name) for name in setting.types]


def _labels() -> dict[str, str]:
    return {
        "staff": _("Staff role"),
        "helper": _("Helper role"),
        "admin": _("Admin roles"),
        "verified": _("Verified role"),
        # The log channel and the channels the apps registered (botproject.registry).
        **{c.kind: str(c.label) for c in registry.channels()},
        "language": _("Language"),
    }


def _values(config: ConfigSnapshot) -> dict[str, str | None]:
    def role(role_id: int | None) -> str | None:
        return f"<@&{role_id}>" if role_id else None

    def channel(channel_id: int | None) -> str | None:
        return f"<#{channel_id}>" if channel_id else None

    return {
        "staff": role(config.staff_role_id),
        "helper": role(config.helper_role_id),
        # Any number of admin roles: as many as fit in a field, then "and N more".
        "admin": pages.join_lines([f"<@&{r}>" for r in config.admin_role_ids], pages.FIELD_VALUE - 2, sep=", ")
        if config.admin_role_ids else None,
        "verified": role(config.verified_role_id),
        **{c.kind: channel(getattr(config, c.field)) for c in registry.channels()},
        "language": {"en": _("English"), "vi": _("Vietnamese")}.get(config.language, config.language),
    }


def config_embed(config: ConfigSnapshot, *, title: str | None = None) -> discord.Embed:
    """Show every setting, marking what is set and what is missing."""
    labels, values = _labels(), _values(config)
    missing = [labels[k] for k, v in values.items() if v is None]
    embed = discord.Embed(
        title=title or _("Server configuration"),
        colour=discord.Colour.green() if not missing else discord.Colour.orange(),
    )
    for key, label in labels.items():
        value = values[key]
        embed.add_field(name=label, value=f"✅ {value}" if value else "❌ " + _("not set"), inline=True)
    embed.set_footer(
        text=_("Missing: %(list)s") % {"list": ", ".join(missing)} if missing else _("Everything is set.")
    )
    return pages.fit(embed)


class SetupRoleSelect(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.RoleSelect],
                      template=r"setup:role:(?P<field>staff|helper|admin|verified)"):
    """Pick the staff, helper, verified role or the admin roles; saves at once."""

    def __init__(self, field: str, config: ConfigSnapshot | None = None) -> None:
        current = []
        if config is not None:
            ids = config.admin_role_ids if field == "admin" else [getattr(config, f"{field}_role_id")]
            current = [discord.Object(id=i, type=discord.Role) for i in ids if i]
        super().__init__(
            discord.ui.RoleSelect(
                custom_id=f"setup:role:{field}",
                placeholder=_labels()[field],
                min_values=0 if field == "admin" else 1,
                max_values=10 if field == "admin" else 1,
                default_values=current,
            )
        )
        self.field = field

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.RoleSelect, match: re.Match[str]):
        return cls(match["field"])

    async def run(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.ADMIN)
        roles = self.item.values
        if self.field == "admin":
            config = await db_call(services.config_set_admin_roles)(
                guild_id=interaction.guild_id, role_ids=[r.id for r in roles], actor_id=interaction.user.id
            )
        else:
            if self.field in ("helper", "verified"):
                require_manageable_role(interaction.guild, roles[0])  # the bot hands these roles out
                await require_safe_role(interaction, roles[0], kind=self.field)
            config = await db_call(services.config_set_role)(
                guild_id=interaction.guild_id, kind=self.field, role_id=roles[0].id, actor_id=interaction.user.id
            )
        await show_setup_page(interaction, config, page=1)


# Only the channels registered when the Discord side loads (after every app's ready()) match.
_CHANNEL_KINDS = "|".join(re.escape(c.kind) for c in registry.channels())


class SetupChannelSelect(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.ChannelSelect],
                         template=rf"setup:channel:(?P<field>{_CHANNEL_KINDS})"):
    """Pick one of the configurable channels (the log channel, those the apps registered); saves at once."""

    def __init__(self, field: str, config: ConfigSnapshot | None = None) -> None:
        setting = registry.channel(field)
        assert setting is not None, field  # the template matches registered kinds only
        current_id = getattr(config, setting.field) if config is not None else None
        super().__init__(
            discord.ui.ChannelSelect(
                custom_id=f"setup:channel:{field}",
                placeholder=_labels()[field],
                channel_types=_channel_types(setting),
                default_values=[discord.Object(id=current_id, type=discord.abc.GuildChannel)] if current_id else [],
            )
        )
        self.field = field

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.ChannelSelect,
                             match: re.Match[str]):
        return cls(match["field"])

    async def run(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.ADMIN)
        channel = self.item.values[0]
        config = await db_call(services.config_set_channel)(
            guild_id=interaction.guild_id, kind=self.field, channel_id=channel.id, channel_type=channel.type.name,
            actor_id=interaction.user.id,
        )
        await show_setup_page(interaction, config, page=2)


class SetupLanguageSelect(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Select], template=r"setup:language"):
    """Pick the guild's default language; saves at once."""

    def __init__(self, config: ConfigSnapshot | None = None) -> None:
        current = config.language if config else None
        super().__init__(
            discord.ui.Select(
                custom_id="setup:language",
                placeholder=_labels()["language"],
                options=[
                    discord.SelectOption(label="English", value="en", default=current == "en"),
                    discord.SelectOption(label="Tiếng Việt", value="vi", default=current == "vi"),
                ],
            )
        )

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str]):
        return cls()

    async def run(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.ADMIN)
        config = await db_call(services.config_set_language)(
            guild_id=interaction.guild_id, language=self.item.values[0], actor_id=interaction.user.id
        )
        await show_setup_page(interaction, config, page=2)


class SetupPageButton(SafeDynamicItem, discord.ui.DynamicItem[discord.ui.Button],
                      template=r"setup:page:(?P<page>[12])"):
    """Switch between the roles page and the channels page of the wizard."""

    def __init__(self, page: int) -> None:
        label = _("Channels and language →") if page == 2 else _("← Roles")
        super().__init__(discord.ui.Button(label=label, custom_id=f"setup:page:{page}",
                                           style=discord.ButtonStyle.secondary))
        self.page = page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["page"]))

    async def run(self, interaction: discord.Interaction) -> None:
        access = await require(interaction, Access.ADMIN)
        await show_setup_page(interaction, access.config, page=self.page)


DYNAMIC_ITEMS = (SetupRoleSelect, SetupChannelSelect, SetupLanguageSelect, SetupPageButton)


def setup_embed(config: ConfigSnapshot) -> discord.Embed:
    """The wizard's summary: what is set, what is missing, and how to use it."""
    embed = config_embed(config, title=_("Server setup"))
    embed.description = _("Pick each setting below; every choice is saved at once.")
    return embed


def setup_view(config: ConfigSnapshot, page: int) -> discord.ui.View:
    """Build one page of the wizard with the current values preselected."""
    view = discord.ui.View(timeout=None)
    if page == 1:
        for field in ROLE_FIELDS:
            view.add_item(SetupRoleSelect(field, config))
        view.add_item(SetupPageButton(2))
    else:
        for setting in registry.channels():
            view.add_item(SetupChannelSelect(setting.kind, config))
        view.add_item(SetupLanguageSelect(config))
        view.add_item(SetupPageButton(1))
    return view


async def show_setup_page(interaction: discord.Interaction, config: ConfigSnapshot, *, page: int) -> None:
    """Replace the wizard message with the given page and the current configuration."""
    interaction.client.remember_config(config)  # type: ignore[attr-defined]
    await interaction.response.edit_message(embed=setup_embed(config), view=setup_view(config, page))
