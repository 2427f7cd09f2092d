"""Points commands: /balance and /leaderboard (also !balance, !leaderboard), /history, /achievements,
/notifications, and /points add|remove|set for admins."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, pgettext_lazy

from botproject.bot import errors, pages
from botproject.bot.checks import REFUSALS, GuildOnly, require, require_then
from botproject.bot.db import db_call
from botproject.bot.i18n import language_for
from botproject.bot.replies import answer, defer
from botproject.exceptions import DomainError, NotAllowed
from botproject.selectors import Access

from . import selectors, services, ui
from .services import LedgerResult

log = logging.getLogger(__name__)
NAMES = (
    pgettext_lazy("discord command name", "balance"),
    pgettext_lazy("discord command name", "leaderboard"),
    pgettext_lazy("discord command name", "history"),
    pgettext_lazy("discord command name", "achievements"),
    pgettext_lazy("discord command name", "notifications"),
    pgettext_lazy("discord command name", "points"),
    pgettext_lazy("discord command name", "add"),
    pgettext_lazy("discord command name", "remove"),
    pgettext_lazy("discord command name", "set"),
    pgettext_lazy("discord command name", "member"),
    pgettext_lazy("discord command name", "page"),
    pgettext_lazy("discord command name", "amount"),
    pgettext_lazy("discord command name", "reason"),
    pgettext_lazy("discord command name", "enabled"),
    pgettext_lazy("discord command name", "claim"),
    pgettext_lazy("discord command name", "code"),
    pgettext_lazy("discord command name", "email"),
)
MODULE = "points"
Amount = app_commands.Range[int, 1, 1_000_000_000]
SetAmount = app_commands.Range[int, 0, 1_000_000_000]
Reason = app_commands.Range[str, 1, 500]
NO_MENTIONS = discord.AllowedMentions.none()


class BotsHaveNoPoints(DomainError):
    """Points are for members, not bots."""

    message = gettext_lazy("Bots cannot have points. Pick a member.")


def _idempotency_key(interaction: discord.Interaction) -> str:
    return f"interaction:{interaction.id}"


def _unlocked(result: LedgerResult) -> str:
    if not result.achievements:
        return ""
    return "\n" + _("🏆 Achievements unlocked: %(names)s") % {"names": ", ".join(result.achievements)}


class PointsGroup(app_commands.Group):
    """/points add|remove|set: change a member's balance (admins), with a reason kept in the ledger."""

    def __init__(self) -> None:
        super().__init__(name="points", description=gettext_noop("Add, remove or set a member's points"),
                         guild_only=True, default_permissions=discord.Permissions(manage_guild=True))

    async def _change(self, interaction: discord.Interaction, member: discord.Member, service, amount: int,
                      reason: str) -> LedgerResult:
        """The admin check, then the change, in one trip to the database (a bot is refused after the check)."""
        fields = self._common(interaction, member, amount, reason)

        def change(_access) -> LedgerResult:
            if member.bot:
                raise BotsHaveNoPoints()
            return service(**fields)

        _access, result = await require_then(interaction, Access.ADMIN, change, module=MODULE,
                                             idempotency_key=fields["idempotency_key"])
        return result

    def _common(self, interaction: discord.Interaction, member: discord.Member, amount: int, reason: str) -> dict:
        return {"guild_id": interaction.guild_id, "user_id": member.id, "amount": amount, "reason": reason,
                "idempotency_key": _idempotency_key(interaction), "actor_id": interaction.user.id,
                "display_name": member.display_name}

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await answer(interaction, text, ephemeral=True, allowed_mentions=NO_MENTIONS)  # asked again if no reply came

    @app_commands.command(name="add", description=gettext_noop("Give a member points"))
    @app_commands.describe(member=gettext_noop("The member"), amount=gettext_noop("How many points"),
                           reason=gettext_noop("Why (kept in the ledger)"))
    async def add(self, interaction: discord.Interaction, member: discord.Member, amount: Amount,
                  reason: Reason) -> None:
        result = await self._change(interaction, member, services.points_award, amount, reason)
        await self._reply(interaction, _("Added %(amount)s points to %(member)s. New balance: %(balance)s.") % {
            "amount": ui.number(amount), "member": member.mention, "balance": ui.number(result.balance)
        } + _unlocked(result))

    @app_commands.command(name="remove", description=gettext_noop("Take points from a member"))
    @app_commands.describe(member=gettext_noop("The member"), amount=gettext_noop("How many points"),
                           reason=gettext_noop("Why (kept in the ledger)"))
    async def remove(self, interaction: discord.Interaction, member: discord.Member, amount: Amount,
                     reason: Reason) -> None:
        result = await self._change(interaction, member, services.points_deduct, amount, reason)
        await self._reply(interaction, _("Removed %(amount)s points from %(member)s. New balance: %(balance)s.") % {
            "amount": ui.number(amount), "member": member.mention, "balance": ui.number(result.balance)
        } + _unlocked(result))

    @app_commands.command(name="set", description=gettext_noop("Set a member's balance"))
    @app_commands.describe(member=gettext_noop("The member"), amount=gettext_noop("The new balance"),
                           reason=gettext_noop("Why (kept in the ledger)"))
    async def set_(self, interaction: discord.Interaction, member: discord.Member, amount: SetAmount,
                   reason: Reason) -> None:
        result = await self._change(interaction, member, services.points_set, amount, reason)
        await self._reply(interaction, _("%(member)s now has %(balance)s points (%(delta)s).") % {
            "member": member.mention, "balance": ui.number(result.balance), "delta": f"{result.delta:+,}"
        } + _unlocked(result))


