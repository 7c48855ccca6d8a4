"""PaymentService on the in-memory fakes: provider webhooks, ephemeral keys, reconciliation,
and the provider side of cancelling an order.

API.md (Payments) is the specification: each webhook event takes effect once, however often
and in whatever order the provider delivers it; money never stays without an order.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.domain.accounts import Account
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import Forbidden
from minimart.domain.money import Money
from minimart.domain.orders import (
    Order,
    OrderLimits,
    OrderQuery,
    OrderStatus,
    PlaceOrder,
    RefundState,
    RequestedLine,
)
from minimart.domain.payments import (
    InvalidWebhook,
    PaymentEvent,
    PaymentEventKind,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.domain.services.payments import Reconciliation
from minimart.domain.store import StoreSettings
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_policies, fake_services
from tests.unit.recording import RecordingUnitOfWork

CURRENCY = "usd"
TTL = timedelta(minutes=30)
RECONCILE_AFTER = timedelta(minutes=5)

CUSTOMER = Actor("customer-a", Role.CUSTOMER, request_id="req-customer-a")
OTHER_CUSTOMER = Actor("customer-b", Role.CUSTOMER, request_id="req-customer-b")
STAFF = Actor("staff-1", Role.STAFF, request_id="req-staff")
ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
SYSTEM = Actor.system(request_id="cron")

PENDING = OrderStatus.PENDING_PAYMENT
PAID = OrderStatus.PAID
FULFILLED = OrderStatus.FULFILLED
CANCELLED = OrderStatus.CANCELLED
REFUNDED = OrderStatus.REFUNDED


# --- the shop on fakes ---------------------------------------------------------------------

class CountingGateway(MemoryPaymentGateway):
    """The memory gateway, noting each call with the commits made before it."""

    def __init__(self, commits: Callable[[], int]) -> None:
        super().__init__()
        self._commits = commits
        self.log: list[tuple[str, int]] = []

    def _note(self, name: str) -> None:
        self.log.append((name, self._commits()))

    def create_customer(self, **kwargs: Any) -> str:
        self._note("create_customer")
        return super().create_customer(**kwargs)

    def create_ephemeral_key(self, customer_id: str, api_version: str) -> dict[str, Any]:
        self._note("create_ephemeral_key")
        return super().create_ephemeral_key(customer_id, api_version)

    def retrieve_intent(self, payment_intent_id: str) -> Any:
        self._note("retrieve_intent")
        return super().retrieve_intent(payment_intent_id)

    def cancel_intent(self, payment_intent_id: str) -> None:
        self._note("cancel_intent")
        super().cancel_intent(payment_intent_id)

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None:
        self._note("refund")
        super().refund(payment_intent_id, amount, idempotency_key)

    def calls_of(self, name: str) -> list[int]:
        """The commit count at each call of `name`."""
        return [commits for call, commits in self.log if call == name]




class FakeVerifier:
    """Accepts any payload signed "good" and answers the event the test queued for it."""

    def __init__(self) -> None:
        self.next: PaymentEvent | None = None

    def verify(self, payload: bytes, signature: str | None) -> PaymentEvent:
        if signature != "good" or self.next is None:
            raise InvalidWebhook("the webhook signature does not verify")
        return self.next


class Shop:
    def __init__(self) -> None:
        self.clock = FixedClock()
        self.verifier = FakeVerifier()
        self.uow = RecordingUnitOfWork(self.snapshot)
        self.gateway = CountingGateway(lambda: self.uow.commits)
        self.services = fake_services(
            uow=self.uow,
            adapters=fake_adapters(clock=self.clock, payments=self.gateway,
                                   webhooks=self.verifier),
            policies=fake_policies(
                store_defaults=StoreSettings(name="minimart", currency=CURRENCY,
                                             tax_rate_bps=1000, delivery_fee=0),
                orders=OrderLimits(ttl=TTL, unstarted_ttl=TTL, max_pending_orders=1000)))
        self.items = self.uow.items
        self.orders = self.uow.orders
        self.accounts = self.uow.accounts
        self.audit = self.uow.audit
        self.events = self.uow.payment_events
        for actor in (CUSTOMER, OTHER_CUSTOMER, STAFF, ADMIN):
            self.accounts.add(Account(
                id=actor.account_id or "", email=f"{actor.account_id}@example.com",
                name=str(actor.account_id), role=actor.role or Role.CUSTOMER,
                password_hash="plain$x", created_at=self.clock.now()))
        self.customers = self.services.customers
        self.catalog = self.services.catalog
        self.order_service = self.services.orders
        self.service = self.services.payments
        self._event_ids = itertools.count(1)

    # catalog and orders
    def item(self, stock: int = 10, price: int = 250) -> str:
        return self.catalog.create_item(NewItem(name="Tea", price=price, stock=stock),
                                        SYSTEM).id

    def stock(self, item_id: str) -> int:
        item = self.items.get(item_id)
        assert item is not None
        return item.stock

    def place(self, item_id: str, quantity: int = 2, payment_method: str | None = None,
              actor: Actor = CUSTOMER) -> Order:
        return self.order_service.place_order(
            PlaceOrder(lines=(RequestedLine(item_id, quantity),),
                       payment_method=payment_method), actor).order

    def in_state(self, status: OrderStatus, item_id: str, quantity: int = 2) -> Order:
        method = None if status in (PENDING, CANCELLED) else "pm_card_visa"
        order = self.place(item_id, quantity, payment_method=method)
        if status is CANCELLED:
            order = self.order_service.cancel(order.id, CUSTOMER)
        elif status is FULFILLED:
            order = self.order_service.fulfil(order.id, STAFF)
        elif status is REFUNDED:
            order = self.order_service.refund(order.id, ADMIN)
        assert order.status is status
        return order

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        assert order is not None
        return order

    def snapshot(self) -> dict[str, tuple[OrderStatus, int, int]]:
        """What a commit makes durable: each order's status, captured and refunded."""
        return {o.id: (o.status, o.payment.captured, o.payment.refunded)
                for o in self.all_orders()}

    def all_orders(self) -> list[Order]:
        return list(self.orders.find(OrderQuery(limit=10**6)))

    def actions(self, order_id: str) -> list[str]:
        return [e.action for e in self.audit.events
                if e.entity_type == "order" and e.entity_id == order_id]

    # webhooks
    def event(self, kind: PaymentEventKind, order: Order, amount: int | None = None,
              currency: str = CURRENCY, event_id: str | None = None,
              intent_id: str | None = None, order_id: str | None = None) -> PaymentEvent:
        return PaymentEvent(
            id=event_id or f"evt_{next(self._event_ids)}", kind=kind, type=kind.value,
            payment_intent_id=intent_id or order.payment.payment_intent_id,
            amount=order.totals.total.amount if amount is None else amount,
            currency=currency, order_id=order_id)

    def deliver(self, event: PaymentEvent) -> PaymentEvent:
        self.verifier.next = event
        return self.service.handle_webhook(b'{"any": "payload"}', "good")

    def reconcile(self, older_than: timedelta = RECONCILE_AFTER) -> Reconciliation:
        return self.service.reconcile(SYSTEM, older_than)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def tea(shop: Shop) -> str:
    return shop.item(stock=10, price=250)


