"""A cursor carries its listing's filters, sort and limit (API.md, Conventions): `?cursor=`
alone continues the same listing; a parameter beside it that differs answers 422."""

from __future__ import annotations

from typing import Any

import pytest

from minimart.domain.actors import Actor
from minimart.domain.catalog import NewItem
from tests.functional.envelope import assert_error

ITEMS = "/api/v1/items"


def seed_prices(in_transaction: Any, *prices: int) -> None:
    def work(services: Any) -> None:
        for n, price in enumerate(prices):
            services.catalog.create_item(NewItem(name=f"item {n:02}", price=price, stock=5),
                                         Actor.system())
    in_transaction(work)


def follow(testapp: Any, url: str, first: dict[str, Any],
           headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every page after the first, each asked for with its cursor alone."""
    pages = []
    cursor = first["next_cursor"]
    for _ in range(50):
        if cursor is None:
            return pages
        page = testapp.get(url, {"cursor": cursor}, headers=headers or {}).json
        pages.append(page)
        cursor = page["next_cursor"]
    pytest.fail("the listing did not end")


def test_a_cursor_alone_keeps_the_filters_and_the_limit(testapp, in_transaction):
    seed_prices(in_transaction, 100, 549, 200, 699, 300, 1099, 250, 150)
    first = testapp.get(ITEMS, {"max_price": 300, "limit": 2}).json
    later = follow(testapp, ITEMS, first)
    assert all(len(page["data"]) <= 2 for page in later)
    prices = [i["price"] for page in [first, *later] for i in page["data"]]
    assert sorted(prices) == [100, 150, 200, 250, 300]


def test_a_cursor_alone_continues_a_sorted_listing(testapp, in_transaction):
    seed_prices(in_transaction, 5, 3, 9, 1, 7)
    first = testapp.get(ITEMS, {"sort": "-price", "limit": 2}).json
    later = follow(testapp, ITEMS, first)
    prices = [i["price"] for page in [first, *later] for i in page["data"]]
    assert prices == [9, 7, 5, 3, 1]


@pytest.mark.parametrize("beside", [{"max_price": "200"}, {"sort": "price"}, {"limit": "3"},
                                    {"q": "item"}, {"limit": "5", "in_stock": "true"}])
def test_a_parameter_beside_the_cursor_that_differs_answers_422(testapp, in_transaction,
                                                                beside):
    seed_prices(in_transaction, 100, 200, 300)
    cursor = testapp.get(ITEMS, {"max_price": 300, "limit": 1}).json["next_cursor"]
    response = testapp.get(ITEMS, {"cursor": cursor, **beside}, status=422)
    details = assert_error(response, 422, "validation_failed")["details"]
    assert "cursor" in details
    assert set(beside) <= set(details)


def test_the_same_parameters_beside_the_cursor_are_harmless(testapp, in_transaction):
    seed_prices(in_transaction, 100, 200, 300)
    cursor = testapp.get(ITEMS, {"max_price": 300, "limit": 1}).json["next_cursor"]
    page = testapp.get(ITEMS, {"cursor": cursor, "max_price": "300", "limit": "1",
                               "sort": "name"}).json
    assert [i["price"] for i in page["data"]] == [200]


def test_an_items_cursor_does_not_page_the_orders(testapp, in_transaction, auth):
    seed_prices(in_transaction, 100, 200)
    cursor = testapp.get(ITEMS, {"limit": 1}).json["next_cursor"]
    response = testapp.get("/api/v1/orders", {"cursor": cursor}, headers=auth("admin"),
                           status=422)
    assert "cursor" in assert_error(response, 422, "validation_failed")["details"]


def test_audit_and_order_cursors_carry_their_filters_and_limit(testapp, in_transaction,
                                                              auth, make_account):
    """Audit events: item creations; orders: placed by two shoppers, listed by an admin
    filtered to one of them."""
    admin = auth("admin")
    seed_prices(in_transaction, *range(100, 106))
    first = testapp.get("/api/v1/audit-events", {"entity_type": "item", "limit": 2},
                        headers=admin).json
    later = follow(testapp, "/api/v1/audit-events", first, admin)
    events = [e for page in [first, *later] for e in page["data"]]
    assert len(events) == 6
    assert all(len(page["data"]) <= 2 for page in later)
    assert {e["entity_type"] for e in events} == {"item"}
    items = testapp.get(ITEMS, {"limit": 6}).json["data"]
    shoppers = [make_account("customer"), make_account("customer")]
    for n, item in enumerate(items):
        testapp.post_json("/api/v1/orders", {"lines": [{"item_id": item["id"], "quantity": 1}]},
                          headers={"Authorization": shoppers[n % 2]["Authorization"]},
                          status=201)
    mine = shoppers[0]["id"]
    first = testapp.get("/api/v1/orders", {"customer_id": mine, "limit": 1},
                        headers=admin).json
    later = follow(testapp, "/api/v1/orders", first, admin)
    orders = [o for page in [first, *later] for o in page["data"]]
    assert len(orders) == 3
    assert {o["customer_id"] for o in orders} == {mine}
    response = testapp.get("/api/v1/orders", {"cursor": first["next_cursor"], "limit": 2},
                           headers=admin, status=422)
    assert "limit" in assert_error(response, 422, "validation_failed")["details"]
