"""OrderService: placing, paying, cancelling, expiring and refunding orders.

The one service the entrypoints call for orders. Its two longest roads live in
collaborators it builds from its own dependencies, so the wiring stays in one place:
OrderPlacement (order_placement.py) reserves and asks for payment, OrderRefunds
(refunds.py) returns money; the guarded moves all three make are OrderTransitions
(order_transitions.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from minimart.domain.actors import Actor, Permission
from minimart.domain.errors import InvalidState, NotFound, ValidationFailed
from minimart.domain.money import Money
from minimart.domain.orders import (
    DEFAULT_LIMITS,
    MAX_REPORT_DAYS,
    UNSTARTED_PAYMENTS,
    DailySales,
    Order,
    OrderLimits,
    OrderQuery,
    OrderStatus,
    PlacedOrder,
    PlaceOrder,
    day_boundaries,
)
from minimart.domain.paging import Page, PageAfter, keyset_page
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.services.order_placement import OrderPlacement
from minimart.domain.services.order_transitions import OrderTransitions
from minimart.domain.services.payment_customers import PaymentCustomers
from minimart.domain.services.refunds import OrderRefunds
from minimart.domain.services.store import StoreService

log = logging.getLogger(__name__)


class OrderService:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway,
                 customers: PaymentCustomers, store: StoreService, clock: Clock,
                 limits: OrderLimits = DEFAULT_LIMITS) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self._limits = limits
        self._transitions = OrderTransitions(uow, payments, clock)
        self._placement = OrderPlacement(uow, payments, customers, store, clock, limits,
                                         self._transitions)
        self._refunds = OrderRefunds(uow, payments, clock, self._transitions)

    # --- placing -------------------------------------------------------
    def place_order(self, request: PlaceOrder, actor: Actor,
                    idempotency_key: str | None = None) -> PlacedOrder:
        """Reserve stock and commit a pending order, then ask for payment.

        The reservation is committed before the payment provider is called, so no database
        transaction waits on the network and a crash leaves a pending order that expiry
        finishes, never a charge without an order.
        """
        return self._placement.place(request, actor, idempotency_key)

    # --- payment outcomes ---------------------------------------------
    def mark_paid(self, order_id: str, amount_received: int, actor: Actor) -> Order:
        """The one guarded road to `paid`, for the synchronous confirm and the webhook alike."""
        return self._transitions.mark_paid(self._get(order_id), amount_received, actor)

    def payment_succeeded(self, order_id: str, amount: int, currency: str, actor: Actor) -> None:
        """The provider says the money arrived. A wrong amount or currency is refused; money
        for an order cancelled meanwhile is returned, never kept without an order."""
        order = self._get(order_id)
        if currency != order.currency or amount != order.totals.total.amount:
            log.error("refused payment for order %s: %s %s does not match the order's %s %s",
                      order.id, amount, currency, order.totals.total.amount, order.currency)
            return
        if order.status is OrderStatus.PENDING_PAYMENT:
            if self._transitions.try_mark_paid(order, amount, actor) is not None:
                return
            order = self._get(order_id)  # cancelled or paid by someone else meanwhile
        if order.status is OrderStatus.CANCELLED and order.payment.captured < amount:
            now = self._clock.now()
            self._uow.orders.set_payment(order.id, replace(order.payment, captured=amount), now)
            self._transitions.record(actor, "order.payment_after_cancel", order.id,
                                     {"captured": [order.payment.captured, amount]})
            self.return_late_payment(order.id, actor)

    def return_late_payment(self, order_id: str, actor: Actor) -> None:
        """Refund money captured for a cancelled order. The owed state and the refund's claim
        are committed first, so if the provider is down, reconciliation sends it later."""
        order = self._get(order_id)
        if order.status is not OrderStatus.CANCELLED:
            return
        self._refunds.return_late_payment(order, actor)

    def payment_failed(self, order_id: str, actor: Actor) -> None:
        """A failed or cancelled intent cancels a pending order and returns its stock."""
        order = self._get(order_id)
        if order.status is OrderStatus.PENDING_PAYMENT and \
                self._transitions.cancel_pending(order, actor, reason="payment_failed"):
            self._transitions.cancel_at_provider(order)

    def refunded_by_provider(self, order_id: str, refunded_total: int, actor: Actor) -> None:
        """Money went back (our refunds, or ones made at the provider's dashboard):
        `refunded_total` is all the provider has returned of the payment so far. A part of
        the capture is recorded and leaves status and stock alone; the whole marks the order
        refunded. Older reports (smaller totals) and repeats change nothing."""
        order = self._get(order_id)
        if order.status is OrderStatus.PENDING_PAYMENT:
            # refunded before its success event arrived: the money came and went back
            self._transitions.cancel_pending(order, actor, reason="refunded")
            order = self._get(order_id)  # cancelled now, by us or by whoever settled it first
        if order.status is OrderStatus.CANCELLED and order.payment.captured < refunded_total:
            # money taken for a cancelled order went back: remember it was taken, so a
            # success event arriving late finds nothing owed and asks for no second refund
            order = replace(order, payment=replace(order.payment, captured=refunded_total))
            self._uow.orders.set_payment(order.id, order.payment, self._clock.now())
        returned = min(refunded_total, order.payment.captured)
        if self._uow.orders.refund_reported(order.id, returned, self._clock.now()) is not None:
            self._refunds.money_returned(order, actor)

    # --- changing state ------------------------------------------------
    def cancel(self, order_id: str, actor: Actor) -> Order:
        """Owner or staff cancel: a pending order returns its stock; a paid one is refunded."""
        order = self._visible(order_id, actor)
        if order.status is OrderStatus.PAID:
            return self._refunds.refund(order, actor)
        if order.status is not OrderStatus.PENDING_PAYMENT:
            raise InvalidState(f"a {order.status} order cannot be cancelled")
        if not self._transitions.cancel_pending(order, actor, reason="cancelled"):
            return self._transitions.settled(order_id, OrderStatus.CANCELLED)
        self._transitions.cancel_at_provider(order)
        return self._get(order_id)

    def fulfil(self, order_id: str, actor: Actor) -> Order:
        actor.require(Permission.ORDERS_MANAGE)
        order = self._get(order_id)
        self._transitions.transition(order, OrderStatus.FULFILLED, actor, "order.fulfilled")
        return self._get(order_id)

    def refund(self, order_id: str, actor: Actor, amount: int | None = None) -> Order:
        """Return `amount` (minor units) of a paid or fulfilled order's capture, or all that
        is left of it when None. The order becomes refunded once all of it is returned."""
        actor.require(Permission.REFUNDS)
        return self._refunds.refund(self._get(order_id), actor, amount)

    def resend_refund(self, refund_id: str, actor: Actor, stale_before: datetime | None) -> bool:
        """Take a claimed refund left unsent (and with `stale_before`, one whose sender
        took it before then and never finished) and send it with its own idempotency key.
        False when someone else has it; PaymentProviderUnavailable when the call fails."""
        return self._refunds.resend(refund_id, actor, stale_before)

    def expire_pending(self, actor: Actor, limit: int = 500) -> int:
        """Cancel unpaid orders older than the TTL and return their stock.

        Safe on several hosts at once: each cancellation is a guarded transition.
        """
        cutoff, unstarted_cutoff = self._limits.expiry_cutoffs(self._clock.now())
        expired = 0
        for order_id in self._uow.orders.pending_before(unstarted_cutoff, limit):
            try:
                expired += self._expire(order_id, cutoff, actor)
            except Exception:  # one bad order must not stop every later one from expiring
                log.exception("could not expire order %s; the next run tries again", order_id)
                self._uow.abort()
        self._uow.idempotency.forget_before(self._clock.now() - timedelta(hours=24))
        return expired

    def _expire(self, order_id: str, cutoff: datetime, actor: Actor) -> bool:
        order = self._uow.orders.get(order_id)
        if order is None or (order.created_at >= cutoff
                             and order.payment.status not in UNSTARTED_PAYMENTS):
            return False
        if not self._transitions.cancel_pending(order, actor, reason="expired"):
            return False
        self._transitions.cancel_at_provider(order)
        return True

    # --- reading -------------------------------------------------------
    def get_order(self, order_id: str, actor: Actor) -> Order:
        return self._visible(order_id, actor)

    def list_orders(self, query: OrderQuery, actor: Actor) -> Page[Order]:
        """Newest first (created_at, id); shoppers see only their own."""
        if not actor.can(Permission.ORDERS_MANAGE):
            query = replace(query, customer_id=actor.account_id)
        rows = self._uow.orders.find(replace(query, limit=query.limit + 1))
        return keyset_page(rows, query.limit, lambda order: PageAfter(order.created_at,
                                                                      order.id))

    def daily_sales(self, days: int, actor: Actor) -> list[DailySales]:
        """Orders and takings of each of the last `days` days, today last, by the store's
        calendar: what the owner's dashboard charts."""
        actor.require(Permission.ORDERS_MANAGE)
        if not 1 <= days <= MAX_REPORT_DAYS:
            raise ValidationFailed("the report covers 1 to 366 days",
                                   details={"days": [f"must be 1 to {MAX_REPORT_DAYS}"]})
        store = self._store.current()
        zone = ZoneInfo(store.time_zone)
        first = self._clock.now().astimezone(zone).date() - timedelta(days=days - 1)
        totals = self._uow.orders.totals_by_period(day_boundaries(first, days, zone))
        return [DailySales(first + timedelta(days=n), period.orders,
                           Money(period.revenue, store.currency))
                for n, period in enumerate(totals)]

    def _visible(self, order_id: str, actor: Actor) -> Order:
        """Another shopper's order does not exist, as far as this caller can tell."""
        order = self._uow.orders.get(order_id)
        if order is None or not (actor.can(Permission.ORDERS_MANAGE)
                                 or order.customer_id == actor.account_id):
            raise NotFound("no such order")
        return order

    def _get(self, order_id: str) -> Order:
        return self._transitions.get(order_id)
