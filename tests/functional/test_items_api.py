"""The catalog over HTTP: /api/v1/items as API.md (Conventions, Catalog) describes it."""

from __future__ import annotations

import base64
import gc
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minimart.domain.actors import Actor
from minimart.domain.catalog import NewItem
from tests.functional.envelope import assert_error

ITEMS = "/api/v1/items"

SORTS = ["name", "-name", "price", "-price", "created", "-created"]


# --- helpers -------------------------------------------------------------------------------



def create(testapp: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Tea", "price": 250, "stock": 3, **fields}
    return testapp.post_json(ITEMS, body, headers=headers, status=201).json


def seed(in_transaction: Any, *items: dict[str, Any]) -> list[str]:
    """Create items directly through the catalog service (fast, one transaction)."""
    def work(services: Any) -> list[str]:
        return [services.catalog.create_item(NewItem(**item), Actor.system()).id
                for item in items]
    return in_transaction(work)


def listing(testapp: Any, headers: dict[str, str] | None = None, **params: Any) -> Any:
    return testapp.get(ITEMS, params, headers=headers or {}).json


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["data"]]


def sort_key(sort: str) -> Any:
    """The order API.md's sorts promise, ties broken by id (keyset pagination)."""
    field = sort.lstrip("-")

    def key(item: dict[str, Any]) -> tuple[Any, str]:
        value = {"name": lambda: item["name"].lower(), "price": lambda: item["price"],
                 "created": lambda: datetime.fromisoformat(item["created_at"])}[field]()
        return value, item["id"]
    return key


