"""The durable outbox: delivered once across a bot restart, closed DMs go to the log channel, e-mail via SMTP,
scheduled channel deletes and role removals (admin-site unlinks) done after a restart."""

import email
import email.policy
import signal
import socket
import subprocess
import threading
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller

from botproject import services as core
from botproject.models import DiscordUser, OutboxMessage
from points import services as points
from points.models import Order
from tests.conftest import manage, start_runner, stop_runner
from verification import services as verification
from verification.models import RobloxLink


def _award(world, key: str, amount: int = 5):
    return points.points_award(guild_id=world.guild_id, user_id=world.member, amount=amount, reason="thanks",
                               idempotency_key=key)


@pytest.mark.django_db(transaction=True)
def test_a_dm_is_delivered_once_across_a_restart_in_the_middle_of_sending(own_emulator, settings):
    settings.OUTBOX_LEASE_SECONDS = 0.3
    settings.OUTBOX_SWEEP_SECONDS = 0.1
    harness, world = own_emulator, own_emulator.world
    core.guild_ensure(guild_id=world.guild_id, name="Own Guild")
    first = start_runner(harness)
    # Discord receives the DM but the bot dies before it hears back.
    held = harness.hold("POST", r"/channels/\d+/messages", times=1)
    _award(world, "restart")
    harness.wait_for(lambda: held.waiting == 1)
    stop_runner(harness, first)
    harness.call(held.release)
    harness.wait_for(lambda: len(harness.emu.dms(world.member)) == 1)
    row = OutboxMessage.objects.get(kind="dm")
    assert row.status == "pending" and row.attempts == 1  # nobody recorded the send

    second = start_runner(harness)
    try:
        outbox_cog = second.bot.get_cog("OutboxCog")
        harness.wait_for(lambda: row.pk in outbox_cog.recently_delivered, timeout=10)
    finally:
        stop_runner(harness, second)
    row.refresh_from_db()
    dms = harness.emu.dms(world.member)
    assert len(dms) == 1, "the member got the notice exactly once"
    assert (row.status, row.attempts, row.discord_message_id) == ("sent", 2, dms[0].id)
    assert harness.emu.stats["nonce_dedupes"] == 1
    assert dms[0].content == "+5 points in Own Guild (thanks). Your balance: 5."


@pytest.mark.django_db(transaction=True)
def test_closed_dms_are_marked_and_the_notice_goes_to_the_log_channel(own_emulator):
    harness, world = own_emulator, own_emulator.world
    core.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    harness.set_dms_closed(world.member, True)
    runner = start_runner(harness)
    try:
        _award(world, "closed")
        note = f"📪 Could not DM <@{world.member}> (their DMs are closed). The message was: +5 points"
        harness.wait_for(lambda: any(m.content.startswith(note) for m in harness.emu.messages(world.logs)))
    finally:
        stop_runner(harness, runner)
    assert OutboxMessage.objects.get(kind="dm").status == "rerouted"
    assert DiscordUser.objects.get(user_id=world.member).dms_closed_at is not None
    assert harness.emu.dms(world.member) == []


class _Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd checks its own port at start, so it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "vi"])
def test_a_claim_receipt_reaches_a_real_smtp_server_in_the_guilds_language(own_emulator, smtp_server, language):
    harness, world = own_emulator, own_emulator.world
    core.guild_ensure(guild_id=world.guild_id, name="Shop")
    core.config_set_language(guild_id=world.guild_id, language=language)
    Order.objects.create(guild=core.config_row(world.guild_id).guild, order_number="SO-9", email="buyer@example.com",
                         amount=Decimal("20.00"), code_hash=points.code_hash(world.guild_id, "MAIL-CODE-2345"),
                         code_hint="2345")
    runner = start_runner(harness)
    try:
        points.order_claim(guild_id=world.guild_id, user_id=world.member, code="MAIL-CODE-2345")
        assert smtp_server.arrived.wait(10), "no e-mail arrived"
        row = OutboxMessage.objects.get(kind="email")
        harness.wait_for(lambda: row.pk in runner.bot.get_cog("OutboxCog").recently_delivered)
    finally:
        stop_runner(harness, runner)
    message = smtp_server.messages[0]
    assert message["To"] == "buyer@example.com"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    if language == "en":
        assert message["Subject"] == "Your order SO-9: 20 points credited"
        assert "20 points were credited" in text and "<strong>SO-9</strong>" in html
    else:
        assert message["Subject"].strip() == "Đơn hàng SO-9 của bạn: đã cộng 20 điểm"
        assert "điểm" in text and "SO-9" in html
    assert OutboxMessage.objects.get(kind="email").status == "sent"


