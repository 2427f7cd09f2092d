"""Issue 13.9: order numbers and e-mail addresses with line breaks are refused at import (row errors), a subject
is always one line, and the outbox fails for good a message that can never be sent (refused recipient, broken
header, unknown Discord user) while it retries transient failures. Real SMTP server (aiosmtpd), real emulator."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction
from django.utils import translation

from botproject import outbox
from botproject import services as core
from botproject.models import OutboxMessage
from points import exceptions
from points import services as points
from points.models import Order
from points.services import order_import as imports
from tests.conftest import eventually, start_runner, stop_runner

HEADER = "order id,email,amount,currency,code"


@pytest.mark.django_db
@pytest.mark.parametrize("language, expected", [
    ("en", "The cell contains a line break"),
    ("vi", "Ô có dấu xuống dòng"),
])
def test_line_breaks_in_order_numbers_and_addresses_are_row_errors(language, expected):
    core.guild_ensure(guild_id=111, name="Alpha")
    data = (f'{HEADER}\n"A-1\nBcc: victim@example.com",ann@example.com,5,,\n'
            f'A-2,"bob@example.com\rBcc: x@example.com",5,,\n'
            f'"A-3\u2028X",cy@example.com,5,,\n'
            'A-4,dee@example.com,5,,\n').encode()
    with translation.override(language):
        preview = imports.parse_orders(data, 111)
    assert [(e.line, e.column) for e in preview.errors] == [(3, "order_number"), (5, "email"), (6, "order_number")]
    assert all(e.message.startswith(expected) for e in preview.errors)
    assert all("\n" not in e.value and "\r" not in e.value for e in preview.errors)
    assert [r.order_number for r in preview.rows] == ["A-4"]
    with pytest.raises(exceptions.HasRowErrors):
        imports.orders_import(guild_id=111, source=data, filename="shop.csv")
    assert not Order.objects.exists()


class _Inbox:
    """An SMTP server's mailbox: refuses gone@ for good (550) and busy@ for now (451), keeps the rest."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.arrived = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.arrived.set()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _smtp_settings(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings):
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    _smtp_settings(settings, controller.port)
    yield inbox
    controller.stop()


def _mail(to: str, subject: str = "Hello") -> int:
    with transaction.atomic():
        return outbox.enqueue_email(guild=None, to=to, subject=subject, text="body")


def _attempted(row_id: int) -> OutboxMessage:
    return eventually(lambda: OutboxMessage.objects.filter(pk=row_id).exclude(last_error="").first()
                      or OutboxMessage.objects.filter(pk=row_id, status="sent").first(), timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_mail_that_can_never_be_sent_fails_for_good_and_a_busy_one_is_retried(own_emulator, smtp_server, settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    harness, world = own_emulator, own_emulator.world
    core.guild_ensure(guild_id=world.guild_id, name="Shop")
    runner = start_runner(harness)
    try:
        refused = _attempted(_mail("gone@example.com"))
        broken = _attempted(_mail("ann@example.com\nBcc: victim@example.com"))
        busy = _attempted(_mail("busy@example.com"))
        fine = _attempted(_mail("ok@example.com"))
    finally:
        stop_runner(harness, runner)
    assert (refused.status, refused.attempts) == ("failed", 1) and "550" in refused.last_error
    assert (broken.status, broken.attempts) == ("failed", 1)
    assert (busy.status, busy.attempts) == ("pending", 1) and "451" in busy.last_error
    assert fine.status == "sent"
    assert [m["To"] for m in smtp_server.messages] == ["ok@example.com"]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_smtp_server_is_retried(own_emulator, settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    _smtp_settings(settings, _free_port())  # nobody listens there: connection refused
    harness = own_emulator
    runner = start_runner(harness)
    try:
        row = _attempted(_mail("ok@example.com"))
    finally:
        stop_runner(harness, runner)
    assert (row.status, row.attempts) == ("pending", 1) and "refused" in row.last_error.lower()


@pytest.mark.django_db(transaction=True)
def test_an_order_number_with_a_line_break_still_gets_its_receipt_with_a_one_line_subject(own_emulator, smtp_server,
                                                                                          settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    harness, world = own_emulator, own_emulator.world
    core.guild_ensure(guild_id=world.guild_id, name="Shop")
    # Typed by hand (not imported): the import refuses it, but the receipt must not become unsendable.
    Order.objects.create(guild=core.config_row(world.guild_id).guild, order_number="SO-9\r\nBcc: victim@example.com",
                         email="buyer@example.com", amount=Decimal("20.00"),
                         code_hash=points.code_hash(world.guild_id, "MAIL-CODE-2345"), code_hint="2345")
    runner = start_runner(harness)
    try:
        points.order_claim(guild_id=world.guild_id, user_id=world.member, code="MAIL-CODE-2345")
        assert smtp_server.arrived.wait(10), "no e-mail arrived"
    finally:
        stop_runner(harness, runner)
    message = smtp_server.messages[0]
    assert message["Subject"] == "Your order SO-9 Bcc: victim@example.com: 20 points credited"
    assert message["Bcc"] is None and message["To"] == "buyer@example.com"


@pytest.mark.django_db(transaction=True)
def test_a_dm_to_a_user_that_does_not_exist_fails_for_good(own_emulator, settings):
    settings.OUTBOX_SWEEP_SECONDS = 0.2
    harness, world = own_emulator, own_emulator.world
    core.guild_ensure(guild_id=world.guild_id, name="Shop")
    runner = start_runner(harness)
    try:
        with transaction.atomic():
            row_id = outbox.enqueue_dm(guild=None, user_id=4242424242424242, content="hello")
        row = _attempted(row_id)
    finally:
        stop_runner(harness, runner)
    assert (row.status, row.attempts) == ("failed", 1) and "10013" in row.last_error
