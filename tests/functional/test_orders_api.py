"""Orders over HTTP: /api/v1/orders as API.md (Conventions, Orders) describes it.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture's parameters).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from minimart.adapters.sqlalchemy.tables import audit_events, orders
from minimart.domain.actors import Actor
from tests.functional.envelope import assert_error
from tests.functional.people import Who

ORDERS = "/api/v1/orders"
ITEMS = "/api/v1/items"
TAX_RATE_BPS = 825
DELIVERY_FEE = 399

ORDER_FIELDS = {"id", "status", "lines", "subtotal", "tax", "delivery_fee", "tip", "total",
                "currency", "fulfilment", "note", "customer_id", "created_at", "updated_at",
                "payment"}
LINE_FIELDS = {"item_id", "sku", "name", "unit_price", "quantity", "line_total"}
PAYMENT_FIELDS = {"provider", "payment_intent_id", "client_secret", "status", "captured",
                  "refunded"}


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """The shared test settings, with a tax rate and a delivery fee to compute with."""
    return {**app_settings, "minimart.tax_rate_bps": str(TAX_RATE_BPS),
            "minimart.delivery_fee": str(DELIVERY_FEE)}


# --- helpers -------------------------------------------------------------------------------



def make_item(testapp: Any, staff: Who, **fields: Any) -> dict[str, Any]:
    body = {"name": "Tea", "price": 250, "stock": 10, **fields}
    return testapp.post_json(ITEMS, body, headers=staff.headers, status=201).json


def stock(testapp: Any, item_id: str, staff: Who) -> int:
    return testapp.get(f"{ITEMS}/{item_id}", headers=staff.headers).json["stock"]


def order_body(*lines: tuple[str, int], **fields: Any) -> dict[str, Any]:
    return {"lines": [{"item_id": i, "quantity": q} for i, q in lines], **fields}


def post_order(testapp: Any, who: Who, body: dict[str, Any], status: int = 201,
               key: str | None = None) -> Any:
    headers = dict(who.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return testapp.post_json(ORDERS, body, headers=headers, status=status)


def place(testapp: Any, who: Who, *lines: tuple[str, int], **fields: Any) -> dict[str, Any]:
    return post_order(testapp, who, order_body(*lines, **fields)).json


def order_rows(app: Any) -> int:
    with app.registry.container.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(orders)).scalar_one()


def forged_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), text
    return moment


@pytest.fixture
def tea(testapp: Any, staff: Who) -> dict[str, Any]:
    return make_item(testapp, staff, name="Green tea", price=699, stock=10, sku="TEA-GREEN")


@pytest.fixture
def jam(testapp: Any, staff: Who) -> dict[str, Any]:
    return make_item(testapp, staff, name="Jam", price=300, stock=5)


# --- POST /orders ----------------------------------------------------------------------------

def test_placing_an_order_answers_201_with_the_whole_order(testapp, shopper, tea, jam):
    response = post_order(testapp, shopper, order_body(
        (tea["id"], 2), (jam["id"], 1), tip=100, note="ring twice",
        fulfilment={"type": "delivery", "address": "1 High Street"}))
    order = response.json
    assert set(order) == ORDER_FIELDS
    assert response.headers["Location"].endswith(f"{ORDERS}/{order['id']}")
    assert order["status"] == "pending_payment"
    assert order["customer_id"] == shopper.id
    assert order["currency"] == "usd"
    assert order["lines"] == [
        {"item_id": tea["id"], "sku": "TEA-GREEN", "name": "Green tea", "unit_price": 699,
         "quantity": 2, "line_total": 1398},
        {"item_id": jam["id"], "sku": None, "name": "Jam", "unit_price": 300,
         "quantity": 1, "line_total": 300},
    ]
    assert all(set(line) == LINE_FIELDS for line in order["lines"])
    subtotal = 1698
    tax = 140  # 1698 * 8.25% = 140.085, half-up to 140
    assert (order["subtotal"], order["tax"], order["delivery_fee"], order["tip"]) == (
        subtotal, tax, DELIVERY_FEE, 100)
    assert order["total"] == subtotal + tax + DELIVERY_FEE + 100
    assert order["fulfilment"] == {"type": "delivery", "address": "1 High Street"}
    assert order["note"] == "ring twice"
    assert utc(order["created_at"]) <= utc(order["updated_at"])
    payment = order["payment"]
    assert set(payment) == PAYMENT_FIELDS
    assert payment["status"] == "requires_payment_method"
    assert payment["client_secret"]
    assert payment["payment_intent_id"]
    assert (payment["captured"], payment["refunded"]) == (0, 0)


def test_an_order_defaults_to_pickup_with_no_delivery_fee_and_no_tip(testapp, shopper, jam):
    order = place(testapp, shopper, (jam["id"], 1))
    assert order["fulfilment"] == {"type": "pickup"}
    assert (order["subtotal"], order["tax"], order["delivery_fee"], order["tip"]) == (
        300, 25, 0, 0)  # 300 * 8.25% = 24.75, half-up to 25
    assert order["total"] == 325
    assert order["note"] is None


def test_a_successful_card_answers_201_paid(testapp, shopper, jam):
    order = place(testapp, shopper, (jam["id"], 2), payment_method="pm_card_visa")
    assert order["status"] == "paid"
    assert order["payment"]["status"] == "succeeded"
    assert order["payment"]["captured"] == order["total"]


def test_placing_an_order_takes_its_lines_from_stock(testapp, shopper, staff, tea, jam):
    place(testapp, shopper, (tea["id"], 3), (jam["id"], 5))
    assert stock(testapp, tea["id"], staff) == 7
    assert stock(testapp, jam["id"], staff) == 0


def test_the_same_idempotency_key_and_body_answer_200_with_the_same_order(
        app, testapp, shopper, staff, tea):
    body = order_body((tea["id"], 2), payment_method="pm_card_visa")
    first = post_order(testapp, shopper, body, key="order-key-1", status=201).json
    again = post_order(testapp, shopper, body, key="order-key-1", status=200).json
    assert again["id"] == first["id"]
    assert again["status"] == "paid"
    assert stock(testapp, tea["id"], staff) == 8
    assert order_rows(app) == 1
    assert len(app.registry.container.adapters.payments.intents) == 1


def test_the_same_key_with_another_body_answers_422_idempotency_key_reused(
        app, testapp, shopper, staff, tea):
    post_order(testapp, shopper, order_body((tea["id"], 2)), key="order-key-1")
    response = post_order(testapp, shopper, order_body((tea["id"], 3)), key="order-key-1",
                          status=422)
    assert_error(response, 422, "idempotency_key_reused")
    assert stock(testapp, tea["id"], staff) == 8
    assert order_rows(app) == 1


def test_the_same_key_from_another_account_places_another_order(
        testapp, shopper, other_shopper, staff, tea):
    body = order_body((tea["id"], 1))
    mine = post_order(testapp, shopper, body, key="shared", status=201).json
    theirs = post_order(testapp, other_shopper, body, key="shared", status=201).json
    assert theirs["id"] != mine["id"]
    assert theirs["customer_id"] == other_shopper.id
    # each account's replay still finds its own order
    assert post_order(testapp, shopper, body, key="shared", status=200).json["id"] == mine["id"]
    assert post_order(testapp, other_shopper, body, key="shared",
                      status=200).json["id"] == theirs["id"]
    assert stock(testapp, tea["id"], staff) == 8


def test_a_key_refused_for_lack_of_stock_can_place_the_order_once_restocked(
        testapp, shopper, staff, jam):
    body = order_body((jam["id"], 7))
    post_order(testapp, shopper, body, key="retry-me", status=409)
    testapp.post_json(f"{ITEMS}/{jam['id']}/stock-adjustments",
                      {"delta": 5, "reason": "delivery"}, headers=staff.headers, status=201)
    order = post_order(testapp, shopper, body, key="retry-me", status=201).json
    assert order["lines"][0]["quantity"] == 7
    assert stock(testapp, jam["id"], staff) == 3


def test_insufficient_stock_answers_409_listing_every_short_line(
        app, testapp, shopper, staff, tea, jam):
    few = make_item(testapp, staff, name="Few", stock=1)
    response = post_order(testapp, shopper, order_body(
        (tea["id"], 2), (jam["id"], 6), (few["id"], 3)), status=409)
    error = assert_error(response, 409, "insufficient_stock")
    assert set(error["details"]) == {"lines"}
    short = sorted(error["details"]["lines"], key=lambda line: line["item_id"])
    assert short == sorted([
        {"item_id": jam["id"], "requested": 6, "available": 5},
        {"item_id": few["id"], "requested": 3, "available": 1},
    ], key=lambda line: line["item_id"])
    assert stock(testapp, tea["id"], staff) == 10  # nothing taken from the line that had enough
    assert stock(testapp, jam["id"], staff) == 5
    assert order_rows(app) == 0


def _archive(in_transaction: Any, item: dict[str, Any]) -> None:
    """Through the service: DELETE /items/{id} is the catalog tests' business."""
    in_transaction(lambda services: services.catalog.archive_item(item["id"], Actor.system()))


