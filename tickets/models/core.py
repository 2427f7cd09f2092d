"""Tickets: categories (services), panels, tickets with their private channels, helper claims, transcripts.

Invariants live in the database:

- a member holds at most `max open` tickets per category: an open-ish ticket takes a `slot` 1..max and
  (guild, opener, category, slot) is unique among open-ish tickets, so simultaneous clicks make one ticket;
- a ticket's helpers take `slot` 1..helper_slots, unique per ticket, and one claim per helper;
- ticket numbers are sequential per guild (a counter row) and unique per guild, as is the random code
  that names the channel (`ticket-<code>`).
"""

from datetime import timedelta
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake
from botproject.natural_keys import guild_discord_id, remembered


class OutsideHours(models.TextChoices):
    """What a category does with a ticket opened outside its support hours."""

    REFUSE = "refuse", _("refuse it (saying when support opens)")
    WARN = "warn", _("open it with a warning")


class TicketCategory(models.Model):
    """A service members open tickets for (e.g. "General Support"), managed in the admin."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="ticket_categories")
    name = models.CharField(_("name"), max_length=80)
    description = models.CharField(_("description"), max_length=300, blank=True)
    emoji = models.CharField(_("emoji"), max_length=64, blank=True, help_text=_("A unicode emoji, e.g. 🎫."))
    response_time = models.CharField(_("response time"), max_length=100, blank=True,
                                     help_text=_("Shown in the welcome message, e.g. \"Minutes to hours\"."))
    helper_points = models.PositiveIntegerField(_("helper points"), default=0,
                                                help_text=_("Points each helper who claimed it earns when a ticket "
                                                            "closes as resolved."))
    helper_slots = models.PositiveSmallIntegerField(_("helper slots"), default=1,
                                                    validators=[MinValueValidator(1), MaxValueValidator(25)])
    staff_role_id = snowflake(_("staff role override"), null=True, blank=True,
                              help_text=_("This role instead of the server's staff role sees and handles these "
                                          "tickets."))
    max_open_per_member = models.PositiveSmallIntegerField(
        _("open tickets per member"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(25)],
        help_text=_("Empty: the server's setting."))
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # --- tickets that run themselves: timers (any length: durations, stored as rows when they run) ---
    remind_after = models.DurationField(
        _("remind the opener after"), default=timedelta(hours=12),
        help_text=_("While the ticket waits on the opener (the last message is from staff or a helper), the opener "
                    "is pinged after this long. Format: \"DD HH:MM:SS\", e.g. \"12:00:00\" for 12 hours."))
    autoclose_after = models.DurationField(
        _("auto-close after the reminder"), default=timedelta(hours=24),
        help_text=_("Still no answer from the opener this long after the reminder: the ticket closes as "
                    "auto-closed. Staff silence never closes a ticket."))
    alert_after = models.DurationField(
        _("first-response alert after"), default=timedelta(minutes=30),
        help_text=_("No staff or helper message this long after the ticket opened: the staff role is pinged once "
                    "(in the log channel when set, else in the ticket)."))
    reopen_window = models.DurationField(
        _("opener may reopen within"), default=timedelta(hours=24),
        help_text=_("How long after a close the opener may reopen the ticket (staff may at any time)."))
    rating_wait = models.DurationField(
        _("channel waits for a rating"), default=timedelta(0),
        help_text=_("After a close the channel waits up to this long for the opener's rating (never less than the "
                    "server's delete delay) and goes as soon as they rated. 0: no wait. Not rated when it goes: they "
                    "are asked by DM."))
    transcript_dm = models.BooleanField(_("transcript to the opener"), default=True,
                                        help_text=_("Send the opener the HTML transcript by DM on close."))
    rating_bonus = models.PositiveIntegerField(
        _("helper bonus for 4-5 stars"), default=0,
        help_text=_("Points each helper who claimed the ticket earns when the opener rates it 4 or 5 stars "
                    "(0: off). Never for a ticket the helper opened."))
    # --- gating ---
    required_role_ids = models.JSONField(
        _("required roles"), default=list, blank=True,
        help_text=_("Role ids, one of which a member must hold to open these tickets (e.g. the verified role). "
                    "Empty: anyone not blocked."))
    hours_start = models.TimeField(_("support hours from"), null=True, blank=True,
                                   help_text=_("Empty (with \"until\"): around the clock."))
    hours_end = models.TimeField(_("support hours until"), null=True, blank=True,
                                 help_text=_("May be earlier than \"from\" for hours over midnight."))
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC",
                                 help_text=_("Of the support hours, e.g. Europe/Berlin or Asia/Ho_Chi_Minh."))
    outside_hours = models.CharField(_("outside support hours"), max_length=6, choices=OutsideHours.choices,
                                     default=OutsideHours.REFUSE)
    opens_per_hour = models.PositiveSmallIntegerField(
        _("opens per member per hour"), default=3, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("How many of these tickets a member may open in a rolling hour."))

    class Meta:
        verbose_name = _("ticket category")
        verbose_name_plural = _("ticket categories")
        ordering = ["guild", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "name"], name="ticket_category_unique_name"),
            models.CheckConstraint(condition=Q(helper_slots__gte=1) & Q(helper_slots__lte=25),
                                   name="ticket_category_helper_slots_range"),
            models.CheckConstraint(condition=Q(max_open_per_member__isnull=True) | (
                Q(max_open_per_member__gte=1) & Q(max_open_per_member__lte=25)), name="ticket_category_max_open_range"),
            models.CheckConstraint(condition=Q(remind_after__gt=timedelta(0)) & Q(autoclose_after__gt=timedelta(0))
                                   & Q(alert_after__gt=timedelta(0)) & Q(reopen_window__gte=timedelta(0))
                                   & Q(rating_wait__gte=timedelta(0)), name="ticket_category_durations_positive"),
            models.CheckConstraint(condition=Q(opens_per_hour__gte=1) & Q(opens_per_hour__lte=100),
                                   name="ticket_category_opens_per_hour_range"),
            models.CheckConstraint(condition=Q(hours_start__isnull=True, hours_end__isnull=True)
                                   | Q(hours_start__isnull=False, hours_end__isnull=False),
                                   name="ticket_category_hours_both_or_none"),
            models.CheckConstraint(condition=Q(outside_hours__in=["refuse", "warn"]),
                                   name="ticket_category_outside_hours_mode"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} {self.name}".strip()

    def clean(self) -> None:
        """The time zone must be a known one; the hours come as a pair; role ids are numbers."""
        if self.time_zone not in available_timezones():
            raise ValidationError({"time_zone": _("Unknown time zone %(zone)s (use e.g. Europe/Berlin).") % {
                "zone": self.time_zone}})
        if (self.hours_start is None) != (self.hours_end is None):
            raise ValidationError({"hours_end": _("Give both ends of the support hours, or neither.")})
        if self.hours_start is not None and self.hours_start == self.hours_end:
            raise ValidationError({"hours_end": _("The support hours cannot start and end at the same time.")})
        if not isinstance(self.required_role_ids, list) or not all(
                str(r).isdigit() for r in self.required_role_ids):
            raise ValidationError({"required_role_ids": _("A list of role ids, e.g. [123456789012345678].")})
        self.required_role_ids = [int(r) for r in self.required_role_ids]


class TicketCounter(models.Model):
    """The last ticket number used in a guild (numbers are sequential per guild)."""

    guild = models.OneToOneField(Guild, on_delete=models.CASCADE, primary_key=True, related_name="ticket_counter")
    last_number = models.PositiveIntegerField(_("last ticket number"), default=0)

    class Meta:
        verbose_name = _("ticket counter")
        verbose_name_plural = _("ticket counters")

    def __str__(self) -> str:
        return f"{self.guild_id}: {self.last_number}"


class TicketPanelManager(models.Manager):
    """Panels by natural key (guild's Discord id, old bot's id): only panels imported from the old bot have one."""

    def get_by_natural_key(self, guild_id: int, legacy_id: str) -> "TicketPanel":
        if not legacy_id:
            raise self.model.DoesNotExist("panels made by this bot have no natural key")
        return self.get(guild__discord_id=guild_id, legacy_id=legacy_id)


class TicketPanel(models.Model):
    """A public message with a button per category (or a select), recorded so it can be refreshed or re-posted."""

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="ticket_panels")
    channel_id = snowflake(_("channel"))
    message_id = snowflake(_("message"), null=True, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)
    categories = models.ManyToManyField(TicketCategory, blank=True, related_name="panels",
                                        verbose_name=_("categories"), help_text=_("Empty: every active category."))
    legacy_category = models.CharField(_("category (old bot)"), max_length=100, blank=True)
    legacy_id = models.CharField(_("old bot's panel message"), max_length=32, blank=True,
                                 help_text=_("Set on panels imported from the old bot (its message id), which "
                                             "keeps them apart when they are loaded again."))
    created_by_id = snowflake(_("created by"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    refresh_requested_at = models.DateTimeField(_("refresh requested at"), null=True, blank=True)
    repost_requested_at = models.DateTimeField(_("re-post requested at"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)

    objects = TicketPanelManager()

    class Meta:
        verbose_name = _("ticket panel")
        verbose_name_plural = _("ticket panels")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "legacy_id"], condition=~Q(legacy_id=""),
                                    name="ticket_panel_legacy_id_unique"),
        ]

    def __str__(self) -> str:
        return self.title or str(_("Panel in %(channel)s") % {"channel": self.channel_id})

    def natural_key(self) -> tuple[int, str]:
        return (guild_discord_id(self.guild_id), self.legacy_id)

    natural_key.dependencies = ["botproject.guild"]


OPEN_STATUSES = ("pending", "open", "need_help")


class TicketManager(models.Manager):
    """Tickets by natural key (guild's Discord id, code), for fixtures.

    While a legacy fixture loads, the guild's codes are read once (botproject.natural_keys) and the ticket
    returned carries only its primary key and code, which is all loaddata uses.
    """

    def get_by_natural_key(self, guild_id: int, code: str) -> "Ticket":
        table = remembered(("tickets", guild_id), lambda: dict(
            self.filter(guild__discord_id=guild_id).values_list("code", "pk")))
        if table is None:
            return self.get(guild__discord_id=guild_id, code=code)
        if code not in table:
            raise self.model.DoesNotExist(f"no ticket {code!r} in guild {guild_id}")
        return self.model(pk=table[code], code=code)

    def natural_key_of(self, pk: int) -> tuple[int, str]:
        """(guild's Discord id, code) of the ticket with this primary key."""
        table = remembered("ticket_keys", dict)
        if table is not None and pk in table:
            return table[pk]
        key = self.filter(pk=pk).values_list("guild__discord_id", "code").get()
        if table is not None:
            table[pk] = key
        return key


class Ticket(models.Model):
    """A member's ticket: its private channel, status, helpers, and how it ended."""

    class Status(models.TextChoices):
        PENDING = "pending", _("creating the channel")
        OPEN = "open", _("open")
        NEED_HELP = "need_help", _("needs help")
        CLOSED = "closed", _("closed")
        FAILED = "failed", _("failed (no channel)")

    class ClosePath(models.TextChoices):
        WORKS = "works", _("It works! (by the opener)")
        STAFF_AFTER_HELP = "staff_after_help", _("by staff after Need help")
        STAFF = "staff", _("by staff directly")
        OPENER = "opener", _("by the opener (/ticket close)")
        ADMIN = "admin", _("from the admin site")
        LEGACY = "legacy", _("closed in the old bot")
        AUTO = "auto", _("auto-closed")
        OPENER_LEFT = "opener_left", _("the opener left the server")
        REQUEST = "request", _("close request accepted by the opener")

    guild = models.ForeignKey(Guild, on_delete=models.CASCADE, related_name="tickets")
    number = models.PositiveIntegerField(_("number"))
    code = models.CharField(_("code"), max_length=32, help_text=_("The channel is named ticket-<code>; the old bot's "
                                                                  "ticket_id."))
    category = models.ForeignKey(TicketCategory, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="tickets", verbose_name=_("category"))
    category_name = models.CharField(_("category name"), max_length=100, blank=True,
                                     help_text=_("As it was when the ticket opened (or the old bot's category)."))
    opener_id = snowflake(_("opener"))
    slot = models.PositiveSmallIntegerField(_("slot"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    channel_id = snowflake(_("channel"), null=True, blank=True)
    welcome_message_id = snowflake(_("welcome message"), null=True, blank=True)
    member_ids = models.JSONField(_("members with access"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    opened_at = models.DateTimeField(_("channel created at"), null=True, blank=True)
    need_help_at = models.DateTimeField(_("first Need help at"), null=True, blank=True)
    help_pinged_at = models.DateTimeField(_("staff last pinged at"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first staff response at"), null=True, blank=True)
    first_responder_id = snowflake(_("first responder"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, db_index=True)
    closed_by_id = snowflake(_("closed by"), null=True, blank=True)
    closed_by_admin = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("closed by (admin site)"),
        help_text=_("The admin site user who closed the ticket (closed by is then empty: no Discord member)."))
    close_path = models.CharField(_("closed how"), max_length=16, choices=ClosePath.choices, blank=True)
    close_reason = models.CharField(_("close reason"), max_length=500, blank=True)
    resolved = models.BooleanField(_("resolved"), default=False)
    failure = models.CharField(_("failure"), max_length=300, blank=True)
    legacy_id = models.CharField(_("old bot's ticket id"), max_length=32, blank=True,
                                 help_text=_("Set on tickets imported from the old bot."))
    waiting_on_opener = models.BooleanField(_("waiting on the opener"), default=False,
                                            help_text=_("The last message is from staff or a helper."))
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    opened_outside_hours = models.BooleanField(_("opened outside support hours"), default=False)

    objects = TicketManager()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["guild", "number"], name="ticket_number_unique_per_guild"),
            models.UniqueConstraint(fields=["guild", "code"], name="ticket_code_unique_per_guild"),
            models.UniqueConstraint(fields=["guild", "legacy_id"], condition=~Q(legacy_id=""),
                                    name="ticket_legacy_id_unique_per_guild"),
            models.UniqueConstraint(fields=["guild", "opener_id", "category", "slot"],
                                    condition=Q(status__in=OPEN_STATUSES), name="ticket_open_slot_per_member"),
            models.UniqueConstraint(fields=["channel_id"], condition=Q(channel_id__isnull=False),
                                    name="ticket_one_per_channel"),
            models.CheckConstraint(condition=~Q(status__in=OPEN_STATUSES) | Q(slot__gte=1),
                                   name="ticket_open_has_slot"),
            models.CheckConstraint(condition=~Q(status="closed") | Q(closed_at__isnull=False),
                                   name="ticket_closed_has_time"),
            models.CheckConstraint(condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("created_at")),
                                   name="ticket_closed_after_created"),
        ]
        indexes = [models.Index(fields=["guild", "status"], name="ticket_guild_status")]

    def __str__(self) -> str:
        return f"#{self.number} ticket-{self.code}"

    def natural_key(self) -> tuple[int, str]:
        return (guild_discord_id(self.guild_id), self.code)

    natural_key.dependencies = ["botproject.guild"]

    @property
    def is_open(self) -> bool:
        """Open, needing help, or still creating its channel."""
        return self.status in OPEN_STATUSES


class TicketClaimManager(models.Manager):
    """Claims by natural key (guild's Discord id, ticket code, helper's user id), for fixtures."""

    def get_by_natural_key(self, guild_id: int, code: str, user_id: int) -> "TicketClaim":
        table = remembered(("claims", guild_id), lambda: {
            (c, u): pk for c, u, pk in self.filter(ticket__guild__discord_id=guild_id).values_list(
                "ticket__code", "user_id", "pk")})
        if table is None:
            return self.get(ticket__guild__discord_id=guild_id, ticket__code=code, user_id=user_id)
        if (code, user_id) not in table:
            raise self.model.DoesNotExist(f"no claim of {user_id} on {code!r} in guild {guild_id}")
        return self.model(pk=table[(code, user_id)], user_id=user_id)


class TicketClaim(models.Model):
    """A helper (or staff member) who took one of the ticket's helper slots."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="claims")
    user_id = snowflake(_("helper"))
    slot = models.PositiveSmallIntegerField(_("slot"), validators=[MinValueValidator(1)])
    claimed_at = models.DateTimeField(_("claimed at"), default=timezone.now)
    points_awarded = models.PositiveIntegerField(_("points awarded"), default=0)

    objects = TicketClaimManager()

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["ticket", "slot"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "slot"], name="claim_slot_unique"),
            models.UniqueConstraint(fields=["ticket", "user_id"], name="claim_once_per_helper"),
            models.CheckConstraint(condition=Q(slot__gte=1), name="claim_slot_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.ticket}"

    def natural_key(self) -> tuple[int, str, int]:
        return (*Ticket.objects.natural_key_of(self.ticket_id), self.user_id)

    natural_key.dependencies = ["tickets.ticket"]