SUCCEEDED = PaymentEventKind.SUCCEEDED
FAILED = PaymentEventKind.FAILED
CANCELED = PaymentEventKind.CANCELED
REFUND = PaymentEventKind.REFUNDED


# --- payment_intent.succeeded --------------------------------------------------------------

def test_a_succeeded_event_marks_a_pending_order_paid_for_its_total(shop, tea):
    order = shop.place(tea, 2)
    assert order.payment.payment_intent_id

    shop.deliver(shop.event(SUCCEEDED, order, event_id="evt_paid"))

    stored = shop.order(order.id)
    assert stored.status is PAID
    assert stored.payment.status is PaymentStatus.SUCCEEDED
    assert stored.payment.captured == order.totals.total.amount == 550
    assert shop.stock(tea) == 8
    assert shop.gateway.refunds == {}
    paid = [e for e in shop.audit.events if e.action == "order.paid"]
    # the audit trail names the provider's event as the request behind the change
    assert [(e.entity_id, e.request_id) for e in paid] == [(order.id, "memory:evt_paid")]


def test_the_same_event_delivered_again_takes_no_second_effect(shop, tea, monkeypatch, caplog):
    order = shop.place(tea, 2)
    applied: list[str] = []
    original = shop.order_service.payment_succeeded

    def counting(order_id: str, *args: Any) -> None:
        applied.append(order_id)
        original(order_id, *args)

    monkeypatch.setattr(shop.order_service, "payment_succeeded", counting)
    event = shop.event(SUCCEEDED, order, event_id="evt_twice")

    with caplog.at_level(logging.INFO, logger="minimart.domain.services.payments"):
        first = shop.deliver(event)
        second = shop.deliver(event)

    assert first == second == event
    assert applied == [order.id]
    assert shop.actions(order.id) == ["order.placed", "order.paid"]
    assert "evt_twice delivered again" in caplog.text
    assert shop.order(order.id).status is PAID