INVALID_BODIES = {
    "unknown item": (lambda tea, jam: order_body((tea, 1), ("no-such-item", 1)),
                     "lines.1.item_id"),
    "archived item": (lambda tea, jam: order_body((tea, 1), (jam, 1)), "lines.1.item_id"),
    "duplicate item ids": (lambda tea, jam: order_body((tea, 1), (jam, 1), (tea, 1)),
                           "lines.2.item_id"),
    "quantity 0": (lambda tea, jam: order_body((tea, 0)), "lines.0.quantity"),
    "quantity 1001": (lambda tea, jam: order_body((tea, 1001)), "lines.0.quantity"),
    "quantity as text": (lambda tea, jam: order_body((tea, "2")), "lines.0.quantity"),
    "quantity as boolean": (lambda tea, jam: order_body((tea, True)), "lines.0.quantity"),
    "no lines": (lambda tea, jam: order_body(), "lines"),
    "101 lines": (lambda tea, jam: order_body(*[(f"item-{n}", 1) for n in range(101)]),
                  "lines"),
    "lines missing": (lambda tea, jam: {"tip": 0}, "lines"),
    "unknown field": (lambda tea, jam: order_body((tea, 1), unit_price=1), "unit_price"),
    "unknown line field": (lambda tea, jam: {"lines": [
        {"item_id": tea, "quantity": 1, "unit_price": 1}]}, "lines.0.unit_price"),
    "tip over half the subtotal": (lambda tea, jam: order_body((tea, 1), tip=350), "tip"),
    "negative tip": (lambda tea, jam: order_body((tea, 1), tip=-1), "tip"),
    "delivery without address": (lambda tea, jam: order_body(
        (tea, 1), fulfilment={"type": "delivery"}), "fulfilment.address"),
    "unknown fulfilment type": (lambda tea, jam: order_body(
        (tea, 1), fulfilment={"type": "teleport"}), "fulfilment.type"),
}