def walk(testapp: Any, sort: str, limit: int, expected_count: int) -> list[dict[str, Any]]:
    """Follow next_cursor until it is null; refuse to loop forever."""
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"sort": sort, "limit": limit}
    for _ in range(expected_count // limit + 2):
        page = listing(testapp, **params)
        assert len(page["data"]) <= limit
        seen.extend(page["data"])
        if page["next_cursor"] is None:
            return seen
        params["cursor"] = page["next_cursor"]
    pytest.fail(f"pagination did not end: {len(seen)} entries seen for {expected_count} items")


def forged_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")


@pytest.fixture
def item(testapp: Any, staff: dict[str, str]) -> dict[str, Any]:
    return create(testapp, staff, name="Green tea", description="Sencha leaves", price=699,
                  stock=5, sku="TEA-GREEN")


# --- GET /items: filters ---------------------------------------------------------------------

def test_an_empty_catalog_lists_no_items_and_no_next_cursor(testapp):
    assert listing(testapp) == {"data": [], "next_cursor": None}


def test_q_matches_name_and_description_case_insensitively(testapp, in_transaction):
    seed(in_transaction,
         {"name": "Green TEA", "description": "leaves", "price": 100},
         {"name": "Coffee", "description": "Pairs well with Tea", "price": 200},
         {"name": "Bread", "description": "Sourdough", "price": 300})
    for q in ("tea", "TEA", "tEa"):
        assert sorted(names(listing(testapp, q=q))) == ["Coffee", "Green TEA"]
    assert names(listing(testapp, q="sourDOUGH")) == ["Bread"]
    assert names(listing(testapp, q="nothing like this")) == []


def test_q_treats_like_wildcards_as_plain_characters(testapp, in_transaction):
    seed(in_transaction, {"name": "Cocoa 70%", "price": 100}, {"name": "Milk", "price": 100},
         {"name": "Snake_case", "price": 100})
    assert names(listing(testapp, q="%")) == ["Cocoa 70%"]
    assert names(listing(testapp, q="_")) == ["Snake_case"]


def test_price_bounds_are_inclusive(testapp, in_transaction):
    seed(in_transaction, {"name": "A", "price": 100}, {"name": "B", "price": 200},
         {"name": "C", "price": 300})
    assert names(listing(testapp, min_price=200)) == ["B", "C"]
    assert names(listing(testapp, max_price=200)) == ["A", "B"]
    assert names(listing(testapp, min_price=200, max_price=200)) == ["B"]
    assert names(listing(testapp, min_price=101, max_price=299)) == ["B"]
    assert names(listing(testapp, min_price=0, max_price=0)) == []


def test_in_stock_true_leaves_out_items_without_stock(testapp, in_transaction):
    seed(in_transaction, {"name": "Empty", "price": 1, "stock": 0},
         {"name": "Full", "price": 1, "stock": 4})
    assert names(listing(testapp, in_stock="true")) == ["Full"]
    assert names(listing(testapp)) == ["Empty", "Full"]


def test_available_filters_both_ways(testapp, in_transaction):
    seed(in_transaction, {"name": "Off", "price": 1, "available": False},
         {"name": "On", "price": 1, "available": True})
    assert names(listing(testapp, available="true")) == ["On"]
    assert names(listing(testapp, available="false")) == ["Off"]
    assert names(listing(testapp)) == ["Off", "On"]


def test_featured_true_lists_only_featured_items(testapp, in_transaction):
    seed(in_transaction, {"name": "Plain", "price": 1},
         {"name": "Star", "price": 1, "featured": True})
    assert names(listing(testapp, featured="true")) == ["Star"]


def test_filters_combine(testapp, in_transaction):
    seed(in_transaction,
         {"name": "Tea cheap", "price": 100, "stock": 1},
         {"name": "Tea dear", "price": 900, "stock": 1},
         {"name": "Tea gone", "price": 100, "stock": 0},
         {"name": "Coffee cheap", "price": 100, "stock": 1})
    assert names(listing(testapp, q="tea", max_price=500, in_stock="true")) == ["Tea cheap"]


def test_default_sort_is_by_name_case_insensitively(testapp, in_transaction):
    seed(in_transaction, {"name": "banana", "price": 1}, {"name": "Apple", "price": 1},
         {"name": "cherry", "price": 1}, {"name": "Date", "price": 1})
    assert names(listing(testapp)) == ["Apple", "banana", "cherry", "Date"]


@pytest.mark.parametrize("sort", SORTS)
def test_each_sort_orders_the_whole_listing(testapp, in_transaction, sort):
    seed(in_transaction,
         {"name": "Cheddar", "price": 459}, {"name": "apples", "price": 399},
         {"name": "Bread", "price": 650}, {"name": "eggs", "price": 549},
         {"name": "Dates", "price": 129})
    data = listing(testapp, sort=sort)["data"]
    expected = sorted(data, key=sort_key(sort), reverse=sort.startswith("-"))
    assert [i["id"] for i in data] == [i["id"] for i in expected]
    # and the order differs from its reverse: the sort is really applied
    reverse = sort[1:] if sort.startswith("-") else f"-{sort}"
    assert [i["id"] for i in listing(testapp, sort=reverse)["data"]] == \
        [i["id"] for i in reversed(data)]


def test_sort_by_price_ascending_gives_cheapest_first(testapp, in_transaction):
    seed(in_transaction, {"name": "Mid", "price": 500}, {"name": "Low", "price": 5},
         {"name": "High", "price": 5000})
    assert names(listing(testapp, sort="price")) == ["Low", "Mid", "High"]
    assert names(listing(testapp, sort="-price")) == ["High", "Mid", "Low"]


def test_sort_by_created_follows_creation_order(testapp, staff):
    for name in ("First", "Second", "Third"):
        create(testapp, staff, name=name)
    assert names(listing(testapp, sort="created")) == ["First", "Second", "Third"]
    assert names(listing(testapp, sort="-created")) == ["Third", "Second", "First"]


# --- GET /items: limits and keyset pagination ------------------------------------------------

def test_limit_defaults_to_20(testapp, in_transaction):
    seed(in_transaction, *({"name": f"item {n:02}", "price": n} for n in range(21)))
    first = listing(testapp)
    assert len(first["data"]) == 20
    assert first["next_cursor"]
    second = listing(testapp, cursor=first["next_cursor"])
    assert names(second) == ["item 20"]
    assert second["next_cursor"] is None


def test_limit_100_is_allowed_and_caps_the_page(testapp, in_transaction):
    seed(in_transaction, *({"name": f"item {n:03}", "price": n} for n in range(101)))
    page = listing(testapp, limit=100)
    assert len(page["data"]) == 100
    assert page["next_cursor"]


def test_limit_1_pages_one_item_at_a_time(testapp, in_transaction):
    seed(in_transaction, {"name": "a", "price": 1}, {"name": "b", "price": 1})
    first = listing(testapp, limit=1)
    assert names(first) == ["a"]
    second = listing(testapp, limit=1, cursor=first["next_cursor"])
    assert names(second) == ["b"]
    assert second["next_cursor"] is None


def test_a_page_that_exactly_fills_the_limit_has_no_next_cursor(testapp, in_transaction):
    seed(in_transaction, {"name": "A", "price": 1}, {"name": "B", "price": 1})
    assert listing(testapp, limit=2)["next_cursor"] is None


@pytest.mark.parametrize("sort", SORTS)
def test_keyset_pagination_walks_every_item_once_in_order(testapp, in_transaction, sort):
    """Ties in name (any case) and price are broken by id: no duplicates, no gaps."""
    specs = [{"name": name, "price": price} for name, price in [
        ("apple", 300), ("Apple", 100), ("APPLE", 300), ("banana", 200), ("Banana", 200),
        ("cherry", 100), ("Cherry", 300), ("date", 200), ("Elder", 100), ("fig", 300),
        ("Fig", 100), ("grape", 200), ("Grape", 200)]]
    seed(in_transaction, *specs)
    everything = listing(testapp, sort=sort, limit=100)["data"]
    expected = sorted(everything, key=sort_key(sort), reverse=sort.startswith("-"))
    assert [i["id"] for i in everything] == [i["id"] for i in expected]

    for limit in (1, 4, 5):
        walked = walk(testapp, sort, limit, len(specs))
        ids = [i["id"] for i in walked]
        assert len(ids) == len(set(ids)), f"duplicates with sort={sort} limit={limit}"
        assert ids == [i["id"] for i in expected], f"gaps or disorder with limit={limit}"


def test_name_pages_continue_case_insensitively_after_a_capitalised_name(testapp,
                                                                        in_transaction):
    seed(in_transaction, {"name": "apple", "price": 1}, {"name": "Banana", "price": 1},
         {"name": "cherry", "price": 1})
    first = listing(testapp, limit=2)
    assert names(first) == ["apple", "Banana"]
    second = listing(testapp, limit=2, cursor=first["next_cursor"])
    assert names(second) == ["cherry"]
    assert second["next_cursor"] is None


def test_a_cursor_keeps_working_when_earlier_items_are_added(testapp, in_transaction):
    seed(in_transaction, *({"name": name, "price": 1} for name in "bcde"))
    first = listing(testapp, limit=2)
    assert names(first) == ["b", "c"]
    seed(in_transaction, {"name": "a", "price": 1})
    assert names(listing(testapp, limit=2, cursor=first["next_cursor"])) == ["d", "e"]


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "1000"}, "limit"),
    ({"limit": "101"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"sort": "bogus"}, "sort"),
    ({"sort": "stock"}, "sort"),
    ({"min_price": "-1"}, "min_price"),
    ({"max_price": "cheap"}, "max_price"),
    ({"in_stock": "maybe"}, "in_stock"),
    ({"available": "perhaps"}, "available"),
    ({"featured": "2"}, "featured"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"cursor": "!!!!"}, "cursor"),
    ({"cursor": forged_cursor("name", 5, "x")}, "cursor"),
    ({"cursor": forged_cursor("name", "a")}, "cursor"),
    ({"cursor": forged_cursor("price", "cheap", "x"), "sort": "price"}, "cursor"),
    ({"cursor": forged_cursor("created", "yesterday", "x"), "sort": "created"}, "cursor"),
    ({"cursor": forged_cursor("created", "2024-01-01T00:00:00", "x"), "sort": "created"},
     "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b'{"sort": "name"}').decode()}, "cursor"),
])
def test_unreadable_or_out_of_range_query_parameters_answer_422_naming_them(
        testapp, params, field):
    response = testapp.get(ITEMS, params, status=422)
    error = assert_error(response, 422, "validation_failed")
    assert field in error["details"]


