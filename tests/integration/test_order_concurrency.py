"""Concurrency guarantees of ordering, proven on PostgreSQL with real threads and processes.

Each worker drives the whole WSGI app (pyramid_tm, pyramid_retry, the SQL adapters) or the
services with its own transaction, exactly as separate requests on separate hosts would.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event, select, text
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import items, order_lines, orders
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.orders import OrderStatus, PlaceOrder, RequestedLine
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET

pytestmark = pytest.mark.postgres


def settings_for(url: str, **more: str) -> dict[str, Any]:
    """The storms place many unpaid orders from one account: the per-account limit is lifted
    unless a test sets it."""
    return {"minimart.environment": "test", "minimart.database_url": url,
            "minimart.jwt_secret": TEST_JWT_SECRET,
            "minimart.max_pending_orders_per_account": "1000", **FAST_ARGON2, **more}


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
        return container.in_transaction(job)

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

    def held(self, item_id: str) -> int:
        """Units of the item held by live orders (pending payment or paid)."""
        statement = (select(order_lines.c.quantity)
                     .join(orders, orders.c.id == order_lines.c.order_id)
                     .where(order_lines.c.item_id == item_id,
                            orders.c.status.in_([OrderStatus.PENDING_PAYMENT.value,
                                                 OrderStatus.PAID.value])))
        with self.engine.connect() as connection:
            return sum(connection.execute(statement).scalars())

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
    outcomes = Counter(final.values())
    # cancel after pay refunds the order (its stock returns): every order ends in one of three
    assert outcomes.keys() <= {OrderStatus.PAID.value, OrderStatus.CANCELLED.value,
                               OrderStatus.REFUNDED.value}, outcomes
    assert shop.stock(item_id) == 100 - outcomes[OrderStatus.PAID.value]


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


def test_a_cancellation_between_a_failed_reservation_and_a_reread_never_sells_phantom_stock(
        shop: Shop):
    """The oversell found by attack: the conditional decrement finds the item sold out, a
    cancellation returns a unit and commits, and only then does the reservation look again.
    The order must take that unit for real or be refused, never be placed with nothing taken.
    """
    item_id = shop.item(stock=1)
    first, _ = shop.customer("first@example.com")
    second, _ = shop.customer("second@example.com")
    held = shop.work(lambda s: s.orders.place_order(
        PlaceOrder(lines=(RequestedLine(item_id, 1),)), first).order)
    fired: list[bool] = []

    def cancel_after_a_failed_decrement(connection: Any, cursor: Any, statement: str,
                                        *_: Any) -> None:
        if statement.lstrip().startswith("UPDATE items") and cursor.rowcount == 0 and not fired:
            fired.append(True)  # once: the cancel below runs UPDATE items too
            shop.work(lambda s: s.orders.cancel(held.id, first))

    event.listen(shop.engine, "after_cursor_execute", cancel_after_a_failed_decrement)
    try:
        outcome = shop.work(lambda s: s.orders.place_order(
            PlaceOrder(lines=(RequestedLine(item_id, 1),)), second).order)
    finally:
        event.remove(shop.engine, "after_cursor_execute", cancel_after_a_failed_decrement)

    assert fired, "the race was not staged"
    assert outcome.status is OrderStatus.PENDING_PAYMENT
    assert (shop.stock(item_id), shop.held(item_id)) == (0, 1)


# --- the mixed storm: placing, declines, cancels and expiry across processes ---------------
STORM_RUNS = int(os.environ.get("MINIMART_STORM_RUNS", "2"))
STOCKED = {"A": 20, "B": 12}


def _storm_in_a_process(url: str, headers: dict[str, str], item_ids: list[str], seed: int,
                        operations: int) -> Counter[str]:
    """One process of the storm: threads that place orders (paid, declined or left unpaid),
    cancel their own orders and expire old ones, as shoppers and the cron job would."""
    app = make_app(settings_for(url), environ={})
    container = app.registry.container
    placed: list[str] = []
    seen: Counter[str] = Counter()

    def place(rng: random.Random) -> str:
        lines = [{"item_id": item_id, "quantity": rng.randint(1, 3)}
                 for item_id in rng.sample(item_ids, rng.randint(1, len(item_ids)))]
        method = rng.choice(["pm_card_visa", "pm_card_chargeDeclined", None, None])
        body: dict[str, Any] = {"lines": lines}
        if method:
            body["payment_method"] = method
        status, payload = _post_order(app, headers, body)
        if status == 201:
            placed.append(payload["id"])
        return f"place {status}"

    def cancel(rng: random.Random) -> str:
        if not placed:
            return "cancel none"
        response = TestApp(app).post(f"/api/v1/orders/{rng.choice(placed)}/cancel",
                                     headers=headers, expect_errors=True)
        return f"cancel {response.status_int}"

    def expire(rng: random.Random) -> str:
        if placed:  # age one order past the TTL, as time would
            with container.engine.begin() as connection:
                connection.execute(text("UPDATE orders SET created_at = created_at "
                                        "- interval '2 hours' WHERE id = :id"),
                                   {"id": rng.choice(placed)})
        container.in_transaction(lambda services: services.orders.expire_pending(Actor.system()))
        return "expire ok"

    def operation(n: int) -> str:
        rng = random.Random(seed * 100_003 + n)
        return rng.choices([place, cancel, expire], weights=[6, 3, 1])[0](rng)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            seen.update(pool.map(operation, range(operations)))
        return seen
    finally:
        container.engine.dispose()


@pytest.mark.parametrize("run", range(STORM_RUNS))
def test_a_storm_of_orders_declines_cancels_and_expiry_never_oversells(
        shop: Shop, postgres_url: str, run: int):
    """stock + units held by live orders == units stocked, for every item, after every storm
    (MINIMART_STORM_RUNS=50 loops it)."""
    item_ids = {name: shop.item(stock=stock, name=name) for name, stock in STOCKED.items()}
    headers = [shop.customer(f"storm{n}@example.com")[1] for n in range(3)]
    context = multiprocessing.get_context("spawn")

    with context.Pool(3) as pool:
        seen = sum(pool.starmap(_storm_in_a_process, [
            (postgres_url, headers[n], list(item_ids.values()), run * 10 + n, 90)
            for n in range(3)]), Counter())

    assert not [outcome for outcome in seen if outcome.endswith(("500", "503"))], seen
    assert seen["place 201"] > 0 and seen["place 409"] > 0, seen  # it did sell out
    for name, item_id in item_ids.items():
        stock, held = shop.stock(item_id), shop.held(item_id)
        assert stock >= 0
        assert stock + held == STOCKED[name], (name, stock, held, seen)


def test_racing_orders_of_one_account_never_pass_its_unpaid_limit(postgres_url: str):
    from tests.conftest import _empty_all_tables

    app = make_app(settings_for(postgres_url, **{
        "minimart.max_pending_orders_per_account": "3"}), environ={})
    _empty_all_tables(app.registry.container.engine)
    shop = Shop(app)
    try:
        item_id = shop.item(stock=100)
        _, headers = shop.customer("hoarder@example.com")
        body = {"lines": [{"item_id": item_id, "quantity": 1}]}
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(lambda _: _post_order(app, headers, body), range(12)))

        assert Counter(status for status, _ in results) == {201: 3, 409: 9}
        assert {payload["error"]["code"] for status, payload in results if status == 409} == {
            "too_many_pending_orders"}
        assert shop.stock(item_id) == 97
    finally:
        app.registry.container.engine.dispose()
