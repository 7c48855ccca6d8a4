"""The catalog in memory: items, categories and pictures."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from minimart.domain.catalog import MAX_STOCK, Item, ItemQuery, sort_value
from minimart.domain.categories import Category, name_key, name_taken
from minimart.domain.errors import SkuTaken
from minimart.domain.images import Picture
from minimart.domain.orders import (
    Shortage,
)


def _matches(item: Item, query: ItemQuery) -> bool:
    text = (query.text or "").lower()
    checks = [
        query.include_archived or not item.archived,
        not text or text in item.name.lower() or text in item.description.lower(),
        query.min_price is None or item.price.amount >= query.min_price,
        query.max_price is None or item.price.amount <= query.max_price,
        not query.in_stock or item.stock > 0,
        query.available is None or item.available == query.available,
        query.featured is None or item.featured == query.featured,
        query.category_id is None or item.category_id == query.category_id,
    ]
    return all(checks)


class MemoryItemRepository:
    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def add(self, item: Item) -> None:
        if item.sku is not None and self.get_by_sku(item.sku) is not None:
            raise SkuTaken(f"sku {item.sku!r} is taken")
        self._items[item.id] = item

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def get_by_sku(self, sku: str) -> Item | None:
        return next((i for i in self._items.values() if i.sku == sku), None)

    def find(self, query: ItemQuery) -> list[Item]:
        def key(item: Item) -> tuple[object, str]:
            return (sort_value(item, query.sort), item.id)

        rows = sorted((i for i in self._items.values() if _matches(i, query)), key=key,
                      reverse=query.sort.descending)
        if query.after is not None:
            mark = (query.after.value, query.after.id)
            rows = [i for i in rows if (key(i) < mark if query.sort.descending else key(i) > mark)]
        return rows[: query.limit]

    def update(self, item: Item, expected_version: int) -> bool:
        with self._lock:
            current = self._items.get(item.id)
            if current is None or current.version != expected_version:
                return False
            if item.sku is not None:
                holder = self.get_by_sku(item.sku)
                if holder is not None and holder.id != item.id:
                    raise SkuTaken(f"sku {item.sku!r} is taken")
            self._items[item.id] = item
            return True

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        with self._lock:
            item = self._items.get(item_id)
            if item is None or not 0 <= item.stock + delta <= MAX_STOCK:
                return None
            item = replace(item, stock=item.stock + delta, updated_at=at,
                           version=item.version + 1)
            self._items[item_id] = item
            return item

    def archive(self, item_id: str, at: datetime) -> None:
        item = self._items[item_id]
        self._items[item_id] = replace(item, archived=True, updated_at=at,
                                       version=item.version + 1)

    def count(self) -> int:
        return len(self._items)

    def low_stock(self, threshold: int, limit: int) -> list[Item]:
        rows = sorted((i for i in self._items.values()
                       if not i.archived and i.stock <= threshold),
                      key=lambda i: (i.stock, i.name.lower(), i.id))
        return rows[:limit]

    def image_in_use(self, key: str) -> bool:
        return any(item.image_key == key for item in self._items.values())

    def reserve_stock(self, quantities: dict[str, int], at: datetime) -> list[Shortage]:
        with self._lock:
            shortages = [Shortage(item_id, wanted, self._items[item_id].stock)
                         for item_id, wanted in sorted(quantities.items())
                         if self._items[item_id].stock < wanted]
            if not shortages:
                self._add_stock({k: -v for k, v in quantities.items()}, at)
            return shortages

    def release_stock(self, quantities: dict[str, int], at: datetime) -> None:
        with self._lock:
            self._add_stock(quantities, at)

    def _add_stock(self, deltas: dict[str, int], at: datetime) -> None:
        for item_id, delta in deltas.items():
            item = self._items[item_id]
            self._items[item_id] = replace(item, stock=min(item.stock + delta, MAX_STOCK),
                                           updated_at=at, version=item.version + 1)


class MemoryCategoryRepository:
    def __init__(self, items: MemoryItemRepository) -> None:
        self._categories: dict[str, Category] = {}
        self._items = items

    def add(self, category: Category) -> None:
        self._refuse_taken(category)
        self._categories[category.id] = category

    def _refuse_taken(self, category: Category) -> None:
        if self.name_taken(name_key(category.name), category.id):
            raise name_taken(category.name)

    def name_taken(self, key: str, except_id: str | None = None) -> bool:
        return any(name_key(c.name) == key and c.id != except_id
                   for c in self._categories.values())

    def hold(self, category_id: str) -> bool:
        return category_id in self._categories

    def get(self, category_id: str) -> Category | None:
        category = self._categories.get(category_id)
        return None if category is None else self._counted(category)

    def _counted(self, category: Category) -> Category:
        count = sum(1 for i in self._items.find(ItemQuery(category_id=category.id,
                                                          limit=10**9)))
        return replace(category, item_count=count)

    def list_with_counts(self) -> list[Category]:
        return [self._counted(c) for c in sorted(self._categories.values(),
                                                 key=lambda c: (c.position, c.id))]

    def next_position(self) -> int:
        return max((c.position for c in self._categories.values()), default=0) + 1

    def update(self, category: Category) -> None:
        self._refuse_taken(category)
        self._categories[category.id] = category

    def delete(self, category_id: str, at: datetime) -> int:
        del self._categories[category_id]
        members = [i for i in self._items.find(ItemQuery(category_id=category_id,
                                                         include_archived=True, limit=10**9))]
        for item in members:
            self._items.update(replace(item, category_id=None, updated_at=at,
                                       version=item.version + 1), item.version)
        return len(members)


class MemoryImageStore:
    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.pictures: dict[str, Picture] = {}
        self.variants: dict[tuple[str, int], Picture] = {}
        self.stored_at: dict[str, datetime] = {}
        self._now = clock or (lambda: datetime.now(UTC))

    def put(self, picture: Picture) -> str:
        key = f"{hashlib.sha256(picture.data).hexdigest()}.{picture.extension}"
        self.pictures[key] = picture
        self.stored_at[key] = self._now()
        return key

    def put_variant(self, key: str, width: int, picture: Picture) -> None:
        self.variants[key, width] = picture

    def get(self, key: str, width: int | None = None) -> Picture | None:
        if width is None:
            return self.pictures.get(key)
        return self.variants.get((key, width))

    def delete(self, key: str) -> None:
        self.pictures.pop(key, None)
        self.stored_at.pop(key, None)
        for variant in [v for v in self.variants if v[0] == key]:
            del self.variants[variant]

    def stored_before(self, moment: datetime) -> list[str]:
        return [key for key, at in self.stored_at.items() if at < moment]


# Stripe's test payment methods, so the same client code works against either gateway.
