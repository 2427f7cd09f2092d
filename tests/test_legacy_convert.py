"""convert_legacy: the old bots' files → fixture, backups and report; every record checked, variants accepted.

Real database (the command reads the guild's earlier imports and ticket numbers), no mocks. Loading the
fixtures is in test_legacy_load.py.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError

from tests.legacy_support import GUILD, SAMPLES, closed, convert, ticket, tickets_file, write_json

pytestmark = pytest.mark.django_db

ALICE, BOB, CARA, DAN = 318456789012345678, 402987654321098765, 559911223344556677, 771234567890123456


def test_the_samples_convert_with_a_report_backups_and_a_fixture(tmp_path):
    result = convert(tmp_path, points=SAMPLES / "points.services.json", numbers=SAMPLES / "ticket_numbers.json",
                     tickets=SAMPLES / "tickets.json")

    assert result.models() == {"botproject.guild": 1, "points.legacyimport": 1, "points.legacypointsbatch": 1,
                               "tickets.ticketpanel": 1, "tickets.ticket": 4, "tickets.ticketclaim": 2,
                               "tickets.ticketcounter": 1}
    batch = next(o for o in result.objects if o["model"] == "points.legacypointsbatch")
    assert sorted(map(tuple, batch["fields"]["rows"])) == sorted([
        (ALICE, "Demon Slayer", 40), (ALICE, "Raid Carry", 15), (BOB, "Raid Carry", 5),
        (DAN, "Demon Slayer", 120), (DAN, "Boss Rush", 33)])
    tickets = {o["fields"]["code"]: o["fields"] for o in result.objects if o["model"] == "tickets.ticket"}
    # Numbered after the old counter (128) by creation time; the counter ends at the last one.
    assert {code: t["number"] for code, t in tickets.items()} == {"zz0001": 129, "abc123": 130, "old123": 131,
                                                                   "k9x2pq": 132}
    assert {code: t["status"] for code, t in tickets.items()} == {
        "zz0001": "closed", "abc123": "open", "old123": "closed", "k9x2pq": "need_help"}
    assert tickets["old123"]["closed_by_id"] == DAN and tickets["old123"]["closed_at"] == "2026-01-18T11:45:00Z"
    assert tickets["old123"]["close_path"] == "legacy" and not tickets["old123"]["resolved"]
    assert tickets["zz0001"]["resolved"]  # closed by its opener: seed 004's "It works!"
    assert tickets["k9x2pq"]["member_ids"] == [BOB, DAN] and tickets["abc123"]["slot"] == 1
    counter = next(o for o in result.objects if o["model"] == "tickets.ticketcounter")
    assert counter["fields"]["last_number"] == 132

    report = result.report
    assert [(f["name"], f["records"], f["converted"], f["rejected"]) for f in report["files"]] == [
        ("points.services.json", 3, 3, 0), ("ticket_numbers.json", 1, 1, 0), ("tickets.json", 5, 5, 0)]
    assert report["figures"] == {"members": 3, "points": 213, "ledger_entries": 5, "tickets": 4, "tickets_open": 1,
                                 "tickets_need_help": 1, "tickets_closed": 2, "claims": 2, "panels": 1,
                                 "ticket_counter": 132}
    assert report["rejected"] == [] and report["warnings"] == []
    assert [(d["field"], d["count"]) for d in report["dropped"]] == [("total", 3)]
    assert "total ×3: derived: the sum of the services is kept as the balance" in result.report_text
    for role, name in (("points", "points.services.json"), ("ticket_numbers", "ticket_numbers.json"),
                       ("tickets", "tickets.json")):
        assert (tmp_path / f"legacy.{role}-backup.json").read_bytes() == (SAMPLES / name).read_bytes()
    assert "Load it with: python manage.py loaddata" in result.out
    assert "100% 9/9 records checked" in result.err


def test_the_flat_points_sample_converts(tmp_path):
    result = convert(tmp_path, points=SAMPLES / "points.flat.json")
    batch = next(o for o in result.objects if o["model"] == "points.legacypointsbatch")
    assert batch["fields"]["rows"] == [[ALICE, "", 150], [BOB, "", 20], [CARA, "", 0], [DAN, "", 3875]]
    assert result.report["figures"] == {"members": 4, "points": 4045, "ledger_entries": 3}
    assert result.models() == {"botproject.guild": 1, "points.legacyimport": 1, "points.legacypointsbatch": 1}


def test_the_same_files_convert_to_the_same_fixture(tmp_path):
    first = convert(tmp_path, points=SAMPLES / "points.flat.json", tickets=SAMPLES / "tickets.json", name="a.json")
    second = convert(tmp_path, points=SAMPLES / "points.flat.json", tickets=SAMPLES / "tickets.json", name="b.json")
    strip = [{**o, "fields": {k: v for k, v in o["fields"].items() if k not in ("converted_at", "joined_at")}}
             for o in first.objects]
    assert strip == [{**o, "fields": {k: v for k, v in o["fields"].items() if k not in ("converted_at", "joined_at")}}
                     for o in second.objects]


def test_the_variants_are_accepted(tmp_path):
    points = write_json(tmp_path, "points.json", {
        str(ALICE): {"Demon Slayer": 40, "Raid Carry": 15},  # no total
        str(BOB): {"Raid Carry": 5, "total": 9},  # a total that disagrees: the services win
        str(CARA): 12.0,  # a whole number written as a decimal
        str(DAN): {"Demon Slayer": 0, "Boss Rush": 3, "total": 3},  # a zero service
    })
    numbers = write_json(tmp_path, "numbers.json", 7)  # older files: a bare integer for one guild
    tickets = write_json(tmp_path, "tickets.json", {
        "tickets": {
            # string ids, a time with an offset, missing optional fields
            "s1": {"ticket_id": "s1", "user_id": str(ALICE), "guild_id": str(GUILD),
                   "channel_id": "1209876543210000011", "created_at": "2026-01-18T10:30:00+07:00"},
            "s2": ticket("s2", BOB, closed=True, closed_at="2026-01-18T12:00:00", closed_by=DAN, status="open"),
        },
        "closed_tickets": [{"ticket_id": 17, "user_id": CARA, "closed": True, "closed_at": "2026-01-17T21:03:10",
                            "closed_by": DAN, "claimed_by": DAN}],  # integer id, no created_at, no claimed_at
    })
    result = convert(tmp_path, points=points, numbers=numbers, tickets=tickets)

    batch = next(o for o in result.objects if o["model"] == "points.legacypointsbatch")
    assert batch["fields"]["rows"] == [[ALICE, "Demon Slayer", 40], [ALICE, "Raid Carry", 15], [BOB, "Raid Carry", 5],
                                       [CARA, "", 12], [DAN, "Boss Rush", 3]]
    found = {o["fields"]["code"]: o["fields"] for o in result.objects if o["model"] == "tickets.ticket"}
    assert found["s1"]["opener_id"] == ALICE and found["s1"]["created_at"] == "2026-01-18T03:30:00Z"
    assert found["s1"]["status"] == "open" and found["s1"]["member_ids"] == [ALICE]
    assert found["s2"]["status"] == "closed" and found["s2"]["closed_by_id"] == DAN
    assert found["17"]["created_at"] == found["17"]["closed_at"] == "2026-01-17T21:03:10Z"
    assert [f["number"] for f in sorted(found.values(), key=lambda f: f["created_at"])] == [8, 9, 10]
    claim = next(o for o in result.objects if o["model"] == "tickets.ticketclaim")
    assert claim["fields"] == {"ticket": [GUILD, "17"], "user_id": DAN, "slot": 1,
                               "claimed_at": "2026-01-17T21:03:10Z"}

    report = result.report
    assert report["rejected"] == [] and all(f["converted"] == f["records"] for f in report["files"])
    warnings = {(w["path"], w["reason"]) for w in report["warnings"]}
    assert (f'$["{BOB}"].total', "total 9 disagrees with the services' sum 5: the services are kept") in warnings
    assert ('$.tickets.s2.status', "closed, as closed is true: status \"open\" ignored") in warnings
    assert ("$.closed_tickets[0]", "created_at missing: the closing time is used") in warnings
    dropped = {(d["field"], d["reason"]): d["paths"] for d in report["dropped"]}
    assert dropped[("<service>: 0", "0 points: nothing to record (the member's profile is kept)")] == [
        f'$["{DAN}"]["Demon Slayer"]']


def test_records_of_other_guilds_are_skipped_and_listed(tmp_path):
    other = 111_111_111_111_111_111
    numbers = write_json(tmp_path, "numbers.json", {str(GUILD): 40, str(other): 9})
    tickets = write_json(tmp_path, "tickets.json", tickets_file(
        tickets={"a1": ticket("a1"), "b1": ticket("b1", guild_id=other)},
        panels=[{"message_id": 5, "channel_id": 6, "guild_id": other, "category": "X"}]))
    result = convert(tmp_path, numbers=numbers, tickets=tickets)
    assert result.report["rejected"] == []
    assert {(s["path"], s["reason"]) for s in result.report["skipped"]} == {
        (f'$["{other}"]', f"guild {other} (run convert_legacy --guild {other} for it)"),
        ("$.tickets.b1", f"guild {other} (run convert_legacy --guild {other} for it)"),
        ("$.panels[0]", f"guild {other} (run convert_legacy --guild {other} for it)")}
    assert result.models()["tickets.ticket"] == 1 and "tickets.ticketpanel" not in result.models()
    assert next(o for o in result.objects if o["model"] == "tickets.ticketcounter")["fields"]["last_number"] == 41


BAD_POINTS = {
    "123": -5,
    "124": "150",
    "125": 1.5,
    "126": True,
    "not-an-id": 3,
    "127": {"Raid Carry": -1},
    "128": {"Raid Carry": {"nested": 1}},
    "129": [1, 2],
    "130": 5_000_000_000,
}


def test_bad_records_are_rejected_with_their_path_and_nothing_is_written(tmp_path):
    text = json.dumps(BAD_POINTS)[:-1] + ', "131": 1, "131": 2, "132": {"A": 1, "A": 2}, "133": 7}'
    points = tmp_path / "points.json"
    points.write_text(text, encoding="utf-8")
    tickets = write_json(tmp_path, "tickets.json", tickets_file(
        tickets={"dup": ticket("dup"), "k1": ticket("other-id"), "k2": ticket("k2", user_id="abc"),
                 "k3": ticket("k3", status="waiting"), "k4": ticket("k4", created_at="yesterday"),
                 "k5": ticket("k5", members="everyone"), "k6": ticket("k6", channel_id=99),
                 "k7": ticket("k7", channel_id=99)},
        closed_tickets=[closed("dup"), closed("c1"), closed("c1"), closed("c2", closed_at=None),
                        closed("c3", created_at="2026-01-18T12:00:00"), "not an object"],
        panels=[{"message_id": 1, "channel_id": 2}, {"message_id": 1, "channel_id": 3}, {"channel_id": 4}]))
    (tmp_path / "legacy.json").write_text("[]", encoding="ascii")  # an earlier fixture: removed, not loadable

    with pytest.raises(CommandError) as refused:
        convert(tmp_path, points=points, tickets=tickets)
    assert refused.value.returncode == 1
    message = str(refused.value)
    assert "records were rejected: no fixture was written" in message and "--allow-partial" in message
    assert not (tmp_path / "legacy.json").exists()

    report = json.loads((tmp_path / "legacy.report.json").read_text(encoding="utf-8"))
    reasons = {r["path"]: r["reason"] for r in report["rejected"]}
    assert reasons['$["123"]'] == "negative points (-5)"
    assert reasons['$["124"]'] == 'points "150" is not a number'
    assert reasons['$["125"]'] == "points 1.5 is not a whole number"
    assert reasons['$["126"]'] == "points true is not a number"
    assert reasons['$["not-an-id"]'] == 'user id "not-an-id" is not a Discord id'
    assert reasons['$["127"]'] == 'negative points for "Raid Carry" (-1)'
    assert reasons['$["128"]'] == 'points for "Raid Carry" {"nested": 1} is not a number'
    assert reasons['$["129"]'] == "points [1, 2] is not a number"
    assert reasons['$["130"]'] == "5000000000 points are above the guild's largest balance (1000000000)"
    assert reasons['$["131"]'] == "the user appears 2 times in the file (which value is meant?)"
    assert reasons['$["132"]'] == 'service "A" is written more than once (which value is meant?)'
    assert reasons["$.tickets.dup"] == ("ticket id 'dup' is also archived at $.closed_tickets[0] (the archived "
                                        "record is kept)")
    assert reasons["$.tickets.k1"] == 'ticket_id "other-id" differs from its key "k1"'
    assert reasons["$.tickets.k2"] == 'user_id "abc" is not a Discord id'
    assert reasons["$.tickets.k3"] == 'status "waiting" is not open, need_help or closed'
    assert reasons["$.tickets.k4"] == 'created_at "yesterday" is not an ISO 8601 date and time'
    assert reasons["$.tickets.k5"] == 'members "everyone" is not a list'
    assert reasons["$.tickets.k7"] == "channel 99 is also the channel of $.tickets.k6"
    assert reasons["$.closed_tickets[2]"] == "ticket id 'c1' is also at $.closed_tickets[1]"
    assert reasons["$.closed_tickets[3]"] == "closed, but no closed_at (when it closed)"
    assert reasons["$.closed_tickets[4]"] == "closed_at 2026-01-18T11:00:00Z is before created_at 2026-01-18T12:00:00Z"
    assert reasons["$.closed_tickets[5]"] == 'ticket should be an object, found "not an object"'
    assert reasons["$.panels[1]"] == "the same panel message as $.panels[0]"
    assert reasons["$.panels[2]"] == "no message_id (a panel is known by its message)"
    files = {f["name"]: f for f in report["files"]}
    assert files["points.json"]["records"] == 13 and files["points.json"]["rejected"] == 12
    assert files["points.json"]["converted"] == 1  # "133"
    assert files["tickets.json"]["records"] == 17 and files["tickets.json"]["rejected"] == 13
    assert (tmp_path / "legacy.points-backup.json").read_bytes() == points.read_bytes()

    # --allow-partial: the same files give a fixture without the rejected records (still listed).
    result = convert(tmp_path, points=points, tickets=tickets, extra=("--allow-partial",))
    assert result.models() == {"botproject.guild": 1, "points.legacyimport": 1, "points.legacypointsbatch": 1,
                               "tickets.ticketpanel": 1, "tickets.ticket": 3, "tickets.ticketcounter": 1}
    assert {o["fields"]["code"] for o in result.objects if o["model"] == "tickets.ticket"} == {"k6", "dup", "c1"}
    assert len(result.report["rejected"]) == len(report["rejected"])
    header = next(o for o in result.objects if o["model"] == "points.legacyimport")
    assert header["fields"]["figures"]["rejected"] == 25


@pytest.mark.parametrize("content, words", [
    (b'{"1": 5,', "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 9"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"   ", "the file is empty"),
    (b"[1, 2]", 'expected an object {"<user id>": points, ...}, found list'),
], ids=["bad-json", "not-utf8", "empty", "wrong-shape"])
def test_a_file_that_cannot_be_read_is_refused_whole(tmp_path, content, words):
    points = tmp_path / "points.json"
    points.write_bytes(content)
    with pytest.raises(CommandError) as refused:
        convert(tmp_path, points=points, tickets=SAMPLES / "tickets.json")
    assert refused.value.returncode == 1 and "A file could not be used: no fixture was written." in str(refused.value)
    text = (tmp_path / "legacy.report.txt").read_text(encoding="utf-8")
    assert f"points.json (points): NOT READ: {words}" in text
    assert not (tmp_path / "legacy.json").exists()


def test_wrong_parts_of_tickets_json_and_a_missing_file_are_refused(tmp_path):
    tickets = write_json(tmp_path, "tickets.json", {"tickets": [], "closed_tickets": []})
    with pytest.raises(CommandError):
        convert(tmp_path, tickets=tickets, numbers=tmp_path / "missing.json")
    text = (tmp_path / "legacy.report.txt").read_text(encoding="utf-8")
    assert "tickets.json (tickets): NOT READ: $.tickets should be an object, found []" in text
    assert "missing.json (ticket_numbers): NOT READ: cannot read it: No such file or directory" in text
    assert not (tmp_path / "legacy.json").exists()

    twice = tmp_path / "twice.json"
    twice.write_text('{"tickets": {"a": {"user_id": 1}}, "tickets": {}}', encoding="utf-8")
    with pytest.raises(CommandError):
        convert(tmp_path, tickets=twice)
    assert "NOT READ: $.tickets is written more than once (which one is meant?)" in (
        tmp_path / "legacy.report.txt").read_text(encoding="utf-8")


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path):
    points = tmp_path / "points.json"
    with points.open("wb") as handle:
        handle.write(b'{"1": 1, "pad": "')
        handle.write(b"x" * (50 * 1024 * 1024))
        handle.write(b'"}')
    with pytest.raises(CommandError) as refused:
        convert(tmp_path, points=points)
    assert refused.value.returncode == 1
    text = (tmp_path / "legacy.report.txt").read_text(encoding="utf-8")
    assert "NOT READ: the file is 50.0 MB, above the 32 MB limit (--max-file-mb raises it)" in text
    assert not (tmp_path / "legacy.json").exists() and not (tmp_path / "legacy.points-backup.json").exists()


@pytest.mark.parametrize("args, words", [
    (["--guild", "abc", "--points", "x.json", "--out", "legacy.json"], '--guild "abc" is not a Discord id'),
    (["--guild", str(GUILD), "--out", "legacy.json"], "Give at least one file"),
    (["--guild", str(GUILD), "--points", "x.json", "--out", "legacy.txt"], "give a .json file in an existing folder"),
], ids=["bad-guild", "no-file", "out-not-json"])
def test_wrong_arguments_exit_2(tmp_path, args, words):
    from django.core.management import call_command

    args = [str(tmp_path / a) if a.startswith(("legacy.", "x.")) else a for a in args]
    with pytest.raises(CommandError) as refused:
        call_command("convert_legacy", *args)
    assert refused.value.returncode == 2 and words in str(refused.value)
