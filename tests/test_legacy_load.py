"""loaddata of convert_legacy's fixtures: totals, idempotence, merging into a guild with data, refusals.

Real database, no mocks; the last tests run `python manage.py convert_legacy / loaddata / check_ledger` as child
processes to prove their exit codes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import translation

from botproject import services as core
from botproject.models import Guild, GuildConfig
from points import services as points
from points.models import GuildPointsStats, LedgerEntry, LegacyImport, LegacyPointsBatch, MemberProfile
from tests.conftest import ROOT, database_url
from tests.legacy_support import GUILD, SAMPLES, closed, convert, load, ticket, tickets_file, write_json
from tickets import services as tickets
from tickets.models import Ticket, TicketClaim, TicketCounter, TicketPanel

ALICE, BOB, CARA, DAN = 318456789012345678, 402987654321098765, 559911223344556677, 771234567890123456
FLAT = {ALICE: 150, BOB: 20, CARA: 0, DAN: 3875}
SERVICES = {ALICE: 55, BOB: 5, DAN: 153}


def balances(guild_id: int = GUILD) -> dict[int, int]:
    return dict(MemberProfile.objects.filter(guild__discord_id=guild_id).values_list("user_id", "balance"))


def ledger_sums(guild_id: int = GUILD) -> dict[int, int]:
    rows = LedgerEntry.objects.filter(guild__discord_id=guild_id).values_list("member__user_id").annotate(
        total=Sum("delta"))
    return dict(rows)


def statuses(guild_id: int = GUILD) -> dict[str, int]:
    return dict(Ticket.objects.filter(guild__discord_id=guild_id).values_list("status").annotate(n=Count("id")))


def check_ledger() -> str:
    out = io.StringIO()
    call_command("check_ledger", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Everything a legacy load writes, to compare before and after loading again."""
    def rows(model, *fields):
        return sorted(model.objects.values_list(*fields))

    return {
        "guilds": rows(Guild, "discord_id", "name", "joined_at", "left_at"),
        "configs": GuildConfig.objects.count(),
        "profiles": rows(MemberProfile, "guild_id", "user_id", "balance", "earned_total", "spent_total", "entries",
                         "last_activity_at", "email", "created_at"),
        "ledger": rows(LedgerEntry, "idempotency_key", "delta", "balance_after", "kind", "reason", "created_at"),
        "stats": rows(GuildPointsStats, "guild_id", "members"),
        "imports": rows(LegacyImport, "key", "loaded_at"),
        "batches": LegacyPointsBatch.objects.count(),
        "tickets": rows(Ticket, "number", "code", "status", "opener_id", "channel_id", "created_at", "closed_at",
                        "closed_by_id", "close_path", "resolved", "member_ids"),
        "claims": rows(TicketClaim, "ticket__code", "user_id", "slot", "claimed_at", "points_awarded"),
        "panels": rows(TicketPanel, "legacy_id", "channel_id", "message_id", "legacy_category", "created_at"),
        "counters": rows(TicketCounter, "guild_id", "last_number"),
    }


