"""OrderRepository's contract, its refund methods: the memory fake and the SQLAlchemy
adapter (SQLite and PostgreSQL) keep the same promises.

Each step runs in its own transaction, as the services run them, and every check reads back
in a new one. The race at the end proves the claim's guard on PostgreSQL with real threads.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

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
    Refund,
    RefundState,
)
from minimart.domain.payments import PaymentStatus
from minimart.domain.pricing import Totals
from tests.integration.contracts.conftest import CURRENCY, Repos, SqlStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1, T2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)
CAPTURED = 2100
REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.FULFILLED})
PAID, CANCELLED = OrderStatus.PAID, OrderStatus.CANCELLED
SENDING, CLAIMED = RefundState.SENDING, RefundState.CLAIMED
SENT, VOID = RefundState.SENT, RefundState.VOID


def add_order(store: Any, status: OrderStatus = PAID, captured: int = CAPTURED) -> Order:
    """An order of one line for `captured`, paid through pi_<id>."""
    money = Money(captured, CURRENCY)
    account = Account(id=new_id(), email=f"{new_id()}@example.com", name="Sam",
                      role=Role.CUSTOMER, password_hash="x", created_at=T0)
    item = Item(id=new_id(), sku=None, name="Tea", description="", price=money, stock=5,
                created_at=T0, updated_at=T0)
    order_id = new_id()
    order = Order(
        id=order_id, customer_id=account.id, status=status,
        lines=(OrderLine(item.id, None, "Tea", money, 1),),
        totals=Totals(subtotal=money, tax=Money(0, CURRENCY), delivery_fee=Money(0, CURRENCY),
                      tip=Money(0, CURRENCY), total=money),
        fulfilment=Fulfilment(), note=None,
        payment=Payment(provider="memory", status=PaymentStatus.SUCCEEDED,
                        payment_intent_id=f"pi_{order_id}", captured=captured),
        created_at=T0, updated_at=T0)

    def job(r: Repos) -> None:
        r.accounts.add(account)
        r.items.add(item)
        r.orders.add(order)

    store.work(job)
    return order


def a_refund(order: Order, amount: int, at: datetime = T0) -> Refund:
    return Refund(id=new_id(), order_id=order.id, amount=amount, state=SENDING,
                  created_at=at, attempted_at=at)


def claim(store: Any, refund: Refund, statuses: frozenset[OrderStatus] = REFUNDABLE) -> bool:
    return store.work(lambda r: r.orders.claim_refund(refund, statuses))


def stored(store: Any, order: Order) -> Order:
    return store.work(lambda r: r.orders.get(order.id))


def amounts(store: Any, order: Order) -> tuple[int, int]:
    """(refund_claimed, refunded) as stored."""
    payment = stored(store, order).payment
    return payment.refund_claimed, payment.refunded


def states(store: Any, order: Order) -> list[tuple[int, RefundState]]:
    return [(r.amount, r.state) for r in store.work(lambda r: r.orders.refunds_of(order.id))]


# --- claims ----------------------------------------------------------------------------------

def test_claims_that_fit_in_the_capture_are_kept_and_one_past_it_writes_nothing(store):
    order = add_order(store)

    assert claim(store, a_refund(order, 1000)) is True
    assert claim(store, a_refund(order, 1100, T1)) is True
    assert claim(store, a_refund(order, 1, T2)) is False

    assert amounts(store, order) == (CAPTURED, 0)
    assert states(store, order) == [(1000, SENDING), (1100, SENDING)]
    assert stored(store, order).updated_at == T0  # a claim is not a change anyone sees


def test_a_claim_reads_back_field_for_field(store):
    order = add_order(store)
    refund = a_refund(order, 700)

    claim(store, refund)

    assert store.work(lambda r: r.orders.refunds_of(order.id)) == [refund]


@pytest.mark.parametrize("status", [OrderStatus.PENDING_PAYMENT, CANCELLED,
                                    OrderStatus.REFUNDED])
def test_a_claim_for_an_order_in_another_status_writes_nothing(store, status):
    order = add_order(store, status=status)

    assert claim(store, a_refund(order, 100)) is False
    assert amounts(store, order) == (0, 0)
    assert states(store, order) == []


def test_a_cancelled_orders_late_payment_is_claimed_with_its_own_statuses(store):
    order = add_order(store, status=CANCELLED)

    assert store.work(lambda r: r.orders.owing_refund(10)) == [order.id]
    assert claim(store, a_refund(order, CAPTURED), frozenset({CANCELLED})) is True
    assert store.work(lambda r: r.orders.owing_refund(10)) == []


def test_set_payment_leaves_the_refund_amounts_alone(store):
    order = add_order(store)
    claim(store, refund := a_refund(order, 800))
    store.work(lambda r: r.orders.refund_sent(refund.id, T0))
    stale = replace(order.payment, status=PaymentStatus.SUCCEEDED, refunded=0,
                    refund_claimed=0)

    store.work(lambda r: r.orders.set_payment(order.id, stale, T0 + timedelta(minutes=1)))

    assert amounts(store, order) == (800, 800)


# --- sending ---------------------------------------------------------------------------------

def test_a_sent_refund_counts_once_and_the_whole_capture_marks_the_payment_refunded(store):
    order = add_order(store)
    first, rest = a_refund(order, 1000), a_refund(order, 1100, T1)
    claim(store, first)
    claim(store, rest)
    later = T0 + timedelta(minutes=1)

    assert store.work(lambda r: r.orders.refund_sent(first.id, later)) == 1000
    assert store.work(lambda r: r.orders.refund_sent(first.id, later)) is None
    assert stored(store, order).payment.status is PaymentStatus.SUCCEEDED
    assert store.work(lambda r: r.orders.refund_sent(rest.id, later)) == CAPTURED

    after = stored(store, order)
    assert (after.payment.refunded, after.payment.status) == (CAPTURED, PaymentStatus.REFUNDED)
    assert after.updated_at == later
    assert states(store, order) == [(1000, SENT), (1100, SENT)]
    assert [r.sent_at for r in store.work(lambda r: r.orders.refunds_of(order.id))] == [
        later, later]


def test_a_released_refund_is_taken_once_and_a_fresh_one_is_not_taken(store):
    order = add_order(store)
    refund = a_refund(order, 500)
    claim(store, refund)
    later = T0 + timedelta(minutes=1)

    assert store.work(lambda r: r.orders.take_refund(refund.id, later, None)) is None
    assert store.work(lambda r: r.orders.unsent_refunds(order.id)) == []
    store.work(lambda r: r.orders.release_refund(refund.id))
    assert [r.id for r in store.work(lambda r: r.orders.unsent_refunds(order.id))] == [
        refund.id]

    taken = store.work(lambda r: r.orders.take_refund(refund.id, later, None))
    assert (taken.state, taken.attempted_at) == (SENDING, later)
    assert store.work(lambda r: r.orders.take_refund(refund.id, later, None)) is None
    assert store.work(lambda r: r.orders.refund_sent(refund.id, later)) == 500
    store.work(lambda r: r.orders.release_refund(refund.id))  # too late: it was sent
    assert states(store, order) == [(500, SENT)]


def test_reconcile_finds_released_refunds_and_those_whose_sender_went_quiet(store):
    order = add_order(store)
    released, quiet, fresh = (a_refund(order, 100, T0), a_refund(order, 200, T1),
                              a_refund(order, 300, T0 + timedelta(minutes=10)))
    for refund in (released, quiet, fresh):
        claim(store, refund)
    store.work(lambda r: r.orders.release_refund(released.id))
    cutoff = T0 + timedelta(minutes=5)

    found = store.work(lambda r: r.orders.refunds_to_retry(cutoff, 10))

    assert [r.id for r in found] == [released.id, quiet.id]
    assert store.work(lambda r: r.orders.refunds_to_retry(cutoff, 1))[0].id == released.id
    assert store.work(lambda r: r.orders.take_refund(quiet.id, cutoff, cutoff)) is not None
    assert store.work(lambda r: r.orders.take_refund(fresh.id, cutoff, cutoff)) is None


# --- what the provider reports ---------------------------------------------------------------

def test_a_reported_total_beyond_the_claims_counts_as_claimed_and_refunded(store):
    order = add_order(store)
    ours = a_refund(order, 500)
    claim(store, ours)
    later = T0 + timedelta(minutes=1)

    # ours is on its way; 500 reported is ours: nothing new
    assert store.work(lambda r: r.orders.refund_reported(order.id, 500, later)) is None
    # 800 reported: 300 more were refunded at the provider
    assert store.work(lambda r: r.orders.refund_reported(order.id, 800, later)) == 300
    assert amounts(store, order) == (800, 300)
    assert store.work(lambda r: r.orders.refund_reported(order.id, 700, later)) is None
    assert store.work(lambda r: r.orders.refund_sent(ours.id, later)) == 800
    assert amounts(store, order) == (800, 800)
    assert stored(store, order).payment.status is PaymentStatus.SUCCEEDED


def test_the_whole_capture_reported_voids_the_unsent_claims(store):
    order = add_order(store)
    sent, sending, released = (a_refund(order, 100), a_refund(order, 200, T1),
                               a_refund(order, 300, T2))
    for refund in (sent, sending, released):
        claim(store, refund)
    store.work(lambda r: r.orders.refund_sent(sent.id, T0))
    store.work(lambda r: r.orders.release_refund(released.id))

    assert store.work(lambda r: r.orders.refund_reported(order.id, CAPTURED, T0)) == CAPTURED
    assert store.work(lambda r: r.orders.refund_reported(order.id, CAPTURED, T0)) is None

    assert amounts(store, order) == (CAPTURED, CAPTURED)
    assert stored(store, order).payment.status is PaymentStatus.REFUNDED
    assert states(store, order) == [(100, SENT), (200, VOID), (300, VOID)]
    assert store.work(lambda r: r.orders.refund_sent(sending.id, T0)) is None
    assert store.work(lambda r: r.orders.refunds_to_retry(T0 + timedelta(days=1), 10)) == []
    assert claim(store, a_refund(order, 1)) is False


# --- the race (PostgreSQL) -------------------------------------------------------------------

@pytest.mark.postgres
def test_twenty_racing_claims_of_500_of_2100_leave_exactly_four(postgres_store: SqlStore):
    sql = postgres_store
    order = add_order(sql)
    start = threading.Barrier(20)

    def racer(_: int) -> bool:
        start.wait(timeout=10)
        return claim(sql, a_refund(order, 500))

    with ThreadPoolExecutor(max_workers=20) as pool:
        won = list(pool.map(racer, range(20)))

    assert won.count(True) == 4
    assert amounts(sql, order) == (2000, 0)
    assert len(states(sql, order)) == 4


@pytest.mark.postgres
def test_a_refund_recorded_as_sent_while_the_whole_capture_is_reported_does_not_deadlock(
        postgres_store: SqlStore):
    """The report writes the order, then voids its unsent refunds; recording a refund as
    sent must take the order's row first too, or each waits on the other's row."""
    sql = postgres_store
    order = add_order(sql)
    refund = a_refund(order, 500)
    claim(sql, refund)
    reporters: list[threading.Thread] = []
    failures: list[Exception] = []

    def report() -> None:
        try:
            sql.work(lambda r: r.orders.refund_reported(order.id, CAPTURED, T1))
        except Exception as error:
            failures.append(error)

    def report_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE refunds SET state") and not reporters:
            reporters.append(threading.Thread(target=report))
            reporters[0].start()
            time.sleep(0.5)  # the webhook's transaction takes what it can meanwhile

    event.listen(sql.engine, "after_cursor_execute", report_meanwhile)
    try:
        sent = sql.work(lambda r: r.orders.refund_sent(refund.id, T1))
    finally:
        event.remove(sql.engine, "after_cursor_execute", report_meanwhile)
        for reporter in reporters:
            reporter.join(timeout=20)
    assert reporters, "the race was not staged"
    assert (sent, failures) == (500, [])
    assert amounts(sql, order) == (CAPTURED, CAPTURED)
    assert states(sql, order) == [(500, SENT)]
