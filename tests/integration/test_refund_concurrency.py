"""Refunds racing on PostgreSQL through the whole app (pyramid_tm, pyramid_retry, the SQL
adapters): however many refund and cancel requests arrive at once, each refund asks the
provider exactly once and the refunds never add up past the capture.

The provider is the memory gateway with a recorder in front that counts every refund call
and takes a little time over it, as a call over the network does.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from webtest import TestApp

from minimart import make_app
from minimart.adapters.payment_simulator import MemoryPaymentGateway
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.money import Money
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET, _empty_all_tables

pytestmark = pytest.mark.postgres

RACERS = 20


class RecordingGateway(MemoryPaymentGateway):
    """Every refund call, as the provider sees it: (intent, amount, idempotency key)."""

    def __init__(self) -> None:
        super().__init__()
        self.refund_calls: list[tuple[str, int, str]] = []
        self._calls_lock = threading.Lock()

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None:
        with self._calls_lock:
            self.refund_calls.append((payment_intent_id, amount.amount, idempotency_key))
        time.sleep(0.05)  # the network: the window in which the others arrive
        super().refund(payment_intent_id, amount, idempotency_key)


class Shop:
    def __init__(self, app: Any, gateway: RecordingGateway) -> None:
        self.app, self.gateway = app, gateway

    def work(self, job: Any) -> Any:
        return self.app.registry.container.in_transaction(job)

    def account(self, role: Role, email: str) -> dict[str, str]:
        account = self.work(lambda s: s.accounts.create_account(
            email, "a long password", role.value, role, Actor.system()))
        return {"Authorization": f"Bearer {self.app.registry.token_codec.issue(account)}"}

    def stock(self, item_id: str) -> int:
        return TestApp(self.app).get(f"/api/v1/items/{item_id}").json["stock"]


@pytest.fixture
def shop(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shop]:
    app = make_app({"minimart.environment": "test", "minimart.database_url": postgres_url,
                    "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.tax_rate_bps": "0",
                    "minimart.delivery_fee": "0", **FAST_ARGON2}, environ={})
    container = app.registry.container
    _empty_all_tables(container.engine)
    gateway = RecordingGateway()
    monkeypatch.setattr(container, "adapters", replace(container.adapters, payments=gateway))
    yield Shop(app, gateway)
    container.engine.dispose()


@pytest.fixture
def paid(shop: Shop) -> dict[str, Any]:
    """An order of 3 x 700 = 2100, paid; 7 of 10 left in stock."""
    item = shop.work(lambda s: s.catalog.create_item(NewItem(name="Teapot", price=700,
                                                             stock=10), Actor.system()))
    shopper = shop.account(Role.CUSTOMER, "racer@example.com")
    order = TestApp(shop.app).post_json("/api/v1/orders", {
        "lines": [{"item_id": item.id, "quantity": 3}], "payment_method": "pm_card_visa"},
        headers=shopper, status=201).json
    assert (order["status"], order["total"], shop.stock(item.id)) == ("paid", 2100, 7)
    return {**order, "item_id": item.id, "shopper": shopper}


def race(calls: list[Any]) -> list[Any]:
    """Start every call at once, each a request of its own; their responses."""
    start = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        start.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def post(shop: Shop, url: str, headers: dict[str, str], body: Any = None) -> Any:
    client = TestApp(shop.app)
    if body is None:
        return client.post(url, headers=headers, expect_errors=True)
    return client.post_json(url, body, headers=headers, expect_errors=True)


def test_twenty_racing_refunds_and_cancels_of_a_paid_order_refund_it_once(shop, paid):
    admin = shop.account(Role.ADMIN, "admin@example.com")
    refund_url = f"/api/v1/orders/{paid['id']}/refund"
    cancel_url = f"/api/v1/orders/{paid['id']}/cancel"
    calls = [(lambda: post(shop, refund_url, admin)) if n % 2 else
             (lambda: post(shop, cancel_url, paid["shopper"])) for n in range(RACERS)]

    responses = race(calls)

    statuses = Counter(r.status_int for r in responses)
    assert set(statuses) <= {200, 409}, statuses
    assert all(r.json["error"]["code"] == "invalid_state"
               for r in responses if r.status_int == 409)
    assert [amount for _, amount, _ in shop.gateway.refund_calls] == [2100]
    assert [money.amount for _, money in shop.gateway.refunds.values()] == [2100]
    order = TestApp(shop.app).get(f"/api/v1/orders/{paid['id']}", headers=admin).json
    assert (order["status"], order["payment"]["refunded"]) == ("refunded", 2100)
    assert shop.stock(paid["item_id"]) == 10  # returned once


def test_twenty_racing_partial_refunds_never_add_up_past_the_capture(shop, paid):
    admin = shop.account(Role.ADMIN, "admin@example.com")
    url = f"/api/v1/orders/{paid['id']}/refund"

    responses = race([lambda: post(shop, url, admin, {"amount": 500})] * RACERS)

    statuses = Counter(r.status_int for r in responses)
    assert statuses == {200: 4, 422: RACERS - 4}, statuses
    calls = shop.gateway.refund_calls
    assert [amount for _, amount, _ in calls] == [500] * 4
    assert len({key for _, _, key in calls}) == 4  # four refunds, four keys
    order = TestApp(shop.app).get(f"/api/v1/orders/{paid['id']}", headers=admin).json
    assert (order["status"], order["payment"]["refunded"]) == ("paid", 2000)
    assert shop.stock(paid["item_id"]) == 7
