"""OrderRefunds: returning an order's money, for OrderService.

Apart because a refund is a protocol of its own: a claim committed in the database before
the provider is asked, a send that may fail and be retried (by the next request or by
reconciliation), and the order's move to refunded once all of its capture is back. The
order service builds it with its own unit of work, gateway and clock, and delegates to it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from minimart.domain.actors import Actor
from minimart.domain.errors import InvalidState, ValidationFailed
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import (
    CANCELLED_ONLY,
    CLAIM_ATTEMPTS,
    REFUNDABLE,
    STOCK_HELD,
    Order,
    OrderStatus,
    Refund,
    RefundState,
)
from minimart.domain.payments import PaymentProviderUnavailable
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.services.order_transitions import OrderTransitions

# The order service's logger still: its records kept their name when the service was split.
log = logging.getLogger("minimart.domain.services.orders")


class OrderRefunds:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway, clock: Clock,
                 transitions: OrderTransitions) -> None:
        self._uow = uow
        self._payments = payments
        self._clock = clock
        self._transitions = transitions

    def refund(self, order: Order, actor: Actor, amount: int | None = None) -> Order:
        """Claim the refund in the database and commit, then ask the provider.

        The claim is a guarded update: of racing requests only those whose claims fit in
        what is left of the capture get one, and only a claimer asks the provider, once,
        with the refund's own idempotency key. Claims whose call failed earlier are sent
        too (a refund of the rest repeated after a 503 sends the same refund again)."""
        claim = self._claim(order, amount, REFUNDABLE)
        if claim is not None:
            self._uow.commit()  # the claim stands before, and no transaction waits on, the call
            self._send(claim, order, actor)
        sent = self._send_unsent(order.id, actor, quietly=claim is not None)
        if claim is None:  # e.g. nothing was captured
            self._finish_if_returned(self._transitions.get(order.id), actor)
        current = self._transitions.get(order.id)
        if claim is None and not sent and current.status is not OrderStatus.REFUNDED:
            raise InvalidState("a refund of the rest of this order is under way")
        return current

    def return_late_payment(self, order: Order, actor: Actor) -> None:
        """Refund all that was captured for a cancelled order: the claim is committed first,
        so if the provider is down, reconciliation sends it later."""
        claim = self._claim(order, None, CANCELLED_ONLY)
        if claim is not None:
            self._uow.commit()
            self._send(claim, order, actor)

    def resend(self, refund_id: str, actor: Actor, stale_before: datetime | None) -> bool:
        """Take a claimed refund left unsent (and with `stale_before`, one whose sender
        took it before then and never finished) and send it with its own idempotency key.
        False when someone else has it; PaymentProviderUnavailable when the call fails."""
        refund = self._uow.orders.take_refund(refund_id, self._clock.now(), stale_before)
        if refund is None:
            return False
        self._uow.commit()
        self._send(refund, self._transitions.get(refund.order_id), actor)
        return True

    def money_returned(self, before: Order, actor: Actor, refund: Refund | None = None) -> None:
        """Audit money that went back; the whole capture returned also refunds the order
        (its stock returns unless it was fulfilled)."""
        order = self._transitions.get(before.id)
        changes: dict[str, list[Any]] = {"refunded": [before.payment.refunded,
                                                      order.payment.refunded]}
        if refund is not None:
            changes["refund"] = [None, refund.id]
        whole = order.payment.refunded >= order.payment.captured
        moved_from = self._finish_if_returned(order, actor, changes) if whole else None
        if moved_from is None:
            self._transitions.record(
                actor, "order.refunded" if whole else "order.partially_refunded", order.id,
                changes)

    def _claim(self, order: Order, amount: int | None,
               statuses: frozenset[OrderStatus]) -> Refund | None:
        """A committed-to-be refund of `amount` (None: all that is left; then None when
        nothing is), or InvalidState / ValidationFailed when it cannot be."""
        for _ in range(CLAIM_ATTEMPTS):
            if order.status not in statuses:
                raise InvalidState(f"a {order.status} order cannot be refunded")
            left = order.payment.refundable
            if amount is not None and not 1 <= amount <= left:
                raise ValidationFailed("the amount is not what is left to refund", details={
                    "amount": [f"must be 1 to {left}" if left else "nothing is left to refund"]})
            if (amount or left) == 0:
                return None
            now = self._clock.now()
            refund = Refund(id=new_id(), order_id=order.id, amount=amount or left,
                            state=RefundState.SENDING, created_at=now, attempted_at=now)
            if self._uow.orders.claim_refund(refund, statuses):
                return refund
            order = self._transitions.get(order.id)  # another claim came first: look again
        raise InvalidState("too many refunds of this order at once; try again")

    def _send_unsent(self, order_id: str, actor: Actor, quietly: bool) -> int:
        """Send the order's claims whose last call failed; how many were sent. `quietly`: a
        failure leaves them to reconcile instead of failing a request that did its part."""
        sent = 0
        for refund in self._uow.orders.unsent_refunds(order_id):
            try:
                sent += self.resend(refund.id, actor, stale_before=None)
            except PaymentProviderUnavailable:
                if not quietly:
                    raise
                log.warning("refund %s of order %s still unsent", refund.id, order_id)
        return sent

    def _send(self, refund: Refund, order: Order, actor: Actor) -> None:
        """Ask the provider for one claimed refund (taken by this caller, committed)."""
        assert order.payment.payment_intent_id is not None, "a capture has a payment intent"
        try:
            self._payments.refund(order.payment.payment_intent_id,
                                  Money(refund.amount, order.currency),
                                  idempotency_key=refund.idempotency_key)
        except PaymentProviderUnavailable as error:
            self._uow.orders.release_refund(refund.id)
            self._uow.commit()  # the claim stays, for the next request or reconcile to send
            raise PaymentProviderUnavailable(
                "the refund is recorded and is sent when the payment provider answers: "
                "do not repeat it") from error
        before = self._transitions.get(order.id)
        if self._uow.orders.refund_sent(refund.id, self._clock.now()) is not None:
            self.money_returned(before, actor, refund)

    def _finish_if_returned(self, order: Order, actor: Actor,
                            changes: dict[str, list[Any]] | None = None) -> OrderStatus | None:
        """Move a paid or fulfilled order whose capture is all returned to refunded, once,
        returning its stock unless it was fulfilled; the status it left, or None."""
        for _ in range(len(REFUNDABLE) + 1):  # a fulfilment may move it meanwhile
            if order.status not in REFUNDABLE or \
                    order.payment.refunded < order.payment.captured:
                return None
            now = self._clock.now()
            if self._uow.orders.transition(order.id, order.status, OrderStatus.REFUNDED, now):
                if order.status in STOCK_HELD:
                    self._uow.items.release_stock(self._transitions.quantities(order), now)
                self._transitions.record(actor, "order.refunded", order.id, {
                    "status": [order.status.value, OrderStatus.REFUNDED.value],
                    **(changes or {"refunded": [order.payment.refunded,
                                                order.payment.refunded]})})
                return order.status
            order = self._transitions.get(order.id)
        return None