@pytest.mark.parametrize("case", list(INVALID_BODIES))
def test_an_invalid_order_answers_422_naming_the_field_and_reserves_nothing(
        app, testapp, in_transaction, shopper, staff, tea, jam, case):
    if case == "archived item":
        _archive(in_transaction, jam)
    build, field = INVALID_BODIES[case]
    response = post_order(testapp, shopper, build(tea["id"], jam["id"]), status=422)
    error = assert_error(response, 422, "validation_failed")
    assert field in error["details"]
    assert stock(testapp, tea["id"], staff) == 10
    assert order_rows(app) == 0


def test_a_declined_card_answers_402_and_the_stock_is_returned(
        app, testapp, shopper, staff, tea):
    response = post_order(testapp, shopper, order_body(
        (tea["id"], 4), payment_method="pm_card_chargeDeclined"), status=402)
    assert_error(response, 402, "payment_declined")
    assert stock(testapp, tea["id"], staff) == 10
    [order] = testapp.get(ORDERS, headers=shopper.headers).json["data"]
    assert order["status"] == "cancelled"
    assert order["payment"]["status"] == "declined"


def test_provider_down_answers_503_holding_nothing_and_a_retry_with_the_key_places_it(
        app, testapp, shopper, staff, tea):
    gateway = app.registry.container.adapters.payments
    body = order_body((tea["id"], 2), payment_method="pm_card_visa")
    gateway.down = True
    response = post_order(testapp, shopper, body, key="outage", status=503)
    assert_error(response, 503, "payment_provider_unavailable")
    assert stock(testapp, tea["id"], staff) == 10  # the failed request holds no stock
    gateway.down = False
    retry = post_order(testapp, shopper, body, key="outage", status=201)
    assert retry.json["status"] == "paid"
    assert stock(testapp, tea["id"], staff) == 8
    assert order_rows(app) == 2  # the undone attempt stays on record, cancelled


