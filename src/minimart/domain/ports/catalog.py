"""The catalog's storage: items, categories and their pictures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from minimart.domain.catalog import Item, ItemQuery
from minimart.domain.categories import Category
from minimart.domain.images import Picture
from minimart.domain.orders import (
    Shortage,
)


class ItemRepository(Protocol):
    def add(self, item: Item) -> None:
        """Store a new item; a taken sku raises SkuTaken."""
        ...

    def get(self, item_id: str) -> Item | None: ...

    def get_by_sku(self, sku: str) -> Item | None: ...

    def find(self, query: ItemQuery) -> Sequence[Item]:
        """Up to query.limit items matching the query, in its order, after query.after."""
        ...

    def update(self, item: Item, expected_version: int) -> bool:
        """Write the item's fields if its stored version is still expected_version."""
        ...

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        """Add delta to stock in one conditional update; None if it would go below zero."""
        ...

    def archive(self, item_id: str, at: datetime) -> None: ...

    def image_in_use(self, key: str) -> bool:
        """Whether any item still shows this picture (identical uploads share a key)."""
        ...

    def reserve_stock(self, quantities: dict[str, int], at: datetime) -> list[Shortage]:
        """Take every quantity from stock, all or nothing, by conditional updates in item-id
        order (no deadlocks). Returns the short lines, having taken nothing, or []."""
        ...

    def release_stock(self, quantities: dict[str, int], at: datetime) -> None:
        """Put quantities back into stock (a cancelled or refunded order)."""
        ...

    def count(self) -> int: ...

    def low_stock(self, threshold: int, limit: int) -> Sequence[Item]:
        """Up to limit items on sale (not archived) with stock <= threshold, lowest stock
        first, then by name."""
        ...


class CategoryRepository(Protocol):
    def add(self, category: Category) -> None: ...

    def get(self, category_id: str) -> Category | None: ...

    def list_with_counts(self) -> list[Category]:
        """In position order, each with its count of items that are not archived."""
        ...

    def next_position(self) -> int: ...

    def hold(self, category_id: str) -> bool:
        """Whether the category exists, kept so until the transaction ends: a delete of it
        waits, then finds the items moved into it meanwhile (no dangling reference)."""
        ...

    def name_taken(self, key: str, except_id: str | None = None) -> bool:
        """Whether another category's name has this name_key."""
        ...

    def update(self, category: Category) -> None:
        """Store the changes; a name another category holds raises Conflict('name_taken')."""
        ...

    def delete(self, category_id: str, at: datetime) -> int:
        """Delete the category and take its items out of it; returns how many there were."""
        ...


class ImageProcessor(Protocol):
    def normalize(self, data: bytes) -> Picture:
        """Decode, shrink to the largest edge and re-encode an upload, judged by its
        content; raises UnsupportedImage, DamagedImage or ImageTooLarge."""
        ...

    def variant(self, picture: Picture, width: int) -> Picture:
        """A narrower copy of a normalized picture (itself when it is no wider)."""
        ...


class ImageStore(Protocol):
    """Where pictures live: a local directory now, an object store later."""

    def put(self, picture: Picture) -> str:
        """Store the picture and return its key (the same content gives the same key);
        storing it again counts as new for stored_before."""
        ...

    def put_variant(self, key: str, width: int, picture: Picture) -> None: ...

    def get(self, key: str, width: int | None = None) -> Picture | None: ...

    def delete(self, key: str) -> None:
        """The picture and its variants."""
        ...

    def stored_before(self, moment: datetime) -> Iterable[str]:
        """Keys of the pictures last stored before `moment`."""
        ...
