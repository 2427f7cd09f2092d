"""The order-import service: check a shop's CSV export row by row, then create its orders in one transaction.

Used by the admin's "Import orders" page and by ``manage.py import_orders``; plain synchronous Django code.

    preview = parse_orders(data, guild_id)          # pure: reads the guild's orders once, writes nothing
    preview.errors / preview.rows / preview.skipped  # row-level problems, orders to create, already imported
    result = orders_import(guild_id=guild_id, source=preview or data, filename="shop.csv", imported_by=user,
                           progress=lambda done, total: ...)
    result.batch, result.created, result.skipped, result.codes  # the codes: the only time they exist in clear
    order_file.codes_csv(result.codes)               # the codes file staff download (or the command writes)

``guild_id`` is the Discord id (as everywhere in the services). File-level refusals (too large, not UTF-8,
not CSV, wrong header line, row errors at import time, an unknown guild, a concurrent change) raise an
``ImportRefused`` (points.exceptions) with a translatable message; nothing is written then.

The file's format and each cell's checks are in ``order_file`` (pure). A missing or empty code is generated
with ``generate_code()``; ignored columns are listed in the preview. Rows: an order number already in the
guild is "already imported" and skipped (re-importing a file changes nothing); otherwise every problem is a
row error and the file is not imported until it is fixed.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, ngettext

from botproject.models import Guild

from ..exceptions import (
    EmptyFile,
    FileTooLarge,
    HasRowErrors,
    ImportConflict,
    MalformedCsv,
    NoOrders,
    TooManyRows,
    UnknownGuild,
)
from ..models import ImportBatch, Order
from .order_file import (
    CURRENCY_RE,
    MAX_CELL,
    TEXT_FIELDS,
    IssuedCode,
    RowError,
    code_end,
    control_error,
    csv_detail,
    decode,
    delimiter,
    formula_error,
    map_headers,
    parse_amount,
    short,
)
from .orders import CODE_RE, code_hash, code_is_strong, generate_code, normalize_code

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
CHUNK = 1000  # orders per INSERT (and per progress report)


@dataclass
class OrderRow:
    """A valid row to create. `code` is in clear only here (and in ImportResult.codes)."""

    line: int
    order_number: str
    email: str
    amount: Decimal
    currency: str
    code: str = field(repr=False)  # never in logs or tracebacks
    generated: bool = True

    @property
    def code_hint(self) -> str:
        return normalize_code(self.code)[-4:]


@dataclass
class Preview:
    """What importing the file would do; computed without writing anything."""

    guild_id: int
    sha256: str
    size: int
    rows_total: int = 0
    rows: list[OrderRow] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, order number) already in the guild
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    previous_batch: ImportBatch | None = None  # the same file (checksum) imported before

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_lines(self) -> int:
        return len({e.line for e in self.errors})

    @property
    def generated_count(self) -> int:
        return sum(1 for row in self.rows if row.generated)


@dataclass
class ImportResult:
    """What an import did. `batch` is None when nothing was created (everything already imported)."""

    batch: ImportBatch | None
    created: int
    skipped: int
    rows_total: int
    codes: list[IssuedCode]

    @property
    def generated_count(self) -> int:
        return sum(1 for c in self.codes if c.generated)


Progress = Callable[[int, int], None]


# --- checking the file -----------------------------------------------------------------------------------
def size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def check_size(size: int) -> None:
    """Refuse a file larger than MAX_BYTES (callers check before reading it all when they can)."""
    if size > MAX_BYTES:
        raise FileTooLarge(size=size_text(size), limit=size_text(MAX_BYTES))


def load_existing(guild: Guild) -> tuple[set[str], set[str]]:
    """The guild's order numbers and code hashes, in one query."""
    numbers, hashes = set(), set()
    for number, digest in Order.objects.filter(guild=guild).values_list("order_number", "code_hash"):
        numbers.add(number)
        hashes.add(digest)
    return numbers, hashes


def _guild(guild_id: int, *, lock: bool = False) -> Guild:
    queryset = Guild.objects.select_for_update() if lock else Guild.objects
    guild = queryset.filter(discord_id=guild_id).first()
    if guild is None:
        raise UnknownGuild(guild=guild_id)
    return guild