@pytest.mark.parametrize(("amount_delta", "currency"), [(-1, CURRENCY), (1, CURRENCY),
                                                        (0, "eur")],
                         ids=["less", "more", "other-currency"])
def test_a_succeeded_event_not_matching_the_order_is_refused_and_logged(
        shop, tea, caplog, amount_delta, currency):
    order = shop.place(tea, 2)
    amount = order.totals.total.amount + amount_delta

    with caplog.at_level(logging.ERROR, logger="minimart.domain.services.orders"):
        shop.deliver(shop.event(SUCCEEDED, order, amount=amount, currency=currency))

    assert shop.order(order.id) == order
    assert shop.actions(order.id) == ["order.placed"]
    assert shop.gateway.refunds == {}
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "refused payment" in record.getMessage()
    assert order.id in record.getMessage()


def test_money_for_an_order_cancelled_meanwhile_is_returned(shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)
    assert shop.stock(tea) == 10
    total = order.totals.total.amount

    shop.deliver(shop.event(SUCCEEDED, order))

    stored = shop.order(order.id)
    assert stored.status is CANCELLED
    assert stored.payment.captured == stored.payment.refunded == total
    assert stored.payment.status is PaymentStatus.REFUNDED
    assert shop.gateway.refunds == {
        shop.orders.refunds_of(order.id)[0].idempotency_key:
            (order.payment.payment_intent_id, Money(total, CURRENCY))}
    assert shop.stock(tea) == 10
    assert shop.actions(order.id)[-2:] == ["order.payment_after_cancel", "order.refunded"]


def test_the_owed_refund_is_committed_before_the_provider_is_asked_for_it(shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)
    total = order.totals.total.amount

    shop.deliver(shop.event(SUCCEEDED, order))

    [commits_at_refund] = shop.gateway.calls_of("refund")
    assert shop.uow.snapshots[commits_at_refund - 1][order.id] == (CANCELLED, total, 0)


def test_a_second_success_for_a_cancelled_and_refunded_order_refunds_nothing_more(shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)
    shop.deliver(shop.event(SUCCEEDED, order))
    after_first = shop.order(order.id)

    shop.deliver(shop.event(SUCCEEDED, order))  # another event id, same money

    assert shop.order(order.id) == after_first
    assert len(shop.gateway.calls_of("refund")) == 1


@pytest.mark.parametrize("status", [PAID, FULFILLED, REFUNDED])
def test_a_succeeded_event_for_an_order_past_payment_changes_nothing(shop, tea, status):
    order = shop.in_state(status, tea)
    before = shop.order(order.id)
    stock, refund_calls = shop.stock(tea), len(shop.gateway.calls_of("refund"))

    shop.deliver(shop.event(SUCCEEDED, order))

    assert shop.order(order.id) == before
    assert shop.stock(tea) == stock
    assert len(shop.gateway.calls_of("refund")) == refund_calls


# --- payment_intent.payment_failed / payment_intent.canceled -------------------------------

@pytest.mark.parametrize("kind", [FAILED, CANCELED], ids=["payment_failed", "canceled"])
def test_a_failed_or_cancelled_intent_cancels_a_pending_order_and_returns_its_stock(
        shop, tea, kind):
    order = shop.place(tea, 4)
    assert shop.stock(tea) == 6

    shop.deliver(shop.event(kind, order, amount=0))

    assert shop.order(order.id).status is CANCELLED
    assert shop.stock(tea) == 10
    [cancelled] = [e for e in shop.audit.events if e.action == "order.cancelled"]
    assert cancelled.changes["reason"] == [None, "payment_failed"]