def test_a_cursor_from_another_sort_answers_422(testapp, in_transaction):
    seed(in_transaction, *({"name": f"N{n}", "price": n} for n in range(3)))
    cursor = listing(testapp, sort="name", limit=1)["next_cursor"]
    assert cursor
    for other in ("-name", "price", "created"):
        response = testapp.get(ITEMS, {"sort": other, "cursor": cursor}, status=422)
        assert "cursor" in assert_error(response, 422, "validation_failed")["details"]


def test_a_query_parameter_given_twice_answers_422(testapp):
    response = testapp.get(f"{ITEMS}?limit=5&limit=6", status=422)
    assert "limit" in assert_error(response, 422, "validation_failed")["details"]


def test_unknown_query_parameters_are_ignored(testapp, in_transaction):
    seed(in_transaction, {"name": "A", "price": 1})
    assert names(listing(testapp, _="1234567")) == ["A"]


# --- archived items in lists and reads ------------------------------------------------------

def test_archived_items_are_hidden_from_everyone_but_staff_asking_for_them(
        testapp, staff, auth, item):
    testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    customer = auth("customer")
    admin = auth("admin")
    assert listing(testapp)["data"] == []
    assert listing(testapp, staff)["data"] == []
    assert listing(testapp, include_archived="true")["data"] == []
    assert listing(testapp, customer, include_archived="true")["data"] == []
    for headers in (staff, admin):
        shown = listing(testapp, headers, include_archived="true")["data"]
        assert [(i["id"], i["archived"]) for i in shown] == [(item["id"], True)]


