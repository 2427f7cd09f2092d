"""Issue 13.7: a ticket message's archive keeps a bounded edit history, the transcript is rendered and stored
outside the close transaction, and the order import's preview keeps no code in clear in the session."""

from __future__ import annotations

import base64
import binascii
import json
import zlib

import pytest
from django.db import connection
from django.urls import reverse

from botproject import services as core
from points.models import Order
from tests.conftest import eventually
from tests.test_orders_import import IMPORT_URL, csv_bytes, staff_client, token_of, upload, world  # noqa: F401
from tests.test_tickets_e2e import _open
from tickets import services
from tickets.models import Ticket, TicketTranscript, TranscriptMessage


# --- the edit history ---------------------------------------------------------------------------------------
def test_thirty_edits_keep_the_last_ten_versions_each_capped(tickets_bot):
    bot, guild, emu = tickets_bot, tickets_bot.world, tickets_bot.emulator
    _open(bot)
    ticket = Ticket.objects.get()
    message = emu.user_message(ticket.channel_id, guild.member, "version 0")
    eventually(lambda: TranscriptMessage.objects.filter(message_id=message.id).exists())
    for n in range(1, 30):
        emu.user_edit_message(message.id, f"version {n}" if n != 25 else "x" * 9000)
    emu.user_edit_message(message.id, "final")
    archived = eventually(lambda: TranscriptMessage.objects.filter(message_id=message.id, content="final").first())
    assert len(archived.edits) == 10
    assert [v["content"][:10] for v in archived.edits] == [
        "version 20", "version 21", "version 22", "version 23", "version 24", "x" * 10, "version 26",
        "version 27", "version 28", "version 29"]
    assert max(len(v["content"]) for v in archived.edits) == 4000
    assert len(json.dumps(archived.edits)) < 10 * 4200


# --- the transcript outside the close transaction -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_transcript_is_rendered_and_stored_after_the_close_committed():
    core.guild_ensure(guild_id=5150, name="Long tickets")
    category = services.category_create(guild_id=5150, name="Support")
    ticket = services.ticket_open(guild_id=5150, category_id=category, opener_id=7)
    services.ticket_channel_created(guild_id=5150, ticket_id=ticket.id, channel_id=9001)
    for n in range(300):
        services.transcript_message(ticket_id=ticket.id, message_id=10_000 + n, author_id=7, author_name="opener",
                                    is_bot=False, content=f"line {n}", embeds=[], attachments=[])
    statements = []

    def record(execute, sql, params, many, context):
        # Which outermost transaction (atomic block) each statement ran in: None outside any.
        statements.append((sql, connection.atomic_blocks[0] if connection.atomic_blocks else None))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        result = services.ticket_close(guild_id=5150, ticket_id=ticket.id, actor_id=8, is_staff=True, reason="done")
    close = next(block for sql, block in statements
                 if sql.startswith('UPDATE "tickets_ticket"') and '"status"' in sql)
    store = next(block for sql, block in statements if sql.startswith('INSERT INTO "tickets_tickettranscript"'))
    reads = [block for sql, block in statements if '"tickets_transcriptmessage"."content"' in sql]
    assert close is not None and store is not None
    assert store is not close, "the transcript was stored inside the close transaction"
    assert reads and all(block is not close for block in reads), "the messages were read inside the close"
    transcript = TicketTranscript.objects.get(ticket_id=ticket.id)
    assert transcript.message_count == 300 and "line 299" in transcript.html
    assert "300 messages in the transcript." in result.log_text
    assert services.transcript_store(ticket_id=ticket.id) == transcript.html  # stored once, returned after


# --- the import preview's session --------------------------------------------------------------------------------
def _decoded(value) -> list[str]:
    """Every string in the session, also base64- and zlib-decoded where it decodes."""
    found = []
    if isinstance(value, dict):
        for item in value.values():
            found += _decoded(item)
    elif isinstance(value, str):
        found.append(value)
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return found
        found.append(raw.decode("latin-1"))
        try:
            found.append(zlib.decompress(raw).decode("utf-8", "replace"))
        except zlib.error:
            pass
    return found


def test_the_import_preview_keeps_no_code_in_clear_in_the_session(staff_client, world):  # noqa: F811  (fixture imported from another test module)
    data = csv_bytes("A-1,ann@example.com,12.50,USD,SECRET-CODE-7788", "A-2,bob@example.com,3,,")
    preview = upload(staff_client, world["a"], data)
    token = token_of(preview)
    assert token
    stash = staff_client.session["points_order_import"]
    texts = _decoded(stash)
    assert not any("SECRET" in text or "SECRETCODE7788" in text for text in texts)
    assert token not in json.dumps(stash)
    # A wrong token imports nothing; the right one imports the file checked in the preview.
    staff_client.post(reverse(IMPORT_URL), {"token": token[:-2] + "xx"})
    assert not Order.objects.exists()
    done = staff_client.post(reverse(IMPORT_URL), {"token": token})
    assert "Imported 2 orders." in done.content.decode()
    assert sorted(Order.objects.values_list("order_number", flat=True)) == ["A-1", "A-2"]
    assert "points_order_import" not in staff_client.session