def test_failure_events_return_the_stock_exactly_once(shop, tea):
    order = shop.place(tea, 4)

    shop.deliver(shop.event(FAILED, order, amount=0))
    shop.deliver(shop.event(CANCELED, order, amount=0))
    shop.deliver(shop.event(FAILED, order, amount=0))

    assert shop.order(order.id).status is CANCELLED
    assert shop.stock(tea) == 10
    assert shop.actions(order.id) == ["order.placed", "order.cancelled"]


@pytest.mark.parametrize("kind", [FAILED, CANCELED], ids=["payment_failed", "canceled"])
def test_a_failure_event_for_a_paid_order_changes_nothing(shop, tea, kind):
    order = shop.in_state(PAID, tea)
    before = shop.order(order.id)

    shop.deliver(shop.event(kind, order, amount=0))

    assert shop.order(order.id) == before
    assert shop.stock(tea) == 8
    assert shop.gateway.refunds == {}


# --- charge.refunded -----------------------------------------------------------------------

def test_a_refund_at_the_provider_marks_a_paid_order_refunded_and_returns_its_stock(shop, tea):
    order = shop.in_state(PAID, tea, 3)
    total = order.totals.total.amount

    shop.deliver(shop.event(REFUND, order, amount=total))

    stored = shop.order(order.id)
    assert stored.status is REFUNDED
    assert stored.payment.refunded == stored.payment.captured == total
    assert stored.payment.status is PaymentStatus.REFUNDED
    assert shop.stock(tea) == 10
    assert shop.gateway.calls_of("refund") == []  # the provider did it already
    assert shop.actions(order.id)[-1] == "order.refunded"


def test_a_refund_at_the_provider_of_a_fulfilled_order_keeps_the_stock_gone(shop, tea):
    order = shop.in_state(FULFILLED, tea, 3)
    total = order.totals.total.amount

    shop.deliver(shop.event(REFUND, order, amount=total))

    stored = shop.order(order.id)
    assert stored.status is REFUNDED
    assert stored.payment.refunded == total
    assert shop.stock(tea) == 7
    assert shop.gateway.calls_of("refund") == []


def test_the_refund_event_of_our_own_refund_changes_nothing_more(shop, tea):
    order = shop.in_state(REFUNDED, tea, 3)
    before = shop.order(order.id)

    shop.deliver(shop.event(REFUND, order, amount=order.totals.total.amount))

    assert shop.order(order.id) == before
    assert shop.stock(tea) == 10
    assert len(shop.gateway.calls_of("refund")) == 1


def test_a_refund_arriving_before_its_success_cancels_the_order_and_refunds_nothing(shop, tea):
    order = shop.place(tea, 4)
    total = order.totals.total.amount

    shop.deliver(shop.event(REFUND, order, amount=total))

    stored = shop.order(order.id)
    assert stored.status is CANCELLED
    assert stored.payment.captured == stored.payment.refunded == total
    assert shop.stock(tea) == 10

    shop.deliver(shop.event(SUCCEEDED, order))

    assert shop.order(order.id) == stored
    assert shop.gateway.calls_of("refund") == []
    assert shop.stock(tea) == 10


def test_a_refund_arriving_before_the_success_of_an_already_cancelled_order_refunds_nothing(
        shop, tea):
    """The shopper cancelled, paid anyway, and the money went back at the provider; the
    success event then arrives last. Nothing is owed: asking the provider for a second
    refund fails there and leaves the order owing for ever."""
    order = shop.place(tea, 4)
    shop.order_service.cancel(order.id, CUSTOMER)
    total = order.totals.total.amount

    shop.deliver(shop.event(REFUND, order, amount=total))
    shop.deliver(shop.event(SUCCEEDED, order))

    stored = shop.order(order.id)
    assert stored.status is CANCELLED
    assert shop.gateway.calls_of("refund") == []
    assert stored.payment.refunded >= stored.payment.captured
    assert shop.orders.owing_refund(10) == []


# --- what the webhook cannot act on --------------------------------------------------------

def test_an_event_for_an_unknown_intent_is_acknowledged_and_changes_nothing(shop, tea, caplog):
    order = shop.place(tea, 2)

    with caplog.at_level(logging.WARNING, logger="minimart.domain.services.payments"):
        event = shop.deliver(shop.event(SUCCEEDED, order, intent_id="pi_nobody_knows"))

    assert event.payment_intent_id == "pi_nobody_knows"
    assert shop.order(order.id) == order
    assert "pi_nobody_knows" in caplog.text


