"""The dashboard's read-only queries, OrderRepository.totals_by_period and
ItemRepository.low_stock: the memory fakes and the SQL adapters (SQLite and PostgreSQL)
answer them alike. Writes commit in one transaction; reads run in another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from minimart.domain.accounts import Account
from minimart.domain.actors import Role
from minimart.domain.catalog import Item
from minimart.domain.ids import new_id
from minimart.domain.money import Money
from minimart.domain.orders import (
    Fulfilment,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PeriodTotals,
)
from minimart.domain.payments import PaymentStatus
from minimart.domain.pricing import Totals
from tests.integration.contracts.conftest import CURRENCY, Repos

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
BOUNDARIES = [DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2),
              DAY0 + timedelta(days=3)]


def make_item(name: str, stock: int, *, archived: bool = False) -> Item:
    return Item(id=new_id(), sku=None, name=name, description="", price=Money(100, CURRENCY),
                stock=stock, created_at=DAY0, updated_at=DAY0, archived=archived)


def make_order(customer: str, item: Item, at: datetime, status: OrderStatus, total: int,
               captured: int = 0, refunded: int = 0) -> Order:
    money = Money(total, CURRENCY)
    return Order(id=new_id(), customer_id=customer, status=status,
                 lines=(OrderLine(item.id, None, item.name, money, 1),),
                 totals=Totals(money, Money(0, CURRENCY), Money(0, CURRENCY),
                               Money(0, CURRENCY), money),
                 fulfilment=Fulfilment(), note=None,
                 payment=Payment("memory", PaymentStatus.SUCCEEDED, None, None, captured,
                                 refunded),
                 created_at=at, updated_at=at)


def seed_orders(store: Any, *specs: tuple[datetime, OrderStatus, int, int, int]) -> None:
    def job(r: Repos) -> None:
        account = Account(id=new_id(), email=f"{new_id()}@example.com", name="Sam",
                          role=Role.CUSTOMER, password_hash="x", created_at=DAY0)
        r.accounts.add(account)
        item = make_item("Tea", 5)
        r.items.add(item)
        for at, status, total, captured, refunded in specs:
            r.orders.add(make_order(account.id, item, at, status, total, captured, refunded))
    store.work(job)


def totals(store: Any, boundaries: list[datetime]) -> list[PeriodTotals]:
    return store.read(lambda r: r.orders.totals_by_period(boundaries))


class TestDashboardQueries:
    # --- OrderRepository.totals_by_period ----------------------------------------------------
    def test_each_order_counts_in_the_period_it_was_placed_in(self, store):
        hour = timedelta(hours=1)
        seed_orders(store,
                    (DAY0 + hour, OrderStatus.PAID, 500, 500, 0),
                    (DAY0 + 2 * hour, OrderStatus.FULFILLED, 300, 300, 0),
                    (DAY0 + timedelta(days=2, hours=5), OrderStatus.PAID, 1000, 1000, 0))

        assert totals(store, BOUNDARIES) == [PeriodTotals(2, 800), PeriodTotals(0, 0),
                                             PeriodTotals(1, 1000)]

    def test_an_order_placed_exactly_at_a_boundary_belongs_to_the_later_period(self, store):
        seed_orders(store, (BOUNDARIES[1], OrderStatus.PAID, 700, 700, 0),
                    (BOUNDARIES[1] - timedelta(microseconds=1), OrderStatus.PAID, 100, 100, 0))

        assert totals(store, BOUNDARIES) == [PeriodTotals(1, 100), PeriodTotals(1, 700),
                                             PeriodTotals(0, 0)]

    def test_orders_outside_the_boundaries_are_left_out(self, store):
        seed_orders(store, (DAY0 - timedelta(seconds=1), OrderStatus.PAID, 100, 100, 0),
                    (BOUNDARIES[-1], OrderStatus.PAID, 200, 200, 0))

        assert totals(store, BOUNDARIES) == [PeriodTotals(0, 0)] * 3

    def test_cancelled_orders_are_not_counted_and_revenue_is_captured_less_refunded(self, store):
        at = DAY0 + timedelta(hours=3)
        seed_orders(store,
                    (at, OrderStatus.CANCELLED, 400, 0, 0),
                    (at, OrderStatus.CANCELLED, 400, 400, 400),  # paid late, money returned
                    (at, OrderStatus.REFUNDED, 900, 900, 900),
                    (at, OrderStatus.PAID, 600, 600, 0),
                    (at, OrderStatus.PENDING_PAYMENT, 250, 0, 0))

        assert totals(store, BOUNDARIES[:2]) == [PeriodTotals(orders=3, revenue=600)]

    def test_fewer_than_two_boundaries_make_no_period(self, store):
        assert totals(store, [DAY0]) == []


    # --- ItemRepository.low_stock ------------------------------------------------------------
    def test_low_stock_lists_items_on_sale_at_or_below_the_threshold_lowest_first(self, store):
        def job(r: Repos) -> None:
            for item in (make_item("Plenty", 6), make_item("banana", 2), make_item("Apple", 2),
                         make_item("Gone", 0), make_item("Edge", 5),
                         make_item("Archived", 0, archived=True)):
                r.items.add(item)
        store.work(job)

        low = store.read(lambda r: r.items.low_stock(5, 10))

        assert [(i.name, i.stock) for i in low] == [("Gone", 0), ("Apple", 2), ("banana", 2),
                                                    ("Edge", 5)]

    def test_low_stock_stops_at_the_limit(self, store):
        store.work(lambda r: [r.items.add(make_item(f"Item {n}", n)) for n in range(5)])

        assert [i.stock for i in store.read(lambda r: r.items.low_stock(10, 3))] == [0, 1, 2]
