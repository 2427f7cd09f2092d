"""The core extension: status, setup and configuration, access commands, and outbox delivery."""

from discord.ext import commands

from .. import ui
from ..bot import pages
from .access import AccessCog, HelperGroup, PermissionsGroup
from .core import ConfigGroup, CoreCog
from .outbox import OutboxCog


async def setup(bot: commands.Bot) -> None:
    """Register the core commands, the wizard's persistent components and the outbox worker."""
    await bot.add_cog(CoreCog(bot))
    await bot.add_cog(AccessCog(bot))
    await bot.add_cog(OutboxCog(bot))
    bot.tree.add_command(ConfigGroup())
    bot.tree.add_command(PermissionsGroup())
    bot.tree.add_command(HelperGroup())
    bot.add_dynamic_items(*ui.DYNAMIC_ITEMS)
    pages.install(bot)  # the page buttons of /permissions list, /helper list, /blocklist and the apps' lists