def test_an_event_finds_its_order_by_metadata_when_the_intent_id_was_never_stored(shop, tea):
    shop.gateway.down = True  # the intent was made, but its answer never came back
    with pytest.raises(PaymentProviderUnavailable):
        shop.place(tea, 2)
    shop.gateway.down = False
    [order] = shop.all_orders()
    assert (order.status, order.payment.payment_intent_id) == (CANCELLED, None)

    shop.deliver(shop.event(SUCCEEDED, order, intent_id="pi_lost_response",
                            order_id=order.id))

    # the shopper was told the order failed: the money that came anyway goes back
    stored = shop.order(order.id)
    assert stored.status is CANCELLED
    assert stored.payment.payment_intent_id == "pi_lost_response"
    assert [intent for intent, _ in shop.gateway.refunds.values()] == ["pi_lost_response"]


def test_metadata_naming_an_order_paid_through_another_intent_is_ignored(shop, tea):
    order = shop.place(tea, 2)

    shop.deliver(shop.event(SUCCEEDED, order, intent_id="pi_other", order_id=order.id))

    assert shop.order(order.id) == order


@pytest.mark.parametrize(("event_type", "names_the_intent"), [
    ("customer.created", False), ("payment_intent.created", True),
    ("charge.succeeded", True)])
def test_events_of_other_types_are_acknowledged_and_ignored(shop, tea, event_type,
                                                            names_the_intent):
    order = shop.place(tea, 2)
    intent_id = order.payment.payment_intent_id if names_the_intent else None
    event = PaymentEvent(id="evt_other", kind=None, type=event_type,
                         payment_intent_id=intent_id, amount=order.totals.total.amount,
                         currency=CURRENCY)

    assert shop.deliver(event) == event

    assert shop.order(order.id) == order
    assert shop.events.seen == {}


def test_a_webhook_that_does_not_verify_raises_and_changes_nothing(shop, tea):
    order = shop.place(tea, 2)
    shop.verifier.next = shop.event(SUCCEEDED, order)

    with pytest.raises(InvalidWebhook):
        shop.service.handle_webhook(b"{}", "forged")

    assert shop.order(order.id) == order
    assert shop.events.seen == {}


# --- ephemeral keys ------------------------------------------------------------------------

def test_the_first_ephemeral_key_creates_the_provider_customer_and_later_ones_reuse_it(shop):
    first = shop.service.ephemeral_key(CUSTOMER, "2024-06-20")
    second = shop.service.ephemeral_key(CUSTOMER, "2024-06-20")

    account = shop.accounts.get(CUSTOMER.account_id or "")
    assert account is not None
    customer_id = account.payment_customer_id
    assert customer_id is not None
    assert len(shop.gateway.calls_of("create_customer")) == 1
    assert list(shop.gateway.customers.values()) == [customer_id]
    for key in (first, second):
        assert key["object"] == "ephemeral_key"
        assert key["api_version"] == "2024-06-20"
        assert key["associated_objects"] == [{"type": "customer", "id": customer_id}]


def test_each_account_has_its_own_provider_customer(shop):
    mine = shop.service.ephemeral_key(CUSTOMER, "2024-06-20")
    theirs = shop.service.ephemeral_key(OTHER_CUSTOMER, "2024-06-20")

    assert mine["associated_objects"] != theirs["associated_objects"]
    assert len(shop.gateway.customers) == 2


def test_the_customer_made_for_an_order_is_the_one_the_ephemeral_key_names(shop, tea):
    shop.place(tea, 1)

    key = shop.service.ephemeral_key(CUSTOMER, "2024-06-20")

    assert len(shop.gateway.calls_of("create_customer")) == 1
    [customer_id] = shop.gateway.customers.values()
    assert key["associated_objects"] == [{"type": "customer", "id": customer_id}]


def test_the_provider_customer_is_created_with_no_transaction_open(shop):
    shop.service.ephemeral_key(CUSTOMER, "2024-06-20")

    assert shop.gateway.calls_of("create_customer") == [1]


def test_an_ephemeral_key_needs_the_place_orders_permission(shop):
    with pytest.raises(Forbidden):
        shop.service.ephemeral_key(Actor.anonymous(), "2024-06-20")

    assert shop.gateway.log == []
    assert shop.gateway.customers == {}


