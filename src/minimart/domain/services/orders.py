"""OrderService: placing, paying, cancelling, expiring and refunding orders."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import audit_event
from minimart.domain.catalog import Item
from minimart.domain.errors import (
    Conflict,
    InsufficientStock,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import (
    CANCELLED_ONLY,
    CLAIM_ATTEMPTS,
    DEFAULT_LIMITS,
    MAX_REPORT_DAYS,
    REFUNDABLE,
    STOCK_HELD,
    UNSTARTED_PAYMENTS,
    ClaimedKey,
    DailySales,
    FulfilmentType,
    Order,
    OrderLimits,
    OrderLine,
    OrderQuery,
    OrderStatus,
    Payment,
    PlacedOrder,
    PlaceOrder,
    Refund,
    RefundState,
    RequestedLine,
    check_fulfilment,
    check_lines,
    day_boundaries,
)
from minimart.domain.paging import Page, PageAfter, keyset_page
from minimart.domain.payments import (
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.pricing import compute_totals
from minimart.domain.services.payment_customers import PaymentCustomers
from minimart.domain.services.store import StoreService

log = logging.getLogger(__name__)


class OrderService:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway,
                 customers: PaymentCustomers, store: StoreService, clock: Clock,
                 limits: OrderLimits = DEFAULT_LIMITS) -> None:
        self._uow = uow
        self._payments = payments
        self._customers = customers
        self._store = store
        self._clock = clock
        self._limits = limits

    # --- placing -------------------------------------------------------
    def place_order(self, request: PlaceOrder, actor: Actor,
                    idempotency_key: str | None = None) -> PlacedOrder:
        """Reserve stock and commit a pending order, then ask for payment.

        The reservation is committed before the payment provider is called, so no database
        transaction waits on the network and a crash leaves a pending order that expiry
        finishes, never a charge without an order.
        """
        actor.require(Permission.PLACE_ORDERS)
        assert actor.account_id is not None
        check_lines(request.lines)
        order_id = new_id()
        check_fulfilment(request.fulfilment)
        if idempotency_key is not None:
            earlier = self._uow.idempotency.claim(actor.account_id, idempotency_key,
                                              request.fingerprint(), order_id,
                                              self._clock.now())
            if earlier is not None:
                return PlacedOrder(self._replay(earlier, request, actor), created=False)
        order = self._reserve(order_id, request, actor)
        self._uow.commit()
        return PlacedOrder(self._pay_or_undo(order, request.payment_method, actor,
                                             idempotency_key), created=True)

    def _pay_or_undo(self, order: Order, payment_method: str | None, actor: Actor,
                     idempotency_key: str | None) -> Order:
        """Ask for payment; if that fails, the request leaves nothing behind: the order is
        cancelled with its stock back and its Idempotency-Key freed, so the error means
        what it says and a retry places the order afresh. (A payment the provider did take
        meanwhile is refunded when its event arrives, as for any cancelled order.)"""
        try:
            return self._request_payment(order, payment_method, actor)
        except PaymentDeclined:
            raise  # cancelled already, and the shopper may try another card
        except Exception:
            self._undo_reservation(order, actor, idempotency_key)
            raise

    def _undo_reservation(self, order: Order, actor: Actor, idempotency_key: str | None) -> None:
        try:
            self._uow.abort()
            if not self._cancel_pending(order, actor, reason="payment_not_started"):
                return  # paid or cancelled by someone else meanwhile: theirs stands
            if idempotency_key is not None:
                self._uow.idempotency.release(order.customer_id, idempotency_key, order.id)
            self._cancel_at_provider(order)
        except Exception:  # the database too: expiry returns the stock later
            log.exception("could not undo the reservation of order %s", order.id)

    def _replay(self, earlier: ClaimedKey, request: PlaceOrder, actor: Actor) -> Order:
        """The same key again: the same order, with no second reservation or charge."""
        if earlier.fingerprint != request.fingerprint():
            raise ValidationFailed("this Idempotency-Key was used for a different order",
                                   code="idempotency_key_reused")
        order = self._get(earlier.order_id)
        if (order.status is OrderStatus.PENDING_PAYMENT
                and order.payment.status is PaymentStatus.NOT_STARTED):
            # The first attempt committed the reservation but never reached the provider.
            return self._pay_or_undo(order, request.payment_method, actor, None)
        return order

    def _reserve(self, order_id: str, request: PlaceOrder, actor: Actor) -> Order:
        items = self._orderable_items(request.lines)
        lines = tuple(OrderLine(item_id=item.id, sku=item.sku, name=item.name,
                                unit_price=item.price, quantity=line.quantity)
                      for line, item in zip(request.lines, items, strict=True))
        store = self._store.current()
        if not store.takes_orders_at(self._clock.now()):
            raise Conflict("the store is not taking orders now", code="store_closed")
        totals = compute_totals([line.line_total for line in lines], store.pricing,
                                request.fulfilment.type is FulfilmentType.DELIVERY,
                                request.tip)
        if totals.subtotal.amount < store.minimum_order:
            raise Conflict("the order is below the store's minimum", code="below_minimum_order",
                           details={"minimum_order": store.minimum_order,
                                    "subtotal": totals.subtotal.amount})
        self._check_holdings(actor.account_id or "", lines)
        shortages = self._uow.items.reserve_stock(
            {line.item_id: line.quantity for line in lines}, self._clock.now())
        if shortages:
            raise InsufficientStock("not enough stock for every line", details={
                "lines": [{"item_id": s.item_id, "requested": s.requested,
                           "available": s.available} for s in shortages]})
        now = self._clock.now()
        order = Order(id=order_id, customer_id=actor.account_id or "", lines=lines,
                      status=OrderStatus.PENDING_PAYMENT, totals=totals,
                      fulfilment=request.fulfilment, note=request.note,
                      payment=Payment(provider=self._payments.provider),
                      created_at=now, updated_at=now)
        self._uow.orders.add(order)
        self._record(actor, "order.placed", order.id, {
            "status": [None, order.status.value], "total": [None, totals.total.amount],
            "lines": [None, [[line.item_id, line.quantity] for line in lines]]})
        return order

    def _check_holdings(self, customer_id: str, lines: tuple[OrderLine, ...]) -> None:
        """Refuse an order that would take the account past what it may hold unpaid."""
        limits = self._limits
        held = self._uow.orders.pending_holdings(customer_id)
        if held.orders >= limits.max_pending_orders:
            raise Conflict(f"you have {held.orders} unpaid orders: pay or cancel one first",
                           code="too_many_pending_orders",
                           details={"pending_orders": held.orders,
                                    "limit": limits.max_pending_orders})
        over = [{"item_id": line.item_id, "held": held.units.get(line.item_id, 0),
                 "requested": line.quantity, "limit": limits.max_pending_units_per_item}
                for line in lines
                if held.units.get(line.item_id, 0) + line.quantity
                > limits.max_pending_units_per_item]
        if over:
            raise Conflict("your unpaid orders would hold too much of an item: pay or cancel "
                           "them first", code="too_many_pending_units", details={"lines": over})

    def _orderable_items(self, lines: tuple[RequestedLine, ...]) -> list[Item]:
        found: list[Item] = []
        problems: dict[str, list[str]] = {}
        for index, line in enumerate(lines):
            item = self._uow.items.get(line.item_id)
            if item is None or item.archived:
                problems[f"lines.{index}.item_id"] = ["no such item in the catalog"]
            elif not item.available:
                problems[f"lines.{index}.item_id"] = ["this item is not available now"]
            else:
                found.append(item)
        if problems:
            raise ValidationFailed("some lines cannot be ordered", details=problems)
        return found

    def _request_payment(self, order: Order, payment_method: str | None, actor: Actor) -> Order:
        customer_id = self._customers.ensure(order.customer_id)
        intent = self._payments.create_intent(
            order_id=order.id, amount=order.totals.total, customer_id=customer_id,
            payment_method=payment_method, idempotency_key=f"order-{order.id}-intent")
        order = replace(order, payment=replace(
            order.payment, status=intent.status, payment_intent_id=intent.id,
            client_secret=intent.client_secret))
        if intent.status is PaymentStatus.SUCCEEDED:
            return self._mark_paid(order, intent.amount_received, actor)
        now = self._clock.now()
        self._uow.orders.set_payment(order.id, order.payment, now)
        order = replace(order, updated_at=now)
        if intent.status is PaymentStatus.DECLINED:
            self._cancel_pending(order, actor, reason="payment_declined")
            self._uow.commit()  # the cancellation stands although the request answers 402
            raise PaymentDeclined("the card was declined; the order is cancelled")
        return order

    # --- payment outcomes ---------------------------------------------
    def mark_paid(self, order_id: str, amount_received: int, actor: Actor) -> Order:
        """The one guarded road to `paid`, for the synchronous confirm and the webhook alike."""
        return self._mark_paid(self._get(order_id), amount_received, actor)

    def _mark_paid(self, order: Order, amount_received: int, actor: Actor) -> Order:
        if order.status is OrderStatus.PAID:
            return order
        if amount_received != order.totals.total.amount:
            raise Conflict("the amount paid does not match the order", code="amount_mismatch")
        paid = self._try_mark_paid(order, amount_received, actor)
        return paid or self._settled(order.id, OrderStatus.PAID)

    def _try_mark_paid(self, order: Order, amount: int, actor: Actor) -> Order | None:
        """The order as paid, with its payment (intent included) recorded; None when it had
        left `pending_payment` meanwhile."""
        now = self._clock.now()
        if not self._uow.orders.transition(order.id, OrderStatus.PENDING_PAYMENT,
                                       OrderStatus.PAID, now):
            return None
        payment = replace(order.payment, status=PaymentStatus.SUCCEEDED, captured=amount)
        self._uow.orders.set_payment(order.id, payment, now)
        self._record(actor, "order.paid", order.id,
                     {"status": [order.status.value, OrderStatus.PAID.value],
                      "captured": [order.payment.captured, amount]})
        return replace(order, status=OrderStatus.PAID, payment=payment, updated_at=now)

    def payment_succeeded(self, order_id: str, amount: int, currency: str, actor: Actor) -> None:
        """The provider says the money arrived. A wrong amount or currency is refused; money
        for an order cancelled meanwhile is returned, never kept without an order."""
        order = self._get(order_id)
        if currency != order.currency or amount != order.totals.total.amount:
            log.error("refused payment for order %s: %s %s does not match the order's %s %s",
                      order.id, amount, currency, order.totals.total.amount, order.currency)
            return
        if order.status is OrderStatus.PENDING_PAYMENT:
            if self._try_mark_paid(order, amount, actor) is not None:
                return
            order = self._get(order_id)  # cancelled or paid by someone else meanwhile
        if order.status is OrderStatus.CANCELLED and order.payment.captured < amount:
            now = self._clock.now()
            self._uow.orders.set_payment(order.id, replace(order.payment, captured=amount), now)
            self._record(actor, "order.payment_after_cancel", order.id,
                         {"captured": [order.payment.captured, amount]})
            self.return_late_payment(order.id, actor)

    def return_late_payment(self, order_id: str, actor: Actor) -> None:
        """Refund money captured for a cancelled order. The owed state and the refund's claim
        are committed first, so if the provider is down, reconciliation sends it later."""
        order = self._get(order_id)
        if order.status is not OrderStatus.CANCELLED:
            return
        claim = self._claim_refund(order, None, CANCELLED_ONLY)
        if claim is not None:
            self._uow.commit()
            self._send_refund(claim, order, actor)

    def payment_failed(self, order_id: str, actor: Actor) -> None:
        """A failed or cancelled intent cancels a pending order and returns its stock."""
        order = self._get(order_id)
        if order.status is OrderStatus.PENDING_PAYMENT and \
                self._cancel_pending(order, actor, reason="payment_failed"):
            self._cancel_at_provider(order)

    def refunded_by_provider(self, order_id: str, refunded_total: int, actor: Actor) -> None:
        """Money went back (our refunds, or ones made at the provider's dashboard):
        `refunded_total` is all the provider has returned of the payment so far. A part of
        the capture is recorded and leaves status and stock alone; the whole marks the order
        refunded. Older reports (smaller totals) and repeats change nothing."""
        order = self._get(order_id)
        if order.status is OrderStatus.PENDING_PAYMENT:
            # refunded before its success event arrived: the money came and went back
            self._cancel_pending(order, actor, reason="refunded")
            order = self._get(order_id)  # cancelled now, by us or by whoever settled it first
        if order.status is OrderStatus.CANCELLED and order.payment.captured < refunded_total:
            # money taken for a cancelled order went back: remember it was taken, so a
            # success event arriving late finds nothing owed and asks for no second refund
            order = replace(order, payment=replace(order.payment, captured=refunded_total))
            self._uow.orders.set_payment(order.id, order.payment, self._clock.now())
        returned = min(refunded_total, order.payment.captured)
        if self._uow.orders.refund_reported(order.id, returned, self._clock.now()) is not None:
            self._money_returned(order, actor)

    # --- changing state ------------------------------------------------
    def cancel(self, order_id: str, actor: Actor) -> Order:
        """Owner or staff cancel: a pending order returns its stock; a paid one is refunded."""
        order = self._visible(order_id, actor)
        if order.status is OrderStatus.PAID:
            return self._refund(order, actor)
        if order.status is not OrderStatus.PENDING_PAYMENT:
            raise InvalidState(f"a {order.status} order cannot be cancelled")
        if not self._cancel_pending(order, actor, reason="cancelled"):
            return self._settled(order_id, OrderStatus.CANCELLED)
        self._cancel_at_provider(order)
        return self._get(order_id)

    def fulfil(self, order_id: str, actor: Actor) -> Order:
        actor.require(Permission.ORDERS_MANAGE)
        order = self._get(order_id)
        self._transition(order, OrderStatus.FULFILLED, actor, "order.fulfilled")
        return self._get(order_id)

    def refund(self, order_id: str, actor: Actor, amount: int | None = None) -> Order:
        """Return `amount` (minor units) of a paid or fulfilled order's capture, or all that
        is left of it when None. The order becomes refunded once all of it is returned."""
        actor.require(Permission.REFUNDS)
        return self._refund(self._get(order_id), actor, amount)

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
        if not self._cancel_pending(order, actor, reason="expired"):
            return False
        self._cancel_at_provider(order)
        return True

    def _refund(self, order: Order, actor: Actor, amount: int | None = None) -> Order:
        """Claim the refund in the database and commit, then ask the provider.

        The claim is a guarded update: of racing requests only those whose claims fit in
        what is left of the capture get one, and only a claimer asks the provider, once,
        with the refund's own idempotency key. Claims whose call failed earlier are sent
        too (a refund of the rest repeated after a 503 sends the same refund again)."""
        claim = self._claim_refund(order, amount, REFUNDABLE)
        if claim is not None:
            self._uow.commit()  # the claim stands before, and no transaction waits on, the call
            self._send_refund(claim, order, actor)
        sent = self._send_unsent(order.id, actor, quietly=claim is not None)
        if claim is None:
            self._finish_if_returned(self._get(order.id), actor)  # e.g. nothing was captured
        current = self._get(order.id)
        if claim is None and not sent and current.status is not OrderStatus.REFUNDED:
            raise InvalidState("a refund of the rest of this order is under way")
        return current

    def _claim_refund(self, order: Order, amount: int | None,
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
            order = self._get(order.id)  # another claim came first: look again
        raise InvalidState("too many refunds of this order at once; try again")

    def _send_unsent(self, order_id: str, actor: Actor, quietly: bool) -> int:
        """Send the order's claims whose last call failed; how many were sent. `quietly`: a
        failure leaves them to reconcile instead of failing a request that did its part."""
        sent = 0
        for refund in self._uow.orders.unsent_refunds(order_id):
            try:
                sent += self.resend_refund(refund.id, actor, stale_before=None)
            except PaymentProviderUnavailable:
                if not quietly:
                    raise
                log.warning("refund %s of order %s still unsent", refund.id, order_id)
        return sent

    def resend_refund(self, refund_id: str, actor: Actor, stale_before: datetime | None) -> bool:
        """Take a claimed refund left unsent (and with `stale_before`, one whose sender
        took it before then and never finished) and send it with its own idempotency key.
        False when someone else has it; PaymentProviderUnavailable when the call fails."""
        refund = self._uow.orders.take_refund(refund_id, self._clock.now(), stale_before)
        if refund is None:
            return False
        self._uow.commit()
        self._send_refund(refund, self._get(refund.order_id), actor)
        return True

    def _send_refund(self, refund: Refund, order: Order, actor: Actor) -> None:
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
        before = self._get(order.id)
        if self._uow.orders.refund_sent(refund.id, self._clock.now()) is not None:
            self._money_returned(before, actor, refund)

    def _money_returned(self, before: Order, actor: Actor, refund: Refund | None = None) -> None:
        """Audit money that went back; the whole capture returned also refunds the order
        (its stock returns unless it was fulfilled)."""
        order = self._get(before.id)
        changes: dict[str, list[Any]] = {"refunded": [before.payment.refunded,
                                                      order.payment.refunded]}
        if refund is not None:
            changes["refund"] = [None, refund.id]
        whole = order.payment.refunded >= order.payment.captured
        moved_from = self._finish_if_returned(order, actor, changes) if whole else None
        if moved_from is None:
            self._record(actor, "order.refunded" if whole else "order.partially_refunded",
                         order.id, changes)

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
                    self._uow.items.release_stock(self._quantities(order), now)
                self._record(actor, "order.refunded", order.id, {
                    "status": [order.status.value, OrderStatus.REFUNDED.value],
                    **(changes or {"refunded": [order.payment.refunded,
                                                order.payment.refunded]})})
                return order.status
            order = self._get(order.id)
        return None

    def _cancel_pending(self, order: Order, actor: Actor, reason: str) -> bool:
        """Cancel and return stock exactly once; False if someone else settled it first."""
        now = self._clock.now()
        if not self._uow.orders.transition(order.id, OrderStatus.PENDING_PAYMENT,
                                       OrderStatus.CANCELLED, now):
            return False
        self._uow.items.release_stock(self._quantities(order), now)
        self._record(actor, "order.cancelled", order.id,
                     {"status": [order.status.value, OrderStatus.CANCELLED.value],
                      "reason": [None, reason]})
        return True

    def _cancel_at_provider(self, order: Order) -> None:
        """Commit the cancellation, then stop the customer paying for it. Best effort: a
        payment that still arrives is returned by payment_succeeded."""
        intent_id = order.payment.payment_intent_id
        self._uow.commit()
        if intent_id is None:
            return
        try:
            self._payments.cancel_intent(intent_id)
        except PaymentProviderUnavailable:
            log.warning("could not cancel payment %s of cancelled order %s", intent_id, order.id)

    def _transition(self, order: Order, target: OrderStatus, actor: Actor, action: str) -> None:
        if not order.status.can_become(target) or not self._uow.orders.transition(
                order.id, order.status, target, self._clock.now()):
            raise InvalidState(f"a {order.status} order cannot become {target}")
        self._record(actor, action, order.id, {"status": [order.status.value, target.value]})

    def _settled(self, order_id: str, wanted: OrderStatus) -> Order:
        """Someone else moved the order first: fine if it is where we wanted it."""
        order = self._get(order_id)
        if order.status is not wanted:
            raise InvalidState(f"the order is {order.status} now")
        return order

    @staticmethod
    def _quantities(order: Order) -> dict[str, int]:
        return {line.item_id: line.quantity for line in order.lines}

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
        order = self._uow.orders.get(order_id)
        if order is None:
            raise NotFound("no such order")
        return order

    def _record(self, actor: Actor, action: str, order_id: str,
                changes: dict[str, list[Any]]) -> None:
        self._uow.audit.record(audit_event(actor, self._clock.now(), action, "order",
                                       order_id, changes))