class PointsCog(commands.Cog):
    """Balances, the leaderboard, history, achievements and DM notices."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    async def _language(self, ctx: commands.Context) -> str:
        if ctx.guild is None:
            return language_for(None)
        return language_for(None, (await self.bot.guild_config(ctx.guild.id)).language)  # type: ignore[attr-defined]

    async def cog_before_invoke(self, ctx: commands.Context) -> None:
        # A slash invocation already speaks the member's language (the tree's check); a prefix message
        # carries no locale, so it gets the server's language.
        if ctx.interaction is None:
            translation.activate(await self._language(ctx))

    async def cog_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        """Errors of the hybrid commands, slash or prefix: a translated answer, nothing written."""
        cause: BaseException = error
        if isinstance(cause, commands.HybridCommandError):
            cause = cause.original
        if isinstance(cause, commands.CommandInvokeError):
            cause = cause.original
        if ctx.interaction is not None:
            await errors.report(ctx.interaction, cause)
            return
        with translation.override(await self._language(ctx)):
            text = self._prefix_error(ctx, cause)
        try:
            # A reply that still goes out when the member's message is gone (!claim deletes it).
            await ctx.send(text, reference=ctx.message.to_reference(fail_if_not_exists=False),
                           mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not answer a failed %s", ctx.command, exc_info=True)

    @staticmethod
    def _prefix_error(ctx: commands.Context, error: BaseException) -> str:
        usage = f"{ctx.clean_prefix}{ctx.command.qualified_name} {ctx.command.signature}".strip() if ctx.command else ""
        value = discord.utils.escape_markdown(str(ctx.current_argument or ""))[:50]
        if isinstance(error, commands.MemberNotFound):
            return _("I cannot find the member “%(value)s” in this server. Mention them or use their id. "
                     "Usage: %(usage)s") % {"value": discord.utils.escape_markdown(error.argument)[:50], "usage": usage}
        if isinstance(error, commands.MissingRequiredArgument):
            return _("Something is missing: %(param)s. Usage: %(usage)s") % {"param": error.param.name, "usage": usage}
        if isinstance(error, commands.UserInputError):
            param = ctx.current_parameter.name if ctx.current_parameter else ""
            if param == "page":
                return _("“%(value)s” is not a page number. Usage: %(usage)s") % {"value": value, "usage": usage}
            return _("“%(value)s” is not valid here. Usage: %(usage)s") % {"value": value, "usage": usage}
        if isinstance(error, commands.NoPrivateMessage):
            return GuildOnly().user_message()
        text, _expected = errors.message_for(error)
        return text

    @commands.hybrid_command(name="balance", description=gettext_noop("Show a member's points, rank and stats"))
    @app_commands.describe(member=gettext_noop("The member (default: you)"))
    @commands.guild_only()
    async def balance(self, ctx: commands.Context, member: discord.Member = None) -> None:  # type: ignore[assignment]
        member = member or ctx.author
        _access, standing = await require_then(
            ctx.interaction or ctx, Access.MEMBER,
            lambda _access: selectors.standing(guild_id=ctx.guild.id, user_id=member.id), module=MODULE,
            reads_only=True)
        await ctx.reply(embed=ui.balance_embed(member.display_name, standing), ephemeral=True,
                        mention_author=False, allowed_mentions=NO_MENTIONS)

    @commands.hybrid_command(name="leaderboard", description=gettext_noop("Show the points leaderboard (public)"))
    @app_commands.describe(page=gettext_noop("Page number (10 members a page)"))
    @commands.guild_only()
    async def leaderboard(self, ctx: commands.Context, page: int = 1) -> None:
        _access, (board, standing) = await require_then(
            ctx.interaction or ctx, Access.MEMBER,
            lambda _access: selectors.leaderboard_and_standing(guild_id=ctx.guild.id, page=page,
                                                               user_id=ctx.author.id), module=MODULE,
            reads_only=True)
        embed, view = ui.leaderboard_embed(board, ctx.author.display_name, standing), ui.leaderboard_view(board)
        await ctx.reply(embed=embed, view=view, mention_author=False, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="history", description=gettext_noop("Show the latest points changes with reasons"))
    @app_commands.describe(member=gettext_noop("The member (default: you; others: staff only)"))
    @app_commands.guild_only()
    async def history(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        await pages.send(interaction, "history", arg=(member or interaction.user).id)

    @app_commands.command(name="achievements", description=gettext_noop("Show earned and open achievements"))
    @app_commands.describe(member=gettext_noop("The member (default: you)"))
    @app_commands.guild_only()
    async def achievements(self, interaction: discord.Interaction, member: discord.Member | None = None) -> None:
        await pages.send(interaction, "ach", arg=(member or interaction.user).id)

    @commands.hybrid_command(name="claim", description=gettext_noop("Redeem an order code for points"))
    @app_commands.describe(code=gettext_noop("The code from your order e-mail"))
    @commands.guild_only()
    async def claim(self, ctx: commands.Context, code: str) -> None:
        """Redeem an order code once, ever: 1 currency unit = 1 point."""
        if ctx.interaction is None:
            # !claim is read by everyone in the channel: the code goes first (the receipt comes by DM).
            await _delete_quietly(ctx.message)
        if ctx.interaction is not None:
            # Acknowledge first: under a rush of claims the access check and the claim queue for the
            # database, and Discord drops an interaction not answered within 3 s.
            await defer(ctx.interaction, ephemeral=True)
        await require(ctx.interaction or ctx, Access.MEMBER, refuse_blocked=True, module=MODULE)
        result = await db_call(services.order_claim)(
            guild_id=ctx.guild.id, user_id=ctx.author.id, code=code[:200], display_name=ctx.author.display_name)
        if ctx.interaction is None:
            # In public: no order number (it identifies the purchase); the message it answered may be gone.
            text = _("%(member)s claimed an order code: +%(points)s points. Your balance: %(balance)s.") % {
                "member": ctx.author.mention, "points": ui.number(result.points),
                "balance": ui.number(result.balance)}
            await ctx.send(text, allowed_mentions=discord.AllowedMentions(users=[ctx.author]))
            return
        text = _("Order %(number)s claimed: +%(points)s points. Your balance: %(balance)s.") % {
            "number": result.order_number, "points": ui.number(result.points), "balance": ui.number(result.balance)}
        await answer(ctx.interaction, text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="email", description=gettext_noop("Set the e-mail address for order notices"))
    @app_commands.guild_only()
    async def email(self, interaction: discord.Interaction) -> None:
        await require(interaction, Access.MEMBER, module=MODULE)
        await interaction.response.send_modal(ui.EmailModal())

    @app_commands.command(name="notifications", description=gettext_noop("Turn DM notices on point changes on or off"))
    @app_commands.describe(enabled=gettext_noop("On or off"))
    @app_commands.guild_only()
    async def notifications(self, interaction: discord.Interaction, enabled: bool) -> None:
        await require(interaction, Access.MEMBER, module=MODULE)
        await db_call(services.notifications_set)(guild_id=interaction.guild_id, user_id=interaction.user.id,
                                                  enabled=enabled, display_name=interaction.user.display_name)
        text = (_("You will get a DM when your points change in this server.") if enabled
                else _("You will no longer get DMs when your points change in this server."))
        await interaction.response.send_message(text, ephemeral=True)


async def history_page(interaction: discord.Interaction, user_id: int, page: int) -> tuple[discord.Embed, int, int]:
    """/history: a member's ledger, 10 entries a page, newest first (others' history: staff only)."""

    own = user_id == interaction.user.id

    def read(access):
        if not own and not access.at_least(Access.STAFF):
            raise NotAllowed(REFUSALS[Access.STAFF])
        return selectors.history_page(guild_id=interaction.guild_id, user_id=user_id, page=page,
                                      per_page=ui.HISTORY_PER_PAGE)

    # Their own history needs no more than the member level: the read goes along with the access check.
    _access, result = await require_then(interaction, Access.MEMBER, read, module=MODULE, reads_only=own)
    return ui.history_embed(pages.display_name(interaction, user_id), result.rows), result.number, result.pages


async def achievements_page(interaction: discord.Interaction, user_id: int,
                            page: int) -> tuple[discord.Embed, int, int]:
    """/achievements: earned first, then open ones, 8 a page."""
    _access, result = await require_then(
        interaction, Access.MEMBER, lambda _access: selectors.achievements_page(
            guild_id=interaction.guild_id, user_id=user_id, page=page, per_page=ui.ACHIEVEMENTS_PER_PAGE),
        module=MODULE)
    listed = result.page
    embed = ui.achievements_embed(pages.display_name(interaction, user_id), listed.rows, page=listed.number,
                                  pages_=listed.pages, earned_total=result.earned, total=listed.total)
    return embed, listed.number, listed.pages


pages.register("history", history_page)
pages.register("ach", achievements_page)


async def _delete_quietly(message: discord.Message) -> None:
    """Delete a member's message when the bot may (Manage Messages); otherwise leave it."""
    channel = message.channel
    if message.guild is None or not channel.permissions_for(message.guild.me).manage_messages:
        return
    try:
        await message.delete()
    except discord.HTTPException:
        log.info("could not delete a !claim message in %s", channel.id)


async def setup(bot: commands.Bot) -> None:
    """Register the points commands and the leaderboard's paging buttons."""
    await bot.add_cog(PointsCog(bot))
    bot.tree.add_command(PointsGroup())
    bot.add_dynamic_items(ui.LeaderboardButton)
    pages.install(bot)
