"""OrderPlacement: reserving stock for a new order and asking for its payment.

Apart because placing is the longest road an order takes (idempotency keys, the store's
rules, the account's limits, stock, then the provider, and undoing all of it when the
provider fails), and it shares only the guarded moves of OrderTransitions with the rest of
OrderService, which builds it with its own dependencies and delegates `place_order` to it.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from minimart.domain.actors import Actor, Permission
from minimart.domain.catalog import Item
from minimart.domain.errors import (
    BelowMinimumOrder,
    IdempotencyKeyReused,
    InsufficientStock,
    StoreClosed,
    TooManyPendingOrders,
    TooManyPendingUnits,
    ValidationFailed,
)
from minimart.domain.ids import new_id
from minimart.domain.orders import (
    ClaimedKey,
    FulfilmentType,
    Order,
    OrderLimits,
    OrderLine,
    OrderStatus,
    Payment,
    PlacedOrder,
    PlaceOrder,
    RequestedLine,
    check_fulfilment,
    check_lines,
)
from minimart.domain.payments import PaymentDeclined, PaymentStatus
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.payments import PaymentGateway
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.pricing import compute_totals
from minimart.domain.services.order_transitions import OrderTransitions
from minimart.domain.services.payment_customers import PaymentCustomers
from minimart.domain.services.store import StoreService

# The order service's logger still: its records kept their name when the service was split.
log = logging.getLogger("minimart.domain.services.orders")


class OrderPlacement:
    def __init__(self, uow: UnitOfWork, payments: PaymentGateway,
                 customers: PaymentCustomers, store: StoreService, clock: Clock,
                 limits: OrderLimits, transitions: OrderTransitions) -> None:
        self._uow = uow
        self._payments = payments
        self._customers = customers
        self._store = store
        self._clock = clock
        self._limits = limits
        self._transitions = transitions

    def place(self, request: PlaceOrder, actor: Actor,
              idempotency_key: str | None = None) -> PlacedOrder:
        """What OrderService.place_order promises (see there)."""
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
            if not self._transitions.cancel_pending(order, actor, reason="payment_not_started"):
                return  # paid or cancelled by someone else meanwhile: theirs stands
            if idempotency_key is not None:
                self._uow.idempotency.release(order.customer_id, idempotency_key, order.id)
            self._transitions.cancel_at_provider(order)
        except Exception:  # the database too: expiry returns the stock later
            log.exception("could not undo the reservation of order %s", order.id)

    def _replay(self, earlier: ClaimedKey, request: PlaceOrder, actor: Actor) -> Order:
        """The same key again: the same order, with no second reservation or charge."""
        if earlier.fingerprint != request.fingerprint():
            raise IdempotencyKeyReused("this Idempotency-Key was used for a different order")
        order = self._transitions.get(earlier.order_id)
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
            raise StoreClosed("the store is not taking orders now")
        totals = compute_totals([line.line_total for line in lines], store.pricing,
                                request.fulfilment.type is FulfilmentType.DELIVERY,
                                request.tip)
        if totals.subtotal.amount < store.minimum_order:
            raise BelowMinimumOrder("the order is below the store's minimum",
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
        self._transitions.record(actor, "order.placed", order.id, {
            "status": [None, order.status.value], "total": [None, totals.total.amount],
            "lines": [None, [[line.item_id, line.quantity] for line in lines]]})
        return order

    def _check_holdings(self, customer_id: str, lines: tuple[OrderLine, ...]) -> None:
        """Refuse an order that would take the account past what it may hold unpaid."""
        limits = self._limits
        held = self._uow.orders.pending_holdings(customer_id)
        if held.orders >= limits.max_pending_orders:
            raise TooManyPendingOrders(
                f"you have {held.orders} unpaid orders: pay or cancel one first",
                details={"pending_orders": held.orders, "limit": limits.max_pending_orders})
        over = [{"item_id": line.item_id, "held": held.units.get(line.item_id, 0),
                 "requested": line.quantity, "limit": limits.max_pending_units_per_item}
                for line in lines
                if held.units.get(line.item_id, 0) + line.quantity
                > limits.max_pending_units_per_item]
        if over:
            raise TooManyPendingUnits("your unpaid orders would hold too much of an item: pay or "
                                      "cancel them first", details={"lines": over})

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
            return self._transitions.mark_paid(order, intent.amount_received, actor)
        now = self._clock.now()
        self._uow.orders.set_payment(order.id, order.payment, now)
        order = replace(order, updated_at=now)
        if intent.status is PaymentStatus.DECLINED:
            self._transitions.cancel_pending(order, actor, reason="payment_declined")
            self._uow.commit()  # the cancellation stands although the request answers 402
            raise PaymentDeclined("the card was declined; the order is cancelled")
        return order
