"""The gauges /metrics reads, on SQLAlchemy Core: orders counted in the database, and this
process's connection pool."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from minimart.adapters.sqlalchemy.tables import orders
from minimart.domain.orders import OrderStatus
from minimart.domain.payments import PaymentStatus

ORDERS_BY_STATUS = select(orders.c.status, func.count()).group_by(orders.c.status)
ORDERS_BY_PAYMENT_STATUS = (select(orders.c.payment_status, func.count())
                            .group_by(orders.c.payment_status))


class SqlAlchemyShopGauges:
    """Each read on a connection of its own, outside any request's transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def orders_by_status(self) -> dict[OrderStatus, int]:
        with self._engine.connect() as connection:
            return {OrderStatus(status): count
                    for status, count in connection.execute(ORDERS_BY_STATUS)}

    def orders_by_payment_status(self) -> dict[PaymentStatus, int]:
        with self._engine.connect() as connection:
            return {PaymentStatus(status): count
                    for status, count in connection.execute(ORDERS_BY_PAYMENT_STATUS)}

    def connections(self) -> tuple[int, int]:
        """A pool without these counts (NullPool, SQLite's in-memory one) reads as 0."""
        pool = self._engine.pool
        return (getattr(pool, "checkedout", lambda: 0)(), getattr(pool, "size", lambda: 0)())
