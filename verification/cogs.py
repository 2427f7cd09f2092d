"""Verification commands: /verify, /reverify, /unverify, /whois and the Verify button.

Order of work in every flow: check who may act, refuse bad input, defer before Roblox, await Roblox
(verification/roblox.py), then one synchronous service through the bridge; the Discord side effects
(verified role, nickname) come after the service committed, each failure told to the member and the
log channel in words they can act on. Unlinks made on the admin site reach Discord through the outbox
(`role_del` rows, delivered by botproject/cogs/outbox.py).
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import format_dt
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext_lazy

from botproject import services as core_services
from botproject.bot import pages
from botproject.bot.checks import REFUSALS, require
from botproject.bot.db import db_call
from botproject.bot.preflight import require_bot_permissions, require_manageable_role, require_safe_role
from botproject.bot.ratelimit import SlidingWindow
from botproject.bot.replies import answer, defer
from botproject.exceptions import DomainError, NotAllowed, RoleNotBelowActor, RoleTooPowerful
from botproject.selectors import Access, ConfigSnapshot

from . import roblox, selectors, services, ui
from .exceptions import AccountBanned, AlreadyVerified, CheckingTooOften, NotVerified

NAMES = (
    pgettext_lazy("discord command name", "verify"),
    pgettext_lazy("discord command name", "reverify"),
    pgettext_lazy("discord command name", "unverify"),
    pgettext_lazy("discord command name", "whois"),
    pgettext_lazy("discord command name", "username"),
    pgettext_lazy("discord command name", "member"),
)
# Discord's own limit on the option; Roblox's rule (3-20, ...) is checked by us, with a message that explains it.
Username = app_commands.Range[str, 1, 100]
HISTORY_LINES = 10
# Roblox lookups a member may cause per minute (/verify, /reverify and Verify together, across servers).
CHECKS_PER_MINUTE = 5


def _account(link: selectors.LinkView) -> str:
    """The account as a link to its profile: "Display (@name)", or the name when both are the same."""
    shown = link.roblox_name if link.roblox_display_name in ("", link.roblox_name) else (
        f"{link.roblox_display_name} (@{link.roblox_name})")
    return f"[{discord.utils.escape_markdown(shown)}]({link.profile_url})"


class VerificationCog(commands.Cog):
    """Link Discord members to Roblox accounts with a code in the profile description."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self.roblox = roblox.RobloxClient()
        self.checks = SlidingWindow(limit=CHECKS_PER_MINUTE, seconds=60)

    def _count_check(self, user_id: int) -> None:
        """One Roblox lookup for this member, or a refusal saying when they may check again."""
        wait = self.checks.hit(user_id)
        if wait is not None:
            raise CheckingTooOften(seconds=wait)

    async def cog_unload(self) -> None:
        await self.roblox.close()

    # --- Discord side effects ---------------------------------------------------------------------
    async def _tell_admins(self, guild: discord.Guild, member: discord.abc.User,
                           problem: DomainError | discord.HTTPException) -> None:
        """The log channel hears about a role or nickname the bot could not change (the guild's language)."""
        config = await self.bot.guild_config(guild.id)
        with translation.override(config.language):
            text = _("⚠️ Verification of %(user)s: %(problem)s") % {"user": member.mention,
                                                                    "problem": _problem_text(problem)}
        await self.bot.post_log(guild.id, text)

    async def _give(self, interaction: discord.Interaction, member: discord.Member, config: ConfigSnapshot,
                    link: selectors.LinkView) -> list[str]:
        """Give the verified role and set the nickname (when the guild wants it); return what went wrong."""
        guild = interaction.guild
        notes: list[str] = []
        role = guild.get_role(config.verified_role_id) if config.verified_role_id else None
        if role is None:
            notes.append(_("No verified role is set here, so I gave you none. An admin can set one with "
                           "/config role kind:verified."))
        elif role not in member.roles:
            try:
                require_manageable_role(guild, role)
                await require_safe_role(interaction, role, kind="verified", member=member, check_actor=False)
                await member.add_roles(role, reason=f"verified as Roblox {link.roblox_name} ({link.roblox_id})")
            except (RoleTooPowerful, RoleNotBelowActor) as refusal:  # the log channel has been told already
                notes.append(refusal.user_message())
            except (DomainError, discord.Forbidden) as problem:
                notes.append(_("I could not give you the %(role)s role: %(problem)s") % {
                    "role": role.name, "problem": _problem_text(problem)})
                await self._tell_admins(guild, member, problem)
        if config.verification_set_nickname and member.nick != link.roblox_name:
            try:
                _require_nickname_change(guild, member)
                await member.edit(nick=link.roblox_name, reason="verified: nickname is the Roblox username")
            except (DomainError, discord.Forbidden) as problem:
                notes.append(_("I could not set your nickname to %(name)s: %(problem)s") % {
                    "name": link.roblox_name, "problem": _problem_text(problem)})
        return notes

    async def _take(self, guild: discord.Guild, member: discord.Member | None, config: ConfigSnapshot,
                    roblox_name: str) -> list[str]:
        """Take the verified role away and undo our nickname; return what went wrong (nothing when they left)."""
        if member is None:
            return []
        notes: list[str] = []
        role = guild.get_role(config.verified_role_id) if config.verified_role_id else None
        if role is not None and role in member.roles:
            try:
                require_manageable_role(guild, role)
                await member.remove_roles(role, reason=f"unlinked Roblox {roblox_name}")
            except (DomainError, discord.Forbidden) as problem:
                notes.append(_("I could not take the %(role)s role away: %(problem)s") % {
                    "role": role.name, "problem": _problem_text(problem)})
                await self._tell_admins(guild, member, problem)
        if config.verification_set_nickname and member.nick == roblox_name:
            try:
                _require_nickname_change(guild, member)
                await member.edit(nick=None, reason="unlinked: the nickname was the Roblox username")
            except (DomainError, discord.Forbidden) as problem:
                notes.append(_("I could not reset the nickname: %(problem)s") % {"problem": _problem_text(problem)})
        return notes

    # --- /verify and /reverify ---------------------------------------------------------------------
    async def _start(self, interaction: discord.Interaction, username: str, purpose: str) -> None:
        access = await require(interaction, Access.MEMBER, refuse_blocked=True, module="verification")
        name = roblox.clean_username(username)  # before any request, and before anything is written
        current = await db_call(selectors.active_link)(guild_id=interaction.guild_id, user_id=interaction.user.id)
        if purpose == "reverify" and current is None:
            raise NotVerified()
        if not (purpose == "verify" and current is not None):  # that path asks nothing of Roblox
            self._count_check(interaction.user.id)
        await defer(interaction, ephemeral=True, thinking=True)
        if purpose == "verify" and current is not None:
            # Linked already: put the role and nickname right (an admin may have fixed the bot's role since).
            notes = await self._give(interaction, interaction.user, access.config, current)
            await _say(interaction, AlreadyVerified(name=current.roblox_name).user_message(), notes)
            return
        user = await self.roblox.user_by_username(name)
        profile = await self.roblox.profile(user.id)
        if profile.is_banned:
            raise AccountBanned(name=user.name)
        await db_call(core_services.names_seen)(guild_id=interaction.guild_id,
                                                users={interaction.user.id: interaction.user.display_name})
        attempt = await db_call(services.attempt_start)(
            guild_id=interaction.guild_id, user_id=interaction.user.id, purpose=purpose, roblox_id=user.id,
            roblox_name=user.name, roblox_display_name=user.display_name,
        )
        await answer(interaction, embed=ui.attempt_embed(attempt), view=ui.check_view(attempt.id), ephemeral=True)

    @app_commands.command(name="verify", description=gettext_noop("Link your Roblox account to this server"))
    @app_commands.describe(username=gettext_noop("Your Roblox username (not the display name)"))
    @app_commands.guild_only()
    async def verify(self, interaction: discord.Interaction, username: Username) -> None:
        await self._start(interaction, username, "verify")

    @app_commands.command(name="reverify", description=gettext_noop("Link another Roblox account (history is kept)"))
    @app_commands.describe(username=gettext_noop("The other account's Roblox username"))
    @app_commands.guild_only()
    async def reverify(self, interaction: discord.Interaction, username: Username) -> None:
        await self._start(interaction, username, "reverify")

    async def complete(self, interaction: discord.Interaction, attempt_id: int) -> None:
        """The Verify button: reload the attempt (only its member may go on), read the profile, link."""
        access = await require(interaction, Access.MEMBER, refuse_blocked=True, module="verification")
        attempt = await db_call(selectors.attempt_for_button)(
            attempt_id=attempt_id, guild_id=interaction.guild_id, user_id=interaction.user.id)
        self._count_check(interaction.user.id)
        role = interaction.guild.get_role(access.config.verified_role_id or 0)
        if role is not None and role not in interaction.user.roles:  # refused before anything is written
            await require_safe_role(interaction, role, kind="verified", member=interaction.user, check_actor=False)
        await defer(interaction)  # edits the code message when done; refusals come as new messages
        profile = await self.roblox.profile(attempt.roblox_id, fresh=True)  # a cached description may be stale
        link = await db_call(services.attempt_complete)(
            attempt_id=attempt.id, guild_id=interaction.guild_id, user_id=interaction.user.id, roblox_id=profile.id,
            roblox_name=profile.name, roblox_display_name=profile.display_name, description=profile.description,
            is_banned=profile.is_banned,
        )
        notes = await self._give(interaction, interaction.user, access.config, link)
        text = (_("✅ You are verified as %(account)s.") if attempt.purpose == "verify"
                else _("✅ You are now linked to %(account)s. Your earlier link stays in the history.")) % {
            "account": _account(link)}
        text += "\n" + _("You can remove the words from your profile now.")
        await interaction.edit_original_response(content=_with_notes(text, notes), embed=None, view=None,
                                                 allowed_mentions=discord.AllowedMentions.none())

    # --- /unverify -----------------------------------------------------------------------------------
    @app_commands.command(name="unverify", description=gettext_noop("Unlink your Roblox account (history is kept)"))
    @app_commands.describe(member=gettext_noop("Staff: the member to unlink (default: you)"))
    @app_commands.guild_only()
    async def unverify(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        access = await require(interaction, Access.MEMBER, module="verification")
        target = member or interaction.user
        if target.id != interaction.user.id and not access.at_least(Access.STAFF):
            raise NotAllowed(REFUSALS[Access.STAFF])
        link = await db_call(services.link_unlink)(guild_id=interaction.guild_id, user_id=target.id,
                                                   actor_id=interaction.user.id)
        await defer(interaction, ephemeral=True, thinking=True)
        notes = await self._take(interaction.guild, target, access.config, link.roblox_name)
        if target.id == interaction.user.id:
            text = _("You are no longer linked to %(account)s. The link stays in the history.")
        else:
            text = _("%(member)s is no longer linked to %(account)s. The link stays in the history.")
        await _say(interaction, text % {"account": _account(link), "member": target.mention}, notes)

    # --- /whois ------------------------------------------------------------------------------------------
    @app_commands.command(name="whois", description=gettext_noop("Staff: a member's Roblox account and link history"))
    @app_commands.describe(member=gettext_noop("The member"))
    @app_commands.guild_only()
    async def whois(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await pages.send(interaction, "whois", arg=member.id)


async def whois_page(interaction: discord.Interaction, user_id: int, page: int) -> tuple[discord.Embed, int, int]:
    """/whois: the member's link and a page (10 rows, newest first) of its history."""
    await require(interaction, Access.STAFF, module="verification")
    record = await db_call(selectors.member_record)(guild_id=interaction.guild_id, user_id=user_id,
                                                    limit=HISTORY_LINES, page=page)
    title = _("Roblox link of %(name)s") % {"name": pages.display_name(interaction, user_id)}
    embed = discord.Embed(title=title, colour=discord.Colour.green() if record.link else discord.Colour.light_grey())
    if record.link is not None:
        embed.description = _("Linked to %(account)s · Roblox id %(id)s · since %(since)s") % {
            "account": _account(record.link), "id": record.link.roblox_id,
            "since": format_dt(record.link.linked_at, "R")}
    else:
        embed.description = _("No linked Roblox account.")
    pages.add_fields(embed, _("History"), [_event_line(event) for event in record.events], empty=_("Nothing yet."))
    return embed, record.page, record.pages


pages.register("whois", whois_page)


def _problem_text(problem: DomainError | discord.HTTPException) -> str:
    if isinstance(problem, DomainError):
        return problem.user_message()
    return _("Discord refused: I am missing a permission for that. Ask an admin to check my role.")


def _require_nickname_change(guild: discord.Guild, member: discord.Member) -> None:
    """Discord lets no bot rename the owner, nor a member whose top role is not below the bot's."""
    require_bot_permissions(guild, "manage_nicknames")
    if member.id == guild.owner_id or member.top_role >= guild.me.top_role:
        raise NotAllowed(_("your highest role is not below mine (or you own the server), and Discord does not "
                           "let me change such nicknames."))


def _with_notes(text: str, notes: list[str]) -> str:
    return "\n".join([text, *("⚠️ " + note for note in notes)])[:2000]


async def _say(interaction: discord.Interaction, text: str, notes: list[str]) -> None:
    await answer(interaction, _with_notes(text, notes), ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


def _event_line(event: selectors.EventView) -> str:
    when = format_dt(event.created_at, "d")
    actor = f"<@{event.actor_id}>" if event.actor_id else pages.clean(event.actor_username or "–", 50)
    values = {"when": when, "name": pages.clean(event.roblox_name), "old": pages.clean(event.previous_name or "?"),
              "actor": actor,
              "id": event.roblox_id}
    texts = {
        "verify": _("%(when)s · verified as **%(name)s** (%(id)s)"),
        "reverify": _("%(when)s · reverified: %(old)s → **%(name)s** (%(id)s)"),
        "unverify": _("%(when)s · unlinked %(name)s themselves"),
        "staff": _("%(when)s · %(name)s unlinked by %(actor)s"),
        "admin": _("%(when)s · %(name)s unlinked on the admin site by %(actor)s"),
    }
    return texts[event.action] % values


async def setup(bot: commands.Bot) -> None:
    """Register the verification commands and the Verify button."""
    await bot.add_cog(VerificationCog(bot))
    bot.add_dynamic_items(ui.VerifyButton)
    pages.install(bot)
