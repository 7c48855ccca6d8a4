"""One unit of work in memory: every repository fake, and commits that are counted."""

from __future__ import annotations

from collections.abc import Callable

from tests.fakes.accounts import MemoryAccountRepository, MemoryEndedSignIns, MemoryThrottle
from tests.fakes.catalog import MemoryCategoryRepository, MemoryItemRepository
from tests.fakes.common import MemoryAuditLog
from tests.fakes.orders import MemoryIdempotencyKeys, MemoryOrderRepository, MemoryPaymentEventLog
from tests.fakes.store import MemoryStoreSettingsRepository


class MemoryUnitOfWork:
    """Counts the intermediate commits a service asks for; runs after-commit actions on the
    next commit (call commit() at the end of a test's unit of work)."""

    def __init__(self) -> None:
        self.items = MemoryItemRepository()
        self.categories = MemoryCategoryRepository(self.items)
        self.store_settings = MemoryStoreSettingsRepository()
        self.accounts = MemoryAccountRepository()
        self.login_throttle = MemoryThrottle()
        self.registration_throttle = MemoryThrottle()
        self.ended_sign_ins = MemoryEndedSignIns()
        self.orders = MemoryOrderRepository()
        self.idempotency = MemoryIdempotencyKeys()
        self.payment_events = MemoryPaymentEventLog()
        self.audit = MemoryAuditLog()
        self.commits = 0
        self.aborts = 0
        self._after: list[Callable[[], None]] = []

    def commit(self) -> None:
        self.commits += 1
        actions, self._after = self._after, []
        for action in actions:
            action()

    def after_commit(self, action: Callable[[], None]) -> None:
        self._after.append(action)

    def abort(self) -> None:
        """The fakes keep no transactions: nothing to roll back, and the after-commit
        actions of the aborted work are dropped."""
        self.aborts += 1
        self._after = []

    @property
    def audit_trail(self) -> MemoryAuditLog:
        return self.audit
