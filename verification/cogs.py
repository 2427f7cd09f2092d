"""Discord surface of verification (slash commands, buttons); the app's commands arrive with issue #8.

Not listed in settings.DISCORD_EXTENSIONS until it registers commands, so nothing half-built is synced.
"""

from discord.ext import commands


async def setup(bot: commands.Bot) -> None:
    """Load the verification extension (nothing to register yet)."""
