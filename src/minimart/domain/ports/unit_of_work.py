"""One unit of work: the repositories of one transaction, and its commit and rollback.

Services reach every repository through the unit of work they are built with
(`uow.orders`, `uow.items`), so swapping the database for the fakes in tests/ is one
argument, never a re-wiring of services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from minimart.domain.ports.accounts import AccountRepository, EndedSignIns, Throttle
from minimart.domain.ports.audit import AuditLog, AuditTrail
from minimart.domain.ports.catalog import CategoryRepository, ItemRepository
from minimart.domain.ports.orders import IdempotencyKeys, OrderRepository
from minimart.domain.ports.payments import PaymentEventLog
from minimart.domain.ports.store import StoreSettingsRepository


class UnitOfWork(Protocol):
    @property
    def items(self) -> ItemRepository: ...

    @property
    def categories(self) -> CategoryRepository: ...

    @property
    def store_settings(self) -> StoreSettingsRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def login_throttle(self) -> Throttle: ...

    @property
    def registration_throttle(self) -> Throttle: ...

    @property
    def ended_sign_ins(self) -> EndedSignIns: ...

    @property
    def orders(self) -> OrderRepository: ...

    @property
    def idempotency(self) -> IdempotencyKeys: ...

    @property
    def payment_events(self) -> PaymentEventLog: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def audit_trail(self) -> AuditTrail: ...

    def commit(self) -> None:
        """Commit what is done so far and begin afresh: a deliberate intermediate commit
        before calling a payment provider."""
        ...

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run action once the current transaction has committed (never if it aborts)."""
        ...

    def abort(self) -> None:
        """Roll back what is done since the last commit and begin afresh: after a failure,
        before the service records what it does about it."""
        ...
