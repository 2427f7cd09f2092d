"""Order imports: the service, the admin's upload → preview → import page (codes shown once), the command.

Real database, Django's test client, no mocks. Guild A (111, "Alpha") has a staff user; guild B (222, "Bravo")
is someone else's.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from botproject import services as core
from botproject.models import Guild
from points import exceptions, services
from points.models import ImportBatch, LedgerEntry, Order
from points.services import order_import as imports

ROOT = Path(__file__).resolve().parent.parent
A, B = 111, 222
PASSWORD = "a-long-test-password-42"
HEADER = "order id,email,amount,currency,code"
IMPORT_URL = "admin:points_order_import"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode("utf-8")


GOOD = csv_bytes("A-1,ann@example.com,12.50,USD,", "A-2,bob@example.com,3,,", "A-3,cy@example.com,7.25,eur,"
                 "ABCD-EFGH-JKMN")


def staff_user(name: str, guild: Guild, *, can_import: bool = True) -> User:
    codenames = ["view_order", "view_importbatch", "change_order"] + (["add_order"] if can_import else [])
    group = Group.objects.create(name=f"orders {name}")
    group.permissions.set(Permission.objects.filter(content_type__app_label="points", codename__in=codenames))
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
    user.groups.add(group)
    guild.staff_users.add(user)
    return user


@pytest.fixture
def world(db):
    core.guild_ensure(guild_id=A, name="Alpha")
    core.guild_ensure(guild_id=B, name="Bravo")
    a, b = Guild.objects.get(discord_id=A), Guild.objects.get(discord_id=B)
    return {"a": a, "b": b, "staff": staff_user("staff_a", a)}


@pytest.fixture
def staff_client(client, world):
    client.force_login(world["staff"])
    return client


def upload(client, guild: Guild, data: bytes, name: str = "shop.csv"):
    return client.post(reverse(IMPORT_URL), {"guild": guild.pk, "file": SimpleUploadedFile(name, data, "text/csv")})


def token_of(response) -> str | None:
    found = re.search(r'name="token" value="([^"]+)"', response.content.decode())
    return found.group(1) if found else None


def codes_on(response) -> list[str]:
    return re.findall(r'<code class="order-code">([^<]+)</code>', response.content.decode())


def errors_of(data: bytes, guild_id: int = A) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for e in imports.parse_orders(data, guild_id).errors]


# --- the admin: happy path, codes once ----------------------------------------------------------------------
def test_preview_then_import_shows_the_codes_once(staff_client, world):
    listing = staff_client.get(reverse("admin:points_order_changelist"))
    assert listing.status_code == 200 and b"Import orders" in listing.content

    form = staff_client.get(reverse(IMPORT_URL))
    assert form.status_code == 200 and b"Alpha" in form.content and b"Bravo" not in form.content

    preview = upload(staff_client, world["a"], GOOD)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "3 new orders to create" in page and "2 codes to generate" in page and "Import 3 orders" in page
    assert "ABCD-EFGH-JKMN" not in page and "…JKMN" in page  # a given code is a secret too
    assert not Order.objects.exists() and not ImportBatch.objects.exists()  # nothing written by the preview
    token = token_of(preview)

    done = staff_client.post(reverse(IMPORT_URL), {"token": token})
    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    codes = codes_on(done)
    assert len(codes) == 3 and "ABCD-EFGH-JKMN" in codes
    assert "Imported 3 orders." in done.content.decode()
    # The CSV download is in this same response (a data: link), with the same codes.
    href = re.search(r'id="codes-download" href="data:text/csv;charset=utf-8;base64,([^"]+)" download="([^"]+)"',
                     done.content.decode())
    assert href.group(2) == "shop.csv.codes.csv"
    rows = list(csv.DictReader(io.StringIO(base64.b64decode(href.group(1)).decode())))
    assert [r["code"] for r in rows] == codes and [r["order_number"] for r in rows] == ["A-1", "A-2", "A-3"]
    assert [r["generated"] for r in rows] == ["yes", "yes", "no"]

    batch = ImportBatch.objects.get()
    assert (batch.guild, batch.filename, batch.rows_total, batch.rows_created, batch.rows_skipped,
            batch.imported_by) == (world["a"], "shop.csv", 3, 3, 0, world["staff"])
    orders = {o.order_number: o for o in Order.objects.all()}
    assert orders["A-1"].amount == Decimal("12.50") and orders["A-2"].currency == "USD"
    assert orders["A-3"].currency == "EUR" and orders["A-3"].code_hint == "JKMN"
    for order, code in zip(sorted(orders.values(), key=lambda o: o.order_number), codes, strict=True):
        assert order.code_hash == services.code_hash(A, code) and code not in (order.code_hash, order.code_hint)

    # Afterwards: only the hints, anywhere; the same confirmation again shows and imports nothing.
    again = staff_client.post(reverse(IMPORT_URL), {"token": token})
    assert codes_on(again) == [] and b"already done or has expired" in again.content
    pages = [staff_client.get(reverse("admin:points_order_changelist")),
             staff_client.get(reverse("admin:points_importbatch_changelist")),
             staff_client.get(reverse("admin:points_importbatch_change", args=[batch.pk])),
             *[staff_client.get(reverse("admin:points_order_change", args=[o.pk])) for o in orders.values()]]
    for response in pages:
        assert response.status_code == 200
        for code in codes:
            assert code.encode() not in response.content and services.normalize_code(code).encode() not in \
                response.content
        for order in orders.values():
            assert order.code_hash.encode() not in response.content
    assert b"\xe2\x80\xa6JKMN" in pages[0].content  # "…JKMN"
    assert Order.objects.count() == 3 and ImportBatch.objects.count() == 1


def test_generated_codes_are_claimable(world):
    result = imports.orders_import(guild_id=A, source=GOOD, filename="shop.csv")
    by_number = {c.order_number: c for c in result.codes}
    claim = services.order_claim(guild_id=A, user_id=5, code=by_number["A-1"].code.lower().replace("-", " "))
    assert (claim.order_number, claim.points) == ("A-1", 13)
    assert services.order_claim(guild_id=A, user_id=6, code=by_number["A-3"].code).points == 7
    assert LedgerEntry.objects.filter(kind="claim").count() == 2
    # A code is bound to its guild: the same code means nothing in guild B.
    with pytest.raises(Exception) as refused:
        services.order_claim(guild_id=B, user_id=5, code=by_number["A-2"].code)
    assert type(refused.value).__name__ == "UnknownCode"


def test_reimporting_the_same_file_changes_nothing(staff_client, world):
    first = imports.orders_import(guild_id=A, source=GOOD, filename="shop.csv")
    assert (first.created, first.skipped) == (3, 0)
    snapshot = list(Order.objects.order_by("pk").values_list("pk", "code_hash", "status", "batch_id"))

    second = imports.orders_import(guild_id=A, source=GOOD, filename="shop.csv")
    assert (second.batch, second.created, second.skipped, second.codes) == (None, 0, 3, [])
    assert imports.summary(second) == "Nothing imported: all 3 orders in the file were already imported."

    preview = upload(staff_client, world["a"], GOOD)
    page = preview.content.decode()
    assert "3 already imported (skipped)" in page and "Nothing to import" in page
    assert "This same file was imported before" in page and token_of(preview) is None
    assert list(Order.objects.order_by("pk").values_list("pk", "code_hash", "status", "batch_id")) == snapshot
    assert ImportBatch.objects.count() == 1

    # A longer export of the same shop: only the new order is created, the others are skipped.
    longer = GOOD + b"A-4,dee@example.com,1.00,USD,\n"
    third = imports.orders_import(guild_id=A, source=longer, filename="shop2.csv")
    assert (third.created, third.skipped, [c.order_number for c in third.codes]) == (1, 3, ["A-4"])
    assert imports.summary(third) == "Imported 1 order; 3 were already imported and skipped."


def test_the_same_order_numbers_in_another_guild_are_separate(world):
    imports.orders_import(guild_id=A, source=GOOD, filename="a.csv")
    result = imports.orders_import(guild_id=B, source=GOOD, filename="b.csv")
    assert result.created == 3  # numbers and codes are unique per guild
    assert Order.objects.filter(guild=world["b"]).count() == 3


# --- row-level errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, column, message", [
    ("X-1,a@example.com,twelve,USD,", "amount", "The amount is not a number"),
    ("X-1,a@example.com,12;50,USD,", "amount", "The amount is not a number"),
    ("X-1,a@example.com,,USD,", "amount", "The amount is missing."),
    ("X-1,a@example.com,0,USD,", "amount", "The amount must be above 0."),
    ("X-1,a@example.com,0.00,USD,", "amount", "The amount must be above 0."),
    ("X-1,a@example.com,-5,USD,", "amount", "The amount must be above 0."),
    ("X-1,a@example.com,1.234,USD,", "amount", "The amount has more than 2 decimals."),
    ("X-1,a@example.com,10000000000,USD,", "amount", "The amount is too large."),
    ("X-1,a@example.com,NaN,USD,", "amount", "The amount is not a number"),
    ("X-1,not-an-email,5,USD,", "email", "This is not a valid email address."),
    ("X-1,a@,5,USD,", "email", "This is not a valid email address."),
    ("X-1,,5,USD,", "email", "The email address is missing."),
    (",a@example.com,5,USD,", "order_number", "The order number is missing."),
    ("X" * 65 + ",a@example.com,5,USD,", "order_number", "longer than 64 characters"),
    ("X-1,a@example.com,5,dollars,", "currency", "3-letter code"),
    ("X-1,a@example.com,5,USD,SHORT", "code", "8 to 32 letters and digits"),
    ("X-1,a@example.com,5,USD,ÄÖÜÄ-ÖÜÄÖ", "code", "8 to 32 letters and digits"),
    ("X-1,a@example.com,5,USD", "", "The row has 4 cells, but the header line has 5."),
])
def test_each_row_error_is_reported_with_its_line_and_column(world, line, column, message):
    data = csv_bytes("OK-1,ok@example.com,1,USD,", line)
    errors = errors_of(data)
    assert len(errors) == 1 and errors[0][:2] == (3, column) and message in errors[0][2], errors
    with pytest.raises(exceptions.HasRowErrors) as refused:
        imports.orders_import(guild_id=A, source=data, filename="bad.csv")
    assert refused.value.user_message() == "1 rows have errors, so nothing was imported. Fix them and try again."
    assert not Order.objects.exists() and not ImportBatch.objects.exists()  # not even the good row


@pytest.mark.parametrize("column, cell", [
    ("order_number", "=HYPERLINK(\"http://x\")"), ("order_number", "+1"), ("order_number", "-1"),
    ("email", "@SUM(A1)"), ("email", "=a@example.com"), ("currency", "=USD"), ("code", "-ABCD-EFGH-JKMN"),
    ("code", "=cmd|' /C calc'!A0"), ("amount", "=1+1"), ("amount", "@5"),
])
def test_formula_looking_cells_are_rejected_as_csv_injection(world, column, cell):
    values = {"order_number": "F-1", "email": "f@example.com", "amount": "5", "currency": "USD", "code": ""}
    values[column] = cell
    out = io.StringIO()
    csv.writer(out).writerows([HEADER.split(","), list(values.values())])
    errors = imports.parse_orders(out.getvalue().encode(), A).errors
    assert [(e.line, e.column) for e in errors] == [(2, column)]
    assert "could run it as a formula (CSV injection)" in errors[0].message and cell[0] in errors[0].message


def test_duplicates_within_the_file_and_in_the_guild(world):
    imports.orders_import(guild_id=A, source=csv_bytes("OLD-1,o@example.com,5,USD,TAKE-NTAK-ENXX"), filename="o")
    data = csv_bytes(
        "N-1,a@example.com,5,USD,SAME-CODE-2345",
        "N-2,b@example.com,5,USD,same code 2345",     # the same code once normalised
        "N-1,c@example.com,5,USD,",                   # the same order number
        "N-3,d@example.com,5,USD,take-ntak-enxx",     # a code another order of the guild has
        "OLD-1,o@example.com,5,USD,",                 # already imported: skipped, not an error
    )
    preview = imports.parse_orders(data, A)
    assert [(e.line, e.column, e.message) for e in preview.errors] == [
        (3, "code", "This code is already on line 2 of this file."),
        (4, "order_number", "Order N-1 is already on line 2 of this file."),
        (5, "code", "This code is already used by another order in this server."),
    ]
    assert [e.value for e in preview.errors if e.column == "code"] == ["…2345", "…ENXX"]  # only the code's end
    assert preview.skipped == [(6, "OLD-1")] and [r.order_number for r in preview.rows] == ["N-1"]
    assert preview.error_lines == 3


def test_the_admin_preview_lists_row_errors_and_offers_no_import(staff_client, world):
    data = csv_bytes("E-1,a@example.com,abc,USD,", "E-2,bad-email,5,USD,", "E-3,c@example.com,5,USD,")
    response = upload(staff_client, world["a"], data)
    page = response.content.decode()
    assert response.status_code == 200 and token_of(response) is None
    assert "Import " not in page.split("import-errors")[1]
    assert "2 rows with errors" in page and "The amount is not a number" in page
    assert "This is not a valid email address." in page and "<td>3</td>" in page
    assert "1 new order to create" in page
    assert not Order.objects.exists()


# --- file-level refusals ------------------------------------------------------------------------------------
def test_headers_are_matched_case_insensitively_with_aliases(world):
    data = b"ORDER_ID , E-Mail,Total,CURRENCY,Code,Customer name\r\n1001,a@example.com,9.99,usd,,Ann\r\n"
    preview = imports.parse_orders(data, A)
    assert preview.ok and preview.ignored_columns == ["Customer name"]
    row = preview.rows[0]
    assert (row.order_number, row.email, row.amount, row.currency, row.generated) == (
        "1001", "a@example.com", Decimal("9.99"), "USD", True)
    for header in ("order,customer email,price", "Order Number;Email;Amount", "order_id\temail\tamount"):
        sep = ";" if ";" in header else "\t" if "\t" in header else ","
        line = sep.join(["7", "x@example.com", "1"])
        assert imports.parse_orders(f"{header}\n{line}\n".encode(), A).rows[0].order_number == "7", header


@pytest.mark.parametrize("header, expected", [
    ("order id,mail,betrag", ["Missing: email, amount.", "Not recognised: mail, betrag."]),
    ("id,email,amount", ["Missing: order number.", "Not recognised: id."]),
    ("order,email,amount,total", ["two columns mean amount (amount, total)."]),
])
def test_wrong_headers_say_what_is_missing_and_unknown(world, header, expected):
    with pytest.raises(exceptions.BadHeaders) as refused:
        imports.parse_orders(f"{header}\n1,a@example.com,5\n".encode(), A)
    text = refused.value.user_message()
    assert text.startswith("The header line does not name the needed columns.")
    for part in expected:
        assert part in text
    assert "order number (order id / order number / order" in text


def test_utf8_with_or_without_bom_is_read_and_other_encodings_are_refused_with_line_and_byte(world):
    text = HEADER + "\nÜ-1,ann@exämple.com,5,USD,\n"
    assert imports.parse_orders(text.encode("utf-8"), A).rows[0].order_number == "Ü-1"
    assert imports.parse_orders(b"\xef\xbb\xbf" + text.encode("utf-8"), A).rows[0].order_number == "Ü-1"
    latin = (HEADER + "\nA-1,a@example.com,5,USD,\nB-2,m\xfcller@example.com,5,USD,\n").encode("latin-1")
    with pytest.raises(exceptions.BadEncoding) as refused:
        imports.parse_orders(latin, A)
    message = refused.value.user_message()
    assert "line 3" in message and "0xFC" in message and "CSV UTF-8" in message
    utf16 = text.encode("utf-16")
    with pytest.raises(exceptions.ImportRefused):
        imports.parse_orders(utf16, A)


@pytest.mark.parametrize("data, refusal, words", [
    (b"", exceptions.EmptyFile, "The file is empty"),
    (b"\n \n\n", exceptions.EmptyFile, "The file is empty"),
    (HEADER.encode() + b"\n\n", exceptions.NoOrders, "no orders"),
    (HEADER.encode() + b"\nA,a@example.com,\"5\x00\",USD,\n", exceptions.MalformedCsv, "NUL byte"),
    (HEADER.encode() + b"\nA,a@example.com,\"5,USD,\n", exceptions.MalformedCsv, "Line 2 cannot be read as CSV"),
    (bytes(range(256)) * 40, exceptions.BadEncoding, "not UTF-8"),
    (b"lorem ipsum dolor\n" * 1000, exceptions.BadHeaders, "Not recognised: lorem ipsum dolor."),
])
def test_malformed_files_are_refused_clearly(world, data, refusal, words):
    with pytest.raises(refusal) as refused:
        imports.parse_orders(data, A)
    assert words in refused.value.user_message()


def test_ten_megabytes_of_junk_are_refused_and_nothing_is_written(staff_client, world):
    junk = os.urandom(10 * 1024 * 1024)
    with pytest.raises(exceptions.FileTooLarge) as refused:
        imports.orders_import(guild_id=A, source=junk, filename="junk.bin")
    assert refused.value.user_message() == ("The file is 10.0 MB; at most 5.0 MB can be imported at once. Split "
                                            "it into smaller files.")
    response = upload(staff_client, world["a"], junk, "junk.csv")
    assert response.status_code == 200 and token_of(response) is None
    assert "The file is 10.0 MB; at most 5.0 MB" in response.content.decode()
    # Junk under the limit: refused by its content.
    response = upload(staff_client, world["a"], os.urandom(1024 * 1024), "junk.csv")
    assert "not UTF-8 text" in response.content.decode() and token_of(response) is None
    assert not Order.objects.exists() and not ImportBatch.objects.exists()
    assert staff_client.session.get("points_order_import") is None


def test_more_than_the_row_limit_is_refused(world):
    data = csv_bytes(*(f"{n},a@example.com,1,USD," for n in range(imports.MAX_ROWS + 1)))
    assert len(data) < imports.MAX_BYTES
    with pytest.raises(exceptions.TooManyRows) as refused:
        imports.parse_orders(data, A)
    assert "more than 50000 orders" in refused.value.user_message()


def test_an_unknown_guild_is_refused(db):
    with pytest.raises(exceptions.UnknownGuild) as refused:
        imports.parse_orders(GOOD, 999)
    assert refused.value.user_message() == "There is no server with the id 999."


def test_a_code_taken_between_preview_and_import_writes_nothing(world):
    preview = imports.parse_orders(csv_bytes("P-1,a@example.com,5,USD,", "P-2,b@example.com,5,USD,WXYZ-WXYZ-2345"), A)
    imports.orders_import(guild_id=A, source=csv_bytes("Q-1,q@example.com,5,USD,WXYZ-WXYZ-2345"), filename="q")
    with pytest.raises(exceptions.ImportConflict):
        imports.orders_import(guild_id=A, source=preview, filename="p")
    assert sorted(Order.objects.values_list("order_number", flat=True)) == ["Q-1"]
    assert ImportBatch.objects.count() == 1


def test_import_reports_progress_per_chunk(world):
    data = csv_bytes(*(f"{n},a@example.com,1,USD," for n in range(2500)))
    calls = []
    result = imports.orders_import(guild_id=A, source=data, filename="big.csv",
                                   progress=lambda done, total: calls.append((done, total)))
    assert result.created == 2500 and calls == [(0, 2500), (1000, 2500), (2000, 2500), (2500, 2500)]
    assert len({c.code for c in result.codes}) == 2500


# --- scoping and permissions -------------------------------------------------------------------------------
def test_staff_cannot_import_into_or_see_another_guild(staff_client, world):
    imports.orders_import(guild_id=B, source=csv_bytes("B-1,b@example.com,5,USD,"), filename="bravo-secret.csv")
    response = upload(staff_client, world["b"], GOOD)
    assert response.status_code == 200 and token_of(response) is None
    assert "Select a valid choice" in response.content.decode()
    assert not Order.objects.filter(guild=world["a"]).exists()

    imports.orders_import(guild_id=A, source=GOOD, filename="alpha.csv")
    listing = staff_client.get(reverse("admin:points_order_changelist"))
    assert {o.guild_id for o in listing.context["cl"].result_list} == {world["a"].pk}
    assert b"Bravo" not in listing.content and b"bravo-secret" not in listing.content  # filters included
    batches = staff_client.get(reverse("admin:points_importbatch_changelist"))
    assert b"bravo-secret" not in batches.content and b"alpha.csv" in batches.content
    other = Order.objects.get(guild=world["b"])
    assert staff_client.get(reverse("admin:points_order_change", args=[other.pk])).status_code == 302
    other_batch = ImportBatch.objects.get(guild=world["b"])
    assert staff_client.get(reverse("admin:points_importbatch_change", args=[other_batch.pk])).status_code == 302


def test_importing_needs_the_add_order_permission(client, world):
    viewer = staff_user("viewer_a", world["a"], can_import=False)
    client.force_login(viewer)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert upload(client, world["a"], GOOD).status_code == 403
    listing = client.get(reverse("admin:points_order_changelist"))
    assert listing.status_code == 200 and b"Import orders" not in listing.content
    assert not Order.objects.exists()


def test_orders_are_read_only_and_searchable_by_number_email_hint_and_whole_code(staff_client, world):
    result = imports.orders_import(guild_id=A, source=GOOD, filename="shop.csv")
    imports.orders_import(guild_id=B, source=GOOD, filename="other.csv")
    url = reverse("admin:points_order_changelist")

    def found(term):
        return sorted(o.order_number for o in staff_client.get(url, {"q": term}).context["cl"].result_list)

    assert found("A-2") == ["A-2"] and found("cy@example") == ["A-3"] and found("JKMN") == ["A-3"]
    code = next(c.code for c in result.codes if c.order_number == "A-1")
    assert found(code.lower()) == ["A-1"]  # guild B's A-1 has another code and another guild
    order = Order.objects.get(guild=world["a"], order_number="A-1")
    change = staff_client.get(reverse("admin:points_order_change", args=[order.pk]))
    assert b'name="email"' not in change.content and b"_save" not in change.content
    assert staff_client.get(reverse("admin:points_order_add")).status_code == 403


def test_void_action_voids_only_open_orders_through_the_service(staff_client, world):
    result = imports.orders_import(guild_id=A, source=GOOD, filename="shop.csv")
    services.order_claim(guild_id=A, user_id=5, code=result.codes[0].code)
    selected = list(Order.objects.filter(guild=world["a"]).values_list("pk", flat=True))
    response = staff_client.post(reverse("admin:points_order_changelist"),
                                 {"action": "void_orders", "_selected_action": selected}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert "Voided 2 orders: their codes can no longer be claimed." in shown
    assert "1 selected order was not open (claimed or already void) and was left as it is." in shown
    assert dict(Order.objects.values_list("order_number", "status")) == {"A-1": "claimed", "A-2": "void",
                                                                         "A-3": "void"}
    with pytest.raises(Exception) as refused:
        services.order_claim(guild_id=A, user_id=6, code=result.codes[1].code)
    assert type(refused.value).__name__ == "VoidCode"


# --- the command ------------------------------------------------------------------------------------------
def test_command_imports_with_progress_and_writes_the_codes_file(world, tmp_path):
    source = tmp_path / "shop.csv"
    source.write_bytes(csv_bytes(*(f"C-{n},c{n}@example.com,{n + 1},USD," for n in range(1500))))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_orders", str(source), "--guild", str(A), stdout=out, stderr=err)
    assert "shop.csv: 1500 orders; 1500 new (1500 codes to generate), 0 already imported, 0 rows with errors" \
        in out.getvalue()
    assert "Imported 1500 orders." in out.getvalue()
    bar = err.getvalue()
    assert "[" + "#" * 30 + "] 100% 1500/1500" in bar and " 66% 1000/1500" in bar
    codes_file = tmp_path / "shop.csv.codes.csv"
    assert f"Codes written to {codes_file}" in out.getvalue()
    assert stat.S_IMODE(codes_file.stat().st_mode) == 0o600
    rows = list(csv.DictReader(codes_file.open(encoding="utf-8")))
    assert len(rows) == 1500 and Order.objects.filter(guild=world["a"]).count() == 1500
    assert services.order_claim(guild_id=A, user_id=7, code=rows[41]["code"]).points == 42

    # Again: nothing to do, and the codes file is left alone.
    out = io.StringIO()
    call_command("import_orders", str(source), "--guild", str(A), stdout=out, stderr=io.StringIO())
    assert "Nothing to import: all 1500 orders were already imported." in out.getvalue()
    assert not (tmp_path / "shop.csv.codes-2.csv").exists() and ImportBatch.objects.count() == 1


def test_command_dry_run_and_errors(world, tmp_path):
    source = tmp_path / "orders.csv"
    source.write_bytes(GOOD)
    out = io.StringIO()
    call_command("import_orders", str(source), "--guild", str(A), "--dry-run", stdout=out, stderr=io.StringIO())
    assert "3 new (2 codes to generate)" in out.getvalue() and "Dry run: nothing was written." in out.getvalue()
    assert not Order.objects.exists() and not (tmp_path / "orders.csv.codes.csv").exists()

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes("B-1,x@example.com,abc,USD,", "B-2,=cmd,5,USD,"))
    err = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_orders", str(bad), "--guild", str(A), stdout=io.StringIO(), stderr=err)
    assert refused.value.returncode == 1 and "2 rows have errors" in str(refused.value)
    assert "line 2 [amount]: The amount is not a number" in err.getvalue()
    assert "line 3 [email]: The cell starts with =" in err.getvalue()

    for args, words in [([str(tmp_path / "missing.csv"), "--guild", str(A)], "Cannot read"),
                        ([str(source), "--guild", "999"], "There is no server with the id 999.")]:
        with pytest.raises(CommandError) as refused:
            call_command("import_orders", *args, stdout=io.StringIO(), stderr=io.StringIO())
        assert words in str(refused.value)
    assert not Order.objects.exists() and not (tmp_path / "bad.csv.codes.csv").exists()


def run_import_orders(*args) -> subprocess.CompletedProcess:
    """`python manage.py import_orders` in its own process, against this test's (committed) database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        database_url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return subprocess.run([sys.executable, "manage.py", "import_orders", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "DATABASE_URL": database_url})


