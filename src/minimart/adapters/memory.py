"""In-memory fakes of the ports, for unit tests and demos. They keep the same promises
as the SQL adapters (the contract tests run both)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from minimart.domain.accounts import Account
from minimart.domain.audit import AuditEvent
from minimart.domain.catalog import Item, ItemQuery, sort_value
from minimart.domain.errors import Conflict


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class PlainTextPasswordHasher:
    """Fast and obviously not secure: for unit tests only."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password

    def needs_rehash(self, password_hash: str) -> bool:
        return False

    def dummy_hash(self) -> str:
        return "plain$"


class MemoryAuditLog:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


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
    ]
    return all(checks)


class MemoryItemRepository:
    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._lock = threading.Lock()

    def add(self, item: Item) -> None:
        if item.sku is not None and self.get_by_sku(item.sku) is not None:
            raise Conflict(f"sku {item.sku!r} is taken", code="sku_taken")
        self._items[item.id] = item

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def get_by_sku(self, sku: str) -> Item | None:
        return next((i for i in self._items.values() if i.sku == sku), None)

    def list(self, query: ItemQuery) -> list[Item]:
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
                    raise Conflict(f"sku {item.sku!r} is taken", code="sku_taken")
            self._items[item.id] = item
            return True

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        with self._lock:
            item = self._items.get(item_id)
            if item is None or item.stock + delta < 0:
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


class MemoryAccountRepository:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        if self.get_by_email(account.email) is not None:
            raise Conflict("an account with this email exists", code="email_taken")
        self._accounts[account.id] = account

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def get_by_email(self, email: str) -> Account | None:
        return next((a for a in self._accounts.values() if a.email == email), None)

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._accounts[account_id] = replace(self._accounts[account_id],
                                             password_hash=password_hash)