@pytest.mark.parametrize("payment_method", ["0", "tok_visa"])
def test_a_payment_method_the_provider_refuses_answers_422_and_returns_the_stock(
        app, testapp, shopper, staff, tea, payment_method):
    response = post_order(testapp, shopper,
                          order_body((tea["id"], 3), payment_method=payment_method), status=422)
    assert_error(response, 422, "invalid_payment_method")
    assert "payment_method" in response.json["error"]["details"]
    assert stock(testapp, tea["id"], staff) == 10


def test_an_order_body_that_is_not_json_answers_415_or_400(testapp, shopper, tea):
    response = testapp.post(ORDERS, "lines=1", headers=shopper.headers,
                            content_type="application/x-www-form-urlencoded", status=415)
    assert_error(response, 415, "unsupported_media_type")
    response = testapp.post(ORDERS, "{not json", headers=shopper.headers,
                            content_type="application/json", status=400)
    assert_error(response, 400, "malformed_json")


def test_an_invalid_idempotency_key_answers_422(app, testapp, shopper, tea):
    response = post_order(testapp, shopper, order_body((tea["id"], 1)), key="x" * 256,
                          status=422)
    assert_error(response, 422, "validation_failed")
    assert order_rows(app) == 0


def test_anonymous_callers_answer_401(testapp, shopper, tea):
    order = place(testapp, shopper, (tea["id"], 1))
    calls = [
        lambda: testapp.post_json(ORDERS, order_body((tea["id"], 1)), status=401),
        lambda: testapp.get(ORDERS, status=401),
        lambda: testapp.get(f"{ORDERS}/{order['id']}", status=401),
        lambda: testapp.post(f"{ORDERS}/{order['id']}/cancel", status=401),
        lambda: testapp.post(f"{ORDERS}/{order['id']}/fulfil", status=401),
        lambda: testapp.post(f"{ORDERS}/{order['id']}/refund", status=401),
    ]
    for call in calls:
        response = call()
        assert_error(response, 401, "unauthenticated")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- GET /orders -----------------------------------------------------------------------------

def test_a_customer_lists_only_their_own_orders_newest_first(
        testapp, shopper, other_shopper, tea):
    mine = [place(testapp, shopper, (tea["id"], 1))["id"] for _ in range(3)]
    place(testapp, other_shopper, (tea["id"], 1))
    page = testapp.get(ORDERS, headers=shopper.headers).json
    assert [o["id"] for o in page["data"]] == list(reversed(mine))
    assert page["next_cursor"] is None
    # asking for someone else's orders still shows only one's own
    page = testapp.get(ORDERS, {"customer_id": other_shopper.id},
                       headers=shopper.headers).json
    assert {o["customer_id"] for o in page["data"]} == {shopper.id}


def test_staff_list_all_orders_and_filter_by_status_and_customer(
        testapp, shopper, other_shopper, staff, tea):
    pending = place(testapp, shopper, (tea["id"], 1))
    paid = place(testapp, shopper, (tea["id"], 1), payment_method="pm_card_visa")
    theirs = place(testapp, other_shopper, (tea["id"], 1))

    def ids(**params: Any) -> list[str]:
        return [o["id"] for o in testapp.get(ORDERS, params, headers=staff.headers).json["data"]]

    assert ids() == [theirs["id"], paid["id"], pending["id"]]
    assert ids(status="paid") == [paid["id"]]
    assert ids(status="pending_payment") == [theirs["id"], pending["id"]]
    assert ids(customer_id=shopper.id) == [paid["id"], pending["id"]]
    assert ids(customer_id=other_shopper.id, status="paid") == []
    assert ids(status="refunded") == []


