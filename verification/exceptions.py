"""Refusals of the verification app, shown to members in their language by the bot's error edge."""

from django.utils.translation import gettext_lazy as _

from botproject.exceptions import DomainError


class VerificationError(DomainError):
    """Base of the verification refusals."""


class InvalidUsername(VerificationError):
    """Not something Roblox accepts as a username; refused before any request."""

    message = _("That is not a Roblox username. Usernames have 3 to 20 characters: letters, digits and at most "
                "one underscore, which cannot be first or last.")


class RobloxUserNotFound(VerificationError):
    """Roblox has no account with that username (or id)."""

    message = _("Roblox has no account called %(name)s. Check the spelling of the username (not the display "
                "name) and try again.")


class RobloxBusy(VerificationError):
    """Roblox rate-limited us, failed (5xx) or did not answer in time; nothing was changed."""

    message = _("Roblox is busy, try again in %(seconds)s s. Nothing was changed.")


class CheckingTooOften(VerificationError):
    """The member asked Roblox too often in the last minute (/verify, /reverify, the Verify button)."""

    message = _("You are checking too often. Try again in %(seconds)s s. Nothing was changed.")


class AccountBanned(VerificationError):
    """The Roblox account is banned and cannot be linked."""

    message = _("The Roblox account %(name)s is banned, so it cannot be linked.")


class AccountTaken(VerificationError):
    """The Roblox account is linked to another member of the guild and the guild does not allow sharing."""

    message = _("The Roblox account %(name)s is already linked to another member of this server. If it is yours, "
                "ask the staff: they can unlink it, or allow shared accounts.")


class AlreadyVerified(VerificationError):
    """The member is linked already; /reverify links another account."""

    message = _("You are already verified as %(name)s. To link another Roblox account, use /reverify.")


class AlreadyThatAccount(VerificationError):
    """/reverify with the account the member is linked to now."""

    message = _("You are already linked to %(name)s. Give /reverify the username of the other account.")


class NotVerified(VerificationError):
    """The member has no active link in this guild."""

    message = _("You are not verified in this server yet. Use /verify first.")


class MemberNotVerified(VerificationError):
    """Staff acted on a member with no active link."""

    message = _("%(member)s has no linked Roblox account in this server.")


class AttemptNotFound(VerificationError):
    """The button's attempt does not exist (or belongs to another server)."""

    message = _("This verification no longer exists. Run /verify again.")


class NotYourAttempt(VerificationError):
    """Someone other than the member who asked pressed the Verify button."""

    message = _("This Verify button belongs to %(member)s. To verify yourself, run /verify.")


class AttemptClosed(VerificationError):
    """The attempt was completed, replaced by a newer one, or cancelled."""

    message = _("This verification is finished or was replaced by a newer one. Run /verify to start again.")


class AttemptExpired(VerificationError):
    """The attempt's 15 minutes are over."""

    message = _("This code has expired (codes last %(minutes)s minutes). Run /verify again for a new one.")


class CodeNotFound(VerificationError):
    """The profile description does not contain the code."""

    message = _("The code is not in the profile of %(name)s yet. Its description says: %(found)s\n"
                "Put these words in your Roblox profile description (About), save, then press Verify again: "
                "%(code)s")


class CodeFiltered(VerificationError):
    """Roblox's text filter hid part of the description (####), so the code cannot be read."""

    message = _("Roblox's filter hid part of the description of %(name)s (it shows ####), so the code cannot be "
                "read. Run /verify again for new words. The description says: %(found)s")


class LinkInactive(VerificationError):
    """The admin tried to unlink a link that has already ended."""

    message = _("That link was already removed.")
