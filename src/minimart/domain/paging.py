"""Keyset pagination: a page, and where it ended, so the next one starts there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageAfter:
    """Where the previous page ended: the last entry's sort value and id."""

    value: Any
    id: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    entries: list[T]
    next_after: PageAfter | None = None


def keyset_page(rows: Sequence[T], limit: int, position: Callable[[T], PageAfter]) -> Page[T]:
    """A page from up to limit + 1 rows: the extra row only says that another page follows,
    which then starts after the last row shown."""
    if len(rows) <= limit:
        return Page(list(rows))
    return Page(list(rows[:limit]), position(rows[limit - 1]))