def test_listing_pages_through_every_order_once(testapp, shopper, tea):
    placed = [place(testapp, shopper, (tea["id"], 1))["id"] for _ in range(5)]
    seen: list[list[str]] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(5):
        page = testapp.get(ORDERS, params, headers=shopper.headers).json
        seen.append([o["id"] for o in page["data"]])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    newest_first = list(reversed(placed))
    assert seen == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


@pytest.mark.parametrize("params", [
    {"limit": "1000"}, {"limit": "0"}, {"limit": "many"}, {"status": "lost"},
    {"cursor": "not-a-cursor!"},
    {"cursor": forged_cursor("orders", "yesterday", "abc")},
    {"cursor": forged_cursor("orders", "2026-01-01T00:00:00", "abc")},
    {"cursor": forged_cursor("name", "Tea", "abc")},
    {"cursor": forged_cursor("orders", "2026-01-01T00:00:00+00:00", 5)},
], ids=["limit-1000", "limit-0", "limit-text", "bad-status", "garbage-cursor",
        "cursor-bad-time", "cursor-naive-time", "cursor-of-items", "cursor-bad-id"])
def test_unreadable_list_parameters_answer_422(testapp, staff, params):
    response = testapp.get(ORDERS, params, headers=staff.headers, status=422)
    error = assert_error(response, 422, "validation_failed")
    assert set(error["details"]) & set(params)


# --- GET /orders/{id} ------------------------------------------------------------------------

def test_another_customers_order_is_not_found(testapp, shopper, other_shopper, tea):
    order = place(testapp, shopper, (tea["id"], 1))
    response = testapp.get(f"{ORDERS}/{order['id']}", headers=other_shopper.headers,
                           status=404)
    assert_error(response, 404, "not_found")
    response = testapp.get(f"{ORDERS}/no-such-order", headers=shopper.headers, status=404)
    assert_error(response, 404, "not_found")


def test_the_client_secret_is_shown_to_the_owner_only(testapp, shopper, staff, admin, tea):
    placed = place(testapp, shopper, (tea["id"], 1))
    url = f"{ORDERS}/{placed['id']}"
    mine = testapp.get(url, headers=shopper.headers).json
    assert mine["payment"]["client_secret"] == placed["payment"]["client_secret"]
    assert mine["payment"]["client_secret"]
    for who in (staff, admin):
        seen = testapp.get(url, headers=who.headers).json
        assert seen["id"] == placed["id"]
        assert seen["payment"]["client_secret"] is None
        assert seen["payment"]["payment_intent_id"] == placed["payment"]["payment_intent_id"]
    [listed] = testapp.get(ORDERS, headers=staff.headers).json["data"]
    assert listed["payment"]["client_secret"] is None


# --- actions ---------------------------------------------------------------------------------

def test_cancelling_a_pending_order_answers_200_and_returns_the_stock(
        testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 4))
    assert stock(testapp, tea["id"], staff) == 6
    cancelled = testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=shopper.headers,
                             status=200).json
    assert set(cancelled) == ORDER_FIELDS
    assert cancelled["status"] == "cancelled"
    assert stock(testapp, tea["id"], staff) == 10

    response = testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=shopper.headers,
                            status=409)
    assert_error(response, 409, "invalid_state")
    assert stock(testapp, tea["id"], staff) == 10


def test_another_customer_cannot_cancel_an_order(testapp, shopper, other_shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 4))
    response = testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=other_shopper.headers,
                            status=404)
    assert_error(response, 404, "not_found")
    assert testapp.get(f"{ORDERS}/{order['id']}",
                       headers=shopper.headers).json["status"] == "pending_payment"
    assert stock(testapp, tea["id"], staff) == 6


def test_staff_cancel_a_customers_pending_order(testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 4))
    cancelled = testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=staff.headers).json
    assert cancelled["status"] == "cancelled"
    assert stock(testapp, tea["id"], staff) == 10


def test_cancelling_a_paid_order_refunds_it_and_returns_the_stock(
        app, testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 3), payment_method="pm_card_visa")
    refunded = testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=shopper.headers,
                            status=200).json
    assert refunded["status"] == "refunded"
    assert refunded["payment"]["refunded"] == order["total"]
    assert stock(testapp, tea["id"], staff) == 10
    assert len(app.registry.container.adapters.payments.refunds) == 1


