"""The order file's format: reading a shop's CSV export (encoding, delimiter, header line, each cell's checks)
and writing the codes file of an import.

Pure functions, no database: `order_import.parse_orders` reads a file with them and checks every row against
the guild's orders. The file: UTF-8 (a byte-order mark is fine), comma-, semicolon- or tab-separated (from the
header line), one header line whose names are matched case-insensitively with the aliases in
``COLUMN_ALIASES``. Columns ``order``, ``email`` and ``amount`` are required; ``currency`` (default USD) and
``code`` are optional; other columns are ignored. A cell's problem is a ``RowError``; a problem with the whole
file raises an ``ImportRefused`` subclass (points.exceptions).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext, pgettext

from ..exceptions import BadEncoding, BadHeaders, MalformedCsv

MAX_CELL = 1000  # characters in one cell; longer means the file is not an order export
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
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
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


def short(value: str, limit: int = 40) -> str:
    """`value` cut to `limit` characters (with an ellipsis), to quote a cell in a message."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def map_headers(header: list[str]) -> tuple[dict[str, int], list[str]]:
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
                "field": field_label(target), "first": short(header[mapping[target]].strip()),
                "second": short(raw.strip())})
            continue
        mapping[target] = index
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        problems.insert(0, gettext("Missing: %(columns)s.") % {"columns": ", ".join(field_label(f) for f in missing)})
        if unknown:
            shown = ", ".join(short(u) for u in unknown[:10]) + (" …" if len(unknown) > 10 else "")
            problems.insert(1, gettext("Not recognised: %(columns)s.") % {"columns": shown})
    if problems:
        expected = "; ".join(f"{field_label(f)} ({' / '.join(COLUMN_ALIASES[f])})" for f in COLUMN_ALIASES)
        raise BadHeaders(problems=" ".join(problems), expected=expected + " — " + gettext(
            "currency and code are optional"))
    return mapping, unknown


def delimiter(first_line: str) -> str:
    """The separator the header line uses most: comma, semicolon or tab (comma when none)."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def csv_detail(error: csv.Error) -> str:
    """What the csv module's error means, in words staff understand."""
    text = str(error)
    if "NUL" in text:
        return gettext("it contains a NUL byte, so this is not a text file.")
    if "field limit" in text:
        return gettext("a cell is longer than %(limit)s characters.") % {"limit": csv.field_size_limit()}
    return gettext("the quotes of a cell do not match (%(detail)s).") % {"detail": text}


def formula_error(column: str, value: str, line: int) -> RowError | None:
    """A cell a spreadsheet would run as a formula."""
    if value.startswith(FORMULA_START):
        return RowError(line, column, gettext(
            "The cell starts with %(char)s, so a spreadsheet could run it as a formula (CSV injection); "
            "remove that character.") % {"char": value[0]}, short(value))
    return None


def control_error(column: str, value: str, line: int) -> RowError | None:
    """A cell with a line break or another control character."""
    if _CONTROL_RE.search(value):
        return RowError(line, column, gettext(
            "The cell contains a line break or another control character; an order number or e-mail address "
            "must be on one line."), short(_CONTROL_RE.sub(" ", value)))
    return None


def parse_amount(value: str, line: int) -> tuple[Decimal | None, RowError | None]:
    """The amount (above 0, at most 2 decimals, fits Order.amount), or the row error."""
    def error(text):
        return None, RowError(line, "amount", text, short(value))

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


def code_end(normalized: str) -> str:
    """A code as row errors show it: a code given in the file is a secret too, so only its end (like the admin)."""
    return "…" + normalized[-4:]


# --- the codes file ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedCode:
    """An order created by an import and its code, in clear (shown once, never stored)."""

    order_number: str
    email: str
    amount: Decimal
    currency: str
    code: str = field(repr=False)
    generated: bool = True


def codes_csv(codes: list[IssuedCode]) -> str:
    """The codes of an import as CSV text (no cell starts like a formula: the import refused such cells)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_number", "email", "amount", "currency", "code", "generated"])
    for c in codes:
        generated = "yes" if c.generated else "no"
        writer.writerow([c.order_number, c.email, f"{c.amount:.2f}", c.currency, c.code, generated])
    return out.getvalue()