def parse_orders(data: bytes, guild_id: int, *, _existing: tuple[set[str], set[str]] | None = None,
                 _guild_row: Guild | None = None) -> Preview:
    """Check the whole file against the guild's orders; writes nothing. File-level problems raise ImportRefused."""
    check_size(len(data))
    guild = _guild_row or _guild(guild_id)
    text = decode(data)
    if not text.strip():
        raise EmptyFile()
    preview = Preview(guild_id=guild_id, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(first_line), strict=True)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
    except StopIteration:
        raise EmptyFile() from None
    except csv.Error as error:
        raise MalformedCsv(line=reader.line_num or 1, detail=csv_detail(error)) from None
    mapping, preview.ignored_columns = map_headers(header)
    numbers, hashes = _existing if _existing is not None else load_existing(guild)
    seen_numbers: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    width = len(header)
    rows_total = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise MalformedCsv(line=reader.line_num, detail=csv_detail(error)) from None
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        rows_total += 1
        if rows_total > MAX_ROWS:
            raise TooManyRows(limit=MAX_ROWS)
        if len(cells) != width:
            preview.errors.append(RowError(line, "", gettext(
                "The row has %(count)s cells, but the header line has %(expected)s.") % {
                "count": len(cells), "expected": width}))
            continue
        if any(len(cell) > MAX_CELL for cell in cells):
            preview.errors.append(RowError(line, "", gettext("A cell is longer than %(limit)s characters.")
                                           % {"limit": MAX_CELL}))
            continue
        values = {name: cells[index].strip() for name, index in mapping.items()}
        errors: list[RowError] = []
        for name in TEXT_FIELDS:
            found = formula_error(name, values.get(name, ""), line) or control_error(name, values.get(name, ""), line)
            if found:
                errors.append(found)
        formula_columns = {e.column for e in errors}

        number = values["order_number"]
        if "order_number" not in formula_columns:
            if not number:
                errors.append(RowError(line, "order_number", gettext("The order number is missing.")))
            elif len(number) > 64:
                errors.append(RowError(line, "order_number", gettext(
                    "The order number is longer than 64 characters."), short(number)))
        if number and number in numbers and not errors:
            preview.skipped.append((line, number))  # already imported: not written, not an error
            continue
        if number and "order_number" not in formula_columns:
            first = seen_numbers.get(number)
            if first is not None:
                errors.append(RowError(line, "order_number", gettext(
                    "Order %(number)s is already on line %(first)s of this file.") % {
                    "number": short(number), "first": first}, short(number)))
            else:
                seen_numbers[number] = line

        email = values["email"]
        if "email" not in formula_columns:
            if not email:
                errors.append(RowError(line, "email", gettext("The email address is missing.")))
            else:
                try:
                    if len(email) > 254:
                        raise ValidationError("too long")
                    validate_email(email)
                except ValidationError:
                    errors.append(RowError(line, "email", gettext("This is not a valid email address."),
                                           short(email)))

        amount, amount_error = parse_amount(values["amount"], line)
        if amount_error and not (values["amount"].startswith(("=", "@"))):
            errors.append(amount_error)
        elif amount_error:
            errors.append(formula_error("amount", values["amount"], line))

        currency = (values.get("currency") or "USD").upper()
        if "currency" not in formula_columns and not CURRENCY_RE.match(currency):
            errors.append(RowError(line, "currency", gettext("The currency must be a 3-letter code such as USD."),
                                   short(values.get("currency", ""))))

        raw_code = values.get("code", "")
        generated = not raw_code
        code = raw_code
        if generated:
            code = generate_code()
            while code_hash(guild_id, code) in hashes or normalize_code(code) in seen_codes:
                code = generate_code()  # 30^12 codes: practically never
            seen_codes[normalize_code(code)] = line
        elif "code" not in formula_columns:
            normalized = normalize_code(raw_code)
            if not CODE_RE.match(normalized):
                errors.append(RowError(line, "code", gettext(
                    "The code must have 8 to 32 letters and digits (dashes and spaces are ignored)."),
                    short(raw_code)))
            elif not code_is_strong(normalized):
                # Whoever supplies the codes, they must resist guessing as well as generated ones do (>= 40 bits).
                errors.append(RowError(line, "code", gettext(
                    "The code is too easy to guess: use at least 8 letters and digits mixed (or 9 letters, or 13 "
                    "digits), with at least half of them different; or leave it empty to have one generated."),
                    code_end(normalized)))
            elif normalized in seen_codes:
                errors.append(RowError(line, "code", gettext("This code is already on line %(first)s of this file.")
                                       % {"first": seen_codes[normalized]}, code_end(normalized)))
            elif code_hash(guild_id, normalized) in hashes:
                errors.append(RowError(line, "code", gettext(
                    "This code is already used by another order in this server."), code_end(normalized)))
            else:
                seen_codes[normalized] = line

        if errors:
            preview.errors.extend(errors)
            continue
        preview.rows.append(OrderRow(line, number, email, amount, currency, code, generated))
    if rows_total == 0:
        raise NoOrders()
    preview.rows_total = rows_total
    preview.previous_batch = ImportBatch.objects.filter(guild=guild, sha256=preview.sha256).order_by(
        "-created_at").first()
    return preview