def test_a_customer_cannot_fulfil_an_order(testapp, shopper, tea):
    order = place(testapp, shopper, (tea["id"], 1), payment_method="pm_card_visa")
    response = testapp.post(f"{ORDERS}/{order['id']}/fulfil", headers=shopper.headers,
                            status=403)
    assert_error(response, 403, "forbidden")


def test_staff_fulfil_a_paid_order(testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 2), payment_method="pm_card_visa")
    fulfilled = testapp.post(f"{ORDERS}/{order['id']}/fulfil", headers=staff.headers,
                             status=200).json
    assert fulfilled["status"] == "fulfilled"
    assert set(fulfilled) == ORDER_FIELDS
    assert stock(testapp, tea["id"], staff) == 8


def test_fulfilling_a_pending_order_answers_409(testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 2))
    response = testapp.post(f"{ORDERS}/{order['id']}/fulfil", headers=staff.headers,
                            status=409)
    assert_error(response, 409, "invalid_state")
    assert testapp.get(f"{ORDERS}/{order['id']}",
                       headers=staff.headers).json["status"] == "pending_payment"


def test_staff_cannot_refund(testapp, shopper, staff, tea):
    order = place(testapp, shopper, (tea["id"], 2), payment_method="pm_card_visa")
    response = testapp.post(f"{ORDERS}/{order['id']}/refund", headers=staff.headers,
                            status=403)
    assert_error(response, 403, "forbidden")
    assert stock(testapp, tea["id"], staff) == 8


def test_an_admin_refunds_a_paid_order_and_the_stock_returns(testapp, shopper, staff, admin,
                                                             tea):
    order = place(testapp, shopper, (tea["id"], 2), payment_method="pm_card_visa")
    refunded = testapp.post(f"{ORDERS}/{order['id']}/refund", headers=admin.headers,
                            status=200).json
    assert refunded["status"] == "refunded"
    assert refunded["payment"]["status"] == "refunded"
    assert refunded["payment"]["refunded"] == refunded["payment"]["captured"] == order["total"]
    assert stock(testapp, tea["id"], staff) == 10


def test_refunding_a_fulfilled_order_does_not_return_the_stock(testapp, shopper, staff, admin,
                                                               tea):
    order = place(testapp, shopper, (tea["id"], 2), payment_method="pm_card_visa")
    testapp.post(f"{ORDERS}/{order['id']}/fulfil", headers=staff.headers, status=200)
    refunded = testapp.post(f"{ORDERS}/{order['id']}/refund", headers=admin.headers,
                            status=200).json
    assert refunded["status"] == "refunded"
    assert refunded["payment"]["refunded"] == order["total"]
    assert stock(testapp, tea["id"], staff) == 8


def test_refunding_a_pending_order_answers_409(testapp, shopper, admin, tea):
    order = place(testapp, shopper, (tea["id"], 2))
    response = testapp.post(f"{ORDERS}/{order['id']}/refund", headers=admin.headers,
                            status=409)
    assert_error(response, 409, "invalid_state")


# --- audit -----------------------------------------------------------------------------------

def test_placing_and_cancelling_write_audit_rows(app, testapp, shopper, tea):
    order = place(testapp, shopper, (tea["id"], 2))
    testapp.post(f"{ORDERS}/{order['id']}/cancel", headers=shopper.headers, status=200)
    with app.registry.container.engine.connect() as connection:
        rows = connection.execute(
            select(audit_events.c.action, audit_events.c.actor_id, audit_events.c.request_id)
            .where(audit_events.c.entity_type == "order",
                   audit_events.c.entity_id == order["id"])
            .order_by(audit_events.c.at, audit_events.c.action.desc())).all()
    assert [(row.action, row.actor_id) for row in rows] == [
        ("order.placed", shopper.id), ("order.cancelled", shopper.id)]
    assert all(row.request_id for row in rows)


def test_a_refused_order_writes_no_audit_row(app, testapp, shopper, tea):
    post_order(testapp, shopper, order_body((tea["id"], 11)), status=409)
    with app.registry.container.engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(audit_events)
            .where(audit_events.c.entity_type == "order")).scalar_one()
    assert count == 0