def test_include_archived_also_lists_live_items(testapp, staff, in_transaction):
    live, gone = seed(in_transaction, {"name": "Live", "price": 1}, {"name": "Gone", "price": 1})
    testapp.delete(f"{ITEMS}/{gone}", headers=staff, status=204)
    assert sorted(i["id"] for i in listing(testapp, staff, include_archived="true")["data"]) \
        == sorted([live, gone])
    assert [i["id"] for i in listing(testapp, staff)["data"]] == [live]


# --- GET /items/{id} -------------------------------------------------------------------------

def test_get_item_answers_the_item_with_an_etag(testapp, item):
    response = testapp.get(f"{ITEMS}/{item['id']}", status=200)
    body = response.json
    assert response.headers["ETag"]
    assert {"id", "sku", "name", "description", "price", "currency", "stock", "available",
            "featured", "archived", "created_at", "updated_at"} <= set(body)
    assert body["id"] == item["id"]
    assert isinstance(body["id"], str)
    assert (body["sku"], body["name"], body["description"]) == \
        ("TEA-GREEN", "Green tea", "Sencha leaves")
    assert (body["price"], body["currency"], body["stock"]) == (699, "usd", 5)
    assert (body["available"], body["featured"], body["archived"]) == (True, False, False)


def test_item_timestamps_are_rfc3339_in_utc(testapp, item):
    body = testapp.get(f"{ITEMS}/{item['id']}").json
    for field in ("created_at", "updated_at"):
        moment = datetime.fromisoformat(body[field].replace("Z", "+00:00"))
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=5)


def test_get_unknown_item_answers_404(testapp):
    response = testapp.get(f"{ITEMS}/no-such-item", status=404)
    assert_error(response, 404, "not_found")


def test_archived_item_is_404_for_shoppers_and_visible_to_staff(testapp, staff, auth, item):
    testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    assert_error(testapp.get(f"{ITEMS}/{item['id']}", status=404), 404, "not_found")
    assert_error(testapp.get(f"{ITEMS}/{item['id']}", headers=auth("customer"), status=404),
                 404, "not_found")
    seen = testapp.get(f"{ITEMS}/{item['id']}", headers=staff, status=200).json
    assert seen["archived"] is True


