"""Wire-level Discord emulator (REST /api/v10 + gateway) for testing a real discord.py bot."""
from . import permissions
from .harness import EmulatorThread
from .ids import CommandHidden, EmulatorError, OptionRejected
from .record import InteractionRecord
from .server import Emulator
from .state import Channel, Guild, Member, Message, Role, User
from .world import World, build_guild

__all__ = ["Emulator", "EmulatorError", "OptionRejected", "CommandHidden", "InteractionRecord", "EmulatorThread",
           "build_guild", "World", "Channel", "Guild", "Member", "Message", "Role", "User", "permissions"]