# --- importing ------------------------------------------------------------------------------------------
def orders_import(*, guild_id: int, source: bytes | Preview, filename: str, imported_by=None,
                  progress: Progress | None = None) -> ImportResult:
    """Create the file's new orders in one transaction; the codes come back in clear once, in the result.

    `source` is the file's bytes (checked here, under the guild's lock) or a Preview from parse_orders (its
    rows and codes are used as they are, after checking that the guild's orders did not change meanwhile).
    Imports into one guild run one at a time (the guild row is locked), so a file imported twice at once is
    created once. Row errors raise HasRowErrors; nothing is written then.
    """
    try:
        with transaction.atomic():
            guild = _guild(guild_id, lock=True)
            existing = load_existing(guild)
            if isinstance(source, Preview):
                preview = source
                if preview.guild_id != guild_id:
                    raise ImportConflict()
                if preview.ok:
                    _recheck(preview, *existing)
            else:
                preview = parse_orders(source, guild_id, _existing=existing, _guild_row=guild)
            if preview.errors:
                raise HasRowErrors(count=preview.error_lines)
            return _create(guild, preview, filename=filename, imported_by=imported_by, progress=progress)
    except IntegrityError:
        # A row written meanwhile despite the lock (e.g. an order created by hand): all rolled back.
        raise ImportConflict() from None


def _recheck(preview: Preview, numbers: set[str], hashes: set[str]) -> None:
    """Move rows imported meanwhile to skipped; a code taken meanwhile is a conflict."""
    keep = []
    for row in preview.rows:
        if row.order_number in numbers:
            preview.skipped.append((row.line, row.order_number))
        elif code_hash(preview.guild_id, row.code) in hashes:
            raise ImportConflict()
        else:
            keep.append(row)
    preview.rows = keep


def _create(guild: Guild, preview: Preview, *, filename: str, imported_by, progress: Progress | None) -> ImportResult:
    total = len(preview.rows)
    codes = [IssuedCode(r.order_number, r.email, r.amount, r.currency, r.code, r.generated) for r in preview.rows]
    if not total:
        if progress:
            progress(0, 0)
        return ImportResult(None, 0, len(preview.skipped), preview.rows_total, [])
    batch = ImportBatch.objects.create(
        guild=guild, filename=(filename or "")[:255], sha256=preview.sha256, imported_by=imported_by,
        rows_total=preview.rows_total, rows_created=total, rows_skipped=len(preview.skipped))
    if progress:
        progress(0, total)
    for start in range(0, total, CHUNK):
        chunk = preview.rows[start:start + CHUNK]
        Order.objects.bulk_create([
            Order(guild=guild, order_number=r.order_number, email=r.email, amount=r.amount, currency=r.currency,
                  code_hash=code_hash(preview.guild_id, r.code), code_hint=r.code_hint, batch=batch)
            for r in chunk
        ], batch_size=CHUNK)
        if progress:
            progress(start + len(chunk), total)
    return ImportResult(batch, total, len(preview.skipped), preview.rows_total, codes)


def summary(result: ImportResult) -> str:
    """One translated sentence on what an import did."""
    if not result.created:
        return ngettext(
            "Nothing imported: the %(count)d order in the file was already imported.",
            "Nothing imported: all %(count)d orders in the file were already imported.", result.skipped,
        ) % {"count": result.skipped}
    text = ngettext("Imported %(created)d order", "Imported %(created)d orders", result.created) % {
        "created": result.created}
    if result.skipped:
        text += ngettext("; %(skipped)d was already imported and skipped",
                         "; %(skipped)d were already imported and skipped", result.skipped) % {
            "skipped": result.skipped}
    return text + "."
