"""The gauges /metrics reads, counted from the memory order repository."""

from __future__ import annotations

from collections import Counter

from minimart.domain.orders import Order, OrderQuery, OrderStatus
from minimart.domain.payments import PaymentStatus
from minimart.domain.ports.metrics import ShopGauges
from tests.fakes.orders import MemoryOrderRepository


class MemoryShopGauges(ShopGauges):
    """Counts the orders of `orders`; the pool figures are whatever the test sets. (Named
    as a subclass of its port so that mypy holds it to the port's shape.)"""

    def __init__(self, orders: MemoryOrderRepository,
                 connections: tuple[int, int] = (0, 0)) -> None:
        self._orders = orders
        self.pool = connections

    def orders_by_status(self) -> dict[OrderStatus, int]:
        return dict(Counter(o.status for o in self._all()))

    def orders_by_payment_status(self) -> dict[PaymentStatus, int]:
        return dict(Counter(o.payment.status for o in self._all()))

    def connections(self) -> tuple[int, int]:
        return self.pool

    def _all(self) -> list[Order]:
        return list(self._orders.find(OrderQuery(limit=10**9)))
