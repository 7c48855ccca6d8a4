"""OrderService and the store's rules, on the in-memory fakes.

API.md (Orders): a closed store answers 409 `store_closed`, a subtotal below the minimum
409 `below_minimum_order`, and nothing is reserved either way; tax and the delivery fee are
the store's saved rates at the moment the order is placed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from minimart.domain.accounts import Account
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.errors import Conflict
from minimart.domain.orders import (
    Fulfilment,
    FulfilmentType,
    Order,
    OrderLimits,
    OrderQuery,
    PlaceOrder,
    RequestedLine,
)
from minimart.domain.store import StoreSettings
from tests.fakes.common import FixedClock
from tests.fakes.wiring import fake_adapters, fake_policies, fake_services

CURRENCY = "usd"
CUSTOMER = Actor("customer-a", Role.CUSTOMER, request_id="req-customer")
ADMIN = Actor("admin-1", Role.ADMIN, request_id="req-admin")
SYSTEM = Actor.system(request_id="setup")

# 2026-01-01 is a Thursday; FixedClock starts at 12:00 UTC on it
THURSDAY_NOON = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DELIVERY = Fulfilment(FulfilmentType.DELIVERY, "1 Main Street")


class Shop:
    """The ordering side of the shop, wired as the composition root wires it."""

    def __init__(self, defaults: StoreSettings | None = None) -> None:
        self.clock = FixedClock(THURSDAY_NOON)
        self.services = fake_services(
            adapters=fake_adapters(clock=self.clock),
            policies=fake_policies(
                store_defaults=defaults or StoreSettings(name="minimart", currency=CURRENCY),
                orders=OrderLimits(max_pending_orders=1000)))
        self.uow = self.services.uow
        self.gateway = self.services.adapters.payments
        self.items = self.uow.items
        self.orders = self.uow.orders
        self.audit = self.uow.audit
        self.accounts = self.uow.accounts
        self.settings = self.uow.store_settings
        for actor in (CUSTOMER, ADMIN):
            self.accounts.add(Account(
                id=actor.account_id, email=f"{actor.account_id}@example.com",
                name=actor.account_id, role=actor.role, password_hash="plain$x",
                created_at=self.clock.now()))
        self.catalog = self.services.catalog
        self.store = self.services.store
        self.service = self.services.orders

    def item(self, name: str = "Soup", price: int = 500, stock: int = 10) -> str:
        return self.catalog.create_item(NewItem(name=name, price=price, stock=stock), SYSTEM).id

    def stock(self, item_id: str) -> int:
        item = self.items.get(item_id)
        assert item is not None
        return item.stock

    def place(self, *lines: tuple[str, int], fulfilment: Fulfilment | None = None,
              tip: int = 0, key: str | None = None) -> Order:
        request = PlaceOrder(lines=tuple(RequestedLine(i, q) for i, q in lines),
                             fulfilment=fulfilment or Fulfilment(), tip=tip)
        return self.service.place_order(request, CUSTOMER, idempotency_key=key).order

    def all_orders(self) -> list[Order]:
        return list(self.orders.find(OrderQuery(limit=10**6)))

    def set_store(self, **changes: Any) -> None:
        self.store.update(changes, ADMIN)

    def order_events(self) -> list[str]:
        return [e.action for e in self.audit.events if e.entity_type == "order"]


@pytest.fixture
def shop() -> Shop:
    return Shop()


def assert_nothing_happened(shop: Shop, stock: dict[str, int]) -> None:
    """No order, no reservation, no payment, no audit of an order."""
    assert shop.all_orders() == []
    assert {item_id: shop.stock(item_id) for item_id in stock} == stock
    assert shop.gateway.intents == {}
    assert shop.order_events() == []


# --- store_closed ------------------------------------------------------------------------------

def test_an_open_store_without_hours_takes_orders(shop):
    soup = shop.item()

    order = shop.place((soup, 2))

    assert order.totals.subtotal.amount == 1000
    assert shop.stock(soup) == 8


def test_a_closed_store_refuses_orders_and_reserves_nothing(shop):
    soup = shop.item(stock=10)
    shop.set_store(open=False)

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 2))

    assert refused.value.code == "store_closed"
    assert_nothing_happened(shop, {soup: 10})


def test_a_reopened_store_takes_orders_again(shop):
    soup = shop.item()
    shop.set_store(open=False)
    with pytest.raises(Conflict):
        shop.place((soup, 1))

    shop.set_store(open=True)

    assert shop.place((soup, 1)).status.value == "pending_payment"
    assert shop.stock(soup) == 9


def test_the_ini_defaults_can_close_the_store(shop):
    closed = Shop(StoreSettings(name="minimart", currency=CURRENCY, open=False))
    soup = closed.item()

    with pytest.raises(Conflict) as refused:
        closed.place((soup, 1))

    assert refused.value.code == "store_closed"


@pytest.mark.parametrize(("hour", "minute"), [(8, 59), (17, 0), (23, 0), (0, 0)])
def test_outside_opening_hours_the_store_is_closed(shop, hour, minute):
    soup = shop.item(stock=10)
    shop.set_store(opening_hours={"thu": [("09:00", "17:00")]})
    shop.clock.current = THURSDAY_NOON.replace(hour=hour, minute=minute)

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1))

    assert refused.value.code == "store_closed"
    assert_nothing_happened(shop, {soup: 10})


@pytest.mark.parametrize(("hour", "minute"), [(9, 0), (12, 0), (16, 59)])
def test_within_opening_hours_the_store_takes_orders(shop, hour, minute):
    soup = shop.item()
    shop.set_store(opening_hours={"thu": [("09:00", "17:00")]})
    shop.clock.current = THURSDAY_NOON.replace(hour=hour, minute=minute)

    assert shop.place((soup, 1)).created_at == shop.clock.now()


def test_a_day_without_hours_is_closed(shop):
    soup = shop.item()
    shop.set_store(opening_hours={"fri": [("00:00", "24:00")]})  # it is Thursday

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1))

    assert refused.value.code == "store_closed"


def test_opening_hours_are_in_the_store_time_zone(shop):
    soup = shop.item()
    # 12:00 UTC on Thursday is 07:00 in New York: before its 09:00 opening
    shop.set_store(time_zone="America/New_York", opening_hours={"thu": [("09:00", "17:00")]})

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1))
    assert refused.value.code == "store_closed"

    shop.clock.advance(hours=2)  # 09:00 in New York
    assert shop.place((soup, 1)).totals.subtotal.amount == 500


def test_the_store_is_checked_when_the_order_is_placed_not_when_configured(shop):
    soup = shop.item()
    shop.set_store(opening_hours={"thu": [("09:00", "13:00")]})
    shop.place((soup, 1))

    shop.clock.advance(hours=1)  # 13:00: closed

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1))
    assert refused.value.code == "store_closed"
    assert len(shop.all_orders()) == 1


# --- below_minimum_order -------------------------------------------------------------------------

def test_a_subtotal_below_the_minimum_is_refused_with_details(shop):
    soup = shop.item(price=450, stock=10)
    shop.set_store(minimum_order=1000)

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 2))

    assert refused.value.code == "below_minimum_order"
    assert refused.value.details == {"minimum_order": 1000, "subtotal": 900}
    assert_nothing_happened(shop, {soup: 10})


def test_a_subtotal_exactly_at_the_minimum_is_accepted(shop):
    soup = shop.item(price=500)
    shop.set_store(minimum_order=1000)

    assert shop.place((soup, 2)).totals.subtotal.amount == 1000


def test_the_minimum_is_on_the_subtotal_not_on_tax_fee_or_tip(shop):
    soup = shop.item(price=900, stock=10)
    shop.set_store(minimum_order=1000, tax_rate_bps=2000, delivery_fee=500)

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1), fulfilment=DELIVERY, tip=400)  # total 900 + 180 + 500 + 400

    assert refused.value.code == "below_minimum_order"
    assert refused.value.details["subtotal"] == 900
    assert shop.stock(soup) == 10


def test_several_lines_add_up_to_reach_the_minimum(shop):
    soup = shop.item("Soup", price=600)
    bread = shop.item("Bread", price=400)
    shop.set_store(minimum_order=1000)

    order = shop.place((soup, 1), (bread, 1))

    assert order.totals.subtotal.amount == 1000


def test_a_closed_store_answers_store_closed_before_the_minimum(shop):
    soup = shop.item(price=100)
    shop.set_store(open=False, minimum_order=1000)

    with pytest.raises(Conflict) as refused:
        shop.place((soup, 1))

    assert refused.value.code == "store_closed"


# --- rates from the saved settings --------------------------------------------------------------

def test_tax_and_delivery_fee_are_the_saved_settings(shop):
    soup = shop.item(price=1999)
    shop.set_store(tax_rate_bps=825, delivery_fee=399)

    order = shop.place((soup, 1), fulfilment=DELIVERY, tip=100)

    totals = order.totals
    assert totals.subtotal.amount == 1999
    assert totals.tax.amount == 165  # 164.9175 rounded half-up
    assert totals.delivery_fee.amount == 399
    assert totals.total.amount == 1999 + 165 + 399 + 100
    assert totals.total.currency == CURRENCY


def test_a_pickup_pays_no_delivery_fee(shop):
    soup = shop.item(price=1000)
    shop.set_store(delivery_fee=399)

    assert shop.place((soup, 1)).totals.delivery_fee.amount == 0


def test_changed_rates_apply_to_the_next_order_and_not_to_earlier_ones(shop):
    soup = shop.item(price=1000)
    shop.set_store(tax_rate_bps=500, delivery_fee=200)
    earlier = shop.place((soup, 1), fulfilment=DELIVERY)
    assert (earlier.totals.tax.amount, earlier.totals.delivery_fee.amount,
            earlier.totals.total.amount) == (50, 200, 1250)

    shop.set_store(tax_rate_bps=2000, delivery_fee=700)
    later = shop.place((soup, 1), fulfilment=DELIVERY)

    assert (later.totals.tax.amount, later.totals.delivery_fee.amount,
            later.totals.total.amount) == (200, 700, 1900)
    stored = shop.orders.get(earlier.id)
    assert stored is not None
    assert stored.totals == earlier.totals


def test_the_ini_defaults_price_orders_until_settings_are_saved():
    shop = Shop(StoreSettings(name="minimart", currency=CURRENCY, tax_rate_bps=1000,
                              delivery_fee=250))
    soup = shop.item(price=1000)

    order = shop.place((soup, 1), fulfilment=DELIVERY)

    assert (order.totals.tax.amount, order.totals.delivery_fee.amount) == (100, 250)


def test_the_payment_is_asked_for_the_total_with_the_saved_rates(shop):
    soup = shop.item(price=1000)
    shop.set_store(tax_rate_bps=1000, delivery_fee=300)

    order = shop.place((soup, 1), fulfilment=DELIVERY)

    [intent] = shop.gateway.intents.values()
    assert intent.amount == order.totals.total.amount == 1400