def test_provider_down_for_an_ephemeral_key_raises_and_stores_no_customer(shop):
    shop.gateway.down = True

    with pytest.raises(PaymentProviderUnavailable):
        shop.service.ephemeral_key(CUSTOMER, "2024-06-20")

    account = shop.accounts.get(CUSTOMER.account_id or "")
    assert account is not None and account.payment_customer_id is None


# --- reconciliation ------------------------------------------------------------------------

def test_reconcile_marks_paid_a_pending_order_whose_intent_succeeded(shop, tea):
    order = shop.place(tea, 2)
    shop.gateway.settle(order.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)
    shop.clock.advance(minutes=6)

    report = shop.reconcile()

    stored = shop.order(order.id)
    assert stored.status is PAID
    assert stored.payment.captured == order.totals.total.amount
    assert report == Reconciliation(checked=1, paid=1, cancelled=0, refunds_finished=0)
    assert shop.stock(tea) == 8


@pytest.mark.parametrize("status", [PaymentStatus.CANCELED, PaymentStatus.DECLINED])
def test_reconcile_cancels_a_pending_order_whose_intent_failed_and_returns_its_stock(
        shop, tea, status):
    order = shop.place(tea, 4)
    shop.gateway.settle(order.payment.payment_intent_id or "", status)
    shop.clock.advance(minutes=6)

    report = shop.reconcile()

    assert shop.order(order.id).status is CANCELLED
    assert shop.stock(tea) == 10
    assert report == Reconciliation(checked=1, paid=0, cancelled=1, refunds_finished=0)
    assert shop.reconcile() == Reconciliation()
    assert shop.stock(tea) == 10


def test_reconcile_leaves_orders_younger_than_older_than(shop, tea):
    order = shop.place(tea, 2)
    shop.gateway.settle(order.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)
    shop.clock.advance(minutes=4, seconds=59)

    report = shop.reconcile()

    assert shop.order(order.id).status is PENDING
    assert report == Reconciliation()
    assert shop.gateway.calls_of("retrieve_intent") == []


def test_reconcile_leaves_an_order_whose_intent_is_still_open(shop, tea):
    order = shop.place(tea, 2)
    shop.clock.advance(minutes=6)

    report = shop.reconcile()

    assert shop.order(order.id) == order
    assert report == Reconciliation(checked=1)


def test_reconcile_leaves_orders_that_never_reached_the_provider(shop, tea):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        shop.place(tea, 2)
    shop.gateway.down = False
    [order] = shop.all_orders()
    shop.clock.advance(minutes=6)

    report = shop.reconcile()

    assert shop.order(order.id) == order
    assert report == Reconciliation()
    assert shop.gateway.calls_of("retrieve_intent") == []


def test_reconcile_holds_no_transaction_while_asking_the_provider(shop, tea):
    shop.place(tea, 2)
    shop.clock.advance(minutes=6)
    commits = shop.uow.commits

    shop.reconcile()

    assert shop.gateway.calls_of("retrieve_intent") == [commits + 1]


def test_provider_down_during_a_late_refund_leaves_it_owed_and_reconcile_finishes_it(
        shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)
    total = order.totals.total.amount
    shop.gateway.down = True
    commits = shop.uow.commits

    with pytest.raises(PaymentProviderUnavailable):
        shop.deliver(shop.event(SUCCEEDED, order))

    owed = shop.order(order.id)
    assert owed.status is CANCELLED
    assert (owed.payment.captured, owed.payment.refunded) == (total, 0)
    # the owed state and its refund's claim were committed before the provider was called,
    # and the failed call committed the claim as unsent: nothing is lost
    assert shop.gateway.calls_of("refund") == [commits + 1]
    assert shop.uow.snapshots[commits][order.id] == (CANCELLED, total, 0)
    assert shop.uow.snapshots[-1][order.id] == (CANCELLED, total, 0)
    assert [r.state for r in shop.orders.refunds_of(order.id)] == [RefundState.CLAIMED]
    assert shop.gateway.refunds == {}

    shop.gateway.down = False
    report = shop.reconcile()

    finished = shop.order(order.id)
    assert report.refunds_finished == 1
    assert finished.status is CANCELLED
    assert finished.payment.refunded == finished.payment.captured == total
    assert shop.gateway.refunds == {
        shop.orders.refunds_of(order.id)[0].idempotency_key:
            (order.payment.payment_intent_id, Money(total, CURRENCY))}
    assert shop.stock(tea) == 10
    assert shop.reconcile() == Reconciliation()
    assert len(shop.gateway.refunds) == 1