def test_if_none_match_with_the_current_etag_answers_304(testapp, item):
    url = f"{ITEMS}/{item['id']}"
    etag = testapp.get(url).headers["ETag"]
    response = testapp.get(url, headers={"If-None-Match": etag}, status=304)
    assert response.body == b""


def test_if_none_match_with_an_old_etag_answers_200_with_the_new_item(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}"
    old = testapp.get(url).headers["ETag"]
    testapp.patch_json(url, {"price": 700}, headers=staff, status=200)
    response = testapp.get(url, headers={"If-None-Match": old}, status=200)
    assert response.json["price"] == 700
    assert response.headers["ETag"] != old


# --- POST /items -----------------------------------------------------------------------------

def test_create_item_answers_201_with_location_and_etag(testapp, staff):
    response = testapp.post_json(
        ITEMS, {"name": "Jam", "price": 300, "stock": 2, "sku": "JAM-1",
                "description": "Strawberry"}, headers=staff, status=201)
    body = response.json
    assert response.headers["Location"].endswith(f"/api/v1/items/{body['id']}")
    assert response.headers["ETag"]
    assert (body["name"], body["price"], body["stock"], body["sku"], body["description"]) == \
        ("Jam", 300, 2, "JAM-1", "Strawberry")
    assert body["currency"] == "usd"
    fetched = testapp.get(response.headers["Location"])
    assert fetched.json == body
    assert fetched.headers["ETag"] == response.headers["ETag"]


def test_create_item_fills_defaults(testapp, staff):
    body = testapp.post_json(ITEMS, {"name": "Salt", "price": 0}, headers=staff,
                             status=201).json
    assert (body["stock"], body["description"], body["sku"]) == (0, "", None)
    assert (body["available"], body["featured"], body["archived"]) == (True, False, False)


def test_create_item_with_a_taken_sku_answers_409_sku_taken(testapp, staff, item):
    response = testapp.post_json(ITEMS, {"name": "Other", "price": 1, "sku": "TEA-GREEN"},
                                 headers=staff, status=409)
    assert_error(response, 409, "sku_taken")
    assert len(listing(testapp)["data"]) == 1


def test_items_without_sku_do_not_conflict(testapp, staff):
    create(testapp, staff, name="One")
    create(testapp, staff, name="Two")
    assert len(listing(testapp)["data"]) == 2


def test_an_unknown_field_answers_422_naming_it(testapp, staff):
    response = testapp.post_json(ITEMS, {"name": "X", "price": 1, "discount": 50,
                                         "archived": True}, headers=staff, status=422)
    details = assert_error(response, 422, "validation_failed")["details"]
    assert {"discount", "archived"} <= set(details)
    assert listing(testapp, staff, include_archived="true")["data"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "X", "price": -1}, "price"),
    ({"name": "X", "price": "100"}, "price"),
    ({"name": "X", "price": 1.5}, "price"),
    ({"name": "X", "price": True}, "price"),
    ({"name": "X", "price": None}, "price"),
    ({"name": "X"}, "price"),
    ({"price": 1}, "name"),
    ({"name": "", "price": 1}, "name"),
    ({"name": "x" * 121, "price": 1}, "name"),
    ({"name": "X", "price": 1, "description": "d" * 5001}, "description"),
    ({"name": "X", "price": 1, "stock": -1}, "stock"),
    ({"name": "X", "price": 1, "stock": "3"}, "stock"),
    ({"name": "X", "price": 1, "sku": "has spaces"}, "sku"),
])
def test_invalid_item_fields_answer_422_naming_the_field(testapp, staff, body, field):
    response = testapp.post_json(ITEMS, body, headers=staff, status=422)
    details = assert_error(response, 422, "validation_failed")["details"]
    assert field in details
    assert all(isinstance(message, str) for message in details[field])
    assert listing(testapp)["data"] == []


def test_item_limits_at_their_edges_are_accepted(testapp, staff):
    body = testapp.post_json(ITEMS, {"name": "x" * 120, "price": 0, "stock": 0,
                                     "description": "d" * 5000}, headers=staff,
                             status=201).json
    assert len(body["name"]) == 120


# --- PATCH /items/{id} -----------------------------------------------------------------------

