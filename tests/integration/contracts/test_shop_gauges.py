"""ShopGauges' contract: the memory fake and the SQLAlchemy adapter (SQLite and PostgreSQL)
count the orders by status and by payment status alike, leaving out what no order has; on
SQL, the pool figures follow the connections in use."""

from __future__ import annotations

from typing import Any

from minimart.domain.orders import OrderStatus, Payment
from minimart.domain.payments import PaymentStatus
from tests.integration.contracts.conftest import (
    T0,
    Repos,
    SqlStore,
    make_account,
    make_item,
    make_order,
)

PENDING, PAID, CANCELLED = (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID,
                            OrderStatus.CANCELLED)


def place(store: Any, *specs: tuple[OrderStatus, PaymentStatus]) -> list[str]:
    """One order per (status, payment status), for one customer; their ids."""
    account, item = make_account(), make_item()
    orders = [make_order(account.id, (item, 1), status=status,
                         payment=Payment("memory", payment_status))
              for status, payment_status in specs]

    def job(r: Repos) -> None:
        r.accounts.add(account)
        r.items.add(item)
        for order in orders:
            r.orders.add(order)

    store.work(job)
    return [o.id for o in orders]


def counts(store: Any) -> tuple[dict[OrderStatus, int], dict[PaymentStatus, int]]:
    return store.gauges.orders_by_status(), store.gauges.orders_by_payment_status()


def test_no_orders_count_nothing(store):
    assert counts(store) == ({}, {})


def test_orders_are_counted_by_status_and_by_payment_status(store):
    place(store, (PENDING, PaymentStatus.NOT_STARTED), (PENDING, PaymentStatus.NOT_STARTED),
          (PENDING, PaymentStatus.REQUIRES_ACTION), (PAID, PaymentStatus.SUCCEEDED),
          (CANCELLED, PaymentStatus.CANCELED))

    by_status, by_payment = counts(store)

    assert by_status == {PENDING: 3, PAID: 1, CANCELLED: 1}
    assert by_payment == {PaymentStatus.NOT_STARTED: 2, PaymentStatus.REQUIRES_ACTION: 1,
                          PaymentStatus.SUCCEEDED: 1, PaymentStatus.CANCELED: 1}
    assert all(isinstance(s, OrderStatus) for s in by_status)
    assert all(isinstance(s, PaymentStatus) for s in by_payment)


def test_the_counts_follow_an_orders_transition(store):
    first, _ = place(store, (PENDING, PaymentStatus.NOT_STARTED),
                     (PENDING, PaymentStatus.NOT_STARTED))

    store.work(lambda r: r.orders.transition(first, PENDING, PAID, T0))

    assert counts(store)[0] == {PENDING: 1, PAID: 1}


def test_a_connection_in_use_is_counted_until_it_is_given_back(sql_store: SqlStore):
    gauges = sql_store.gauges
    in_use, size = gauges.connections()

    with sql_store.engine.connect():
        held = gauges.connections()

    assert size > 0
    assert held == (in_use + 1, size)
    assert gauges.connections() == (in_use, size)