def test_reconcile_refunds_a_cancelled_order_that_owes_money(shop, tea):
    order = shop.place(tea, 2)
    shop.order_service.cancel(order.id, CUSTOMER)
    total = order.totals.total.amount
    # money that came in after the cancellation, its refund not made yet
    owed = replace(shop.order(order.id).payment, captured=total)
    shop.orders.set_payment(order.id, owed, shop.clock.now())

    report = shop.reconcile()

    assert report == Reconciliation(refunds_finished=1)
    stored = shop.order(order.id)
    assert stored.payment.refunded == total
    assert stored.payment.status is PaymentStatus.REFUNDED
    assert list(shop.gateway.refunds) == [shop.orders.refunds_of(order.id)[0].idempotency_key]


# --- cancelling at the provider ------------------------------------------------------------

def test_cancelling_a_pending_order_cancels_its_intent_after_committing(shop, tea):
    order = shop.place(tea, 2)
    intent_id = order.payment.payment_intent_id or ""

    shop.order_service.cancel(order.id, CUSTOMER)

    assert shop.gateway.cancelled == {intent_id}
    assert shop.gateway.retrieve_intent(intent_id).status is PaymentStatus.CANCELED
    [commits_at_cancel] = shop.gateway.calls_of("cancel_intent")
    assert shop.uow.snapshots[commits_at_cancel - 1][order.id][0] is CANCELLED


def test_a_provider_outage_does_not_fail_the_cancellation(shop, tea, caplog):
    order = shop.place(tea, 2)
    shop.gateway.down = True

    with caplog.at_level(logging.WARNING, logger="minimart.domain.services.orders"):
        cancelled = shop.order_service.cancel(order.id, CUSTOMER)

    assert cancelled.status is CANCELLED
    assert shop.stock(tea) == 10
    assert shop.gateway.cancelled == set()
    assert order.payment.payment_intent_id in caplog.text


def test_an_order_undone_before_it_reached_the_provider_asks_it_to_cancel_nothing(shop, tea):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        shop.place(tea, 2)
    shop.gateway.down = False
    [order] = shop.all_orders()

    assert order.status is CANCELLED
    assert shop.gateway.calls_of("cancel_intent") == []


def test_expiry_cancels_the_intents_of_expired_orders(shop, tea):
    order = shop.place(tea, 2)
    shop.clock.advance(minutes=31)

    assert shop.order_service.expire_pending(SYSTEM) == 1

    assert shop.gateway.cancelled == {order.payment.payment_intent_id}
    assert shop.stock(tea) == 10


def test_a_payment_arriving_after_the_cancellation_is_returned(shop, tea):
    """The cancel at the provider is best effort: the customer's app may pay meanwhile."""
    order = shop.place(tea, 2)
    shop.gateway.down = True
    shop.order_service.cancel(order.id, CUSTOMER)
    shop.gateway.down = False
    shop.gateway.settle(order.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)

    shop.deliver(shop.event(SUCCEEDED, order))

    assert shop.order(order.id).status is CANCELLED
    assert list(shop.gateway.refunds) == [shop.orders.refunds_of(order.id)[0].idempotency_key]


def test_reconcile_carries_on_past_an_order_that_fails_and_logs_it(shop, tea, caplog):
    first, second = shop.place(tea, 1), shop.place(tea, 2)
    for order in (first, second):
        shop.gateway.settle(order.payment.payment_intent_id or "", PaymentStatus.SUCCEEDED)
    shop.clock.advance(minutes=6)
    real = shop.gateway.retrieve_intent

    def broken_for_the_first(payment_intent_id: str) -> Any:
        if payment_intent_id == first.payment.payment_intent_id:
            raise RuntimeError("an answer the adapter cannot read")
        return real(payment_intent_id)

    shop.gateway.retrieve_intent = broken_for_the_first  # type: ignore[method-assign]
    report = shop.reconcile()

    assert report == Reconciliation(checked=1, paid=1, failed=1)
    assert (shop.order(first.id).status, shop.order(second.id).status) == (PENDING, PAID)
    assert f"reconcile: order {first.id} failed" in caplog.text
