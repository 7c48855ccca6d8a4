"""The one wiring of the contract tests: every repository port three ways.

`store` is the memory fakes of tests/fakes, then the SQLAlchemy adapters on an emptied
SQLite and an emptied PostgreSQL database (the session's own, see tests/conftest.py; under
CI=true a missing server fails the PostgreSQL runs instead of skipping them). A contract
test takes `store` and runs each step as `store.work(job)` or `store.read(job)`, where `job`
gets a unit of work (`uow.items`, `uow.orders`, … as the services see them, made as the app
makes it): on SQL, `work` commits in a transaction of its own and `read` runs in a new one
rolled back afterwards, as pyramid_tm runs them. zope.sqlalchemy rolls back Core writes that
were not marked, so only a read in a new transaction proves a write was kept. The fakes keep
no transactions: every "transaction" sees the same.

`sql_store` is the SQLAlchemy side alone (rollbacks, schema), `postgres_store` PostgreSQL
alone (races between real threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import transaction
from sqlalchemy import Engine

from minimart.adapters.sqlalchemy.database import make_engine, make_session_factory, tm_session
from minimart.adapters.sqlalchemy.metrics import SqlAlchemyShopGauges
from minimart.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from minimart.domain.accounts import Account
from minimart.domain.actors import Role
from minimart.domain.catalog import Item
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import Fulfilment, Order, OrderLine, OrderStatus, Payment
from minimart.domain.payments import PaymentStatus
from minimart.domain.pricing import Totals
from tests.conftest import _empty_all_tables
from tests.fakes.metrics import MemoryShopGauges
from tests.fakes.unit_of_work import MemoryUnitOfWork

CURRENCY = "usd"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
R = TypeVar("R")


Repos = MemoryUnitOfWork | SqlAlchemyUnitOfWork  # what a job gets: one unit of work


class MemoryStore:
    """The memory fakes; they keep no transactions, so every 'transaction' sees the same."""

    def __init__(self) -> None:
        self.repos = MemoryUnitOfWork()
        self.gauges = MemoryShopGauges(self.repos.orders)

    def work(self, job: Callable[[Repos], R]) -> R:
        return job(self.repos)

    read = work

    def close(self) -> None:
        pass


class SqlStore:
    """The SQLAlchemy adapters; each call runs in its own transaction manager and session."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.gauges = SqlAlchemyShopGauges(self.engine)

    def repos(self, manager: transaction.TransactionManager) -> SqlAlchemyUnitOfWork:
        """The unit of work of one session joined to `manager`, as the app makes it."""
        return SqlAlchemyUnitOfWork(lambda: tm_session(self.factory, manager), manager, CURRENCY)

    def work(self, job: Callable[[Repos], R]) -> R:
        """Run job in a transaction committed by the manager (aborted if job raises)."""
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            return job(self.repos(manager))

    def read(self, job: Callable[[Repos], R]) -> R:
        """Run job in a new transaction that is rolled back afterwards."""
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        try:
            return job(self.repos(manager))
        finally:
            manager.abort()

    def close(self) -> None:
        self.engine.dispose()


Store = MemoryStore | SqlStore
FAKE = pytest.param("fake", id="fake")
SQLITE = pytest.param("sqlite", id="sqlite")
POSTGRES = pytest.param("postgres", id="postgresql", marks=pytest.mark.postgres)


def _sql_store(request: pytest.FixtureRequest, backend: str) -> Iterator[SqlStore]:
    store = SqlStore(request.getfixturevalue(f"{backend}_url"))
    _empty_all_tables(store.engine)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=[FAKE, SQLITE, POSTGRES])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The memory fakes, then the SQLAlchemy adapters on emptied SQLite and PostgreSQL."""
    if request.param == "fake":
        yield MemoryStore()
        return
    yield from _sql_store(request, request.param)


@pytest.fixture(params=[SQLITE, POSTGRES])
def sql_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    """The SQLAlchemy adapters alone, on emptied SQLite and PostgreSQL."""
    yield from _sql_store(request, request.param)


@pytest.fixture
def postgres_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    """The SQLAlchemy adapters on the emptied PostgreSQL database, for races."""
    yield from _sql_store(request, "postgres")


# --- what the contracts store ----------------------------------------------------------------

def make_item(name: str = "Tea", price: int = 450, stock: int = 5, *, at: datetime = T0,
              **fields: Any) -> Item:
    return Item(id=fields.pop("id", new_id()), sku=fields.pop("sku", None), name=name,
                description=fields.pop("description", ""), price=Money(price, CURRENCY),
                stock=stock, created_at=at, updated_at=at, **fields)


def make_account(email: str = "shopper@example.com", **fields: Any) -> Account:
    return Account(id=fields.pop("id", new_id()), email=email, name=fields.pop("name", "Sam"),
                   role=fields.pop("role", Role.CUSTOMER),
                   password_hash=fields.pop("password_hash", "$argon2id$fake"),
                   created_at=fields.pop("created_at", T0), **fields)


def make_order(customer_id: str, *lines: tuple[Item, int], at: datetime = T0,
               status: OrderStatus = OrderStatus.PENDING_PAYMENT,
               payment: Payment | None = None, **fields: Any) -> Order:
    """An order of `lines` (item, quantity) at the items' prices, without tax or fees."""
    subtotal = Money(sum(item.price.amount * quantity for item, quantity in lines), CURRENCY)
    zero = Money(0, CURRENCY)
    return Order(
        id=fields.pop("id", new_id()), customer_id=customer_id, status=status,
        lines=tuple(OrderLine(item.id, item.sku, item.name, item.price, quantity)
                    for item, quantity in lines),
        totals=Totals(subtotal=subtotal, tax=zero, delivery_fee=zero, tip=zero,
                      total=subtotal),
        fulfilment=fields.pop("fulfilment", Fulfilment()), note=fields.pop("note", None),
        payment=payment or Payment(provider="memory", status=PaymentStatus.NOT_STARTED),
        created_at=at, updated_at=fields.pop("updated_at", at), **fields)
