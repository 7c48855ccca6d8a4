"""OrderRepository's contract, the order itself (its refunds and the dashboard's totals have
modules of their own): the memory fake and the SQLAlchemy adapter (SQLite and PostgreSQL)
store orders, page them, guard their transitions and find those due for work alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from minimart.domain.catalog import Item
from minimart.domain.ids import new_id
from minimart.domain.orders import (
    Fulfilment,
    FulfilmentType,
    Order,
    OrderQuery,
    OrderStatus,
    Payment,
    PendingHoldings,
)
from minimart.domain.paging import PageAfter
from minimart.domain.payments import PaymentStatus
from tests.integration.contracts.conftest import T0, Repos, make_account, make_item, make_order

PENDING, PAID = OrderStatus.PENDING_PAYMENT, OrderStatus.PAID
CANCELLED, FULFILLED = OrderStatus.CANCELLED, OrderStatus.FULFILLED
MINUTE = timedelta(minutes=1)


class Shop:
    """Two customers and two items, stored."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.ann, self.bob = make_account("ann@example.com"), make_account("bob@example.com")
        self.tea, self.cake = make_item("Tea", 450, sku="TEA-1"), make_item("Cake", 300)

        def job(r: Repos) -> None:
            for account in (self.ann, self.bob):
                r.accounts.add(account)
            for item in (self.tea, self.cake):
                r.items.add(item)

        store.work(job)

    def order(self, *lines: tuple[Item, int], customer: str | None = None,
              **fields: Any) -> Order:
        """A new order of `lines` (one tea by default) for Ann, stored."""
        order = make_order(customer or self.ann.id, *(lines or [(self.tea, 1)]), **fields)
        self.store.work(lambda r: r.orders.add(order))
        return order

    def get(self, order_id: str) -> Order | None:
        return self.store.read(lambda r: r.orders.get(order_id))

    def listed(self, **query: Any) -> list[str]:
        return [o.id for o in self.store.read(lambda r: r.orders.find(OrderQuery(**query)))]


@pytest.fixture
def shop(store: Any) -> Shop:
    return Shop(store)


def test_an_added_order_reads_back_field_for_field(shop):
    order = shop.order(
        (shop.tea, 2), (shop.cake, 1), status=PAID, at=T0 + timedelta(microseconds=3),
        updated_at=T0 + MINUTE, note="Ring twice",
        fulfilment=Fulfilment(FulfilmentType.DELIVERY, "1 Main Street"),
        payment=Payment("memory", PaymentStatus.SUCCEEDED, "pi_1", "pi_1_secret", 1200,
                        refunded=200, refund_claimed=500))

    assert shop.get(order.id) == order
    assert [line.name for line in shop.get(order.id).lines] == ["Tea", "Cake"]


def test_an_order_added_with_money_refunded_counts_it_as_claimed(shop):
    order = shop.order(payment=Payment("memory", PaymentStatus.SUCCEEDED, captured=450,
                                       refunded=300, refund_claimed=0))

    assert shop.get(order.id).payment.refund_claimed == 300


def test_a_missing_order_reads_as_none(shop):
    shop.order()

    assert shop.get(new_id()) is None
    assert shop.store.read(lambda r: r.orders.get_by_payment_intent("pi_nothing")) is None


def test_an_order_is_found_by_its_payment_intent(shop):
    shop.order(payment=Payment("memory", PaymentStatus.PROCESSING, "pi_a"))
    wanted = shop.order(payment=Payment("memory", PaymentStatus.PROCESSING, "pi_b"))

    assert shop.store.read(lambda r: r.orders.get_by_payment_intent("pi_b")) == wanted


def test_orders_list_newest_first_then_by_larger_id(shop):
    low, high = sorted([new_id(), new_id()])
    made = [shop.order(at=T0).id, shop.order(at=T0 + MINUTE, id=low).id,
            shop.order(at=T0 + MINUTE, id=high).id, shop.order(at=T0 + 2 * MINUTE).id]

    assert shop.listed() == [made[3], high, low, made[0]]
    assert shop.listed(limit=2) == [made[3], high]


