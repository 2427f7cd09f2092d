"""Order files: read a CSV export of the shop, check every row, then create the orders in one transaction.

Used by the admin's "Import orders" page and by ``manage.py import_orders``; plain synchronous Django code.

    preview = parse_orders(data, guild_id)          # pure: reads the guild's orders once, writes nothing
    preview.errors / preview.rows / preview.skipped  # row-level problems, orders to create, already imported
    result = import_orders(guild_id=guild_id, source=preview or data, filename="shop.csv", imported_by=user,
                           progress=lambda done, total: ...)
    result.batch, result.created, result.skipped, result.codes  # the codes: the only time they exist in clear

``guild_id`` is the Discord id (as everywhere in the services). File-level refusals (too large, not UTF-8,
not CSV, wrong header line, row errors at import time, an unknown guild, a concurrent change) raise an
``ImportRefused`` subclass of ``DomainError`` with a translatable message; nothing is written then.

The file: UTF-8 (a byte-order mark is fine), comma-, semicolon- or tab-separated (from the header line), one
header line whose names are matched case-insensitively with the aliases in ``COLUMN_ALIASES``. Columns
``order``, ``email`` and ``amount`` are required; ``currency`` (default USD) and ``code`` (a missing or empty
code is generated with ``generate_code()``) are optional; other columns are ignored and listed in the preview.

Rows: an order number already in the guild is "already imported" and skipped (re-importing a file changes
nothing); otherwise every problem is a row error and the file is not imported until it is fixed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Callable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from botproject.exceptions import DomainError
from botproject.models import Guild

from .models import ImportBatch, Order
from .services.orders import CODE_RE, code_hash, code_is_strong, generate_code, normalize_code

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_CELL = 1000  # characters in one cell; longer means the file is not an order export
CHUNK = 1000  # orders per INSERT (and per progress report)
MAX_AMOUNT = Decimal("9999999999.99")  # Order.amount: 12 digits, 2 of them decimals
FORMULA_START = ("=", "+", "-", "@")  # a spreadsheet runs such a cell as a formula (CSV injection)

# Field → header names (compared lower-cased, with "_" and runs of spaces as one space).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "order_number": ("order id", "order number", "order", "order no", "order #"),
    "email": ("email", "e-mail", "customer email", "customer e-mail", "email address"),
    "amount": ("amount", "total", "price"),
    "currency": ("currency",),
    "code": ("code",),
}
REQUIRED = ("order_number", "email", "amount")
TEXT_FIELDS = ("order_number", "email", "currency", "code")
_ALIAS_TO_FIELD = {alias: name for name, aliases in COLUMN_ALIASES.items() for alias in aliases}
_AMOUNT_RE = re.compile(r"^[+-]?\d+(\.\d*)?$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
# A line break (or another control character) inside a cell: the order number ends up in an e-mail subject
# and the address in a header, where a line break would start a new header (or make the mail unsendable).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_BOM = b"\xef\xbb\xbf"


def field_label(name: str) -> str:
    """The column's name as shown to staff."""
    # A context of their own: the same words are Discord option names (slugs) elsewhere in the catalogs.
    return {
        "order_number": pgettext("order import column", "order number"),
        "email": pgettext("order import column", "email"),
        "amount": pgettext("order import column", "amount"),
        "currency": pgettext("order import column", "currency"),
        "code": pgettext("order import column", "code"),
    }.get(name, name)


# --- refusals ---------------------------------------------------------------------------------------
class ImportRefused(DomainError):
    """The file cannot be imported as it is; nothing was written."""

    message = _("The file cannot be imported.")


class FileTooLarge(ImportRefused):
    message = _("The file is %(size)s; at most %(limit)s can be imported at once. Split it into smaller files.")


class TooManyRows(ImportRefused):
    message = _("The file has more than %(limit)s orders; at most %(limit)s can be imported at once. "
                "Split it into smaller files.")


class EmptyFile(ImportRefused):
    message = _("The file is empty: it needs a header line and one line per order.")


class NoOrders(ImportRefused):
    message = _("The file has a header line but no orders.")


class BadEncoding(ImportRefused):
    message = _("The file is not UTF-8 text: line %(line)s has a byte that cannot be read (byte %(byte)s at "
                "offset %(offset)s). Save it as \"CSV UTF-8\" and upload it again.")