def test_patch_with_the_current_etag_answers_200_and_a_new_etag(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}"
    etag = testapp.get(url).headers["ETag"]
    response = testapp.patch_json(url, {"price": 799, "name": "Sencha"},
                                  headers={**staff, "If-Match": etag}, status=200)
    assert (response.json["price"], response.json["name"]) == (799, "Sencha")
    assert response.headers["ETag"] != etag
    current = testapp.get(url)
    assert (current.json["price"], current.json["name"]) == (799, "Sencha")
    assert current.headers["ETag"] == response.headers["ETag"]


def test_patch_with_a_stale_etag_answers_412_and_changes_nothing(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}"
    stale = testapp.get(url).headers["ETag"]
    testapp.patch_json(url, {"price": 800}, headers={**staff, "If-Match": stale}, status=200)
    before = testapp.get(url)
    response = testapp.patch_json(url, {"price": 1, "name": "Overwritten"},
                                  headers={**staff, "If-Match": stale}, status=412)
    assert_error(response, 412, "precondition_failed")
    after = testapp.get(url)
    assert after.json == before.json
    assert after.headers["ETag"] == before.headers["ETag"]


def test_patch_with_an_unreadable_if_match_answers_412(testapp, staff, item):
    response = testapp.patch_json(f"{ITEMS}/{item['id']}", {"price": 1},
                                  headers={**staff, "If-Match": '"garbage"'}, status=412)
    assert_error(response, 412, "precondition_failed")
    assert testapp.get(f"{ITEMS}/{item['id']}").json["price"] == 699


def test_patch_without_if_match_is_allowed(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}"
    response = testapp.patch_json(url, {"stock": 9, "description": ""}, headers=staff,
                                  status=200)
    assert (response.json["stock"], response.json["description"]) == (9, "")
    assert testapp.get(url).json["stock"] == 9


def test_patch_changes_only_the_fields_sent(testapp, staff, item):
    body = testapp.patch_json(f"{ITEMS}/{item['id']}", {"sku": "TEA-2"}, headers=staff).json
    assert body["sku"] == "TEA-2"
    assert (body["name"], body["price"], body["stock"]) == ("Green tea", 699, 5)


def test_patch_to_a_taken_sku_answers_409_sku_taken(testapp, staff, item):
    other = create(testapp, staff, name="Other", sku="OTHER")
    response = testapp.patch_json(f"{ITEMS}/{other['id']}", {"sku": "TEA-GREEN"},
                                  headers=staff, status=409)
    assert_error(response, 409, "sku_taken")
    assert testapp.get(f"{ITEMS}/{other['id']}").json["sku"] == "OTHER"


def test_patch_of_an_unknown_item_answers_404(testapp, staff):
    response = testapp.patch_json(f"{ITEMS}/missing", {"price": 1}, headers=staff,
                                  status=404)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"archived": True}, "archived"),
    ({"id": "mine"}, "id"),
    ({"currency": "eur"}, "currency"),
    ({"version": 99}, "version"),
    ({"price": -5}, "price"),
    ({"price": "5"}, "price"),
    ({"name": ""}, "name"),
])
def test_patch_with_a_bad_or_unknown_field_answers_422_and_changes_nothing(
        testapp, staff, item, body, field):
    url = f"{ITEMS}/{item['id']}"
    before = testapp.get(url).json
    response = testapp.patch_json(url, body, headers=staff, status=422)
    assert field in assert_error(response, 422, "validation_failed")["details"]
    assert testapp.get(url).json == before


def test_an_empty_patch_answers_422(testapp, staff, item):
    response = testapp.patch_json(f"{ITEMS}/{item['id']}", {}, headers=staff, status=422)
    assert_error(response, 422, "validation_failed")


# --- POST /items/{id}/stock-adjustments ------------------------------------------------------

