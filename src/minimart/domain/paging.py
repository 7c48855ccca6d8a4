"""Keyset pagination: a page, and where it ended, so the next one starts there."""

from __future__ import annotations

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