# --- every sample -----------------------------------------------------------------------------------------
SAMPLE_SETS = {
    "flat points": ({"points": "points.flat.json"}, FLAT),
    "services, numbers and tickets": ({"points": "points.services.json", "numbers": "ticket_numbers.json",
                                       "tickets": "tickets.json"}, SERVICES),
    "ticket numbers only": ({"numbers": "ticket_numbers.json"}, {}),
    "tickets only": ({"tickets": "tickets.json"}, {}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", SAMPLE_SETS)
def test_every_sample_converts_and_loads_with_equal_totals(tmp_path, name):
    files, expected_points = SAMPLE_SETS[name]
    fixture = convert(tmp_path, **{k: SAMPLES / v for k, v in files.items()}).fixture
    assert "Installed" in load(fixture)

    assert balances() == expected_points and ledger_sums() == {u: p for u, p in expected_points.items() if p}
    assert "OK: all" in check_ledger()
    assert GuildPointsStats.objects.get(guild__discord_id=GUILD).members == len(expected_points)
    assert set(LedgerEntry.objects.values_list("kind", flat=True)) <= {"legacy_import"}
    assert LegacyImport.objects.get().loaded_at is not None
    assert GuildConfig.objects.filter(guild__discord_id=GUILD).exists()
    if "tickets" in files:
        assert statuses() == {"open": 1, "need_help": 1, "closed": 2}
        old = Ticket.objects.get(code="old123")
        assert (old.closed_by_id, old.close_path, old.category_name, old.legacy_id) == (DAN, "legacy", "Activation",
                                                                                       "old123")
        assert old.closed_at.isoformat() == "2026-01-18T11:45:00+00:00" and old.category is None
        assert sorted(TicketClaim.objects.values_list("ticket__code", "user_id")) == [("k9x2pq", DAN),
                                                                                      ("old123", DAN)]
        panel = TicketPanel.objects.get()
        assert (panel.message_id, panel.legacy_category) == (1201234567890123456, "General Support")
    last = TicketCounter.objects.filter(guild__discord_id=GUILD).values_list("last_number", flat=True).first()
    assert last == {"flat points": None, "ticket numbers only": 128, "tickets only": 4}.get(name, 132)
    if name == "services, numbers and tickets":
        assert sorted(LedgerEntry.objects.filter(member__user_id=ALICE).values_list("reason", "delta")) == [
            ("Demon Slayer", 40), ("Raid Carry", 15)]


@pytest.mark.django_db
def test_loading_the_same_fixture_twice_changes_nothing(tmp_path):
    fixture = convert(tmp_path, points=SAMPLES / "points.services.json", numbers=SAMPLES / "ticket_numbers.json",
                      tickets=SAMPLES / "tickets.json").fixture
    load(fixture)
    first = snapshot()
    load(fixture)
    assert snapshot() == first
    # Converted again from the same files (a new fixture file): still nothing new.
    load(convert(tmp_path, points=SAMPLES / "points.services.json", numbers=SAMPLES / "ticket_numbers.json",
                 tickets=SAMPLES / "tickets.json", name="again.json").fixture)
    assert snapshot() == first
    assert "OK: all 3 members" in check_ledger()


@pytest.mark.django_db
def test_the_load_shows_a_progress_bar_when_asked(tmp_path, monkeypatch, capsys):
    fixture = convert(tmp_path, points=SAMPLES / "points.flat.json", tickets=SAMPLES / "tickets.json").fixture
    monkeypatch.setenv("LEGACY_PROGRESS", "1")
    load(fixture)
    assert f"100% 11/11 legacy rows loaded into guild {GUILD}" in capsys.readouterr().err


# --- merging into a guild that has data -------------------------------------------------------------------
@pytest.mark.django_db
def test_merging_into_a_guild_with_data_adds_and_never_double_credits(tmp_path):
    core.guild_ensure(guild_id=GUILD, name="Old Server", owner_id=42)
    joined = Guild.objects.get(discord_id=GUILD).joined_at
    points.points_award(guild_id=GUILD, user_id=ALICE, amount=10, reason="before", idempotency_key="live-1")
    points.profile_set_email(guild_id=GUILD, user_id=ALICE, email="alice@example.com")
    category = tickets.category_create(guild_id=GUILD, name="Support", helper_points=3)
    live = [tickets.ticket_open(guild_id=GUILD, category_id=category, opener_id=9000 + n) for n in range(3)]
    TicketCounter.objects.filter(guild__discord_id=GUILD).update(last_number=200)  # e.g. after deletions

    fixture = convert(tmp_path, points=SAMPLES / "points.services.json", numbers=SAMPLES / "ticket_numbers.json",
                      tickets=SAMPLES / "tickets.json").fixture
    load(fixture)

    guild = Guild.objects.get(discord_id=GUILD)
    assert (guild.name, guild.owner_id, guild.joined_at) == ("Old Server", 42, joined)
    assert balances() == {ALICE: 65, BOB: 5, DAN: 153} and "OK: all 3 members" in check_ledger()
    alice = MemberProfile.objects.get(user_id=ALICE)
    assert alice.email == "alice@example.com" and alice.entries == 3 and alice.earned_total == 65
    assert GuildPointsStats.objects.get(guild=guild).members == 3
    legacy_numbers = sorted(Ticket.objects.exclude(legacy_id="").values_list("number", flat=True))
    assert legacy_numbers == [201, 202, 203, 204] and {t.number for t in live} == {1, 2, 3}
    assert TicketCounter.objects.get(guild=guild).last_number == 204

    # Life goes on in the new bot; then the same fixture is loaded again by mistake.
    points.points_award(guild_id=GUILD, user_id=DAN, amount=7, reason="after", idempotency_key="live-2")
    opened = Ticket.objects.get(code="abc123")
    tickets.ticket_close_from_admin(ticket_id=opened.pk)
    new = tickets.ticket_open(guild_id=GUILD, category_id=category, opener_id=9100)
    before = snapshot()
    load(fixture)
    assert snapshot() == before
    assert Ticket.objects.get(code="abc123").status == "closed" and new.number == 205
    assert balances()[DAN] == 160 and "OK: all 3 members" in check_ledger()


@pytest.mark.django_db
def test_changed_old_points_are_refused_at_conversion_and_at_load(tmp_path):
    first = write_json(tmp_path, "first.json", {str(ALICE): 150, str(BOB): 20})
    changed = write_json(tmp_path, "changed.json", {str(ALICE): 175, str(BOB): 20, str(CARA): 4})
    services = write_json(tmp_path, "services.json", {str(BOB): {"Raid Carry": 20}})
    early = convert(tmp_path, points=changed, name="early.json").fixture  # converted before the first load
    load(convert(tmp_path, points=first).fixture)

    with pytest.raises(CommandError):
        convert(tmp_path, points=changed, name="late.json")
    report = json.loads((tmp_path / "late.report.json").read_text(encoding="utf-8"))
    assert report["rejected"] == [{"file": "changed.json", "path": f'$["{ALICE}"]', "reason":
                                   "the balance was imported before as +150; this file says +175 (a member's old "
                                   "points are imported once; fix by hand)"}]
    with pytest.raises(CommandError):
        convert(tmp_path, points=services, name="svc-out.json")
    assert "the balance (+20) was imported before and is not in this file" in (
        tmp_path / "svc-out.report.txt").read_text(encoding="utf-8")

    before = snapshot()
    with pytest.raises(CommandError) as refused:
        load(early)
    assert f"<@{ALICE}>: the balance was imported before as +150; this file says +175" in str(refused.value)
    assert "nothing was loaded" in str(refused.value)
    assert snapshot() == before  # not even the new member CARA

    partial = convert(tmp_path, points=changed, name="partial.json", extra=("--allow-partial",)).fixture
    load(partial)
    assert balances() == {ALICE: 150, BOB: 20, CARA: 4} and "OK: all 3 members" in check_ledger()


@pytest.mark.django_db
def test_a_ticket_number_taken_after_the_conversion_stops_the_load(tmp_path):
    core.guild_ensure(guild_id=GUILD, name="Server")
    fixture = convert(tmp_path, points=SAMPLES / "points.flat.json", tickets=SAMPLES / "tickets.json").fixture
    category = tickets.category_create(guild_id=GUILD, name="Support")
    tickets.ticket_open(guild_id=GUILD, category_id=category, opener_id=1234)  # takes #1 meanwhile
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        load(fixture)
    assert "Ticket number #1 (for the old bot's ticket 'zz0001') was taken after the conversion" in str(refused.value)
    assert snapshot() == before


@pytest.mark.django_db
def test_a_code_of_this_bots_ticket_is_never_overwritten(tmp_path):
    core.guild_ensure(guild_id=GUILD, name="Server")
    fixture = convert(tmp_path, tickets=write_json(tmp_path, "t.json", tickets_file(
        tickets={"k2x9aa": ticket("k2x9aa")}))).fixture
    category = tickets.category_create(guild_id=GUILD, name="Support")
    live = tickets.ticket_open(guild_id=GUILD, category_id=category, opener_id=1234)
    Ticket.objects.filter(pk=live.id).update(code="k2x9aa", number=50)  # the same random code, by chance
    with pytest.raises(CommandError) as refused:
        load(fixture)
    assert "has the code of ticket #50 of this bot" in str(refused.value)
    assert Ticket.objects.get(code="k2x9aa").opener_id == 1234 and Ticket.objects.count() == 1


@pytest.mark.django_db
def test_malformed_input_loads_nothing(tmp_path):
    bad = write_json(tmp_path, "points.json", {str(ALICE): -5, str(BOB): 20})
    tickets_json = write_json(tmp_path, "tickets.json", tickets_file(closed_tickets=[closed("a"), closed("a")]))
    for kwargs in ({"points": bad}, {"tickets": tickets_json}):
        with pytest.raises(CommandError):
            convert(tmp_path, **kwargs)
        assert not (tmp_path / "legacy.json").exists()
        with pytest.raises(CommandError, match="No fixture named"):
            load(tmp_path / "legacy.json")
    after = snapshot()
    assert [after[k] for k in ("guilds", "profiles", "ledger", "tickets", "imports", "panels")] == [[]] * 6


@pytest.mark.django_db
def test_natural_keys_round_trip_through_dumpdata(tmp_path):
    load(convert(tmp_path, points=SAMPLES / "points.services.json", tickets=SAMPLES / "tickets.json").fixture)
    before = snapshot()
    dump = tmp_path / "dump.json"
    call_command("dumpdata", "points.memberprofile", "points.ledgerentry", "tickets.ticket", "tickets.ticketclaim",
                 "tickets.ticketpanel", "--natural-foreign", "--natural-primary", "-o", str(dump), verbosity=0)
    objects = json.loads(dump.read_text())
    assert all("pk" not in o for o in objects) and len(objects) == 3 + 5 + 4 + 2 + 1
    entry = next(o for o in objects if o["model"] == "points.ledgerentry")
    assert entry["fields"]["member"][0] == GUILD and entry["fields"]["guild"] == [GUILD]
    load(dump)  # every row is found by its natural key: nothing is added (dumpdata keeps only milliseconds)
    sizes = {name: len(rows) if isinstance(rows, list) else rows for name, rows in snapshot().items()}
    assert sizes == {name: len(rows) if isinstance(rows, list) else rows for name, rows in before.items()}
    assert balances() == SERVICES and "OK: all 3 members" in check_ledger()


@pytest.mark.django_db
def test_the_admin_shows_what_an_import_brought(tmp_path, admin_client):
    load(convert(tmp_path, points=SAMPLES / "points.flat.json", tickets=SAMPLES / "tickets.json").fixture)
    page = admin_client.get(reverse("admin:points_legacyimport_changelist")).content.decode()
    assert "members: 4, points: 4,045, ledger entries: 3, tickets: 4" in page
    legacy = LegacyImport.objects.get()
    assert admin_client.get(reverse("admin:points_legacyimport_change", args=[legacy.pk])).status_code == 200
    ticket_page = admin_client.get(reverse("admin:tickets_ticket_change", args=[Ticket.objects.get(code="old123").pk]))
    assert "old123" in ticket_page.content.decode()
    with translation.override("vi"):
        assert str(LegacyImport._meta.verbose_name_plural) == "các lần nhập từ bot cũ"
        assert str(Ticket._meta.get_field("legacy_id").verbose_name) == "mã ticket ở bot cũ"


# --- the commands as processes ------------------------------------------------------------------------------
def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DATABASE_URL": database_url(), "LEGACY_PROGRESS": "1"})


@pytest.mark.django_db(transaction=True)
def test_the_commands_exit_codes_as_processes(tmp_path):
    fixture = tmp_path / "legacy.json"
    files = ["--points", str(SAMPLES / "points.services.json"), "--ticket-numbers",
             str(SAMPLES / "ticket_numbers.json"), "--tickets", str(SAMPLES / "tickets.json")]
    converted = manage("convert_legacy", "--guild", str(GUILD), *files, "--out", str(fixture))
    assert converted.returncode == 0, converted.stderr
    assert "100% 9/9 records checked" in converted.stderr and "Load it with" in converted.stdout

    for _ in range(2):  # the second load finds every row there and changes nothing
        loaded = manage("loaddata", str(fixture))
        assert loaded.returncode == 0, loaded.stderr
        assert "Installed 11 object(s)" in loaded.stdout and "100% 10/10 legacy rows loaded" in loaded.stderr
        assert balances() == SERVICES and statuses() == {"open": 1, "need_help": 1, "closed": 2}
    checked = manage("check_ledger")
    assert checked.returncode == 0 and "OK: all 3 members" in checked.stdout

    bad = write_json(tmp_path, "bad.json", {str(ALICE): -1})
    refused = manage("convert_legacy", "--guild", str(GUILD), "--points", str(bad), "--out", str(tmp_path / "b.json"))
    assert refused.returncode == 1 and f'$["{ALICE}"]: negative points (-1)' in refused.stdout
    assert "1 records were rejected: no fixture was written" in refused.stderr
    assert manage("loaddata", str(tmp_path / "b.json")).returncode == 1

    changed = write_json(tmp_path, "changed.json", {str(ALICE): {"Demon Slayer": 41, "Raid Carry": 15}})
    partial = manage("convert_legacy", "--guild", str(GUILD), "--points", str(changed), "--out",
                     str(tmp_path / "c.json"), "--allow-partial")
    assert partial.returncode == 0
    assert "service 'Demon Slayer' was imported before as +40; this file says +41" in partial.stdout
    wrong = manage("convert_legacy", "--guild", str(GUILD), "--out", str(tmp_path / "d.json"))
    assert wrong.returncode == 2 and "Give at least one file" in wrong.stderr
    assert balances() == SERVICES
