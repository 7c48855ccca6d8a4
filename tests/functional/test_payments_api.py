"""/api/v1/payments over HTTP: the Stripe webhook and ephemeral keys, as API.md (Payments)
describes them, with the memory gateway.

Webhook payloads are signed here the way Stripe signs them: `Stripe-Signature:
t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Every test runs on SQLite and on
PostgreSQL (the `database_url` fixture's parameters).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from minimart.adapters.sqlalchemy.tables import audit_events
from tests.functional.envelope import assert_error
from tests.stripe_events import event_payload, intent_object, signature_header

WEBHOOK = "/api/v1/payments/stripe/webhook"
EPHEMERAL_KEYS = "/api/v1/payments/ephemeral-keys"
ORDERS = "/api/v1/orders"
ITEMS = "/api/v1/items"
WEBHOOK_SECRET = "whsec_" + "functional" * 4  # 46 characters
API_VERSION = "2024-06-20"


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """The shared test settings, with a webhook secret the tests sign with."""
    return {**app_settings, "minimart.stripe.webhook_secret": WEBHOOK_SECRET}


# --- helpers -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Who:
    id: str
    headers: dict[str, str]


@pytest.fixture
def shopper(make_account: Any) -> Who:
    account = make_account("customer")
    return Who(account["id"], {"Authorization": account["Authorization"]})


@pytest.fixture
def staff(make_account: Any) -> Who:
    account = make_account("staff")
    return Who(account["id"], {"Authorization": account["Authorization"]})


@pytest.fixture
def tea(testapp: Any, staff: Who) -> dict[str, Any]:
    return testapp.post_json(ITEMS, {"name": "Tea", "price": 450, "stock": 10},
                             headers=staff.headers, status=201).json


def stock(testapp: Any, item_id: str) -> int:
    return testapp.get(f"{ITEMS}/{item_id}").json["stock"]


def place(testapp: Any, who: Who, item_id: str, quantity: int = 2,
          payment_method: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"lines": [{"item_id": item_id, "quantity": quantity}]}
    if payment_method is not None:
        body["payment_method"] = payment_method
    return testapp.post_json(ORDERS, body, headers=who.headers, status=201).json


def get_order(testapp: Any, who: Who, order_id: str) -> dict[str, Any]:
    return testapp.get(f"{ORDERS}/{order_id}", headers=who.headers).json


def succeeded(order: dict[str, Any], amount: int | None = None, currency: str = "usd",
              event_id: str | None = None) -> bytes:
    obj = intent_object(order["payment"]["payment_intent_id"],
                        order["total"] if amount is None else amount, order["id"], currency)
    return event_payload("payment_intent.succeeded", obj, event_id)


def failed(order: dict[str, Any], event_type: str = "payment_intent.payment_failed") -> bytes:
    obj = intent_object(order["payment"]["payment_intent_id"], order["total"], order["id"],
                        status="requires_payment_method")
    return event_payload(event_type, obj)


def refunded(order: dict[str, Any]) -> bytes:
    return event_payload("charge.refunded", {
        "id": "ch_" + order["id"], "object": "charge",
        "payment_intent": order["payment"]["payment_intent_id"],
        "amount_refunded": order["total"], "currency": "usd"})


def deliver(testapp: Any, payload: bytes, signature: str | None = "sign",
            status: int = 200) -> Any:
    """POST the raw bytes as Stripe does; signature "sign" signs them with the secret."""
    headers = {}
    if signature == "sign":
        signature = signature_header(payload, WEBHOOK_SECRET)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return testapp.post(WEBHOOK, params=payload, headers=headers,
                        content_type="application/json", status=status)




# --- the signature -------------------------------------------------------------------------

def test_a_correctly_signed_event_answers_200_and_takes_effect(testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"])
    payload = succeeded(order, event_id="evt_signed")

    response = deliver(testapp, payload)

    assert response.json == {"received": True, "id": "evt_signed"}
    assert get_order(testapp, shopper, order["id"])["status"] == "paid"


def _wrong_secret(payload: bytes) -> tuple[bytes, str | None]:
    return payload, signature_header(payload, "whsec_" + "wrong" * 8)


def _tampered_body(payload: bytes) -> tuple[bytes, str | None]:
    signature = signature_header(payload, WEBHOOK_SECRET)
    return payload.replace(b'"amount": ', b'"amount": 1'), signature


def _missing_header(payload: bytes) -> tuple[bytes, str | None]:
    return payload, None


def _stale_timestamp(payload: bytes) -> tuple[bytes, str | None]:
    return payload, signature_header(payload, WEBHOOK_SECRET, int(time.time()) - 301)


def _unreadable_header(payload: bytes) -> tuple[bytes, str | None]:
    return payload, "not a signature"


def _signature_of_another_scheme(payload: bytes) -> tuple[bytes, str | None]:
    timestamp, v1 = signature_header(payload, WEBHOOK_SECRET).split(",")
    return payload, f"{timestamp},v0={v1.removeprefix('v1=')}"


@pytest.mark.parametrize("forge", [_wrong_secret, _tampered_body, _missing_header,
                                   _stale_timestamp, _unreadable_header,
                                   _signature_of_another_scheme],
                         ids=["wrong-secret", "tampered-body", "missing-header",
                              "stale-timestamp", "unreadable-header", "v0-scheme"])
def test_an_event_whose_signature_does_not_verify_answers_400_and_changes_nothing(
        testapp, shopper, tea, forge):
    order = place(testapp, shopper, tea["id"])
    before = get_order(testapp, shopper, order["id"])
    payload = succeeded(order, event_id="evt_forged")
    body, signature = forge(payload)

    response = deliver(testapp, body, signature, status=400)

    assert_error(response, 400, "bad_request")
    assert get_order(testapp, shopper, order["id"]) == before
    # the event id was not used up: Stripe's own delivery of it still takes effect
    deliver(testapp, payload)
    assert get_order(testapp, shopper, order["id"])["status"] == "paid"


def test_a_signature_within_the_tolerance_is_accepted(testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"])
    payload = succeeded(order)

    deliver(testapp, payload, signature_header(payload, WEBHOOK_SECRET,
                                               int(time.time()) - 240))

    assert get_order(testapp, shopper, order["id"])["status"] == "paid"


def test_a_signed_body_that_is_not_json_answers_400(testapp):
    payload = b"this is not json"

    response = deliver(testapp, payload, status=400)

    assert_error(response, 400, "bad_request")


# --- payment_intent.succeeded --------------------------------------------------------------

def test_a_succeeded_event_marks_a_pending_order_paid_for_its_total(app, testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"], 2)
    assert order["status"] == "pending_payment"
    assert order["payment"]["payment_intent_id"]

    deliver(testapp, succeeded(order, event_id="evt_paid"))

    paid = get_order(testapp, shopper, order["id"])
    assert paid["status"] == "paid"
    assert paid["payment"]["status"] == "succeeded"
    assert paid["payment"]["captured"] == order["total"] == 900
    assert stock(testapp, tea["id"]) == 8
    with app.registry.container.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.action, audit_events.c.request_id)
            .where(audit_events.c.entity_id == order["id"])).all()
    assert ("order.paid", "memory:evt_paid") in [tuple(row) for row in rows]


def test_the_same_event_twice_then_a_failure_leaves_the_order_paid(testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"], 2)
    payload = succeeded(order)

    deliver(testapp, payload)
    deliver(testapp, payload)
    deliver(testapp, failed(order))

    paid = get_order(testapp, shopper, order["id"])
    assert paid["status"] == "paid"
    assert paid["payment"]["captured"] == order["total"]
    assert stock(testapp, tea["id"]) == 8


@pytest.mark.parametrize(("delta", "currency"), [(-1, "usd"), (100, "usd"), (0, "eur")],
                         ids=["less", "more", "other-currency"])
def test_a_succeeded_event_not_matching_the_order_leaves_it_pending(
        testapp, shopper, tea, delta, currency):
    order = place(testapp, shopper, tea["id"], 2)

    deliver(testapp, succeeded(order, amount=order["total"] + delta, currency=currency))

    stored = get_order(testapp, shopper, order["id"])
    assert stored["status"] == "pending_payment"
    assert stored["payment"]["captured"] == 0


def test_an_event_for_an_intent_nobody_knows_answers_200(testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"], 2)
    before = get_order(testapp, shopper, order["id"])
    payload = event_payload("payment_intent.succeeded",
                            intent_object("pi_nobody_knows", order["total"]))

    deliver(testapp, payload)

    assert get_order(testapp, shopper, order["id"]) == before


# --- failures and refunds ------------------------------------------------------------------

@pytest.mark.parametrize("event_type", ["payment_intent.payment_failed",
                                        "payment_intent.canceled"])
def test_a_failed_payment_cancels_a_pending_order_and_restores_its_stock(
        testapp, shopper, tea, event_type):
    order = place(testapp, shopper, tea["id"], 3)
    assert stock(testapp, tea["id"]) == 7

    deliver(testapp, failed(order, event_type))

    assert get_order(testapp, shopper, order["id"])["status"] == "cancelled"
    assert stock(testapp, tea["id"]) == 10
    deliver(testapp, failed(order, event_type))
    assert stock(testapp, tea["id"]) == 10


def test_a_refund_at_stripe_marks_a_paid_order_refunded_and_restores_its_stock(
        testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"], 3, payment_method="pm_card_visa")
    assert order["status"] == "paid"
    assert stock(testapp, tea["id"]) == 7

    deliver(testapp, refunded(order))

    stored = get_order(testapp, shopper, order["id"])
    assert stored["status"] == "refunded"
    assert stored["payment"]["refunded"] == order["total"]
    assert stored["payment"]["status"] == "refunded"
    assert stock(testapp, tea["id"]) == 10


@pytest.mark.parametrize("event_type", ["customer.created", "payment_intent.created",
                                        "charge.succeeded", "invoice.paid"])
def test_events_minimart_does_not_act_on_answer_200(testapp, shopper, tea, event_type):
    order = place(testapp, shopper, tea["id"], 2)
    before = get_order(testapp, shopper, order["id"])
    obj = intent_object(order["payment"]["payment_intent_id"], order["total"], order["id"])

    response = deliver(testapp, event_payload(event_type, obj, "evt_ignored"))

    assert response.json == {"received": True, "id": "evt_ignored"}
    assert get_order(testapp, shopper, order["id"]) == before


def test_the_webhook_needs_no_bearer_token_and_ignores_one(testapp, shopper, tea):
    order = place(testapp, shopper, tea["id"], 2)
    payload = succeeded(order)
    headers = {"Stripe-Signature": signature_header(payload, WEBHOOK_SECRET),
               "Authorization": "Bearer not-a-token"}

    testapp.post(WEBHOOK, params=payload, headers=headers, content_type="application/json",
                 status=200)

    assert get_order(testapp, shopper, order["id"])["status"] == "paid"


# --- ephemeral keys ------------------------------------------------------------------------

def test_an_ephemeral_key_answers_201_naming_the_callers_customer(testapp, shopper):
    response = testapp.post_json(EPHEMERAL_KEYS, {"api_version": API_VERSION},
                                 headers=shopper.headers, status=201)

    key = response.json
    assert key["object"] == "ephemeral_key"
    assert key["secret"]
    assert key["api_version"] == API_VERSION
    [associated] = key["associated_objects"]
    assert associated["type"] == "customer"
    assert associated["id"].startswith("cus_")
    assert "no-store" in response.headers["Cache-Control"]


def test_a_second_ephemeral_key_names_the_same_customer(testapp, shopper, make_account):
    def customer_of(who: Who) -> str:
        key = testapp.post_json(EPHEMERAL_KEYS, {"api_version": API_VERSION},
                                headers=who.headers, status=201).json
        return key["associated_objects"][0]["id"]

    first, second = customer_of(shopper), customer_of(shopper)
    other = make_account("customer")
    theirs = customer_of(Who(other["id"], {"Authorization": other["Authorization"]}))

    assert first == second
    assert theirs != first


def test_an_order_and_an_ephemeral_key_share_the_customer(testapp, shopper, tea):
    place(testapp, shopper, tea["id"], 1)
    first = testapp.post_json(EPHEMERAL_KEYS, {"api_version": API_VERSION},
                              headers=shopper.headers, status=201).json
    place(testapp, shopper, tea["id"], 1)
    second = testapp.post_json(EPHEMERAL_KEYS, {"api_version": API_VERSION},
                               headers=shopper.headers, status=201).json

    assert first["associated_objects"] == second["associated_objects"]


def test_an_anonymous_caller_gets_no_ephemeral_key(testapp):
    response = testapp.post_json(EPHEMERAL_KEYS, {"api_version": API_VERSION}, status=401)

    assert_error(response, 401, "unauthenticated")


@pytest.mark.parametrize("body", [
    {"api_version": "june"}, {"api_version": "2024-6-20"}, {"api_version": ""},
    {"api_version": 20240620}, {},
    {"api_version": API_VERSION, "customer": "cus_someone_else"},
], ids=["word", "short-month", "empty", "number", "missing", "unknown-field"])
def test_an_unreadable_ephemeral_key_request_answers_422(testapp, shopper, body):
    response = testapp.post_json(EPHEMERAL_KEYS, body, headers=shopper.headers, status=422)

    assert_error(response, 422, "validation_failed")


def test_an_ephemeral_key_request_that_is_not_json_answers_4xx(testapp, shopper):
    response = testapp.post(EPHEMERAL_KEYS, params=json.dumps({"api_version": API_VERSION}),
                            headers=shopper.headers, content_type="text/plain", status=415)

    assert_error(response, 415, "unsupported_media_type")
