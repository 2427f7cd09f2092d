"""Pages of a list for the read side: which rows, which page, how many pages (no Discord here).

Selectors of lists that grow with the community return a `Page` instead of every row: the page number is
clamped to the pages there are, so a button pointing past the end (the list shrank) shows the last page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, its 1-based number, how many pages there are, and how many rows in all."""

    rows: list[T]
    number: int
    pages: int
    total: int
    per_page: int

    @property
    def offset(self) -> int:
        """The index of the page's first row in the whole list."""
        return (self.number - 1) * self.per_page


def bounds(page: int, total: int, per_page: int) -> tuple[int, int, int]:
    """(page clamped to 1..pages, pages, offset) for `total` rows shown `per_page` a page."""
    pages = max(1, -(-total // per_page))
    number = min(max(1, page), pages)
    return number, pages, (number - 1) * per_page


def paginate(rows, page: int, per_page: int, total: int | None = None) -> Page:
    """The page of a queryset or list: one COUNT and one LIMIT/OFFSET query for a queryset.

    `rows` may be a queryset (sliced lazily) or a sequence; pass `total` when it is known already.
    """
    if total is None:
        total = len(rows) if isinstance(rows, Sequence) else rows.count()
    number, pages, offset = bounds(page, total, per_page)
    return Page(list(rows[offset:offset + per_page]), number, pages, total, per_page)
