"""Refunds over HTTP: `POST /api/v1/orders/{id}/refund` with an optional `{amount}`, and
`charge.refunded` webhooks for part of a payment, as API.md (Orders, Payments) describes them.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture's parameters), with
the memory payment gateway.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from minimart.adapters.sqlalchemy.tables import audit_events, refunds
from tests.functional.envelope import assert_error
from tests.functional.people import Who
from tests.stripe_events import event_payload, signature_header

ORDERS = "/api/v1/orders"
ITEMS = "/api/v1/items"
WEBHOOK = "/api/v1/payments/stripe/webhook"
WEBHOOK_SECRET = "whsec_" + "refunds" * 6


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """No tax or delivery fee: four teas at 450 capture 1800."""
    return {**app_settings, "minimart.stripe.webhook_secret": WEBHOOK_SECRET,
            "minimart.tax_rate_bps": "0", "minimart.delivery_fee": "0"}


@pytest.fixture
def tea(testapp: Any, staff: Who) -> dict[str, Any]:
    return testapp.post_json(ITEMS, {"name": "Tea", "price": 450, "stock": 10},
                             headers=staff.headers, status=201).json


@pytest.fixture
def paid(testapp: Any, shopper: Who, tea: dict[str, Any]) -> dict[str, Any]:
    order = testapp.post_json(ORDERS, {"lines": [{"item_id": tea["id"], "quantity": 4}],
                                       "payment_method": "pm_card_visa"},
                              headers=shopper.headers, status=201).json
    assert (order["status"], order["payment"]["captured"]) == ("paid", 1800)
    return order


def stock(testapp: Any, item_id: str) -> int:
    return testapp.get(f"{ITEMS}/{item_id}").json["stock"]


def refund(testapp: Any, who: Who, order: dict[str, Any], body: Any = None,
           status: int = 200) -> Any:
    url = f"{ORDERS}/{order['id']}/refund"
    if body is None:
        return testapp.post(url, headers=who.headers, status=status)
    return testapp.post_json(url, body, headers=who.headers, status=status)


def provider_refunds(app: Any) -> list[int]:
    """What the (memory) provider paid back, one entry per distinct refund."""
    return [money.amount for _, money in app.registry.container.adapters.payments.refunds.values()]


def refunded_event(order: dict[str, Any], amount_refunded: int) -> bytes:
    return event_payload("charge.refunded", {
        "id": "ch_" + order["id"], "object": "charge",
        "payment_intent": order["payment"]["payment_intent_id"],
        "amount_refunded": amount_refunded, "currency": "usd"})


def deliver(testapp: Any, payload: bytes) -> None:
    testapp.post(WEBHOOK, params=payload, content_type="application/json", status=200,
                 headers={"Stripe-Signature": signature_header(payload, WEBHOOK_SECRET)})


# --- POST /orders/{id}/refund {amount} -------------------------------------------------------

def test_an_admin_refunds_part_of_a_paid_order_which_stays_paid_with_its_stock(
        app, testapp, admin, tea, paid):
    order = refund(testapp, admin, paid, {"amount": 500}).json

    assert order["status"] == "paid"
    assert order["payment"]["captured"] == 1800
    assert order["payment"]["refunded"] == 500
    assert order["payment"]["status"] == "succeeded"
    assert stock(testapp, tea["id"]) == 6
    assert provider_refunds(app) == [500]


def test_parts_adding_up_to_the_capture_refund_the_order_and_return_its_stock(
        app, testapp, admin, tea, paid):
    refund(testapp, admin, paid, {"amount": 500})
    refund(testapp, admin, paid, {"amount": 1000})
    order = refund(testapp, admin, paid, {"amount": 300}).json

    assert (order["status"], order["payment"]["refunded"]) == ("refunded", 1800)
    assert order["payment"]["status"] == "refunded"
    assert stock(testapp, tea["id"]) == 10
    assert provider_refunds(app) == [500, 1000, 300]
    assert_error(refund(testapp, admin, paid, {"amount": 1}, status=409), 409, "invalid_state")
    assert provider_refunds(app) == [500, 1000, 300]


@pytest.mark.parametrize("body", [None, {}], ids=["no-body", "no-amount"])
def test_without_an_amount_all_that_is_left_is_refunded(app, testapp, admin, tea, paid, body):
    refund(testapp, admin, paid, {"amount": 500})

    order = refund(testapp, admin, paid, body).json

    assert (order["status"], order["payment"]["refunded"]) == ("refunded", 1800)
    assert provider_refunds(app) == [500, 1300]
    assert stock(testapp, tea["id"]) == 10


def test_each_refund_is_a_row_with_its_own_provider_key(app, testapp, admin, paid):
    refund(testapp, admin, paid, {"amount": 500})
    refund(testapp, admin, paid, {"amount": 500})

    with app.registry.container.engine.connect() as connection:
        rows = connection.execute(select(refunds.c.id, refunds.c.amount, refunds.c.state)
                                  .where(refunds.c.order_id == paid["id"])).all()
    assert sorted((amount, state) for _, amount, state in rows) == [(500, "sent"),
                                                                     (500, "sent")]
    keys = set(app.registry.container.adapters.payments.refunds)
    assert keys == {f"order-{paid['id']}-refund-{refund_id}" for refund_id, _, _ in rows}


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": 0}, "amount"), ({"amount": -1}, "amount"), ({"amount": "500"}, "amount"),
    ({"amount": 5.5}, "amount"), ({"amount": None}, "amount"), ({"amount": True}, "amount"),
    ({"amount": 500, "reason": "x"}, "reason"),
])
def test_an_unreadable_amount_answers_422_naming_the_field(app, testapp, admin, paid, body,
                                                           field):
    response = refund(testapp, admin, paid, body, status=422)

    assert_error(response, 422, "validation_failed")
    assert field in response.json["error"]["details"]
    assert provider_refunds(app) == []


def test_more_than_is_left_answers_422_with_what_is_left(app, testapp, admin, paid):
    refund(testapp, admin, paid, {"amount": 1500})

    response = refund(testapp, admin, paid, {"amount": 301}, status=422)

    assert_error(response, 422, "validation_failed")
    assert response.json["error"]["details"] == {"amount": ["must be 1 to 300"]}
    assert provider_refunds(app) == [1500]
    assert testapp.get(f"{ORDERS}/{paid['id']}",
                       headers=admin.headers).json["payment"]["refunded"] == 1500


def test_a_body_of_another_type_answers_415_and_bad_json_400(app, testapp, admin, paid):
    url = f"{ORDERS}/{paid['id']}/refund"
    testapp.post(url, "amount=5", headers=admin.headers,
                 content_type="application/x-www-form-urlencoded", status=415)
    testapp.post(url, "{", headers=admin.headers, content_type="application/json", status=400)
    assert provider_refunds(app) == []


def test_a_partial_refund_writes_one_audit_event(app, testapp, admin, paid):
    refund(testapp, admin, paid, {"amount": 500})

    with app.registry.container.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.actor_id, audit_events.c.changes)
            .where(audit_events.c.entity_id == paid["id"],
                   audit_events.c.action == "order.partially_refunded")).all()
    [(actor, changes)] = rows
    assert actor == admin.id
    assert changes["refunded"] == [0, 500]


# --- charge.refunded for part of the payment -------------------------------------------------

def test_a_partial_refund_at_stripe_is_recorded_and_leaves_status_and_stock(
        testapp, admin, tea, paid):
    deliver(testapp, refunded_event(paid, 700))

    order = testapp.get(f"{ORDERS}/{paid['id']}", headers=admin.headers).json
    assert (order["status"], order["payment"]["refunded"]) == ("paid", 700)
    assert stock(testapp, tea["id"]) == 6


def test_after_a_partial_refund_at_stripe_an_admin_refunds_the_rest(app, testapp, admin, tea,
                                                                     paid):
    deliver(testapp, refunded_event(paid, 700))

    order = refund(testapp, admin, paid).json

    assert (order["status"], order["payment"]["refunded"]) == ("refunded", 1800)
    assert provider_refunds(app) == [1100]
    assert stock(testapp, tea["id"]) == 10


def test_stripe_reporting_the_whole_capture_in_steps_refunds_the_order_once(testapp, admin,
                                                                            tea, paid):
    def seen() -> tuple[str, int, int]:
        order = testapp.get(f"{ORDERS}/{paid['id']}", headers=admin.headers).json
        return order["status"], order["payment"]["refunded"], stock(testapp, tea["id"])

    deliver(testapp, refunded_event(paid, 700))
    assert seen() == ("paid", 700, 6)
    deliver(testapp, refunded_event(paid, 1200))
    assert seen() == ("paid", 1200, 6)
    deliver(testapp, refunded_event(paid, 1800))
    assert seen() == ("refunded", 1800, 10)
    deliver(testapp, refunded_event(paid, 700))  # an older event, delivered late
    assert seen() == ("refunded", 1800, 10)
