"""Core slash commands (/status, /setup, /config) and guild lifecycle listeners."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from .. import registry, selectors, services, ui
from ..bot.checks import module_label, require
from ..bot.db import db_call
from ..bot.preflight import require_manageable_role, require_safe_role
from ..bot.status import runtime
from ..exceptions import DatabaseUnavailable, InvalidConfigValue
from ..selectors import Access

log = logging.getLogger(__name__)

# Command and option names for the translators (Discord shows them localized); literal for makemessages.
NAMES = (
    pgettext_lazy("discord command name", "status"),
    pgettext_lazy("discord command name", "setup"),
    pgettext_lazy("discord command name", "config"),
    pgettext_lazy("discord command name", "show"),
    pgettext_lazy("discord command name", "role"),
    pgettext_lazy("discord command name", "channel"),
    pgettext_lazy("discord command name", "language"),
    pgettext_lazy("discord command name", "kind"),
    pgettext_lazy("discord command name", "value"),
    pgettext_lazy("discord command name", "module"),
    pgettext_lazy("discord command name", "name"),
    pgettext_lazy("discord command name", "enabled"),
)


def _size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return _("unknown")
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.1f} {unit}" if unit != "B" else f"{num_bytes} B"
        num_bytes /= 1024
    return ""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return _("%(d)dd %(h)dh %(m)dm %(s)ds") % {"d": days, "h": hours, "m": minutes, "s": secs}


def _role_seen(role: discord.Role) -> tuple[str, int, int]:
    """What the admin needs to know of a role: its name, permission bits and position."""
    return role.name, role.permissions.value, role.position


class ConfigGroup(app_commands.Group):
    """/config: see and change the server's configuration without the wizard."""

    def __init__(self) -> None:
        super().__init__(
            name="config",
            description=gettext_noop("See or change this server's bot configuration"),
            guild_only=True,
            default_permissions=discord.Permissions(manage_guild=True),
        )

    @app_commands.command(name="show", description=gettext_noop("Show the current configuration"))
    async def show(self, interaction: discord.Interaction) -> None:
        access = await require(interaction, Access.ADMIN)
        await interaction.response.send_message(embed=ui.config_embed(access.config), ephemeral=True)

    @app_commands.command(
        name="role", description=gettext_noop("Set the staff, helper or verified role, or add an admin role"))
    @app_commands.describe(kind=gettext_noop("Which role to set"), role=gettext_noop("The role"))
    @app_commands.choices(kind=[
        app_commands.Choice(name=gettext_noop("staff"), value="staff"),
        app_commands.Choice(name=gettext_noop("helper"), value="helper"),
        app_commands.Choice(name=gettext_noop("admin"), value="admin"),
        app_commands.Choice(name=gettext_noop("verified"), value="verified"),
    ])
    async def role(self, interaction: discord.Interaction, kind: app_commands.Choice[str], role: discord.Role) -> None:
        await require(interaction, Access.ADMIN)
        if role.is_default():
            raise InvalidConfigValue(_("@everyone cannot be used as a configured role."))
        if kind.value in ("helper", "verified"):
            require_manageable_role(interaction.guild, role)  # the bot hands these roles out
            await require_safe_role(interaction, role, kind=kind.value)
        config = await db_call(services.config_set_role)(
            guild_id=interaction.guild_id, kind=kind.value, role_id=role.id, actor_id=interaction.user.id
        )
        interaction.client.remember_config(config)  # type: ignore[attr-defined]
        text = (_("%(role)s added to the admin roles.") if kind.value == "admin"
                else _("%(kind)s role set to %(role)s.")) % {"role": role.mention, "kind": _(kind.name)}
        await interaction.response.send_message(text, embed=ui.config_embed(config), ephemeral=True)

    @app_commands.command(
        name="channel", description=gettext_noop("Set one of the server's channels: the log, or one a module uses"))
    @app_commands.describe(kind=gettext_noop("Which channel to set"), channel=gettext_noop("The channel or category"))
    # The log channel and those the apps registered (botproject.registry); the kind is the choice's (translated) name.
    @app_commands.choices(kind=[app_commands.Choice(name=c.kind, value=c.kind) for c in registry.channels()])
    async def channel(
        self, interaction: discord.Interaction, kind: app_commands.Choice[str], channel: app_commands.AppCommandChannel
    ) -> None:
        await require(interaction, Access.ADMIN)
        config = await db_call(services.config_set_channel)(
            guild_id=interaction.guild_id, kind=kind.value, channel_id=channel.id, channel_type=channel.type.name,
            actor_id=interaction.user.id,
        )
        interaction.client.remember_config(config)  # type: ignore[attr-defined]
        text = _("%(kind)s set to %(channel)s.") % {"kind": _(kind.name), "channel": channel.mention}
        await interaction.response.send_message(text, embed=ui.config_embed(config), ephemeral=True)

    @app_commands.command(name="language", description=gettext_noop("Set the server's default language"))
    @app_commands.describe(
        value=gettext_noop("Language for members whose Discord is in neither English nor Vietnamese"))
    @app_commands.choices(value=[
        app_commands.Choice(name="English", value="en"),
        app_commands.Choice(name="Tiếng Việt", value="vi"),
    ])
    async def language(self, interaction: discord.Interaction, value: app_commands.Choice[str]) -> None:
        await require(interaction, Access.ADMIN)
        config = await db_call(services.config_set_language)(
            guild_id=interaction.guild_id, language=value.value, actor_id=interaction.user.id
        )
        interaction.client.remember_config(config)  # type: ignore[attr-defined]
        await interaction.response.send_message(
            _("Default language set to %(language)s.") % {"language": value.name}, ephemeral=True
        )

    @app_commands.command(name="module", description=gettext_noop("Switch a module on or off in this server"))
    @app_commands.describe(name=gettext_noop("The module"), enabled=gettext_noop("On or off"))
    # The modules the apps registered (botproject.registry); the module's name is the choice's (translated) name.
    @app_commands.choices(name=[app_commands.Choice(name=m.name, value=m.name) for m in registry.modules()])
    async def module_(self, interaction: discord.Interaction, name: app_commands.Choice[str], enabled: bool) -> None:
        await require(interaction, Access.ADMIN)
        config = await db_call(services.config_set_module)(
            guild_id=interaction.guild_id, module=name.value, enabled=enabled, actor_id=interaction.user.id
        )
        interaction.client.remember_config(config)  # type: ignore[attr-defined]
        if enabled:
            text = _("%(module)s is now on.")
        else:
            text = _("%(module)s is now off: its commands answer that it is not enabled here.")
        await interaction.response.send_message(text % {"module": module_label(name.value)}, ephemeral=True)