class MalformedCsv(ImportRefused):
    message = _("Line %(line)s cannot be read as CSV: %(detail)s")


class BadHeaders(ImportRefused):
    message = _("The header line does not name the needed columns. %(problems)s Expected: %(expected)s.")


class HasRowErrors(ImportRefused):
    message = _("%(count)s rows have errors, so nothing was imported. Fix them and try again.")


class UnknownGuild(ImportRefused):
    message = _("There is no server with the id %(guild)s.")


class ImportConflict(ImportRefused):
    message = _("This server's orders changed since the file was checked (another import?); nothing was "
                "imported. Check the file again.")


# --- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    """One problem in one row: the file's line number, the column (a field name or ""), what is wrong."""

    line: int
    column: str
    message: str
    value: str = ""

    @property
    def column_label(self) -> str:
        return field_label(self.column) if self.column else ""


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


@dataclass(frozen=True)
class IssuedCode:
    """An order created by an import and its code, in clear (shown once, never stored)."""

    order_number: str
    email: str
    amount: Decimal
    currency: str
    code: str = field(repr=False)
    generated: bool = True


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


# --- parsing --------------------------------------------------------------------------------------------
def size_text(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def check_size(size: int) -> None:
    """Refuse a file larger than MAX_BYTES (callers check before reading it all when they can)."""
    if size > MAX_BYTES:
        raise FileTooLarge(size=size_text(size), limit=size_text(MAX_BYTES))


def decode(data: bytes) -> str:
    """UTF-8 text (an optional byte-order mark removed), or BadEncoding naming the line and byte."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BadEncoding(line=line, byte=f"0x{data[error.start]:02X}", offset=error.start) from None
    nul = text.find("\x00")
    if nul >= 0:  # Python's csv reads NUL since 3.11; no order export has one (UTF-16 files do)
        raise MalformedCsv(line=text.count("\n", 0, nul) + 1,
                           detail=gettext("it contains a NUL byte, so this is not a text file."))
    return text


def _norm_header(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("_", " ")).strip().lower()


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _map_headers(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Field → column index, and the ignored columns; BadHeaders when required ones are missing."""
    mapping: dict[str, int] = {}
    unknown: list[str] = []
    problems: list[str] = []
    for index, raw in enumerate(header):
        name = _norm_header(raw)
        target = _ALIAS_TO_FIELD.get(name)
        if target is None:
            if name:
                unknown.append(raw.strip())
            continue
        if target in mapping:
            problems.append(gettext("two columns mean %(field)s (%(first)s, %(second)s).") % {
                "field": field_label(target), "first": _short(header[mapping[target]].strip()),
                "second": _short(raw.strip())})
            continue
        mapping[target] = index
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        problems.insert(0, gettext("Missing: %(columns)s.") % {"columns": ", ".join(field_label(f) for f in missing)})
        if unknown:
            shown = ", ".join(_short(u) for u in unknown[:10]) + (" …" if len(unknown) > 10 else "")
            problems.insert(1, gettext("Not recognised: %(columns)s.") % {"columns": shown})
    if problems:
        expected = "; ".join(f"{field_label(f)} ({' / '.join(COLUMN_ALIASES[f])})" for f in COLUMN_ALIASES)
        raise BadHeaders(problems=" ".join(problems), expected=expected + " — " + gettext(
            "currency and code are optional"))
    return mapping, unknown


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _csv_detail(error: csv.Error) -> str:
    text = str(error)
    if "NUL" in text:
        return gettext("it contains a NUL byte, so this is not a text file.")
    if "field limit" in text:
        return gettext("a cell is longer than %(limit)s characters.") % {"limit": csv.field_size_limit()}
    return gettext("the quotes of a cell do not match (%(detail)s).") % {"detail": text}


def _formula(column: str, value: str, line: int) -> RowError | None:
    if value.startswith(FORMULA_START):
        return RowError(line, column, gettext(
            "The cell starts with %(char)s, so a spreadsheet could run it as a formula (CSV injection); "
            "remove that character.") % {"char": value[0]}, _short(value))
    return None


def _control(column: str, value: str, line: int) -> RowError | None:
    if _CONTROL_RE.search(value):
        return RowError(line, column, gettext(
            "The cell contains a line break or another control character; an order number or e-mail address "
            "must be on one line."), _short(_CONTROL_RE.sub(" ", value)))
    return None


def _amount(value: str, line: int) -> tuple[Decimal | None, RowError | None]:
    def error(text):
        return None, RowError(line, "amount", text, _short(value))

    if not value:
        return error(gettext("The amount is missing."))
    if not _AMOUNT_RE.match(value):
        return error(gettext("The amount is not a number (use digits and a dot, e.g. 12.50)."))
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return error(gettext("The amount is not a number (use digits and a dot, e.g. 12.50)."))
    if amount <= 0:
        return error(gettext("The amount must be above 0."))
    if "." in value and len(value.split(".", 1)[1]) > 2:
        return error(gettext("The amount has more than 2 decimals."))
    if amount > MAX_AMOUNT:
        return error(gettext("The amount is too large."))
    return amount.quantize(Decimal("0.01")), None


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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)
    try:
        header = next(reader)
        while not any(cell.strip() for cell in header):  # blank lines before the header
            header = next(reader)
    except StopIteration:
        raise EmptyFile() from None
    except csv.Error as error:
        raise MalformedCsv(line=reader.line_num or 1, detail=_csv_detail(error)) from None
    mapping, preview.ignored_columns = _map_headers(header)
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
            raise MalformedCsv(line=reader.line_num, detail=_csv_detail(error)) from None
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
            found = _formula(name, values.get(name, ""), line) or _control(name, values.get(name, ""), line)
            if found:
                errors.append(found)
        formula_columns = {e.column for e in errors}

        number = values["order_number"]
        if "order_number" not in formula_columns:
            if not number:
                errors.append(RowError(line, "order_number", gettext("The order number is missing.")))
            elif len(number) > 64:
                errors.append(RowError(line, "order_number", gettext(
                    "The order number is longer than 64 characters."), _short(number)))
        if number and number in numbers and not errors:
            preview.skipped.append((line, number))  # already imported: not written, not an error
            continue
        if number and "order_number" not in formula_columns:
            first = seen_numbers.get(number)
            if first is not None:
                errors.append(RowError(line, "order_number", gettext(
                    "Order %(number)s is already on line %(first)s of this file.") % {
                    "number": _short(number), "first": first}, _short(number)))
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
                                           _short(email)))

        amount, amount_error = _amount(values["amount"], line)
        if amount_error and not (values["amount"].startswith(("=", "@"))):
            errors.append(amount_error)
        elif amount_error:
            errors.append(_formula("amount", values["amount"], line))

        currency = (values.get("currency") or "USD").upper()
        if "currency" not in formula_columns and not _CURRENCY_RE.match(currency):
            errors.append(RowError(line, "currency", gettext("The currency must be a 3-letter code such as USD."),
                                   _short(values.get("currency", ""))))

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
                    _short(raw_code)))
            elif not code_is_strong(normalized):
                # Whoever supplies the codes, they must resist guessing as well as generated ones do (>= 40 bits).
                errors.append(RowError(line, "code", gettext(
                    "The code is too easy to guess: use at least 8 letters and digits mixed (or 9 letters, or 13 "
                    "digits), with at least half of them different; or leave it empty to have one generated."),
                    _hint(normalized)))
            elif normalized in seen_codes:
                errors.append(RowError(line, "code", gettext("This code is already on line %(first)s of this file.")
                                       % {"first": seen_codes[normalized]}, _hint(normalized)))
            elif code_hash(guild_id, normalized) in hashes:
                errors.append(RowError(line, "code", gettext(
                    "This code is already used by another order in this server."), _hint(normalized)))
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


def _hint(normalized: str) -> str:
    # A code given in the file is a secret too: row errors show only its end, like the admin does.
    return "…" + normalized[-4:]


# --- importing ------------------------------------------------------------------------------------------
def import_orders(*, guild_id: int, source: bytes | Preview, filename: str, imported_by=None,
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


def codes_csv(codes: list[IssuedCode]) -> str:
    """The codes of an import as CSV text (no cell starts like a formula: the import refused such cells)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_number", "email", "amount", "currency", "code", "generated"])
    for c in codes:
        generated = "yes" if c.generated else "no"
        writer.writerow([c.order_number, c.email, f"{c.amount:.2f}", c.currency, c.code, generated])
    return out.getvalue()