def test_the_customer_and_status_filters_keep_only_their_orders(shop):
    ann_pending = shop.order(at=T0).id
    ann_paid = shop.order(at=T0 + MINUTE, status=PAID).id
    bob_paid = shop.order(at=T0 + 2 * MINUTE, status=PAID, customer=shop.bob.id).id

    assert shop.listed(customer_id=shop.ann.id) == [ann_paid, ann_pending]
    assert shop.listed(status=PAID) == [bob_paid, ann_paid]
    assert shop.listed(customer_id=shop.ann.id, status=PAID) == [ann_paid]
    assert shop.listed(customer_id=shop.bob.id, status=PENDING) == []


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_walking_the_pages_after_the_last_order_yields_each_once_in_order(shop, limit):
    made = [shop.order(at=T0 + (n // 2) * MINUTE, status=PAID if n % 3 else PENDING)
            for n in range(7)]
    expected = [o.id for o in sorted(made, key=lambda o: (o.created_at, o.id), reverse=True)]
    walked: list[str] = []
    after = None
    for _ in range(10):
        page = shop.store.read(lambda r, after=after: r.orders.find(
            OrderQuery(limit=limit, after=after)))
        if not page:
            break
        walked += [o.id for o in page]
        after = PageAfter(page[-1].created_at, page[-1].id)

    assert walked == expected


def test_a_transition_from_the_current_status_takes_effect_once(shop):
    order = shop.order()
    later = T0 + MINUTE

    assert shop.store.work(lambda r: r.orders.transition(order.id, PENDING, PAID, later))
    assert not shop.store.work(lambda r: r.orders.transition(order.id, PENDING, CANCELLED,
                                                             later + MINUTE))

    assert shop.get(order.id) == replace(order, status=PAID, updated_at=later)


def test_a_transition_of_a_missing_order_changes_nothing(shop):
    assert shop.store.work(lambda r: r.orders.transition(new_id(), PENDING, PAID, T0)) is False


def test_set_payment_writes_the_payment_and_leaves_the_refund_amounts(shop):
    order = shop.order(payment=Payment("memory", PaymentStatus.SUCCEEDED, captured=450,
                                       refunded=100, refund_claimed=200))
    later = T0 + MINUTE

    shop.store.work(lambda r: r.orders.set_payment(order.id, Payment(
        "stripe", PaymentStatus.REQUIRES_ACTION, "pi_9", "pi_9_secret", 400, refunded=0,
        refund_claimed=0), later))

    assert shop.get(order.id) == replace(order, updated_at=later, payment=Payment(
        "stripe", PaymentStatus.REQUIRES_ACTION, "pi_9", "pi_9_secret", 400, refunded=100,
        refund_claimed=200))


def test_pending_holdings_add_up_the_customers_pending_orders_only(shop):
    shop.order((shop.tea, 2), (shop.cake, 1))
    shop.order((shop.tea, 3))
    shop.order((shop.tea, 5), status=PAID)
    shop.order((shop.cake, 7), customer=shop.bob.id)

    holdings = shop.store.work(lambda r: r.orders.pending_holdings(shop.ann.id))

    assert holdings == PendingHoldings(2, {shop.tea.id: 5, shop.cake.id: 1})
    assert shop.store.work(lambda r: r.orders.pending_holdings(new_id())) == PendingHoldings(
        0, {})


def test_pending_before_finds_pending_orders_placed_before_the_cutoff_oldest_first(shop):
    oldest = shop.order(at=T0).id
    older = shop.order(at=T0 + MINUTE, customer=shop.bob.id).id
    shop.order(at=T0 + 2 * MINUTE, status=PAID)
    shop.order(at=T0 + 3 * MINUTE)  # at the cutoff: not before it

    def before(cutoff: datetime, limit: int = 10) -> list[str]:
        return shop.store.read(lambda r: r.orders.pending_before(cutoff, limit))

    assert before(T0 + 3 * MINUTE) == [oldest, older]
    assert before(T0 + 3 * MINUTE, limit=1) == [oldest]
    assert before(T0) == []


def test_owing_refund_finds_cancelled_orders_with_money_no_refund_has_claimed(shop):
    def paid(captured: int, claimed: int, status: OrderStatus = CANCELLED,
             minutes: int = 0) -> str:
        return shop.order(status=status, updated_at=T0 + minutes * MINUTE, payment=Payment(
            "memory", PaymentStatus.SUCCEEDED, captured=captured,
            refund_claimed=claimed)).id

    later = paid(450, 0, minutes=5)
    earlier = paid(450, 200, minutes=1)
    paid(450, 450)  # all claimed
    paid(0, 0)  # never paid
    paid(450, 0, status=FULFILLED)

    assert shop.store.read(lambda r: r.orders.owing_refund(10)) == [earlier, later]
    assert shop.store.read(lambda r: r.orders.owing_refund(1)) == [earlier]
