"""What /metrics reads at scrape time, from where every process sees the same."""

from __future__ import annotations

from typing import Protocol

from minimart.domain.orders import OrderStatus
from minimart.domain.payments import PaymentStatus


class ShopGauges(Protocol):
    def orders_by_status(self) -> dict[OrderStatus, int]:
        """How many orders are in each status; a status no order is in is left out."""
        ...

    def orders_by_payment_status(self) -> dict[PaymentStatus, int]:
        """How many orders have each payment status; one no order has is left out."""
        ...

    def connections(self) -> tuple[int, int]:
        """Database connections this process has in use, and how many its pool keeps
        (0 for a pool that keeps none)."""
        ...
