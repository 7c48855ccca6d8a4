"""PaymentEventLog's contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) let each provider event take effect once, whatever is redelivered; on
PostgreSQL, of racing deliveries exactly one is the first."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from minimart.domain.payments import PaymentEvent, PaymentEventKind
from tests.integration.contracts.conftest import T0, SqlStore

EVENT = PaymentEvent(id="evt_1", kind=PaymentEventKind.SUCCEEDED,
                     type="payment_intent.succeeded", payment_intent_id="pi_1", amount=2100,
                     currency="usd", order_id="order-1")


def deliver(store: Any, event: PaymentEvent = EVENT, at: datetime = T0) -> bool:
    return store.work(lambda r: r.payment_events.first_delivery(event, at))


def test_the_first_delivery_of_an_event_is_first_and_every_later_one_is_not(store):
    assert deliver(store) is True
    assert deliver(store) is False
    assert deliver(store, at=T0 + timedelta(days=1)) is False


def test_the_event_id_alone_decides_whatever_the_redelivery_says(store):
    deliver(store)

    assert deliver(store, replace(EVENT, type="charge.refunded", payment_intent_id=None,
                                  kind=None)) is False


def test_events_are_told_apart_by_id(store):
    deliver(store)

    assert deliver(store, replace(EVENT, id="evt_2")) is True
    assert deliver(store, replace(EVENT, id="EVT_1")) is True
    assert deliver(store, replace(EVENT, id="evt_2")) is False


def test_a_delivery_whose_transaction_failed_is_delivered_again(sql_store: SqlStore):
    def fail(r: Any) -> None:
        r.payment_events.first_delivery(EVENT, T0)
        raise RuntimeError("applying the event failed")

    with pytest.raises(RuntimeError):
        sql_store.work(fail)

    assert deliver(sql_store) is True
    assert deliver(sql_store) is False


@pytest.mark.postgres
def test_of_twenty_racing_deliveries_of_one_event_exactly_one_is_first(
        postgres_store: SqlStore):
    start = threading.Barrier(20)

    def racer(_: int) -> bool:
        start.wait(timeout=10)
        return deliver(postgres_store)

    with ThreadPoolExecutor(max_workers=20) as pool:
        firsts = list(pool.map(racer, range(20)))

    assert firsts.count(True) == 1
