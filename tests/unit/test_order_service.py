"""OrderService on the in-memory fakes: prices, totals, stock, payments, states, audit.

API.md (Orders) is the specification; every test drives the service the way the web
layer and the CLI do, and reads the outcome back through the fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.domain.accounts import Account
from minimart.domain.actors import Actor, Role
from minimart.domain.audit import AuditEvent
from minimart.domain.catalog import ItemQuery, NewItem
from minimart.domain.errors import (
    Conflict,
    Forbidden,
    InsufficientStock,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from minimart.domain.money import Money
from minimart.domain.orders import (
    Fulfilment,
    FulfilmentType,
    Order,
    OrderLimits,
    OrderQuery,
    OrderStatus,
    PlacedOrder,
    PlaceOrder,
    RequestedLine,
)
from minimart.domain.paging import PageAfter
from minimart.domain.payments import (
    PaymentDeclined,
    PaymentIntent,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.domain.pricing import Pricing
from minimart.domain.services.order_placement import OrderPlacement
from minimart.domain.store import StoreSettings
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_policies, fake_services
from tests.unit.recording import RecordingUnitOfWork

CURRENCY = "usd"
TTL = timedelta(minutes=30)

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

class WatchedGateway(MemoryPaymentGateway):
    """The memory gateway, noting what the rest of the shop looked like at each call."""

    def __init__(self) -> None:
        super().__init__()
        self.observations: list[tuple[str, Any]] = []
        self.watch: Callable[[], Any] = lambda: None

    def create_customer(self, **kwargs: Any) -> str:
        self.observations.append(("create_customer", self.watch()))
        return super().create_customer(**kwargs)

    def create_intent(self, **kwargs: Any) -> PaymentIntent:
        self.observations.append(("create_intent", self.watch()))
        return super().create_intent(**kwargs)

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None:
        self.observations.append(("refund", self.watch()))
        super().refund(payment_intent_id, amount, idempotency_key)

    def calls_of(self, name: str) -> list[Any]:
        return [seen for call, seen in self.observations if call == name]




class Shop:
    def __init__(self, pricing: Pricing | None = None, ttl: timedelta = TTL,
                 limits: OrderLimits | None = None) -> None:
        self.clock = FixedClock()
        self.gateway = WatchedGateway()
        self.uow = RecordingUnitOfWork(self.state)
        self.pricing = pricing or Pricing(currency=CURRENCY, tax_rate_bps=1000, delivery_fee=300)
        self.services = fake_services(
            uow=self.uow,
            adapters=fake_adapters(clock=self.clock, payments=self.gateway),
            policies=fake_policies(
                store_defaults=StoreSettings(name="minimart", currency=self.pricing.currency,
                                             tax_rate_bps=self.pricing.tax_rate_bps,
                                             delivery_fee=self.pricing.delivery_fee),
                orders=limits or OrderLimits(ttl=ttl, unstarted_ttl=ttl,
                                             max_pending_orders=1000)))
        self.items = self.uow.items
        self.orders = self.uow.orders
        self.keys = self.uow.idempotency
        self.audit = self.uow.audit
        self.accounts = self.uow.accounts
        for actor in (CUSTOMER, OTHER_CUSTOMER, STAFF, ADMIN):
            self.add_account(actor)
        self.customers = self.services.customers
        self.catalog = self.services.catalog
        self.store = self.services.store
        self.service = self.services.orders

    def add_account(self, actor: Actor, payment_customer_id: str | None = None) -> None:
        """The account behind an actor, as PaymentCustomers finds it."""
        assert actor.account_id is not None and actor.role is not None
        self.accounts.add(Account(
            id=actor.account_id, email=f"{actor.account_id}@example.com",
            name=actor.account_id, role=actor.role, password_hash="plain$x",
            created_at=self.clock.now(), payment_customer_id=payment_customer_id))

    # catalog
    def item(self, name: str = "Tea", price: int = 250, stock: int = 10, **fields: Any) -> str:
        return self.catalog.create_item(
            NewItem(name=name, price=price, stock=stock, **fields), SYSTEM).id

    def stock(self, item_id: str) -> int:
        item = self.items.get(item_id)
        assert item is not None
        return item.stock

    def all_stock(self) -> dict[str, int]:
        every = self.items.find(ItemQuery(include_archived=True, limit=10**6))
        return {item.id: item.stock for item in every}

    # orders
    def all_orders(self) -> list[Order]:
        return list(self.orders.find(OrderQuery(limit=10**6)))

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        assert order is not None
        return order

    def state(self) -> tuple[dict[str, OrderStatus], dict[str, int]]:
        return {o.id: o.status for o in self.all_orders()}, self.all_stock()

    def placed(self, *lines: tuple[str, int], actor: Actor = CUSTOMER, key: str | None = None,
               **fields: Any) -> PlacedOrder:
        return self.service.place_order(request(*lines, **fields), actor, idempotency_key=key)

    def place(self, *lines: tuple[str, int], actor: Actor = CUSTOMER, key: str | None = None,
              **fields: Any) -> Order:
        return self.placed(*lines, actor=actor, key=key, **fields).order

    def in_state(self, status: OrderStatus, item_id: str, quantity: int = 1,
                 actor: Actor = CUSTOMER) -> Order:
        """An order of `quantity` of the item, brought to `status` by the roads API.md names."""
        method = None if status in (PENDING, CANCELLED) else "pm_card_visa"
        order = self.place((item_id, quantity), actor=actor, payment_method=method)
        if status is CANCELLED:
            order = self.service.cancel(order.id, actor)
        elif status is FULFILLED:
            order = self.service.fulfil(order.id, STAFF)
        elif status is REFUNDED:
            order = self.service.refund(order.id, ADMIN)
        assert order.status is status
        return order

    # audit
    def order_events(self, order_id: str | None = None) -> list[AuditEvent]:
        return [e for e in self.audit.events if e.entity_type == "order"
                and (order_id is None or e.entity_id == order_id)]

    def actions(self, order_id: str) -> list[str]:
        return [e.action for e in self.order_events(order_id)]


def request(*lines: tuple[str, int], **fields: Any) -> PlaceOrder:
    return PlaceOrder(lines=tuple(RequestedLine(item_id, quantity) for item_id, quantity in lines),
                      **fields)


@pytest.fixture
def shop() -> Shop:
    return Shop()


@pytest.fixture
def tea(shop: Shop) -> str:
    return shop.item("Tea", price=250, stock=10, sku="TEA-1")


def expect_nothing_reserved(shop: Shop, stock_before: dict[str, int]) -> None:
    assert shop.all_stock() == stock_before
    assert shop.all_orders() == []
    assert shop.gateway.observations == []
    assert shop.order_events() == []


# --- prices ----------------------------------------------------------------------------------

def test_order_lines_copy_sku_name_and_price_from_the_catalog(shop):
    tea = shop.item("Green tea", price=699, stock=5, sku="TEA-GREEN")
    jam = shop.item("Jam", price=300, stock=5)
    order = shop.place((tea, 2), (jam, 1))
    first, second = order.lines
    assert (first.item_id, first.sku, first.name, first.unit_price, first.quantity) == (
        tea, "TEA-GREEN", "Green tea", Money(699, CURRENCY), 2)
    assert first.line_total == Money(1398, CURRENCY)
    assert (second.item_id, second.sku, second.name, second.unit_price, second.quantity) == (
        jam, None, "Jam", Money(300, CURRENCY), 1)
    assert order.currency == CURRENCY


def test_a_later_catalog_price_change_does_not_change_a_placed_order(shop, tea):
    order = shop.place((tea, 2))
    shop.catalog.update_item(tea, {"price": 9999, "name": "Renamed tea"}, SYSTEM)
    stored = shop.order(order.id)
    assert stored.lines[0].unit_price == Money(250, CURRENCY)
    assert stored.lines[0].name == "Tea"
    assert stored.totals.subtotal == Money(500, CURRENCY)
    assert shop.service.get_order(order.id, CUSTOMER).totals == order.totals
    # a new order takes the new price
    assert shop.place((tea, 1)).lines[0].unit_price == Money(9999, CURRENCY)


# --- totals ----------------------------------------------------------------------------------

def test_total_is_subtotal_plus_tax_plus_delivery_fee_plus_tip():
    shop = Shop(Pricing(currency=CURRENCY, tax_rate_bps=825, delivery_fee=499))
    bread, milk = shop.item("Bread", price=350), shop.item("Milk", price=125)
    order = shop.place((bread, 2), (milk, 3), tip=100,
                       fulfilment=Fulfilment(FulfilmentType.DELIVERY, "1 High Street"))
    totals = order.totals
    assert totals.subtotal == Money(1075, CURRENCY)
    assert totals.tax == Money(89, CURRENCY)  # 88.6875 rounds to 89
    assert totals.delivery_fee == Money(499, CURRENCY)
    assert totals.tip == Money(100, CURRENCY)
    assert totals.total == Money(1075 + 89 + 499 + 100, CURRENCY)
    assert order.fulfilment == Fulfilment(FulfilmentType.DELIVERY, "1 High Street")


def test_pickup_is_the_default_and_pays_no_delivery_fee():
    shop = Shop(Pricing(currency=CURRENCY, tax_rate_bps=0, delivery_fee=499))
    bread = shop.item("Bread", price=350)
    order = shop.place((bread, 1))
    assert order.fulfilment.type is FulfilmentType.PICKUP
    assert order.totals.delivery_fee == Money(0, CURRENCY)
    assert order.totals.total == Money(350, CURRENCY)


@pytest.mark.parametrize(("subtotal", "rate_bps", "tax"), [
    (5, 1000, 1),        # 0.5 rounds up
    (15, 1000, 2),       # 1.5 rounds up
    (14, 1000, 1),       # 1.4 rounds down
    (200, 825, 17),      # 16.5 rounds up
    (199, 825, 16),      # 16.4175 rounds down
    (1999, 2000, 400),   # 399.8 rounds up
    (1000, 0, 0),
])
def test_tax_is_the_store_rate_on_the_subtotal_rounded_half_up(subtotal, rate_bps, tax):
    shop = Shop(Pricing(currency=CURRENCY, tax_rate_bps=rate_bps))
    item = shop.item(price=subtotal)
    totals = shop.place((item, 1)).totals
    assert totals.tax == Money(tax, CURRENCY)
    assert totals.total == Money(subtotal + tax, CURRENCY)


def test_a_tip_of_exactly_half_the_subtotal_is_accepted(shop):
    item = shop.item(price=1000)
    assert shop.place((item, 1), tip=500).totals.tip == Money(500, CURRENCY)


@pytest.mark.parametrize("tip", [501, 10**6, -1])
def test_a_tip_outside_0_to_half_the_subtotal_is_refused_and_nothing_is_reserved(shop, tip):
    item = shop.item(price=1000)
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place((item, 1), tip=tip)
    assert "tip" in caught.value.details
    expect_nothing_reserved(shop, before)


@pytest.mark.parametrize("address", [None, "", "   "])
def test_a_delivery_without_an_address_is_refused_and_nothing_is_reserved(shop, tea, address):
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place((tea, 1), fulfilment=Fulfilment(FulfilmentType.DELIVERY, address))
    assert "fulfilment.address" in caught.value.details
    expect_nothing_reserved(shop, before)


# --- line rules ------------------------------------------------------------------------------

def test_no_lines_is_refused(shop, tea):
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place()
    assert "lines" in caught.value.details
    expect_nothing_reserved(shop, before)


def test_101_lines_are_refused_and_nothing_is_reserved(shop):
    ids = [shop.item(f"Item {n}", price=10, stock=5) for n in range(101)]
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place(*[(item_id, 1) for item_id in ids])
    assert "lines" in caught.value.details
    expect_nothing_reserved(shop, before)


def test_100_lines_are_accepted(shop):
    ids = [shop.item(f"Item {n}", price=10, stock=5) for n in range(100)]
    order = shop.place(*[(item_id, 1) for item_id in ids])
    assert len(order.lines) == 100
    assert all(shop.stock(item_id) == 4 for item_id in ids)


@pytest.mark.parametrize("quantity", [0, -1, 1001])
def test_a_quantity_outside_1_to_1000_is_refused_naming_the_line(shop, tea, quantity):
    jam = shop.item("Jam", stock=5000)
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place((tea, 1), (jam, quantity))
    assert set(caught.value.details) == {"lines.1.quantity"}
    expect_nothing_reserved(shop, before)


@pytest.mark.parametrize("quantity", [1, 1000])
def test_quantities_1_and_1000_are_accepted(shop, quantity):
    item = shop.item(stock=1000)
    shop.place((item, quantity))
    assert shop.stock(item) == 1000 - quantity


def test_the_same_item_on_two_lines_is_refused_and_nothing_is_reserved(shop, tea):
    jam = shop.item("Jam")
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place((tea, 1), (jam, 1), (tea, 2))
    assert set(caught.value.details) == {"lines.2.item_id"}
    expect_nothing_reserved(shop, before)


# --- what may be ordered ---------------------------------------------------------------------

def _unknown(shop: Shop) -> str:
    return "no-such-item"


def _archived(shop: Shop) -> str:
    item_id = shop.item("Old jam")
    shop.catalog.archive_item(item_id, SYSTEM)
    return item_id


def _unavailable(shop: Shop) -> str:
    return shop.item("Seasonal jam", available=False)


@pytest.mark.parametrize("make_bad_item", [_unknown, _archived, _unavailable],
                         ids=["unknown", "archived", "unavailable"])
def test_an_item_that_cannot_be_ordered_is_refused_naming_its_line(shop, tea, make_bad_item):
    bad = make_bad_item(shop)
    before = shop.all_stock()
    with pytest.raises(ValidationFailed) as caught:
        shop.place((tea, 1), (bad, 1))
    assert set(caught.value.details) == {"lines.1.item_id"}
    assert caught.value.code == "validation_failed"
    expect_nothing_reserved(shop, before)


# --- stock -----------------------------------------------------------------------------------

def test_placing_an_order_takes_every_line_from_stock(shop, tea):
    jam = shop.item("Jam", stock=4)
    shop.place((tea, 3), (jam, 4))
    assert (shop.stock(tea), shop.stock(jam)) == (7, 0)


def test_insufficient_stock_lists_every_short_line_and_takes_nothing(shop):
    plenty = shop.item("Plenty", stock=5)
    few = shop.item("Few", stock=1)
    none = shop.item("None", stock=0)
    before = shop.all_stock()
    with pytest.raises(InsufficientStock) as caught:
        shop.place((plenty, 2), (few, 3), (none, 1))
    error = caught.value
    assert error.code == "insufficient_stock"
    assert set(error.details) == {"lines"}
    assert sorted(error.details["lines"], key=lambda line: line["item_id"]) == sorted([
        {"item_id": few, "requested": 3, "available": 1},
        {"item_id": none, "requested": 1, "available": 0},
    ], key=lambda line: line["item_id"])
    expect_nothing_reserved(shop, before)
    assert shop.stock(plenty) == 5


def test_the_reservation_is_committed_before_the_payment_provider_is_called(shop, tea):
    commits_before = shop.uow.commits
    shop.gateway.watch = lambda: (shop.uow.commits, shop.uow.snapshots[-1]
                                  if shop.uow.snapshots else None)
    order = shop.place((tea, 3), payment_method="pm_card_visa")
    # an account's first order also makes its provider customer, after a commit of its own
    [(commits_at_customer, _)] = shop.gateway.calls_of("create_customer")
    [(commits_at_call, committed)] = shop.gateway.calls_of("create_intent")
    assert commits_at_customer == commits_before + 2
    # the customer id is committed at once too: its account row lock must not outlive it
    assert commits_at_call == commits_before + 3
    statuses, stock = committed
    assert statuses == {order.id: PENDING}
    assert stock[tea] == 7


def test_an_accounts_later_orders_reuse_its_provider_customer_without_another_commit(shop, tea):
    shop.place((tea, 1))
    commits_before = shop.uow.commits
    shop.gateway.observations.clear()
    shop.gateway.watch = lambda: shop.uow.commits
    shop.place((tea, 1))
    assert shop.gateway.calls_of("create_customer") == []
    assert shop.gateway.calls_of("create_intent") == [commits_before + 1]
    assert len(shop.gateway.customers) == 1
    account = shop.accounts.get(CUSTOMER.account_id or "")
    assert account is not None
    assert account.payment_customer_id == next(iter(shop.gateway.customers.values()))


# --- payment outcomes ------------------------------------------------------------------------

def test_without_a_payment_method_the_order_waits_with_a_client_secret(shop, tea):
    order = shop.place((tea, 2))
    assert order.status is PENDING
    assert order.payment.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
    assert order.payment.client_secret
    assert order.payment.payment_intent_id
    assert order.payment.provider == "memory"
    assert order.payment.captured == 0
    assert shop.order(order.id) == order
    [intent] = shop.gateway.intents.values()
    assert intent.amount == order.totals.total.amount
    assert intent.currency == CURRENCY


def test_a_successful_card_pays_the_order_for_its_total(shop, tea):
    order = shop.place((tea, 2), payment_method="pm_card_visa")
    assert order.status is PAID
    assert order.payment.status is PaymentStatus.SUCCEEDED
    assert order.payment.captured == order.totals.total.amount == 550
    assert shop.order(order.id).status is PAID
    assert shop.stock(tea) == 8


def test_a_card_needing_authentication_leaves_the_order_pending_with_a_client_secret(shop, tea):
    order = shop.place((tea, 1), payment_method="pm_card_authenticationRequired")
    assert order.status is PENDING
    assert order.payment.status is PaymentStatus.REQUIRES_ACTION
    assert order.payment.client_secret
    assert shop.stock(tea) == 9


def test_a_declined_card_raises_cancels_the_order_and_returns_its_stock(shop, tea):
    with pytest.raises(PaymentDeclined) as caught:
        shop.place((tea, 4), payment_method="pm_card_chargeDeclined")
    assert caught.value.code == "payment_declined"
    [order] = shop.all_orders()
    assert order.status is CANCELLED
    assert order.payment.status is PaymentStatus.DECLINED
    assert shop.stock(tea) == 10
    assert shop.actions(order.id) == ["order.placed", "order.cancelled"]
    assert shop.order_events(order.id)[-1].changes["reason"] == [None, "payment_declined"]


def test_a_declined_cards_cancellation_is_committed(shop, tea):
    with pytest.raises(PaymentDeclined):
        shop.place((tea, 4), payment_method="pm_card_chargeDeclined")
    [order] = shop.all_orders()
    assert shop.uow.commits == 4
    assert shop.uow.snapshots == [
        ({order.id: PENDING}, {tea: 6}),      # the reservation, before the provider
        ({order.id: PENDING}, {tea: 6}),      # nothing new, before creating the customer
        ({order.id: PENDING}, {tea: 6}),      # the customer id, kept whatever comes next
        ({order.id: CANCELLED}, {tea: 10}),   # the cancellation, before answering 402
    ]


def test_provider_down_leaves_no_reservation_and_a_retry_with_the_key_places_afresh(shop, tea):
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable) as caught:
        shop.place((tea, 3), key="key-1", payment_method="pm_card_visa")
    assert caught.value.code == "payment_provider_unavailable"
    [order] = shop.all_orders()
    assert order.status is CANCELLED
    assert shop.stock(tea) == 10  # the error says nothing changed, and nothing is held
    assert shop.actions(order.id) == ["order.placed", "order.cancelled"]
    assert shop.uow.snapshots[-1] == ({order.id: CANCELLED}, {tea: 10})

    shop.gateway.down = False
    retry = shop.placed((tea, 3), key="key-1", payment_method="pm_card_visa")
    assert retry.created is True
    assert retry.order.id != order.id
    assert retry.order.status is PAID
    assert shop.stock(tea) == 7
    assert len(shop.gateway.intents) == 1


@pytest.mark.parametrize("failing_call", ["create_customer", "create_intent"])
@pytest.mark.parametrize("failure", [PaymentProviderUnavailable("down"), RuntimeError("bug")],
                         ids=["provider_down", "unexpected_error"])
def test_a_failure_at_any_step_after_the_reservation_returns_the_stock(shop, tea, failing_call,
                                                                       failure):
    def fail(*_: object, **__: object) -> None:
        raise failure

    setattr(shop.gateway, failing_call, fail)
    with pytest.raises(type(failure)):
        shop.place((tea, 3), payment_method="pm_card_visa")

    [order] = shop.all_orders()
    assert order.status is CANCELLED
    assert shop.stock(tea) == 10


def test_a_replay_of_an_order_whose_provider_call_never_happened_pays_it(shop, tea,
                                                                        monkeypatch):
    """An order left unstarted by a crash between the reservation and the provider call."""
    shop.gateway.down = True
    with monkeypatch.context() as crash:  # the process dies before it can undo anything
        crash.setattr(OrderPlacement, "_undo_reservation", lambda *_: None)
        with pytest.raises(PaymentProviderUnavailable):
            shop.place((tea, 3), key="key-1", payment_method="pm_card_visa")
    shop.gateway.down = False

    replay = shop.placed((tea, 3), key="key-1", payment_method="pm_card_visa")

    assert replay.created is False
    assert replay.order.status is PAID
    assert shop.stock(tea) == 7  # no second reservation
    assert len(shop.all_orders()) == 1


def test_the_simulated_provider_outage_payment_method_raises_unavailable(shop, tea):
    with pytest.raises(PaymentProviderUnavailable):
        shop.place((tea, 1), payment_method="pm_simulate_provider_down")
    [order] = shop.all_orders()
    assert order.status is CANCELLED
    assert shop.stock(tea) == 10


# --- Idempotency-Key -------------------------------------------------------------------------

def test_the_same_key_and_body_answer_the_same_order_without_a_second_reservation(shop, tea):
    first = shop.placed((tea, 2), key="key-1", payment_method="pm_card_visa", note="hi")
    again = shop.placed((tea, 2), key="key-1", payment_method="pm_card_visa", note="hi")
    assert first.created is True
    assert again.created is False
    assert again.order.id == first.order.id
    assert again.order.status is PAID
    assert shop.stock(tea) == 8
    assert len(shop.all_orders()) == 1
    assert len(shop.gateway.calls_of("create_intent")) == 1
    assert len(shop.gateway.intents) == 1
    assert shop.actions(first.order.id) == ["order.placed", "order.paid"]


@pytest.mark.parametrize("change", [
    {"lines": 3}, {"tip": 10}, {"note": "other"}, {"payment_method": "pm_card_visa"},
    {"fulfilment": Fulfilment(FulfilmentType.DELIVERY, "1 High Street")},
], ids=["quantity", "tip", "note", "payment_method", "fulfilment"])
def test_the_same_key_with_a_different_body_is_refused_as_reused(shop, tea, change):
    first = shop.place((tea, 2), key="key-1")
    fields = {k: v for k, v in change.items() if k != "lines"}
    quantity = change.get("lines", 2)
    with pytest.raises(ValidationFailed) as caught:
        shop.place((tea, quantity), key="key-1", **fields)
    assert caught.value.code == "idempotency_key_reused"
    assert [o.id for o in shop.all_orders()] == [first.id]
    assert shop.stock(tea) == 8
    assert len(shop.gateway.calls_of("create_intent")) == 1


def test_idempotency_keys_belong_to_one_account(shop, tea):
    mine = shop.placed((tea, 1), key="shared-key")
    theirs = shop.placed((tea, 1), key="shared-key", actor=OTHER_CUSTOMER)
    assert theirs.created is True
    assert theirs.order.id != mine.order.id
    assert theirs.order.customer_id == OTHER_CUSTOMER.account_id
    assert shop.stock(tea) == 8


def test_without_a_key_each_request_places_a_new_order(shop, tea):
    first = shop.place((tea, 1))
    second = shop.place((tea, 1))
    assert first.id != second.id
    assert shop.stock(tea) == 8


# --- the state machine -----------------------------------------------------------------------

ALLOWED_TRANSITIONS = {
    (PENDING, PAID), (PENDING, CANCELLED),
    (PAID, FULFILLED), (PAID, REFUNDED),
    (FULFILLED, REFUNDED),
}


def test_the_statuses_are_those_of_api_md():
    assert {s.value for s in OrderStatus} == {
        "pending_payment", "paid", "fulfilled", "cancelled", "refunded"}


@pytest.mark.parametrize("source", list(OrderStatus))
@pytest.mark.parametrize("target", list(OrderStatus))
def test_can_become_follows_the_status_diagram_of_api_md(source, target):
    assert source.can_become(target) is ((source, target) in ALLOWED_TRANSITIONS)


def test_staff_fulfil_a_paid_order(shop, tea):
    order = shop.in_state(PAID, tea, 2)
    fulfilled = shop.service.fulfil(order.id, STAFF)
    assert fulfilled.status is FULFILLED
    assert shop.order(order.id).status is FULFILLED
    assert shop.stock(tea) == 8  # fulfilment keeps the goods gone


@pytest.mark.parametrize("status", [PENDING, CANCELLED, FULFILLED, REFUNDED])
def test_only_a_paid_order_can_be_fulfilled(shop, tea, status):
    order = shop.in_state(status, tea)
    stock = shop.stock(tea)
    with pytest.raises(InvalidState) as caught:
        shop.service.fulfil(order.id, STAFF)
    assert caught.value.code == "invalid_state"
    assert shop.order(order.id).status is status
    assert shop.stock(tea) == stock


def test_a_customer_cannot_fulfil_even_their_own_order(shop, tea):
    order = shop.in_state(PAID, tea)
    with pytest.raises(Forbidden):
        shop.service.fulfil(order.id, CUSTOMER)
    assert shop.order(order.id).status is PAID


def test_cancelling_a_pending_order_returns_its_stock_once(shop, tea):
    order = shop.place((tea, 4))
    assert shop.stock(tea) == 6
    cancelled = shop.service.cancel(order.id, CUSTOMER)
    assert cancelled.status is CANCELLED
    assert shop.stock(tea) == 10
    with pytest.raises(InvalidState):
        shop.service.cancel(order.id, CUSTOMER)
    assert shop.stock(tea) == 10
    assert shop.actions(order.id) == ["order.placed", "order.cancelled"]


def test_cancelling_a_paid_order_refunds_it_and_returns_its_stock(shop, tea):
    order = shop.place((tea, 4), payment_method="pm_card_visa")
    commits = shop.uow.commits
    shop.gateway.watch = lambda: shop.uow.commits
    refunded = shop.service.cancel(order.id, CUSTOMER)
    assert refunded.status is REFUNDED
    assert refunded.payment.status is PaymentStatus.REFUNDED
    assert refunded.payment.refunded == refunded.payment.captured == 1100
    assert shop.stock(tea) == 10
    assert shop.gateway.refunds == {
        shop.orders.refunds_of(order.id)[0].idempotency_key:
            (order.payment.payment_intent_id, Money(1100, CURRENCY))}
    # called once, and with no transaction held open across the call
    assert shop.gateway.calls_of("refund") == [commits + 1]


def test_a_refund_while_the_provider_is_down_changes_nothing_and_can_be_retried(shop, tea):
    order = shop.place((tea, 4), payment_method="pm_card_visa")
    shop.gateway.down = True
    with pytest.raises(PaymentProviderUnavailable):
        shop.service.cancel(order.id, CUSTOMER)
    stored = shop.order(order.id)
    assert (stored.status, stored.payment.refunded) == (PAID, 0)
    assert shop.stock(tea) == 6
    assert shop.actions(order.id) == ["order.placed", "order.paid"]

    shop.gateway.down = False
    assert shop.service.cancel(order.id, CUSTOMER).status is REFUNDED
    assert shop.stock(tea) == 10
    assert len(shop.gateway.refunds) == 1


@pytest.mark.parametrize("status", [CANCELLED, FULFILLED, REFUNDED])
def test_an_order_past_payment_cannot_be_cancelled(shop, tea, status):
    order = shop.in_state(status, tea, 2)
    stock, refunds = shop.stock(tea), dict(shop.gateway.refunds)
    with pytest.raises(InvalidState):
        shop.service.cancel(order.id, STAFF)
    assert shop.order(order.id).status is status
    assert shop.stock(tea) == stock
    assert shop.gateway.refunds == refunds


def test_refund_needs_the_refunds_permission(shop, tea):
    order = shop.in_state(PAID, tea)
    for actor in (CUSTOMER, STAFF):
        with pytest.raises(Forbidden):
            shop.service.refund(order.id, actor)
    assert shop.order(order.id).status is PAID
    assert shop.gateway.refunds == {}


def test_an_admin_refunds_a_paid_order_and_its_stock_returns(shop, tea):
    order = shop.in_state(PAID, tea, 3)
    refunded = shop.service.refund(order.id, ADMIN)
    assert refunded.status is REFUNDED
    assert refunded.payment.refunded == order.totals.total.amount
    assert shop.stock(tea) == 10
    assert len(shop.gateway.calls_of("refund")) == 1
    assert list(shop.gateway.refunds) == [shop.orders.refunds_of(order.id)[0].idempotency_key]


def test_refunding_a_fulfilled_order_returns_the_money_but_not_the_stock(shop, tea):
    order = shop.in_state(FULFILLED, tea, 3)
    refunded = shop.service.refund(order.id, ADMIN)
    assert refunded.status is REFUNDED
    assert refunded.payment.refunded == order.totals.total.amount
    assert shop.stock(tea) == 7
    assert len(shop.gateway.calls_of("refund")) == 1


@pytest.mark.parametrize("status", [PENDING, CANCELLED, REFUNDED])
def test_only_paid_or_fulfilled_orders_can_be_refunded(shop, tea, status):
    order = shop.in_state(status, tea)
    stock, calls = shop.stock(tea), len(shop.gateway.calls_of("refund"))
    with pytest.raises(InvalidState):
        shop.service.refund(order.id, ADMIN)
    assert shop.order(order.id).status is status
    assert shop.stock(tea) == stock
    assert len(shop.gateway.calls_of("refund")) == calls


# --- payment confirmation --------------------------------------------------------------------

def test_mark_paid_twice_takes_effect_once(shop, tea):
    order = shop.place((tea, 2))
    total = order.totals.total.amount
    first = shop.service.mark_paid(order.id, total, SYSTEM)
    second = shop.service.mark_paid(order.id, total, SYSTEM)
    assert first.status is second.status is PAID
    assert second.payment.captured == total
    assert second.payment.status is PaymentStatus.SUCCEEDED
    assert shop.actions(order.id) == ["order.placed", "order.paid"]
    assert shop.stock(tea) == 8


def test_mark_paid_with_the_wrong_amount_is_a_conflict_and_changes_nothing(shop, tea):
    order = shop.place((tea, 2))
    with pytest.raises(Conflict):
        shop.service.mark_paid(order.id, order.totals.total.amount - 1, SYSTEM)
    stored = shop.order(order.id)
    assert stored.status is PENDING
    assert stored.payment.captured == 0
    assert shop.actions(order.id) == ["order.placed"]


def test_mark_paid_does_not_revive_a_cancelled_order(shop, tea):
    order = shop.in_state(CANCELLED, tea)
    with pytest.raises(InvalidState):
        shop.service.mark_paid(order.id, order.totals.total.amount, SYSTEM)
    assert shop.order(order.id).status is CANCELLED
    assert shop.stock(tea) == 10


# --- who sees what ---------------------------------------------------------------------------

def test_a_shopper_cannot_see_or_cancel_another_shoppers_order(shop, tea):
    order = shop.place((tea, 2))
    with pytest.raises(NotFound):
        shop.service.get_order(order.id, OTHER_CUSTOMER)
    with pytest.raises(NotFound):
        shop.service.cancel(order.id, OTHER_CUSTOMER)
    assert shop.order(order.id).status is PENDING
    assert shop.stock(tea) == 8


def test_the_owner_staff_and_admin_see_an_order(shop, tea):
    order = shop.place((tea, 2))
    for actor in (CUSTOMER, STAFF, ADMIN):
        assert shop.service.get_order(order.id, actor).id == order.id


def test_staff_can_cancel_a_shoppers_pending_order(shop, tea):
    order = shop.place((tea, 2))
    assert shop.service.cancel(order.id, STAFF).status is CANCELLED
    assert shop.stock(tea) == 10
    assert shop.order_events(order.id)[-1].actor_id == STAFF.account_id


def test_an_unknown_order_is_not_found(shop):
    with pytest.raises(NotFound):
        shop.service.get_order("no-such-order", STAFF)


# --- listing ---------------------------------------------------------------------------------

def _place_over_time(shop: Shop, item_id: str, actor: Actor, count: int) -> list[Order]:
    placed = []
    for _ in range(count):
        placed.append(shop.place((item_id, 1), actor=actor))
        shop.clock.advance(minutes=1)
    return placed


def test_a_shopper_lists_only_their_own_orders_newest_first(shop, tea):
    mine = _place_over_time(shop, tea, CUSTOMER, 3)
    _place_over_time(shop, tea, OTHER_CUSTOMER, 2)
    page = shop.service.list_orders(OrderQuery(), CUSTOMER)
    assert [o.id for o in page.entries] == [o.id for o in reversed(mine)]
    assert page.next_after is None


def test_a_shopper_cannot_list_another_shoppers_orders_by_asking_for_them(shop, tea):
    mine = _place_over_time(shop, tea, CUSTOMER, 1)
    _place_over_time(shop, tea, OTHER_CUSTOMER, 2)
    page = shop.service.list_orders(
        OrderQuery(customer_id=OTHER_CUSTOMER.account_id), CUSTOMER)
    assert [o.id for o in page.entries] == [mine[0].id]


def test_listing_pages_by_keyset_without_gaps_or_repeats(shop, tea):
    placed = _place_over_time(shop, tea, CUSTOMER, 5)
    newest_first = [o.id for o in reversed(placed)]
    seen: list[list[str]] = []
    after = None
    for _ in range(5):
        page = shop.service.list_orders(OrderQuery(limit=2, after=after), CUSTOMER)
        seen.append([o.id for o in page.entries])
        if page.next_after is None:
            break
        last = page.entries[-1]
        assert page.next_after == PageAfter(last.created_at, last.id)
        after = page.next_after
    assert seen == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]


def test_a_full_last_page_says_no_page_follows(shop, tea):
    _place_over_time(shop, tea, CUSTOMER, 2)
    page = shop.service.list_orders(OrderQuery(limit=2), CUSTOMER)
    assert len(page.entries) == 2
    assert page.next_after is None


def test_staff_list_every_order_and_filter_by_status_and_customer(shop, tea):
    a_pending = shop.in_state(PENDING, tea, actor=CUSTOMER)
    shop.clock.advance(minutes=1)
    a_paid = shop.in_state(PAID, tea, actor=CUSTOMER)
    shop.clock.advance(minutes=1)
    b_paid = shop.in_state(PAID, tea, actor=OTHER_CUSTOMER)
    shop.clock.advance(minutes=1)
    b_cancelled = shop.in_state(CANCELLED, tea, actor=OTHER_CUSTOMER)

    def ids(query: OrderQuery) -> list[str]:
        return [o.id for o in shop.service.list_orders(query, STAFF).entries]

    assert ids(OrderQuery()) == [b_cancelled.id, b_paid.id, a_paid.id, a_pending.id]
    assert ids(OrderQuery(status=PAID)) == [b_paid.id, a_paid.id]
    assert ids(OrderQuery(customer_id=OTHER_CUSTOMER.account_id)) == [b_cancelled.id, b_paid.id]
    assert ids(OrderQuery(customer_id=CUSTOMER.account_id, status=PENDING)) == [a_pending.id]
    assert ids(OrderQuery(status=FULFILLED)) == []


# --- expiry ----------------------------------------------------------------------------------

def test_expiry_cancels_only_pending_orders_older_than_the_ttl(shop, tea):
    old_pending = shop.place((tea, 2))
    old_paid = shop.place((tea, 1), payment_method="pm_card_visa")
    old_action = shop.place((tea, 1), payment_method="pm_card_authenticationRequired")
    shop.clock.advance(minutes=20)
    young_pending = shop.place((tea, 3))
    assert shop.stock(tea) == 3
    shop.clock.advance(minutes=11)  # the first three are 31 minutes old, the last 11

    assert shop.service.expire_pending(SYSTEM) == 2
    assert shop.order(old_pending.id).status is CANCELLED
    assert shop.order(old_action.id).status is CANCELLED
    assert shop.order(old_paid.id).status is PAID
    assert shop.order(young_pending.id).status is PENDING
    assert shop.stock(tea) == 6
    event = shop.order_events(old_pending.id)[-1]
    assert (event.action, event.changes["reason"]) == ("order.cancelled", [None, "expired"])


def test_an_order_just_younger_than_the_ttl_is_not_expired(shop, tea):
    order = shop.place((tea, 2))
    shop.clock.advance(minutes=29, seconds=59)
    assert shop.service.expire_pending(SYSTEM) == 0
    assert shop.order(order.id).status is PENDING
    shop.clock.advance(seconds=2)
    assert shop.service.expire_pending(SYSTEM) == 1
    assert shop.order(order.id).status is CANCELLED


def test_expiring_twice_expires_nothing_more_and_returns_stock_once(shop, tea):
    order = shop.place((tea, 4))
    shop.clock.advance(minutes=31)
    assert shop.service.expire_pending(SYSTEM) == 1
    assert shop.stock(tea) == 10
    assert shop.service.expire_pending(SYSTEM) == 0
    assert shop.stock(tea) == 10
    assert shop.actions(order.id) == ["order.placed", "order.cancelled"]


def test_expiry_with_nothing_pending_expires_nothing(shop, tea):
    shop.place((tea, 1), payment_method="pm_card_visa")
    shop.clock.advance(hours=5)
    assert shop.service.expire_pending(SYSTEM) == 0


# --- audit -----------------------------------------------------------------------------------

def test_every_step_of_a_paid_fulfilled_refunded_order_is_audited(shop, tea):
    order = shop.place((tea, 2), payment_method="pm_card_visa")
    shop.service.fulfil(order.id, STAFF)
    shop.service.refund(order.id, ADMIN)
    events = shop.order_events(order.id)
    assert [(e.action, e.actor_id, e.request_id) for e in events] == [
        ("order.placed", CUSTOMER.account_id, CUSTOMER.request_id),
        ("order.paid", CUSTOMER.account_id, CUSTOMER.request_id),
        ("order.fulfilled", STAFF.account_id, STAFF.request_id),
        ("order.refunded", ADMIN.account_id, ADMIN.request_id),
    ]
    assert [e.changes["status"] for e in events] == [
        [None, "pending_payment"], ["pending_payment", "paid"],
        ["paid", "fulfilled"], ["fulfilled", "refunded"]]
    assert events[0].changes["total"] == [None, order.totals.total.amount]
    assert all(e.entity_type == "order" and e.entity_id == order.id for e in events)
    assert all(e.at == shop.clock.now() for e in events)


def test_a_cancelled_order_is_audited_with_its_reason(shop, tea):
    order = shop.place((tea, 2))
    shop.service.cancel(order.id, CUSTOMER)
    placed, cancelled = shop.order_events(order.id)
    assert placed.action == "order.placed"
    assert placed.changes["lines"] == [None, [[tea, 2]]]
    assert cancelled.action == "order.cancelled"
    assert cancelled.changes == {"status": ["pending_payment", "cancelled"],
                                 "reason": [None, "cancelled"]}
    assert cancelled.actor_id == CUSTOMER.account_id


def test_a_refused_order_writes_no_audit_event(shop, tea):
    with pytest.raises(InsufficientStock):
        shop.place((tea, 11))
    assert shop.order_events() == []


# --- what one account may hold unpaid (issue: one shopper holding the whole stock) -------

HOLDING_LIMITS = OrderLimits(ttl=TTL, unstarted_ttl=timedelta(minutes=10), max_pending_orders=2,
                             max_pending_units_per_item=5)


def test_an_account_with_its_limit_of_unpaid_orders_is_refused_another_until_it_pays():
    shop = Shop(limits=HOLDING_LIMITS)
    tea = shop.item(stock=100)
    first = shop.place((tea, 1))
    shop.place((tea, 1))

    with pytest.raises(Conflict) as refused:
        shop.place((tea, 1))

    assert refused.value.code == "too_many_pending_orders"
    assert refused.value.details == {"pending_orders": 2, "limit": 2}
    assert shop.stock(tea) == 98
    shop.service.cancel(first.id, CUSTOMER)
    shop.place((tea, 1))  # a slot is free again
    shop.place((tea, 1), actor=OTHER_CUSTOMER)  # and other shoppers were never limited


def test_paid_orders_do_not_count_against_the_unpaid_limit():
    shop = Shop(limits=HOLDING_LIMITS)
    tea = shop.item(stock=100)
    for _ in range(4):
        assert shop.place((tea, 1), payment_method="pm_card_visa").status is PAID


def test_unpaid_orders_may_not_hold_more_than_the_limit_of_one_item():
    shop = Shop(limits=HOLDING_LIMITS)
    tea, cake = shop.item(stock=100), shop.item("Cake", stock=100)
    shop.place((tea, 4))

    with pytest.raises(Conflict) as refused:
        shop.place((tea, 2), (cake, 1))

    assert refused.value.code == "too_many_pending_units"
    assert refused.value.details == {"lines": [
        {"item_id": tea, "held": 4, "requested": 2, "limit": 5}]}
    assert (shop.stock(tea), shop.stock(cake)) == (96, 100)
    shop.place((tea, 1), (cake, 5))  # up to the limit is fine


def test_orders_whose_payment_never_started_expire_sooner_than_the_ttl():
    shop = Shop(limits=HOLDING_LIMITS)
    tea = shop.item(stock=10)
    unstarted = shop.place((tea, 1))  # no card: the client was to confirm, and never did
    needs_action = shop.place((tea, 2), payment_method="pm_card_authenticationRequired")
    shop.clock.advance(minutes=11)

    assert shop.service.expire_pending(SYSTEM) == 1

    assert shop.order(unstarted.id).status is CANCELLED
    assert shop.order(needs_action.id).status is PENDING  # the shopper is paying: full TTL
    shop.clock.advance(minutes=20)
    assert shop.service.expire_pending(SYSTEM) == 1
    assert shop.stock(tea) == 10


def test_expiry_carries_on_past_an_order_that_fails_and_logs_it(shop, tea, caplog):
    orders = [shop.place((tea, 1)) for _ in range(3)]
    shop.clock.advance(minutes=31)
    real_get = shop.orders.get

    def broken_for_the_first(order_id: str) -> Order | None:
        if order_id == orders[0].id:
            raise RuntimeError("a row the adapter cannot read")
        return real_get(order_id)

    shop.orders.get = broken_for_the_first  # type: ignore[method-assign]
    assert shop.service.expire_pending(SYSTEM) == 2

    assert [shop.order(o.id).status for o in orders[1:]] == [CANCELLED, CANCELLED]
    assert f"could not expire order {orders[0].id}" in caplog.text
    assert shop.uow.aborts == 1
