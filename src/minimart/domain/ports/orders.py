"""Orders and the Idempotency-Keys that answer a repeated placement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from minimart.domain.orders import (
    ClaimedKey,
    Order,
    OrderQuery,
    OrderStatus,
    Payment,
    PendingHoldings,
    PeriodTotals,
    Refund,
)


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...

    def get(self, order_id: str) -> Order | None: ...

    def find(self, query: OrderQuery) -> Sequence[Order]:
        """Newest first, up to query.limit, after query.after (created_at, id)."""
        ...

    def transition(self, order_id: str, source: OrderStatus, target: OrderStatus,
                   at: datetime) -> bool:
        """Move the order from source to target only if it is still in source; the one
        guard that makes racing actors take effect once."""
        ...

    def set_payment(self, order_id: str, payment: Payment, at: datetime) -> None:
        """Write the payment's provider, status, intent, client secret and capture. The
        refund amounts (`refunded`, `refund_claimed`) are left alone: only the refund
        methods below change them, by guarded updates that racing writers cannot undo."""
        ...

    def pending_holdings(self, customer_id: str) -> PendingHoldings:
        """The customer's pending orders and the units they hold per item. Locks the
        customer's account row until the transaction ends, so one customer's racing orders
        are counted one after another."""
        ...

    def pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of orders still pending payment that were placed before cutoff."""
        ...

    def get_by_payment_intent(self, payment_intent_id: str) -> Order | None: ...

    def owing_refund(self, limit: int) -> list[str]:
        """Ids of cancelled orders with captured money no refund has claimed yet."""
        ...

    # Refunds: claimed before the provider is asked, sent once, finished or retried.
    def claim_refund(self, refund: Refund, statuses: frozenset[OrderStatus]) -> bool:
        """Add refund.amount to the order's refund_claimed and store the refund, if the
        order is in one of `statuses` and its claims stay within the capture; else False
        and nothing is written. Atomic: of racing claims, those that fit win, in any order,
        so the claims never add up past the capture."""
        ...

    def take_refund(self, refund_id: str, at: datetime,
                    stale_before: datetime | None) -> Refund | None:
        """Take a claimed refund to send it (SENDING, attempted at `at`): one whose last
        call failed, or with stale_before, one taken before then and never finished. None
        when it is not to be taken, so of racing takers one gets it."""
        ...

    def release_refund(self, refund_id: str) -> None:
        """Its call failed: a SENDING refund goes back to CLAIMED, for a later sender."""
        ...

    def refund_sent(self, refund_id: str, at: datetime) -> int | None:
        """The provider accepted it: a SENDING refund becomes SENT and its amount is added
        to the order's refunded (its payment status becomes refunded with the whole
        capture). The order's new refunded, or None when it was not SENDING (no effect)."""
        ...

    def refund_reported(self, order_id: str, refunded_total: int, at: datetime) -> int | None:
        """The provider says it has returned `refunded_total` (at most the capture) of the
        payment in all. What is beyond the claims was refunded at the provider: it counts
        as claimed and refunded. The whole capture sets both to the capture, the payment
        status to refunded, and voids the claims still unsent (nothing more can be sent).
        The order's new refunded, or None when the report tells nothing new (an older or
        repeated one)."""
        ...

    def unsent_refunds(self, order_id: str) -> list[Refund]:
        """The order's CLAIMED refunds (their last call failed), oldest first."""
        ...

    def refunds_to_retry(self, stale_before: datetime, limit: int) -> list[Refund]:
        """Refunds of any order that are CLAIMED, or SENDING since before stale_before (the
        sender died), oldest first."""
        ...

    def refunds_of(self, order_id: str) -> list[Refund]:
        """Every refund of the order, oldest first."""
        ...

    def totals_by_period(self, boundaries: Sequence[datetime]) -> list[PeriodTotals]:
        """For each period [boundaries[i], boundaries[i + 1]) by created_at: the orders
        placed in it that were not cancelled, and the money kept from all of them (captured
        minus refunded). One entry per period, in order; boundaries are increasing."""
        ...


class IdempotencyKeys(Protocol):
    def claim(self, account_id: str, key: str, fingerprint: str, order_id: str,
              at: datetime) -> ClaimedKey | None:
        """Take the key for order_id, or return who has it. A concurrent claim of the same
        key waits for the first to commit or roll back, so only one order is ever made."""
        ...

    def forget_before(self, cutoff: datetime) -> int: ...

    def release(self, account_id: str, key: str, order_id: str) -> None:
        """Free the key if it still names order_id (its order was undone), so a retry
        with the same key places a new order."""
        ...
