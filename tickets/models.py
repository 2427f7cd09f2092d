"""Tickets: categories (services), panels, tickets with their private channels, helper claims, transcripts.

Invariants live in the database:

- a member holds at most `max open` tickets per category: an open-ish ticket takes a `slot` 1..max and
  (guild, opener, category, slot) is unique among open-ish tickets, so simultaneous clicks make one ticket;
- a ticket's helpers take `slot` 1..helper_slots, unique per ticket, and one claim per helper;
- ticket numbers are sequential per guild (a counter row) and unique per guild, as is the random code
  that names the channel (`ticket-<code>`).
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botproject.models import Guild, snowflake
from botproject.natural_keys import guild_discord_id, remembered


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
        ]

    def __str__(self) -> str:
        return f"{self.emoji} {self.name}".strip()


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
            models.CheckConstraint(condition=~Q(status__in=OPEN_STATUSES) | Q(slot__gte=1), name="ticket_open_has_slot"),
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


class TranscriptMessage(models.Model):
    """One message of a ticket channel as it arrived, with its edits and deletion."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    message_id = snowflake(_("message id"), unique=True)
    author_id = snowflake(_("author"))
    author_name = models.CharField(_("author name"), max_length=100, blank=True)
    author_is_bot = models.BooleanField(_("bot"), default=False)
    content = models.TextField(_("content"), blank=True)
    embeds = models.JSONField(_("embeds (title and text)"), default=list, blank=True)
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    edits = models.JSONField(_("earlier versions"), default=list, blank=True)
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("transcript message")
        verbose_name_plural = _("transcript messages")
        ordering = ["ticket", "created_at", "message_id"]

    def __str__(self) -> str:
        return f"{self.author_name or self.author_id}: {self.content[:40]}"


class TicketTranscript(models.Model):
    """The self-contained HTML transcript stored when the ticket closed."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, primary_key=True, related_name="transcript")
    html = models.TextField(_("HTML"))
    message_count = models.PositiveIntegerField(_("messages"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    log_outbox_id = models.BigIntegerField(_("log note (outbox row)"), null=True, blank=True)

    class Meta:
        verbose_name = _("transcript")
        verbose_name_plural = _("transcripts")

    def __str__(self) -> str:
        return str(self.ticket)
