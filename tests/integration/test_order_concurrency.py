"""Concurrency guarantees of ordering, proven on PostgreSQL with real threads and processes.

Each worker drives the whole WSGI app (pyramid_tm, pyramid_retry, the SQL adapters) or the
services with its own transaction, exactly as separate requests on separate hosts would.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import transaction
from sqlalchemy import select, text
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import items, orders
from minimart.domain.accounts import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.orders import OrderStatus, PlaceOrder, RequestedLine
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET

pytestmark = pytest.mark.postgres


def settings_for(url: str) -> dict[str, Any]:
    return {"minimart.environment": "test", "minimart.database_url": url,
            "minimart.jwt_secret": TEST_JWT_SECRET, **FAST_ARGON2}


@pytest.fixture
def shop(postgres_url: str) -> Iterator[Shop]:
    from tests.conftest import _empty_all_tables

    app = make_app(settings_for(postgres_url), environ={})
    _empty_all_tables(app.registry.container.engine)
    yield Shop(app)
    app.registry.container.engine.dispose()


class Shop:
    """The app plus helpers to seed it and read the database directly."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.engine = app.registry.container.engine

    def work(self, job: Callable[[Any], Any]) -> Any:
        container = self.app.registry.container
        manager = transaction.TransactionManager(explicit=True)
        with manager:
            return job(container.services(manager))

    def item(self, stock: int, name: str = "Widget") -> str:
        return self.work(lambda s: s.catalog.create_item(
            NewItem(name=name, price=500, stock=stock), Actor.system())).id

    def customer(self, email: str) -> tuple[Actor, dict[str, str]]:
        account = self.work(lambda s: s.accounts.create_account(
            email, "a long password", "Shopper", Role.CUSTOMER, Actor.system()))
        token = self.app.registry.token_codec.issue(account)
        return (Actor(account.id, Role.CUSTOMER),
                {"Authorization": f"Bearer {token}"})

    def stock(self, item_id: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(items.c.stock)
                                      .where(items.c.id == item_id)).scalar_one()

    def order_count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM orders")).scalar_one()


def _post_order(app: Any, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
    response = TestApp(app).post_json("/api/v1/orders", body, headers=headers, expect_errors=True)
    return response.status_int, response.json


def test_two_hundred_buyers_of_fifty_units_leave_fifty_orders_and_zero_stock(shop: Shop):
    item_id = shop.item(stock=50)
    _, headers = shop.customer("buyer@example.com")
    body = {"lines": [{"item_id": item_id, "quantity": 1}], "payment_method": "pm_card_visa"}

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: _post_order(shop.app, headers, body), range(200)))

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 50, 409: 150}
    assert all(payload["error"]["code"] == "insufficient_stock"
               for status, payload in results if status == 409)
    assert shop.stock(item_id) == 0
    assert shop.order_count() == 50


def test_orders_naming_the_same_items_in_opposite_order_all_complete(shop: Shop):
    first, second = shop.item(stock=100, name="A"), shop.item(stock=100, name="B")
    _, headers = shop.customer("pairs@example.com")
    forward = {"lines": [{"item_id": first, "quantity": 1}, {"item_id": second, "quantity": 1}]}
    backward = {"lines": [{"item_id": second, "quantity": 1}, {"item_id": first, "quantity": 1}]}

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(
            lambda n: _post_order(shop.app, headers, forward if n % 2 else backward),
            range(80)))

    assert Counter(status for status, _ in results) == {201: 80}
    assert shop.stock(first) == 20
    assert shop.stock(second) == 20


def test_twenty_simultaneous_requests_with_one_idempotency_key_make_one_order(shop: Shop):
    item_id = shop.item(stock=10)
    _, headers = shop.customer("tapper@example.com")
    body = {"lines": [{"item_id": item_id, "quantity": 2}]}
    keyed = {**headers, "Idempotency-Key": "tap-once-please"}

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: _post_order(shop.app, keyed, body), range(20)))

    assert {status for status, _ in results} <= {200, 201}
    assert Counter(status for status, _ in results)[201] == 1
    assert len({payload["id"] for _, payload in results}) == 1
    assert shop.order_count() == 1
    assert shop.stock(item_id) == 8


def _buy_in_a_process(url: str, headers: dict[str, str], item_id: str, attempts: int) -> list[int]:
    app = make_app(settings_for(url), environ={})
    try:
        body = {"lines": [{"item_id": item_id, "quantity": 1}]}
        return [_post_order(app, headers, body)[0] for _ in range(attempts)]
    finally:
        app.registry.container.engine.dispose()


def test_buyers_in_separate_processes_never_oversell(shop: Shop, postgres_url: str):
    item_id = shop.item(stock=30)
    _, headers = shop.customer("procs@example.com")
    context = multiprocessing.get_context("spawn")

    with context.Pool(4) as pool:
        per_process = pool.starmap(_buy_in_a_process,
                                   [(postgres_url, headers, item_id, 12)] * 4)

    statuses = Counter(status for statuses in per_process for status in statuses)
    assert statuses == {201: 30, 409: 18}
    assert shop.stock(item_id) == 0


def test_cancel_expiry_and_payment_racing_return_stock_at_most_once(shop: Shop):
    item_id = shop.item(stock=100)
    actor, _ = shop.customer("racer@example.com")
    placed = [shop.work(lambda s: s.orders.place_order(
        PlaceOrder(lines=(RequestedLine(item_id, 1),)), actor).order) for _ in range(20)]
    with shop.engine.begin() as connection:  # make them all old enough to expire
        connection.execute(text("UPDATE orders SET created_at = created_at - interval '2 hours'"))

    def cancel(order_id: str) -> Any:
        return shop.work(lambda s: s.orders.cancel(order_id, actor))

    def pay(order_id: str) -> Any:
        return shop.work(lambda s: s.orders.mark_paid(order_id, 500, Actor.system()))

    def expire(_: str) -> Any:
        return shop.work(lambda s: s.orders.expire_pending(Actor.system()))

    jobs = [(job, order.id) for order in placed for job in (cancel, pay, expire)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(job, order_id) for job, order_id in jobs]
        for future in futures:
            try:
                future.result()
            except Exception as error:  # the losers of a race are refused, never applied
                assert getattr(error, "code", None) == "invalid_state", error

    with shop.engine.connect() as connection:
        final = dict(connection.execute(select(orders.c.id, orders.c.status)).all())
    paid = sum(1 for status in final.values() if status == OrderStatus.PAID.value)
    cancelled = sum(1 for status in final.values() if status == OrderStatus.CANCELLED.value)
    assert paid + cancelled == 20
    assert shop.stock(item_id) == 100 - paid


def test_expiry_run_on_several_hosts_at_once_cancels_each_order_once(shop: Shop):
    item_id = shop.item(stock=40)
    actor, _ = shop.customer("sleepy@example.com")
    for _ in range(30):
        shop.work(lambda s: s.orders.place_order(
            PlaceOrder(lines=(RequestedLine(item_id, 1),)), actor))
    with shop.engine.begin() as connection:
        connection.execute(text("UPDATE orders SET created_at = created_at - interval '2 hours'"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(
            lambda _: shop.work(lambda s: s.orders.expire_pending(Actor.system())), range(4)))

    assert sum(counts) == 30
    assert shop.stock(item_id) == 40
