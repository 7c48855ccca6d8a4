"""The UnitOfWork port on SQLAlchemy: the repositories of one session, and the transaction
manager that pyramid_tm (or the CLI, or a test) runs it in.

Repositories and the session itself are made on first use, so a unit of work that never
touches the database never joins the transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import transaction
from sqlalchemy.orm import Session

from minimart.adapters.sqlalchemy.accounts import (
    SqlAlchemyAccountRepository,
    SqlAlchemyEndedSignIns,
    SqlAlchemyLoginThrottle,
    SqlAlchemyRegistrationThrottle,
)
from minimart.adapters.sqlalchemy.audit import SqlAlchemyAuditLog
from minimart.adapters.sqlalchemy.catalog import (
    SqlAlchemyCategoryRepository,
    SqlAlchemyItemRepository,
)
from minimart.adapters.sqlalchemy.orders import (
    SqlAlchemyIdempotencyKeys,
    SqlAlchemyOrderRepository,
)
from minimart.adapters.sqlalchemy.payments import SqlAlchemyPaymentEventLog
from minimart.adapters.sqlalchemy.store import SqlAlchemyStoreSettingsRepository


class ReadOnlyUnitOfWork(Exception):
    """A write was asked of a unit of work that only reads (the catalog's browsing)."""


class SqlAlchemyUnitOfWork:
    def __init__(self, open_session: Callable[[], Session],
                 manager: transaction.TransactionManager | None, currency: str) -> None:
        """`manager` None: a read-only unit of work on an autocommit session, which the
        caller ends with close()."""
        self._open_session = open_session
        self._manager = manager
        self._currency = currency

    @cached_property
    def session(self) -> Session:
        return self._open_session()

    @cached_property
    def items(self) -> SqlAlchemyItemRepository:
        return SqlAlchemyItemRepository(self.session, self._currency)

    @cached_property
    def categories(self) -> SqlAlchemyCategoryRepository:
        return SqlAlchemyCategoryRepository(self.session)

    @cached_property
    def store_settings(self) -> SqlAlchemyStoreSettingsRepository:
        return SqlAlchemyStoreSettingsRepository(self.session, self._currency)

    @cached_property
    def accounts(self) -> SqlAlchemyAccountRepository:
        return SqlAlchemyAccountRepository(self.session)

    @cached_property
    def login_throttle(self) -> SqlAlchemyLoginThrottle:
        return SqlAlchemyLoginThrottle(self.session)

    @cached_property
    def registration_throttle(self) -> SqlAlchemyRegistrationThrottle:
        return SqlAlchemyRegistrationThrottle(self.session)

    @cached_property
    def ended_sign_ins(self) -> SqlAlchemyEndedSignIns:
        return SqlAlchemyEndedSignIns(self.session)

    @cached_property
    def orders(self) -> SqlAlchemyOrderRepository:
        return SqlAlchemyOrderRepository(self.session)

    @cached_property
    def idempotency(self) -> SqlAlchemyIdempotencyKeys:
        return SqlAlchemyIdempotencyKeys(self.session)

    @cached_property
    def payment_events(self) -> SqlAlchemyPaymentEventLog:
        return SqlAlchemyPaymentEventLog(self.session)

    @cached_property
    def audit(self) -> SqlAlchemyAuditLog:
        return SqlAlchemyAuditLog(self.session)

    @property
    def audit_trail(self) -> SqlAlchemyAuditLog:
        return self.audit

    def _transactions(self) -> transaction.TransactionManager:
        if self._manager is None:
            raise ReadOnlyUnitOfWork("this unit of work only reads")
        return self._manager

    def commit(self) -> None:
        """Commit the work so far and begin the next transaction: `tm.commit(); tm.begin()`."""
        manager = self._transactions()
        manager.commit()
        manager.begin()

    def abort(self) -> None:
        """Roll back the work since the last commit (a failed statement leaves PostgreSQL's
        transaction unusable) and begin the next transaction."""
        manager = self._transactions()
        manager.abort()
        manager.begin()

    def after_commit(self, action: Callable[[], None]) -> None:
        def run_if_committed(committed: bool) -> None:
            if committed:
                action()

        self._transactions().get().addAfterCommitHook(run_if_committed)

    def close(self) -> None:
        """End a read-only unit of work's session, if it opened one (a transaction's
        session is ended by the transaction)."""
        if self._manager is None and "session" in self.__dict__:
            self.__dict__.pop("session").close()