@pytest.mark.django_db(transaction=True)
def test_a_change_in_another_process_wakes_the_bot_through_redis(own_emulator, settings):
    from channels.layers import channel_layers

    harness, world = own_emulator, own_emulator.world
    redis_url = "redis://127.0.0.1:6379/7"
    core.config_set_channel(guild_id=world.guild_id, kind="log", channel_id=world.logs, channel_type="text")
    emu = harness.emu
    env = {"DISCORD_TOKEN": emu.token, "DISCORD_API_BASE_URL": emu.api_url, "DISCORD_GATEWAY_URL": emu.gateway_url,
           "PORT": "0", "WEB_HOST": "127.0.0.1", "REDIS_URL": redis_url,
           "OUTBOX_SWEEP_SECONDS": "600"}  # no sweep during the test: only the wake-up can deliver
    child = manage("runbot", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for line in child.stderr:
            if "ready in" in line:
                break
        # Pending notes from before the bot started were swept at its start; now the admin (this
        # process, a different one) changes a setting.
        settings.REDIS_URL = redis_url
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                               "CONFIG": {"hosts": [redis_url]}}}
        channel_layers.backends = {}
        core.config_update(guild_id=world.guild_id, changes={"pads_max_duration_minutes": 90})
        harness.wait_for(lambda: any("longest pad session" in m.content for m in emu.messages(world.logs)),
                         timeout=10)
    finally:
        channel_layers.backends = {}
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    assert child.returncode == 0


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_channel_delete_happens_on_time_and_after_a_restart(own_emulator):
    from datetime import timedelta

    from django.utils import timezone

    from botproject import outbox

    harness, world = own_emulator, own_emulator.world
    guild = core.config_row(world.guild_id).guild
    soon = harness.add_channel(world.guild_id, "ticket-soon")
    later = harness.add_channel(world.guild_id, "ticket-later")
    runner = start_runner(harness)
    first = outbox.enqueue_channel_delete(guild=guild, channel_id=soon.id, at=timezone.now() + timedelta(seconds=0.3))
    harness.wait_for(lambda: first in runner.bot.get_cog("OutboxCog").recently_delivered)
    assert harness.emu.channel(soon.id) is None
    # A delete scheduled before a restart happens after it.
    second = outbox.enqueue_channel_delete(guild=guild, channel_id=later.id, at=timezone.now() + timedelta(seconds=0.5))
    stop_runner(harness, runner)
    assert harness.emu.channel(later.id) is not None
    runner = start_runner(harness)
    try:
        harness.wait_for(lambda: second in runner.bot.get_cog("OutboxCog").recently_delivered, timeout=5)
    finally:
        stop_runner(harness, runner)
    assert harness.emu.channel(later.id) is None
    assert set(OutboxMessage.objects.filter(kind="chan_del").values_list("status", flat=True)) == {"sent"}


def _linked_member(harness, world, name: str) -> RobloxLink:
    """`world.member` linked to Roblox `name` (verified role and nickname as the bot gives them)."""
    core.config_set_role(guild_id=world.guild_id, kind="verified", role_id=world.verified_role)
    core.config_update(guild_id=world.guild_id, changes={"verification_set_nickname": True})
    harness.set_member(world.guild_id, world.member, nick=name)
    return RobloxLink.objects.create(guild=core.config_row(world.guild_id).guild, user_id=world.member,
                                     roblox_id=4242, roblox_name=name)


@pytest.mark.django_db(transaction=True)
def test_an_admin_unlink_made_while_the_bot_is_down_takes_the_role_at_its_start(own_emulator):
    harness, world = own_emulator, own_emulator.world
    link = _linked_member(harness, world, "MemberBuilds")
    verification.link_unlink_from_admin(link_id=link.pk)  # no bot running: nobody to wake
    member = harness.emu.member(world.guild_id, world.member)
    assert world.verified_role in member.roles and member.nick == "MemberBuilds"
    row = OutboxMessage.objects.get(kind="role_del")
    runner = start_runner(harness)
    try:
        harness.wait_for(lambda: row.pk in runner.bot.get_cog("OutboxCog").recently_delivered, timeout=10)
    finally:
        stop_runner(harness, runner)
    member = harness.emu.member(world.guild_id, world.member)
    assert world.verified_role not in member.roles and member.nick is None
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")


@pytest.mark.django_db(transaction=True)
def test_a_role_removal_cut_off_by_a_restart_is_finished_without_error(own_emulator, settings):
    settings.OUTBOX_LEASE_SECONDS = 0.3
    settings.OUTBOX_SWEEP_SECONDS = 0.1
    harness, world = own_emulator, own_emulator.world
    link = _linked_member(harness, world, "MemberBuilds")
    first = start_runner(harness)
    # Discord takes the role but the bot dies before it hears back (and before the nickname).
    held = harness.hold("DELETE", r"/guilds/\d+/members/\d+/roles/\d+", times=1)
    verification.link_unlink_from_admin(link_id=link.pk)
    harness.wait_for(lambda: held.waiting == 1)
    stop_runner(harness, first)
    harness.call(held.release)
    harness.wait_for(lambda: world.verified_role not in harness.emu.member(world.guild_id, world.member).roles)
    row = OutboxMessage.objects.get(kind="role_del")
    assert row.status == "pending" and row.attempts == 1  # nobody recorded the removal

    second = start_runner(harness)
    try:
        harness.wait_for(lambda: row.pk in second.bot.get_cog("OutboxCog").recently_delivered, timeout=10)
    finally:
        stop_runner(harness, second)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")  # the role was gone: that is done
    assert harness.emu.member(world.guild_id, world.member).nick is None