class CoreCog(commands.Cog):
    """Status, setup and configuration; keeps the guild table in step with Discord."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.refresh_database_size.start()

    async def cog_unload(self) -> None:
        self.refresh_database_size.cancel()

    @tasks.loop(seconds=60)
    async def refresh_database_size(self) -> None:
        """Keep /status's database size fresh without querying on every call."""
        try:
            runtime.remember_database_size(await db_call(selectors.database_size)())
        except DatabaseUnavailable:  # an outage: the next round tries again
            log.warning("could not read the database size: the database is not answering")
        except Exception:  # noqa: BLE001 - a figure for /status must never stop the loop
            log.warning("could not read the database size", exc_info=True)

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        self.bot.remember_config(await db_call(services.guild_ensure)(
            guild_id=guild.id, name=guild.name, owner_id=guild.owner_id, member_count=guild.member_count
        ))
        await db_call(services.names_seen)(
            guild_id=guild.id,
            roles={role.id: _role_seen(role) for role in guild.roles if not role.is_default()},
            channels={channel.id: (channel.name, channel.type.name) for channel in guild.channels},
        )

    @commands.Cog.listener("on_guild_role_create")
    @commands.Cog.listener("on_guild_role_update")
    async def remember_role(self, *roles: discord.Role) -> None:
        role = roles[-1]
        await db_call(services.names_seen)(guild_id=role.guild.id, roles={role.id: _role_seen(role)})

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        await db_call(services.names_seen)(guild_id=role.guild.id, roles={role.id: role.name}, deleted=True)

    @commands.Cog.listener("on_guild_channel_create")
    @commands.Cog.listener("on_guild_channel_update")
    async def remember_channel(self, *channels: discord.abc.GuildChannel) -> None:
        channel = channels[-1]
        await db_call(services.names_seen)(guild_id=channel.guild.id,
                                           channels={channel.id: (channel.name, channel.type.name)})

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await db_call(services.names_seen)(guild_id=channel.guild.id,
                                           channels={channel.id: (channel.name, channel.type.name)}, deleted=True)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.on_guild_available(guild)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await db_call(services.guild_mark_left)(guild_id=guild.id)

    @app_commands.command(name="status", description=gettext_noop("Show the bot's health: uptime, latency, load"))
    async def status(self, interaction: discord.Interaction) -> None:
        data = runtime.snapshot()
        embed = discord.Embed(title=_("Bot status"), colour=discord.Colour.blurple())
        latency = data["gateway"]["latency_ms"]
        embed.add_field(name=_("Uptime"), value=_duration(data["uptime_seconds"]))
        embed.add_field(name=_("Gateway latency"), value=f"{latency:.0f} ms" if latency is not None else "–")
        embed.add_field(name=_("Servers"), value=str(data["guilds"]))
        embed.add_field(name=_("Shards"), value=str(data["shard_count"] or 1))
        embed.add_field(name=_("Commands processed"), value=str(data["commands_processed"]))
        embed.add_field(name=_("Error rate"), value=f"{data['error_rate'] * 100:.2f} %")
        embed.add_field(name=_("Database size"), value=_size(data["database_size_bytes"]))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="setup", description=gettext_noop("Set up the bot for this server, step by step"))
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def setup(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.ADMIN)
        config = await db_call(services.guild_ensure)(guild_id=interaction.guild_id)
        self.bot.remember_config(config)
        await interaction.response.send_message(embed=ui.setup_embed(config), view=ui.setup_view(config, page=1),
                                                ephemeral=True)
