"""What the domain needs from the outside world, as Protocols. Adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from minimart.domain.accounts import Account
    from minimart.domain.audit import AuditEvent
    from minimart.domain.catalog import Item, ItemQuery


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def dummy_hash(self) -> str:
        """A valid hash of nothing in particular, to spend equal time on unknown accounts."""
        ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class ItemRepository(Protocol):
    def add(self, item: Item) -> None:
        """Store a new item; a taken sku raises Conflict(code='sku_taken')."""
        ...

    def get(self, item_id: str) -> Item | None: ...

    def get_by_sku(self, sku: str) -> Item | None: ...

    def list(self, query: ItemQuery) -> Sequence[Item]:
        """Up to query.limit items matching the query, in its order, after query.after."""
        ...

    def update(self, item: Item, expected_version: int) -> bool:
        """Write the item's fields if its stored version is still expected_version."""
        ...

    def adjust_stock(self, item_id: str, delta: int, at: datetime) -> Item | None:
        """Add delta to stock in one conditional update; None if it would go below zero."""
        ...

    def archive(self, item_id: str, at: datetime) -> None: ...

    def count(self) -> int: ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store a new account; a taken email raises Conflict(code='email_taken')."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_by_email(self, email: str) -> Account | None: ...

    def set_password_hash(self, account_id: str, password_hash: str) -> None: ...