def test_stock_adjustment_answers_201_with_the_item(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}/stock-adjustments"
    response = testapp.post_json(url, {"delta": 7, "reason": "delivery"}, headers=staff,
                                 status=201)
    assert response.json["id"] == item["id"]
    assert response.json["stock"] == 12
    assert response.headers["ETag"]
    taken = testapp.post_json(url, {"delta": -12, "reason": "stocktake"}, headers=staff,
                              status=201)
    assert taken.json["stock"] == 0
    assert testapp.get(f"{ITEMS}/{item['id']}").json["stock"] == 0


def test_stock_adjustment_below_zero_answers_409_and_leaves_stock(testapp, staff, item):
    response = testapp.post_json(f"{ITEMS}/{item['id']}/stock-adjustments",
                                 {"delta": -6, "reason": "breakage"}, headers=staff,
                                 status=409)
    error = assert_error(response, 409, "insufficient_stock")
    assert error["details"].get("available") == 5
    assert testapp.get(f"{ITEMS}/{item['id']}").json["stock"] == 5


def test_stock_adjustments_past_the_maximum_answer_422_and_never_overflow(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}/stock-adjustments"
    testapp.post_json(url, {"delta": 10**9 - 5, "reason": "big delivery"}, headers=staff,
                      status=201)
    for _ in range(3):  # each within the per-request cap, together past the maximum
        response = testapp.post_json(url, {"delta": 10**9, "reason": "again"}, headers=staff,
                                     status=422)
        error = assert_error(response, 422, "validation_failed")
        assert error["details"] == {"delta": ["at most 0 more can be added"]}
    assert testapp.get(f"{ITEMS}/{item['id']}").json["stock"] == 10**9


def test_stock_adjustment_changes_the_etag(testapp, staff, item):
    url = f"{ITEMS}/{item['id']}"
    before = testapp.get(url).headers["ETag"]
    testapp.post_json(f"{url}/stock-adjustments", {"delta": 1, "reason": "found one"},
                      headers=staff, status=201)
    stale = testapp.patch_json(url, {"price": 1}, headers={**staff, "If-Match": before},
                               status=412)
    assert_error(stale, 412, "precondition_failed")


def test_stock_adjustment_of_an_unknown_item_answers_404(testapp, staff):
    response = testapp.post_json(f"{ITEMS}/missing/stock-adjustments",
                                 {"delta": 1, "reason": "x"}, headers=staff, status=404)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"reason": "x"}, "delta"),
    ({"delta": 1}, "reason"),
    ({"delta": "1", "reason": "x"}, "delta"),
    ({"delta": 1.5, "reason": "x"}, "delta"),
    ({"delta": 1, "reason": ""}, "reason"),
    ({"delta": 1, "reason": "x", "stock": 100}, "stock"),
])
def test_invalid_stock_adjustments_answer_422_and_leave_stock(testapp, staff, item, body,
                                                              field):
    response = testapp.post_json(f"{ITEMS}/{item['id']}/stock-adjustments", body,
                                 headers=staff, status=422)
    assert field in assert_error(response, 422, "validation_failed")["details"]
    assert testapp.get(f"{ITEMS}/{item['id']}").json["stock"] == 5


# --- DELETE /items/{id} ----------------------------------------------------------------------

def test_delete_answers_204_and_archives_the_item(testapp, staff, item):
    response = testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    assert response.body == b""
    assert listing(testapp)["data"] == []
    kept = testapp.get(f"{ITEMS}/{item['id']}", headers=staff).json
    assert (kept["archived"], kept["name"], kept["stock"]) == (True, "Green tea", 5)


def test_delete_answers_204_without_a_content_type(testapp, staff, item):
    """A 204 has no content, so it has no media type either (RFC 9110 section 8.3)."""
    response = testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    assert "Content-Type" not in response.headers


def test_repeating_delete_is_harmless(testapp, staff, item):
    testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    testapp.delete(f"{ITEMS}/{item['id']}", headers=staff, status=204)
    assert testapp.get(f"{ITEMS}/{item['id']}", headers=staff).json["archived"] is True


def test_delete_of_an_unknown_item_answers_404(testapp, staff):
    assert_error(testapp.delete(f"{ITEMS}/missing", headers=staff, status=404), 404,
                 "not_found")


