"""Orders, refunds, payment events and Idempotency-Keys in memory."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from minimart.domain.orders import (
    ClaimedKey,
    Order,
    OrderQuery,
    OrderStatus,
    Payment,
    PendingHoldings,
    PeriodTotals,
    Refund,
    RefundState,
)
from minimart.domain.payments import (
    PaymentEvent,
    PaymentStatus,
)


class MemoryOrderRepository:
    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        self._refunds: dict[str, Refund] = {}
        self._lock = threading.Lock()

    def add(self, order: Order) -> None:
        claimed = max(order.payment.refund_claimed, order.payment.refunded)  # as the SQL one
        self._orders[order.id] = replace(order, payment=replace(order.payment,
                                                                refund_claimed=claimed))

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def find(self, query: OrderQuery) -> list[Order]:
        rows = sorted((o for o in self._orders.values()
                       if (query.customer_id is None or o.customer_id == query.customer_id)
                       and (query.status is None or o.status is query.status)),
                      key=lambda o: (o.created_at, o.id), reverse=True)
        if query.after is not None:
            mark = (query.after.value, query.after.id)
            rows = [o for o in rows if (o.created_at, o.id) < mark]
        return rows[: query.limit]

    def transition(self, order_id: str, source: OrderStatus, target: OrderStatus,
                   at: datetime) -> bool:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None or order.status is not source:
                return False
            self._orders[order_id] = replace(order, status=target, updated_at=at)
            return True

    def set_payment(self, order_id: str, payment: Payment, at: datetime) -> None:
        with self._lock:
            stored = self._orders[order_id]
            payment = replace(payment, refunded=stored.payment.refunded,
                              refund_claimed=stored.payment.refund_claimed)
            self._orders[order_id] = replace(stored, payment=payment, updated_at=at)

    def pending_holdings(self, customer_id: str) -> PendingHoldings:
        units: dict[str, int] = {}
        pending = [o for o in self._orders.values()
                   if o.customer_id == customer_id and o.status is OrderStatus.PENDING_PAYMENT]
        for order in pending:
            for line in order.lines:
                units[line.item_id] = units.get(line.item_id, 0) + line.quantity
        return PendingHoldings(len(pending), units)

    def pending_before(self, cutoff: datetime, limit: int) -> list[str]:
        return [o.id for o in sorted(self._orders.values(), key=lambda o: o.created_at)
                if o.status is OrderStatus.PENDING_PAYMENT and o.created_at < cutoff][:limit]

    def get_by_payment_intent(self, payment_intent_id: str) -> Order | None:
        return next((o for o in self._orders.values()
                     if o.payment.payment_intent_id == payment_intent_id), None)

    def owing_refund(self, limit: int) -> list[str]:
        return [o.id for o in sorted(self._orders.values(), key=lambda o: o.updated_at)
                if o.status is OrderStatus.CANCELLED
                and o.payment.captured > o.payment.refund_claimed][:limit]

    def claim_refund(self, refund: Refund, statuses: frozenset[OrderStatus]) -> bool:
        with self._lock:
            order = self._orders.get(refund.order_id)
            if order is None or order.status not in statuses or \
                    refund.amount > order.payment.refundable:
                return False
            self._set_refund_amounts(order, claimed=order.payment.refund_claimed + refund.amount)
            self._refunds[refund.id] = refund
            return True

    def _set_refund_amounts(self, order: Order, *, claimed: int | None = None,
                            refunded: int | None = None, at: datetime | None = None) -> None:
        """Under the lock. A claim leaves updated_at alone: the order shows no change."""
        payment = order.payment
        status = payment.status
        if refunded is not None and refunded >= payment.captured:
            status = PaymentStatus.REFUNDED
        self._orders[order.id] = replace(
            order, updated_at=at or order.updated_at,
            payment=replace(payment, status=status,
                            refund_claimed=payment.refund_claimed if claimed is None else claimed,
                            refunded=payment.refunded if refunded is None else refunded))

    def take_refund(self, refund_id: str, at: datetime,
                    stale_before: datetime | None) -> Refund | None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or not _takeable(refund, stale_before):
                return None
            refund = replace(refund, state=RefundState.SENDING, attempted_at=at)
            self._refunds[refund_id] = refund
            return refund

    def release_refund(self, refund_id: str) -> None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is not None and refund.state is RefundState.SENDING:
                self._refunds[refund_id] = replace(refund, state=RefundState.CLAIMED)

    def refund_sent(self, refund_id: str, at: datetime) -> int | None:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or refund.state is not RefundState.SENDING:
                return None
            self._refunds[refund_id] = replace(refund, state=RefundState.SENT, sent_at=at)
            order = self._orders[refund.order_id]
            self._set_refund_amounts(order, refunded=order.payment.refunded + refund.amount,
                                     at=at)
            return self._orders[refund.order_id].payment.refunded

    def refund_reported(self, order_id: str, refunded_total: int, at: datetime) -> int | None:
        with self._lock:
            order = self._orders.get(order_id)
            if order is None:
                return None
            payment = order.payment
            if refunded_total >= payment.captured:  # the whole capture is back
                if payment.refunded >= payment.captured:
                    return None
                for refund in self._refunds.values():
                    if refund.order_id == order_id and refund.state in UNSENT:
                        self._refunds[refund.id] = replace(refund, state=RefundState.VOID)
                self._set_refund_amounts(order, claimed=payment.captured,
                                         refunded=payment.captured, at=at)
            elif payment.refund_claimed < refunded_total:  # refunded at the provider
                self._set_refund_amounts(
                    order, claimed=refunded_total,
                    refunded=payment.refunded + refunded_total - payment.refund_claimed, at=at)
            else:
                return None
            return self._orders[order_id].payment.refunded

    def unsent_refunds(self, order_id: str) -> list[Refund]:
        return [r for r in self.refunds_of(order_id) if r.state is RefundState.CLAIMED]

    def refunds_to_retry(self, stale_before: datetime, limit: int) -> list[Refund]:
        return [r for r in self._oldest_first() if _takeable(r, stale_before)][:limit]

    def refunds_of(self, order_id: str) -> list[Refund]:
        return [r for r in self._oldest_first() if r.order_id == order_id]

    def _oldest_first(self) -> list[Refund]:
        return sorted(self._refunds.values(), key=lambda r: (r.created_at, r.id))

    def totals_by_period(self, boundaries: Sequence[datetime]) -> list[PeriodTotals]:
        totals: list[PeriodTotals] = []
        for start, end in itertools.pairwise(boundaries):
            placed = [o for o in self._orders.values() if start <= o.created_at < end]
            totals.append(PeriodTotals(
                orders=sum(o.status is not OrderStatus.CANCELLED for o in placed),
                revenue=sum(o.payment.captured - o.payment.refunded for o in placed)))
        return totals


UNSENT = frozenset({RefundState.SENDING, RefundState.CLAIMED})


def _takeable(refund: Refund, stale_before: datetime | None) -> bool:
    """CLAIMED, or with stale_before, SENDING since before then (its sender died)."""
    if refund.state is RefundState.CLAIMED:
        return True
    return stale_before is not None and refund.state is RefundState.SENDING and \
        refund.attempted_at is not None and refund.attempted_at < stale_before


class MemoryPaymentEventLog:
    def __init__(self) -> None:
        self.seen: dict[str, PaymentEvent] = {}
        self._lock = threading.Lock()

    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        with self._lock:
            if event.id in self.seen:
                return False
            self.seen[event.id] = event
            return True


class MemoryIdempotencyKeys:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], tuple[ClaimedKey, datetime]] = {}
        self._lock = threading.Lock()

    def claim(self, account_id: str, key: str, fingerprint: str, order_id: str,
              at: datetime) -> ClaimedKey | None:
        with self._lock:
            held = self._keys.get((account_id, key))
            if held is not None:
                return held[0]
            self._keys[(account_id, key)] = (ClaimedKey(order_id, fingerprint), at)
            return None

    def forget_before(self, cutoff: datetime) -> int:
        with self._lock:
            old = [k for k, (_, at) in self._keys.items() if at < cutoff]
            for k in old:
                del self._keys[k]
            return len(old)

    def release(self, account_id: str, key: str, order_id: str) -> None:
        with self._lock:
            held = self._keys.get((account_id, key))
            if held is not None and held[0].order_id == order_id:
                del self._keys[(account_id, key)]
