"""The catalog: items a shop sells, how shoppers find them, and how staff change them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minimart.domain.errors import (
    ValidationFailed,
)
from minimart.domain.money import Money
from minimart.domain.paging import PageAfter

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
# The largest price (minor units) and stock an item may have: every door checks them, and
# every stock change in the database is capped at MAX_STOCK, far below the column's limit.
MAX_PRICE = 10**12
MAX_STOCK = 10**9
# Item answers are cached for 30 seconds (caching.py), but browsers keep pages in their
# history and apps keep item lists offline: a replaced picture stays at least a day.
MIN_PICTURE_GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    sku: str | None
    name: str
    description: str
    price: Money
    stock: int
    created_at: datetime
    updated_at: datetime
    available: bool = True
    featured: bool = False
    archived: bool = False
    version: int = 1
    category_id: str | None = None
    image_key: str | None = None

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def editable_fields(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "description": self.description,
                "price": self.price.amount, "stock": self.stock,
                "available": self.available, "featured": self.featured,
                "category_id": self.category_id}


EDITABLE_FIELDS = frozenset({"sku", "name", "description", "price", "stock",
                             "available", "featured", "category_id"})


class ItemSort(enum.StrEnum):
    """A listing order; the leading '-' means descending. Every order ends on id (keyset)."""

    NAME = "name"
    NAME_DESC = "-name"
    PRICE = "price"
    PRICE_DESC = "-price"
    CREATED = "created"
    CREATED_DESC = "-created"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def key(self) -> str:
        return self.value.lstrip("-")


@dataclass(frozen=True, slots=True)
class ItemQuery:
    text: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool = False
    available: bool | None = None
    featured: bool | None = None
    category_id: str | None = None
    include_archived: bool = False
    sort: ItemSort = ItemSort.NAME
    limit: int = DEFAULT_PAGE_SIZE
    after: PageAfter | None = None


def sort_value(item: Item, sort: ItemSort) -> Any:
    """The value an item is ordered by; names order case-insensitively."""
    if sort.key == "name":
        return item.name.lower()
    return item.price.amount if sort.key == "price" else item.created_at


@dataclass(frozen=True, slots=True)
class NewItem:
    name: str
    price: int
    stock: int = 0
    description: str = ""
    sku: str | None = None
    available: bool = True
    featured: bool = False
    category_id: str | None = None


def check_item_fields(fields: dict[str, Any]) -> None:
    """Rules every driver gets, whatever its own input validation did."""
    problems: dict[str, Any] = {name: ["must not be negative"] for name in ("price", "stock")
                                if name in fields and fields[name] < 0}
    if "name" in fields and not str(fields["name"]).strip():
        problems["name"] = ["must not be blank"]
    if problems:
        raise ValidationFailed("the item is not valid", details=problems)