# --- media types, bodies, methods and paths --------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml"])
def test_a_body_that_is_not_json_answers_415(testapp, staff, content_type):
    response = testapp.post(ITEMS, json.dumps({"name": "X", "price": 1}), headers=staff,
                            content_type=content_type, status=415)
    assert_error(response, 415, "unsupported_media_type")
    assert listing(testapp)["data"] == []


def test_a_patch_body_that_is_not_json_answers_415(testapp, staff, item):
    response = testapp.patch(f"{ITEMS}/{item['id']}", json.dumps({"price": 1}), headers=staff,
                             content_type="text/plain", status=415)
    assert_error(response, 415, "unsupported_media_type")
    assert testapp.get(f"{ITEMS}/{item['id']}").json["price"] == 699


def test_json_with_a_charset_parameter_is_accepted(testapp, staff):
    testapp.post(ITEMS, json.dumps({"name": "X", "price": 1}), headers=staff,
                 content_type="application/json; charset=utf-8", status=201)


@pytest.mark.parametrize("raw", ["{not json", "", '{"name": "X", "price": 1', "\x00"])
def test_invalid_json_answers_400_malformed_json(testapp, staff, raw):
    response = testapp.post(ITEMS, raw, headers=staff, content_type="application/json",
                            status=400)
    assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_answers_400(testapp, staff, raw):
    response = testapp.post(ITEMS, raw, headers=staff, content_type="application/json",
                            status=400)
    assert_error(response, 400, "bad_request")


def test_a_body_over_the_limit_answers_413(testapp, staff):
    body = {"name": "X", "price": 1, "description": "d" * (1_048_576 + 10)}
    with warnings.catch_warnings():
        # the temporary file of test_a_large_body_leaves_no_temporary_file_open: not this test's
        warnings.simplefilter("ignore", ResourceWarning)
        response = testapp.post_json(ITEMS, body, headers=staff, status=413)
        assert_error(response, 413, "payload_too_large")
        del response
        gc.collect()
    assert listing(testapp)["data"] == []


def test_a_large_body_leaves_no_temporary_file_open(testapp, staff):
    """A body over WebOb's 10 KiB in-memory limit is spooled to a temporary file; it must be
    closed with the request, not left for the garbage collector (one file descriptor per
    large request otherwise)."""
    body = {"name": "X", "price": 1, "description": "d" * 20_000}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        testapp.post_json(ITEMS, body, headers=staff, status=422)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


@pytest.mark.parametrize(("method", "path"), [
    ("put", ITEMS), ("delete", ITEMS), ("patch", ITEMS),
    ("put", f"{ITEMS}/some-id"), ("post", f"{ITEMS}/some-id"),
    ("get", f"{ITEMS}/some-id/stock-adjustments"),
])
def test_a_wrong_method_on_a_known_route_answers_405(testapp, staff, method, path):
    response = getattr(testapp, method)(path, headers=staff, status=405)
    assert_error(response, 405, "method_not_allowed")


def test_405_names_the_allowed_methods(testapp):
    """RFC 9110 section 15.5.6: a 405 response MUST carry an Allow header."""
    response = testapp.put(ITEMS, status=405)
    allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
    assert {"GET", "POST"} <= allowed


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/items/x/y", "/api/v2/items",
                                  "/api/v1/items/x/stock-adjustments/y"])
def test_an_unknown_path_answers_404(testapp, path):
    assert_error(testapp.get(path, status=404), 404, "not_found")


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, "true", "yes"])
@pytest.mark.parametrize("field", ["available", "featured"])
def test_a_json_boolean_is_true_or_false_and_nothing_else(testapp, staff, field, value):
    """Found by the fuzzer: marshmallow's Boolean took 0.0 (and 1, "yes") as a boolean."""
    response = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, field: value},
                                 headers=staff, status=422)
    assert_error(response, 422, "validation_failed")
    assert field in response.json["error"]["details"]
    item = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "sku": "T-1"}, headers=staff,
                             status=201).json
    testapp.patch_json(f"{ITEMS}/{item['id']}", {field: value}, headers=staff, status=422)
