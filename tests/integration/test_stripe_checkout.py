"""The whole app with the Stripe gateway, against localstripe and PostgreSQL: checkout,
declines, refunds, webhooks delivered concurrently, and the provider failing mid-order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import text
from webtest import TestApp

from minimart import make_app
from minimart.adapters.stripe_gateway import StripePaymentGateway
from minimart.domain.actors import Actor, Role
from minimart.domain.catalog import NewItem
from minimart.domain.payments import PaymentProviderUnavailable
from tests.conftest import FAST_ARGON2, TEST_JWT_SECRET, _empty_all_tables
from tests.stripe_events import event_payload, intent_object, signature_header

pytestmark = pytest.mark.postgres

API_KEY = "sk_test_minimart_checkout"
WEBHOOK_SECRET = "whsec_" + "k" * 40
WEBHOOK = "/api/v1/payments/stripe/webhook"


@pytest.fixture
def app(postgres_url: str, localstripe_url: str) -> Iterator[Any]:
    wsgi = make_app({
        "minimart.environment": "test", "minimart.database_url": postgres_url,
        "minimart.jwt_secret": TEST_JWT_SECRET, "minimart.payments": "stripe",
        "minimart.stripe.api_key": API_KEY, "minimart.stripe.api_base": localstripe_url,
        "minimart.stripe.webhook_secret": WEBHOOK_SECRET,
        "minimart.stripe.max_network_retries": "0", **FAST_ARGON2}, environ={})
    _empty_all_tables(wsgi.registry.container.engine)
    yield wsgi
    wsgi.registry.container.engine.dispose()


@pytest.fixture
def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url})


def _work(app: Any, job: Callable[[Any], Any]) -> Any:
    container = app.registry.container
    return container.in_transaction(job)


@pytest.fixture
def shopper(app: Any) -> dict[str, str]:
    account = _work(app, lambda s: s.accounts.create_account(
        "shopper@example.com", "a long password", "Shopper", Role.CUSTOMER, Actor.system()))
    return {"Authorization": f"Bearer {app.registry.token_codec.issue(account)}"}


@pytest.fixture
def item_id(app: Any) -> str:
    return _work(app, lambda s: s.catalog.create_item(
        NewItem(name="Teapot", price=2400, stock=5), Actor.system())).id


def stock(app: Any, item_id: str) -> int:
    return TestApp(app).get(f"/api/v1/items/{item_id}").json["stock"]


def intents_of(client: stripe.StripeClient, order_id: str) -> list[Any]:
    return [i for i in client.v1.payment_intents.list(params={"limit": 100}).data
            if i.metadata.to_dict().get("order_id") == order_id]


def order_body(item_id: str, payment_method: str | None = "pm_card_visa") -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"item_id": item_id, "quantity": 2}]}
    if payment_method:
        body["payment_method"] = payment_method
    return body


def deliver(app: Any, payload: bytes) -> Any:
    return TestApp(app).post(WEBHOOK, payload, expect_errors=True, headers={
        "Content-Type": "application/json",
        "Stripe-Signature": signature_header(payload, WEBHOOK_SECRET)})


def test_an_order_paid_with_a_good_card_is_paid_once_at_stripe(app, shopper, item_id,
                                                               stripe_client):
    order = TestApp(app).post_json("/api/v1/orders", order_body(item_id), headers=shopper,
                                   status=201).json
    assert order["status"] == "paid"
    assert order["payment"]["provider"] == "stripe"
    assert order["payment"]["captured"] == 4800
    [intent] = intents_of(stripe_client, order["id"])
    assert intent.id == order["payment"]["payment_intent_id"]
    assert intent.amount == 4800
    assert intent.customer  # the shopper's Stripe customer, created on first need
    assert stock(app, item_id) == 3


def test_a_declined_card_answers_402_and_returns_the_stock(app, shopper, item_id):
    response = TestApp(app).post_json(
        "/api/v1/orders", order_body(item_id, "pm_card_chargeCustomerFail"), headers=shopper,
        status=402)
    assert response.json["error"]["code"] == "payment_declined"
    assert stock(app, item_id) == 5
    [order] = TestApp(app).get("/api/v1/orders", headers=shopper).json["data"]
    assert order["status"] == "cancelled"


def test_cancelling_a_paid_order_refunds_it_at_stripe(app, shopper, item_id, stripe_client):
    client = TestApp(app)
    order = client.post_json("/api/v1/orders", order_body(item_id), headers=shopper).json
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", headers=shopper).json
    assert cancelled["status"] == "refunded"
    assert cancelled["payment"]["refunded"] == 4800
    refunds = stripe_client.v1.refunds.list(
        params={"payment_intent": order["payment"]["payment_intent_id"]}).data
    assert [r.amount for r in refunds] == [4800]
    assert stock(app, item_id) == 5


def test_the_ephemeral_key_names_the_shoppers_stripe_customer(app, shopper):
    client = TestApp(app)
    first = client.post_json("/api/v1/payments/ephemeral-keys", {"api_version": "2024-06-20"},
                             headers=shopper, status=201).json
    second = client.post_json("/api/v1/payments/ephemeral-keys",
                              {"api_version": "2024-06-20"}, headers=shopper).json
    assert first["associated_objects"][0]["id"] == second["associated_objects"][0]["id"]
    assert first["associated_objects"][0]["id"].startswith("cus_")


def test_fifty_concurrent_deliveries_of_one_refund_event_take_effect_once(app, shopper,
                                                                          item_id):
    order = TestApp(app).post_json("/api/v1/orders", order_body(item_id), headers=shopper).json
    payload = event_payload("charge.refunded", {
        "object": "charge", "payment_intent": order["payment"]["payment_intent_id"],
        "amount_refunded": 4800, "currency": "usd"}, event_id="evt_refund_once")

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(r.status_int for r in pool.map(lambda _: deliver(app, payload),
                                                          range(50)))

    assert statuses == {200: 50}
    assert stock(app, item_id) == 5  # returned once, not fifty times
    with app.registry.container.engine.connect() as connection:
        events = connection.execute(text(
            "SELECT count(*) FROM audit_events WHERE action = 'order.refunded'")).scalar_one()
        recorded = connection.execute(text("SELECT count(*) FROM payment_events")).scalar_one()
    assert (events, recorded) == (1, 1)


class FlakyStripe:
    """The real gateway, but one call fails as if the network dropped: before the request
    reaches Stripe, or after Stripe acted but before its answer arrived."""

    def __init__(self, real: StripePaymentGateway, step: str, after_stripe_acted: bool):
        self._real, self._step, self._after = real, step, after_stripe_acted
        self.provider = real.provider
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._real, name)
        if name != self._step or self.failed:
            return call

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.failed = True
            if self._after:
                call(*args, **kwargs)
            raise PaymentProviderUnavailable("simulated network failure")

        return failing


@pytest.mark.parametrize(("step", "after_stripe_acted"), [
    ("create_customer", False), ("create_customer", True),
    ("create_intent", False), ("create_intent", True),
])
def test_stripe_failing_at_any_step_of_placing_an_order_leaves_no_charge_without_an_order(
        app, shopper, item_id, stripe_client, monkeypatch, step, after_stripe_acted):
    container = app.registry.container
    flaky = FlakyStripe(container.adapters.payments, step, after_stripe_acted)
    monkeypatch.setattr(container, "adapters", replace(container.adapters, payments=flaky))
    client = TestApp(app)

    failed = client.post_json("/api/v1/orders", order_body(item_id), headers=shopper,
                              status=503)
    assert failed.json["error"]["code"] == "payment_provider_unavailable"
    # The failed request holds nothing: its order is cancelled with the stock back.
    [pending] = client.get("/api/v1/orders", headers=shopper).json["data"]
    assert pending["status"] == "cancelled"
    assert stock(app, item_id) == 5
    assert _work(app, lambda s: s.orders.expire_pending(Actor.system())) == 0

    # A charge Stripe made meanwhile is reported by its webhook (the intent carries the
    # order id) and returned, never kept without an order.
    for intent in intents_of(stripe_client, pending["id"]):
        payload = event_payload("payment_intent.succeeded", intent_object(
            intent.id, intent.amount, order_id=pending["id"]))
        assert deliver(app, payload).status_int == 200
    charged = [i for i in intents_of(stripe_client, pending["id"]) if i.status == "succeeded"]
    for intent in charged:
        refunds = stripe_client.v1.refunds.list(params={"payment_intent": intent.id}).data
        assert sum(r.amount for r in refunds) == intent.amount
    assert bool(charged) == (step == "create_intent" and after_stripe_acted)


# --- refunds at Stripe ---------------------------------------------------------------------

@pytest.fixture
def admin(app: Any) -> dict[str, str]:
    account = _work(app, lambda s: s.accounts.create_account(
        "admin@example.com", "a long password", "Admin", Role.ADMIN, Actor.system()))
    return {"Authorization": f"Bearer {app.registry.token_codec.issue(account)}"}


def stripe_refunds(client: stripe.StripeClient, order: dict[str, Any]) -> list[int]:
    return sorted(r.amount for r in client.v1.refunds.list(params={
        "payment_intent": order["payment"]["payment_intent_id"], "limit": 100}).data)


def test_twenty_racing_refunds_and_cancels_make_one_refund_at_stripe(
        app, shopper, admin, item_id, stripe_client):
    """localstripe, unlike Stripe, ignores idempotency keys: every call it gets pays out."""
    order = TestApp(app).post_json("/api/v1/orders", order_body(item_id),
                                   headers=shopper).json
    calls = [(f"/api/v1/orders/{order['id']}/refund", admin) if n % 2 else
             (f"/api/v1/orders/{order['id']}/cancel", shopper) for n in range(20)]

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = Counter(pool.map(lambda call: TestApp(app).post(
            call[0], headers=call[1], expect_errors=True).status_int, calls))

    assert set(statuses) <= {200, 409}, statuses
    assert stripe_refunds(stripe_client, order) == [4800]
    assert stock(app, item_id) == 5


def test_partial_refunds_are_separate_refunds_at_stripe(app, shopper, admin, item_id,
                                                        stripe_client):
    client = TestApp(app)
    order = client.post_json("/api/v1/orders", order_body(item_id), headers=shopper).json
    url = f"/api/v1/orders/{order['id']}/refund"

    assert client.post_json(url, {"amount": 1000}, headers=admin).json["status"] == "paid"
    assert client.post_json(url, {"amount": 1000}, headers=admin).json["status"] == "paid"
    assert stock(app, item_id) == 3
    assert client.post(url, headers=admin).json["status"] == "refunded"

    assert stripe_refunds(stripe_client, order) == [1000, 1000, 2800]
    assert stock(app, item_id) == 5


def test_a_refund_stripe_did_not_get_is_sent_by_reconcile_once(
        app, shopper, admin, item_id, stripe_client, monkeypatch):
    client = TestApp(app)
    order = client.post_json("/api/v1/orders", order_body(item_id), headers=shopper).json
    container = app.registry.container
    flaky = FlakyStripe(container.adapters.payments, "refund", after_stripe_acted=False)
    monkeypatch.setattr(container, "adapters", replace(container.adapters, payments=flaky))

    failed = client.post_json(f"/api/v1/orders/{order['id']}/refund", {"amount": 1800},
                              headers=admin, status=503)
    assert failed.json["error"]["code"] == "payment_provider_unavailable"
    assert stripe_refunds(stripe_client, order) == []

    report = _work(app, lambda s: s.payments.reconcile(Actor.system(), timedelta(minutes=5)))
    again = _work(app, lambda s: s.payments.reconcile(Actor.system(), timedelta(minutes=5)))

    assert (report.refunds_finished, again.refunds_finished) == (1, 0)
    assert stripe_refunds(stripe_client, order) == [1800]
    stored = client.get(f"/api/v1/orders/{order['id']}", headers=admin).json
    assert (stored["status"], stored["payment"]["refunded"]) == ("paid", 1800)
