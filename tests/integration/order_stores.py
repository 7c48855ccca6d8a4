"""The item, account and order repositories two ways, for the order contract tests: the
memory fakes, and the SQLAlchemy adapters with each `work` in its own committed transaction
and each `read` in one rolled back, as pyramid_tm runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import transaction

from minimart.adapters.sqlalchemy.database import make_engine, make_session_factory, tm_session
from minimart.adapters.sqlalchemy.orders import SqlAlchemyOrderRepository
from minimart.adapters.sqlalchemy.repositories import (
    SqlAlchemyAccountRepository,
    SqlAlchemyItemRepository,
)
from tests.fakes.accounts import MemoryAccountRepository
from tests.fakes.catalog import MemoryItemRepository
from tests.fakes.orders import MemoryOrderRepository

CURRENCY = "usd"


@dataclass
class Repos:
    items: Any
    accounts: Any
    orders: Any


class MemoryStore:
    """The memory fakes; they keep no transactions, so every 'transaction' sees the same."""

    def __init__(self) -> None:
        self.repos = Repos(MemoryItemRepository(), MemoryAccountRepository(),
                           MemoryOrderRepository())

    def work(self, job: Callable[[Repos], Any]) -> Any:
        return job(self.repos)

    read = work

    def close(self) -> None:
        pass


class SqlStore:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)

    def _repos(self, manager: transaction.TransactionManager) -> Repos:
        session = tm_session(self.factory, manager)
        return Repos(SqlAlchemyItemRepository(session, CURRENCY),
                     SqlAlchemyAccountRepository(session), SqlAlchemyOrderRepository(session))

    def work(self, job: Callable[[Repos], Any]) -> Any:
        """job in its own transaction, committed (aborted if it raises)."""
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            return job(self._repos(manager))

    def read(self, job: Callable[[Repos], Any]) -> Any:
        """job in a new transaction that is rolled back afterwards."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        try:
            return job(self._repos(manager))
        finally:
            manager.abort()

    def close(self) -> None:
        self.engine.dispose()
