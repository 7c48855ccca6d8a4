"""The guarded moves of one order that placing, paying and refunding all make.

Each move is a compare-and-set on the order's status in the repository, so racing requests,
webhooks and expiry take effect once; each move that happens is audited. OrderService builds
one OrderTransitions and hands it to its collaborators (OrderPlacement, OrderRefunds), so
the three share these steps without inheriting from one another.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from minimart.domain.actors import Actor
from minimart.domain.audit import audit_event
from minimart.domain.errors import AmountMismatch, InvalidState, NotFound
from minimart.domain.orders import Order, OrderStatus
from minimart.domain.payments import PaymentProviderUnavailable, PaymentStatus
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork

# The order service's logger still: its records kept their name when the service was split.
log = logging.getLogger("minimart.domain.services.orders")


class OrderTransitions:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway, clock: Clock) -> None:
        self._uow = uow
        self._payments = payments
        self._clock = clock

    def get(self, order_id: str) -> Order:
        order = self._uow.orders.get(order_id)
        if order is None:
            raise NotFound("no such order")
        return order

    def record(self, actor: Actor, action: str, order_id: str,
               changes: dict[str, list[Any]]) -> None:
        self._uow.audit.record(audit_event(actor, self._clock.now(), action, "order",
                                       order_id, changes))

    @staticmethod
    def quantities(order: Order) -> dict[str, int]:
        return {line.item_id: line.quantity for line in order.lines}

    def transition(self, order: Order, target: OrderStatus, actor: Actor, action: str) -> None:
        if not order.status.can_become(target) or not self._uow.orders.transition(
                order.id, order.status, target, self._clock.now()):
            raise InvalidState(f"a {order.status} order cannot become {target}")
        self.record(actor, action, order.id, {"status": [order.status.value, target.value]})

    def settled(self, order_id: str, wanted: OrderStatus) -> Order:
        """Someone else moved the order first: fine if it is where we wanted it."""
        order = self.get(order_id)
        if order.status is not wanted:
            raise InvalidState(f"the order is {order.status} now")
        return order

    def mark_paid(self, order: Order, amount_received: int, actor: Actor) -> Order:
        if order.status is OrderStatus.PAID:
            return order
        if amount_received != order.totals.total.amount:
            raise AmountMismatch("the amount paid does not match the order")
        paid = self.try_mark_paid(order, amount_received, actor)
        return paid or self.settled(order.id, OrderStatus.PAID)

    def try_mark_paid(self, order: Order, amount: int, actor: Actor) -> Order | None:
        """The order as paid, with its payment (intent included) recorded; None when it had
        left `pending_payment` meanwhile."""
        now = self._clock.now()
        if not self._uow.orders.transition(order.id, OrderStatus.PENDING_PAYMENT,
                                       OrderStatus.PAID, now):
            return None
        payment = replace(order.payment, status=PaymentStatus.SUCCEEDED, captured=amount)
        self._uow.orders.set_payment(order.id, payment, now)
        self.record(actor, "order.paid", order.id,
                    {"status": [order.status.value, OrderStatus.PAID.value],
                     "captured": [order.payment.captured, amount]})
        return replace(order, status=OrderStatus.PAID, payment=payment, updated_at=now)

    def cancel_pending(self, order: Order, actor: Actor, reason: str) -> bool:
        """Cancel and return stock exactly once; False if someone else settled it first."""
        now = self._clock.now()
        if not self._uow.orders.transition(order.id, OrderStatus.PENDING_PAYMENT,
                                       OrderStatus.CANCELLED, now):
            return False
        self._uow.items.release_stock(self.quantities(order), now)
        self.record(actor, "order.cancelled", order.id,
                    {"status": [order.status.value, OrderStatus.CANCELLED.value],
                     "reason": [None, reason]})
        return True

    def cancel_at_provider(self, order: Order) -> None:
        """Commit the cancellation, then stop the customer paying for it. Best effort: a
        payment that still arrives is returned by OrderService.payment_succeeded."""
        intent_id = order.payment.payment_intent_id
        self._uow.commit()
        if intent_id is None:
            return
        try:
            self._payments.cancel_intent(intent_id)
        except PaymentProviderUnavailable:
            log.warning("could not cancel payment %s of cancelled order %s", intent_id, order.id)