@pytest.mark.django_db(transaction=True)
def test_command_exit_status(tmp_path):
    core.guild_ensure(guild_id=A, name="Alpha")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(GOOD)
    bad.write_bytes(b"order,email\n1,a@example.com\n")
    ok = run_import_orders(str(good), "--guild", str(A))
    assert ok.returncode == 0 and "Imported 3 orders." in ok.stdout, ok.stderr
    assert "100% 3/3" in ok.stderr
    failed = run_import_orders(str(bad), "--guild", str(A))
    assert failed.returncode == 1 and "Missing: amount." in failed.stderr
    assert Order.objects.count() == 3


# --- code strength (issue 13.6): at least 40 bits, whoever supplies the code -----------------------------------
def test_generated_codes_have_at_least_40_bits():
    alphabet, length = len(set(services.CODE_ALPHABET)), len(services.normalize_code(services.generate_code()))
    assert length * __import__("math").log2(alphabet) >= 40
    assert all(services.code_bits(services.generate_code()) >= 40 for _ in range(200))


def test_supplied_codes_too_easy_to_guess_are_row_errors(world):
    weak = ["AAAA-AAAA", "12345678901", "ABCDEFGH", "AB12-AB12-AB12", "aaaabbbb1"]
    data = csv_bytes(*[f"W-{n},w{n}@example.com,1,USD,{code}" for n, code in enumerate(weak)],
                     "S-1,s@example.com,1,USD,K7PQ-3MZX", "S-2,t@example.com,1,USD,QWERTYUIOP",
                     "S-3,u@example.com,1,USD,4817392650123")
    errors = errors_of(data)
    assert [(line, column) for line, column, _ in errors] == [(n, "code") for n in range(2, 2 + len(weak))]
    assert all(message.startswith("The code is too easy to guess") for _, _, message in errors)
    assert len(imports.parse_orders(data, A).rows) == 3
