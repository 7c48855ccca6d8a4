"""Restaurant-style ordering over HTTP: categories, item pictures, the store's settings and
the order rules they bring, as API.md (Catalog, Store, Orders) describes them.

Every test runs on SQLite and on PostgreSQL (the `database_url` fixture's parameters).
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any
from urllib.parse import urlparse

import pytest
from PIL import ExifTags, Image, PngImagePlugin

from tests.functional.envelope import assert_error

CATEGORIES = "/api/v1/categories"
ITEMS = "/api/v1/items"
STORE = "/api/v1/store"
ORDERS = "/api/v1/orders"

STORE_NAME = "Corner Bistro"
TAX_RATE_BPS = 825
DELIVERY_FEE = 399
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
IMAGE_PATH = re.compile(r"^/images/[0-9a-f]{64}\.(png|jpg|webp)$")
STORE_FIELDS = {"name", "currency", "tax_rate_bps", "delivery_fee", "minimum_order", "open",
                "open_now", "opening_hours", "time_zone"}
CATEGORY_FIELDS = {"id", "name", "description", "position", "item_count"}


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    """The shared test settings, with a store name and rates to see in /store."""
    return {**app_settings, "minimart.store_name": STORE_NAME,
            "minimart.tax_rate_bps": str(TAX_RATE_BPS),
            "minimart.delivery_fee": str(DELIVERY_FEE)}


# --- helpers -------------------------------------------------------------------------------------



@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")


@pytest.fixture
def admin(auth: Any) -> dict[str, str]:
    return auth("admin")


@pytest.fixture
def customer(auth: Any) -> dict[str, str]:
    return auth("customer")


def make_item(testapp: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "Soup", "price": 500, "stock": 10, **fields}
    return testapp.post_json(ITEMS, body, headers=headers, status=201).json


def make_category(testapp: Any, headers: dict[str, str], name: str = "Starters",
                  **fields: Any) -> dict[str, Any]:
    return testapp.post_json(CATEGORIES, {"name": name, **fields}, headers=headers,
                             status=201).json


def get_item(testapp: Any, item_id: str, headers: dict[str, str]) -> dict[str, Any]:
    return testapp.get(f"{ITEMS}/{item_id}", headers=headers).json


def store(testapp: Any) -> dict[str, Any]:
    return testapp.get(STORE).json


def patch_store(testapp: Any, headers: dict[str, str], status: int = 200,
                **changes: Any) -> Any:
    return testapp.patch_json(STORE, changes, headers=headers, status=status)


def order(testapp: Any, headers: dict[str, str], *lines: tuple[str, int], status: int = 201,
          key: str | None = None, **fields: Any) -> Any:
    body = {"lines": [{"item_id": i, "quantity": q} for i, q in lines], **fields}
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return testapp.post_json(ORDERS, body, headers=headers, status=status)


def encode(image: Image.Image, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12),
        **options: Any) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG", **options)


def noisy_png(side: int = 64) -> bytes:
    """A PNG that does not compress: several kilobytes for a small picture."""
    return encode(Image.effect_noise((side, side), 80).convert("RGB"), "PNG")


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG header announcing an enormous picture."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(document.cookie)</script></svg>')


def put_image(testapp: Any, item_id: str, headers: dict[str, str], data: bytes,
              content_type: str = "image/png", status: int | str = 200) -> Any:
    return testapp.put(f"{ITEMS}/{item_id}/image", data, headers=headers,
                       content_type=content_type, status=status)


def put_image_form(testapp: Any, item_id: str, headers: dict[str, str], data: bytes,
                   filename: str = "photo.png", field: str = "image",
                   status: int | str = 200) -> Any:
    return testapp.put(f"{ITEMS}/{item_id}/image", headers=headers,
                       upload_files=[(field, filename, data)], status=status)


def image_path(item: dict[str, Any]) -> str:
    url = item["image_url"]
    assert isinstance(url, str)
    path = urlparse(url).path
    assert IMAGE_PATH.match(path), url
    return path


# === categories ==================================================================================

def test_categories_are_public_in_position_order_with_shopper_item_counts(testapp, staff):
    drinks = make_category(testapp, staff, "Drinks", position=30)
    starters = make_category(testapp, staff, "Starters", position=10,
                             description="Small plates")
    mains = make_category(testapp, staff, "Mains", position=20)
    make_item(testapp, staff, name="Soup", category_id=starters["id"])
    make_item(testapp, staff, name="Salad", category_id=starters["id"])
    old = make_item(testapp, staff, name="Old soup", category_id=starters["id"])
    testapp.delete(f"{ITEMS}/{old['id']}", headers=staff, status=204)  # archived
    make_item(testapp, staff, name="Steak", category_id=mains["id"])
    make_item(testapp, staff, name="Bread")

    page = testapp.get(CATEGORIES).json  # anonymous

    assert page["next_cursor"] is None
    assert [c["id"] for c in page["data"]] == [starters["id"], mains["id"], drinks["id"]]
    assert all(set(c) == CATEGORY_FIELDS for c in page["data"])
    assert [(c["name"], c["position"], c["item_count"]) for c in page["data"]] == [
        ("Starters", 10, 2), ("Mains", 20, 1), ("Drinks", 30, 0)]
    assert page["data"][0]["description"] == "Small plates"


def test_create_category_answers_201_with_its_location(testapp, staff):
    response = testapp.post_json(CATEGORIES, {"name": "Desserts", "description": "Sweet"},
                                 headers=staff, status=201)

    created = response.json
    assert set(created) == CATEGORY_FIELDS
    assert (created["name"], created["description"], created["item_count"]) == (
        "Desserts", "Sweet", 0)
    assert response.headers["Location"].endswith(f"{CATEGORIES}/{created['id']}")
    assert testapp.get(response.headers["Location"]).json == created


def test_created_categories_get_the_next_position(testapp, staff):
    first = make_category(testapp, staff, "Starters")
    second = make_category(testapp, staff, "Mains")
    third = make_category(testapp, staff, "Drinks", position=50)

    assert second["position"] == first["position"] + 1
    assert make_category(testapp, staff, "Desserts")["position"] == third["position"] + 1


def test_admins_may_manage_categories_too(testapp, admin):
    created = make_category(testapp, admin, "Specials")

    testapp.patch_json(f"{CATEGORIES}/{created['id']}", {"name": "Today"}, headers=admin,
                       status=200)
    testapp.delete(f"{CATEGORIES}/{created['id']}", headers=admin, status=204)


def test_patch_category_changes_the_given_fields(testapp, staff):
    created = make_category(testapp, staff, "Starters", description="Small")

    updated = testapp.patch_json(f"{CATEGORIES}/{created['id']}",
                                 {"name": "Appetisers", "position": 5},
                                 headers=staff).json

    assert (updated["name"], updated["description"], updated["position"]) == (
        "Appetisers", "Small", 5)
    assert testapp.get(f"{CATEGORIES}/{created['id']}").json == updated


def test_patch_category_position_reorders_the_list(testapp, staff):
    first = make_category(testapp, staff, "Starters")
    second = make_category(testapp, staff, "Mains")

    testapp.patch_json(f"{CATEGORIES}/{second['id']}", {"position": 0}, headers=staff)

    assert [c["id"] for c in testapp.get(CATEGORIES).json["data"]] == [second["id"],
                                                                       first["id"]]


def write_category(testapp: Any, method: str, category_id: str, headers: dict[str, str],
                   status: int) -> Any:
    """One of the staff-only writes to categories, as the given caller."""
    if method == "POST":
        return testapp.post_json(CATEGORIES, {"name": "Hack"}, headers=headers, status=status)
    if method == "PATCH":
        return testapp.patch_json(f"{CATEGORIES}/{category_id}", {"name": "Hack"},
                                  headers=headers, status=status)
    return testapp.delete(f"{CATEGORIES}/{category_id}", headers=headers, status=status)


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_customers_may_not_change_categories(testapp, staff, customer, method):
    created = make_category(testapp, staff, "Starters")

    response = write_category(testapp, method, created["id"], customer, status=403)

    assert_error(response, 403, "forbidden")
    assert testapp.get(CATEGORIES).json["data"] == [created]


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_anonymous_callers_may_not_change_categories(testapp, staff, method):
    created = make_category(testapp, staff, "Starters")

    response = write_category(testapp, method, created["id"], {}, status=401)

    assert_error(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert testapp.get(CATEGORIES).json["data"] == [created]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Starters", "colour": "red"}, "colour"),
    ({"name": "Starters", "item_count": 5}, "item_count"),
    ({"name": "Starters", "id": "chosen-id"}, "id"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"name": "Starters", "position": "1"}, "position"),
    ({"name": "Starters", "position": -1}, "position"),
    ({"name": 5}, "name"),
])
def test_creating_an_invalid_category_answers_422_naming_the_field(testapp, staff, body,
                                                                   field):
    response = testapp.post_json(CATEGORIES, body, headers=staff, status=422)

    error = assert_error(response, 422, "validation_failed")
    assert field in error["details"]
    assert testapp.get(CATEGORIES).json["data"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"colour": "red"}, "colour"),
    ({"name": ""}, "name"),
    ({"name": "  "}, "name"),
    ({"position": 1.5}, "position"),
])
def test_patching_a_category_with_invalid_fields_answers_422(testapp, staff, body, field):
    created = make_category(testapp, staff, "Starters")

    response = testapp.patch_json(f"{CATEGORIES}/{created['id']}", body, headers=staff,
                                  status=422)

    assert field in assert_error(response, 422, "validation_failed")["details"]
    assert testapp.get(f"{CATEGORIES}/{created['id']}").json == created


def test_an_empty_category_patch_answers_422(testapp, staff):
    created = make_category(testapp, staff, "Starters")

    response = testapp.patch_json(f"{CATEGORIES}/{created['id']}", {}, headers=staff,
                                  status=422)

    assert_error(response, 422, "validation_failed")


def test_an_unknown_category_answers_404(testapp, staff):
    assert_error(testapp.get(f"{CATEGORIES}/nope", status=404), 404, "not_found")
    assert_error(testapp.patch_json(f"{CATEGORIES}/nope", {"name": "X"}, headers=staff,
                                    status=404), 404, "not_found")
    assert_error(testapp.delete(f"{CATEGORIES}/nope", headers=staff, status=404), 404,
                 "not_found")


def test_deleting_a_category_empties_it_and_keeps_its_items(testapp, staff):
    starters = make_category(testapp, staff, "Starters")
    mains = make_category(testapp, staff, "Mains")
    soup = make_item(testapp, staff, name="Soup", category_id=starters["id"])
    salad = make_item(testapp, staff, name="Salad", category_id=starters["id"])
    steak = make_item(testapp, staff, name="Steak", category_id=mains["id"])

    response = testapp.delete(f"{CATEGORIES}/{starters['id']}", headers=staff, status=204)

    assert response.body == b""
    testapp.get(f"{CATEGORIES}/{starters['id']}", status=404)
    assert [c["id"] for c in testapp.get(CATEGORIES).json["data"]] == [mains["id"]]
    for item in (soup, salad):
        kept = get_item(testapp, item["id"], staff)
        assert kept["category_id"] is None
        assert not kept["archived"]
        assert kept["name"] == item["name"]
    assert get_item(testapp, steak["id"], staff)["category_id"] == mains["id"]
    listed = testapp.get(ITEMS).json["data"]
    assert {i["name"] for i in listed} == {"Soup", "Salad", "Steak"}
    testapp.delete(f"{CATEGORIES}/{starters['id']}", headers=staff, status=404)


def test_items_can_be_listed_by_category(testapp, staff):
    starters = make_category(testapp, staff, "Starters")
    mains = make_category(testapp, staff, "Mains")
    make_item(testapp, staff, name="Soup", category_id=starters["id"])
    make_item(testapp, staff, name="Salad", category_id=starters["id"])
    make_item(testapp, staff, name="Steak", category_id=mains["id"])
    make_item(testapp, staff, name="Bread")

    in_starters = testapp.get(ITEMS, {"category": starters["id"]}).json["data"]
    in_mains = testapp.get(ITEMS, {"category": mains["id"]}).json["data"]

    assert [i["name"] for i in in_starters] == ["Salad", "Soup"]
    assert all(i["category_id"] == starters["id"] for i in in_starters)
    assert [i["name"] for i in in_mains] == ["Steak"]
    assert testapp.get(ITEMS, {"category": "no-such-category"}).json["data"] == []


def test_items_carry_category_id_and_image_url(testapp, staff):
    starters = make_category(testapp, staff, "Starters")

    created = make_item(testapp, staff, name="Soup", category_id=starters["id"])
    plain = make_item(testapp, staff, name="Bread")

    assert created["category_id"] == starters["id"]
    assert created["image_url"] is None
    assert plain["category_id"] is None
    for listed in testapp.get(ITEMS).json["data"]:
        assert {"category_id", "image_url"} <= set(listed)


def test_creating_an_item_in_an_unknown_category_answers_422(testapp, staff):
    response = testapp.post_json(ITEMS, {"name": "Soup", "price": 500,
                                         "category_id": "no-such-category"},
                                 headers=staff, status=422)

    assert "category_id" in assert_error(response, 422, "validation_failed")["details"]
    assert testapp.get(ITEMS).json["data"] == []


def test_moving_an_item_to_an_unknown_category_answers_422_and_changes_nothing(testapp,
                                                                               staff):
    starters = make_category(testapp, staff, "Starters")
    soup = make_item(testapp, staff, category_id=starters["id"])

    response = testapp.patch_json(f"{ITEMS}/{soup['id']}", {"category_id": "no-such"},
                                  headers=staff, status=422)

    assert "category_id" in assert_error(response, 422, "validation_failed")["details"]
    after = get_item(testapp, soup["id"], staff)
    assert after["category_id"] == starters["id"]
    assert after["updated_at"] == soup["updated_at"]


def test_an_item_can_be_moved_between_categories_and_out_of_them(testapp, staff):
    starters = make_category(testapp, staff, "Starters")
    mains = make_category(testapp, staff, "Mains")
    soup = make_item(testapp, staff, category_id=starters["id"])

    moved = testapp.patch_json(f"{ITEMS}/{soup['id']}", {"category_id": mains["id"]},
                               headers=staff).json
    assert moved["category_id"] == mains["id"]
    counts = {c["name"]: c["item_count"] for c in testapp.get(CATEGORIES).json["data"]}
    assert counts == {"Starters": 0, "Mains": 1}

    out = testapp.patch_json(f"{ITEMS}/{soup['id']}", {"category_id": None},
                             headers=staff).json
    assert out["category_id"] is None


# === store =======================================================================================

def test_the_store_is_public_and_shows_the_ini_defaults(testapp):
    shown = store(testapp)  # anonymous

    assert set(shown) == STORE_FIELDS
    assert shown == {"name": STORE_NAME, "currency": "usd", "tax_rate_bps": TAX_RATE_BPS,
                     "delivery_fee": DELIVERY_FEE, "minimum_order": 0, "open": True,
                     "open_now": True, "opening_hours": {}, "time_zone": "UTC"}


def test_an_admin_may_change_the_store_settings(testapp, admin, customer):
    hours = {"mon": [["09:00", "12:00"], ["14:00", "22:00"]], "sun": [["00:00", "24:00"]]}

    changed = patch_store(testapp, admin, name="Night Bistro", tax_rate_bps=1000,
                          delivery_fee=250, minimum_order=1500, open=False,
                          opening_hours=hours, time_zone="Europe/Paris").json

    expected = {"name": "Night Bistro", "currency": "usd", "tax_rate_bps": 1000,
                "delivery_fee": 250, "minimum_order": 1500, "open": False, "open_now": False,
                "opening_hours": hours, "time_zone": "Europe/Paris"}
    assert changed == expected
    assert store(testapp) == expected
    assert testapp.get(STORE, headers=customer).json == expected


def test_a_store_patch_keeps_the_fields_it_does_not_name(testapp, admin):
    patch_store(testapp, admin, minimum_order=700)
    patch_store(testapp, admin, open=False)

    shown = store(testapp)
    assert (shown["minimum_order"], shown["open"], shown["tax_rate_bps"]) == (
        700, False, TAX_RATE_BPS)


@pytest.mark.parametrize("role", ["staff", "customer"])
def test_only_admins_may_change_the_store(testapp, auth, role):
    before = store(testapp)

    response = patch_store(testapp, auth(role), status=403, open=False)

    assert_error(response, 403, "forbidden")
    assert store(testapp) == before


def test_anonymous_callers_may_not_change_the_store(testapp):
    before = store(testapp)

    response = patch_store(testapp, {}, status=401, open=False)

    assert_error(response, 401, "unauthenticated")
    assert store(testapp) == before


@pytest.mark.parametrize(("changes", "field"), [
    pytest.param({"tax_rate_bps": 10_001}, "tax_rate_bps", id="tax-over-100%"),
    pytest.param({"tax_rate_bps": -1}, "tax_rate_bps", id="negative-tax"),
    pytest.param({"tax_rate_bps": "825"}, "tax_rate_bps", id="tax-as-string"),
    pytest.param({"tax_rate_bps": 8.25}, "tax_rate_bps", id="tax-as-float"),
    pytest.param({"delivery_fee": -1}, "delivery_fee", id="negative-fee"),
    pytest.param({"minimum_order": -1}, "minimum_order", id="negative-minimum"),
    pytest.param({"open": "yes"}, "open", id="open-as-string"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "   "}, "name", id="blank-name"),
    pytest.param({"time_zone": "Mars/Olympus_Mons"}, "time_zone", id="unknown-zone"),
    pytest.param({"time_zone": "../../etc/passwd"}, "time_zone", id="path-zone"),
    pytest.param({"time_zone": "Europe"}, "time_zone", id="region-not-zone"),
    pytest.param({"opening_hours": {"funday": [["09:00", "17:00"]]}}, "opening_hours",
                 id="unknown-day"),
    pytest.param({"opening_hours": {"mon": [["9am", "5pm"]]}}, "opening_hours",
                 id="not-hh-mm"),
    pytest.param({"opening_hours": {"mon": [["09:00", "25:00"]]}}, "opening_hours",
                 id="hour-25"),
    pytest.param({"opening_hours": {"mon": [["09:00\n", "17:00"]]}}, "opening_hours",
                 id="hh-mm-with-trailing-newline"),
    pytest.param({"opening_hours": {"mon": [["09:00", "14:00"], ["13:00", "17:00"]]}},
                 "opening_hours", id="overlapping"),
    pytest.param({"opening_hours": {"mon": [["18:00", "02:00"]], "tue": [["01:00", "03:00"]]}},
                 "opening_hours", id="overlapping-past-midnight"),
    pytest.param({"opening_hours": {"mon": [["12:00", "12:00"]]}}, "opening_hours",
                 id="start-equals-end"),
    pytest.param({"opening_hours": {"mon": [["09:00"]]}}, "opening_hours", id="half-interval"),
    pytest.param({"opening_hours": {"mon": "09:00-17:00"}}, "opening_hours",
                 id="interval-as-string"),
    pytest.param({"opening_hours": {"mon": [["09:00", "10:00"]] * 7}}, "opening_hours",
                 id="too-many-intervals"),
    pytest.param({"currency": "eur"}, "currency", id="currency-is-the-ini-s"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
    pytest.param({}, "_schema", id="empty"),
])
def test_invalid_store_settings_answer_422_naming_the_field(testapp, admin, changes, field):
    before = store(testapp)

    response = patch_store(testapp, admin, status="*", **changes)

    error = assert_error(response, 422, "validation_failed")
    assert any(key == field or key.startswith(f"{field}.") for key in error["details"]), \
        error["details"]
    assert store(testapp) == before


# === orders and the store's rules ================================================================

def test_an_order_while_the_store_is_closed_is_409_store_closed(testapp, staff, admin,
                                                                customer):
    soup = make_item(testapp, staff, stock=10)
    patch_store(testapp, admin, open=False)

    response = order(testapp, customer, (soup["id"], 2), status=409)

    assert_error(response, 409, "store_closed")
    assert get_item(testapp, soup["id"], staff)["stock"] == 10
    assert testapp.get(ORDERS, headers=customer).json["data"] == []


def test_reopening_the_store_takes_orders_again(testapp, staff, admin, customer):
    soup = make_item(testapp, staff, stock=10)
    patch_store(testapp, admin, open=False)
    order(testapp, customer, (soup["id"], 1), status=409)

    patch_store(testapp, admin, open=True)

    assert order(testapp, customer, (soup["id"], 1)).json["status"] == "pending_payment"
    assert get_item(testapp, soup["id"], staff)["stock"] == 9


def test_a_retry_with_the_same_idempotency_key_after_store_closed_places_the_order(
        testapp, staff, admin, customer):
    soup = make_item(testapp, staff, stock=10)
    patch_store(testapp, admin, open=False)
    order(testapp, customer, (soup["id"], 1), key="lunch-1", status=409)

    patch_store(testapp, admin, open=True)
    placed = order(testapp, customer, (soup["id"], 1), key="lunch-1", status=201).json

    assert placed["status"] == "pending_payment"
    assert get_item(testapp, soup["id"], staff)["stock"] == 9


def test_outside_opening_hours_orders_are_409_store_closed(testapp, staff, admin, customer):
    soup = make_item(testapp, staff, stock=10)
    patch_store(testapp, admin, opening_hours={day: [] for day in WEEK})  # never open

    response = order(testapp, customer, (soup["id"], 1), status=409)

    assert_error(response, 409, "store_closed")
    assert get_item(testapp, soup["id"], staff)["stock"] == 10


def test_within_opening_hours_orders_are_taken(testapp, staff, admin, customer):
    soup = make_item(testapp, staff, stock=10)
    patch_store(testapp, admin, time_zone="Pacific/Kiritimati",
                opening_hours={day: [["00:00", "24:00"]] for day in WEEK})

    assert order(testapp, customer, (soup["id"], 1)).json["status"] == "pending_payment"


def test_an_order_below_the_minimum_is_409_below_minimum_order(testapp, staff, admin,
                                                               customer):
    soup = make_item(testapp, staff, price=450, stock=10)
    patch_store(testapp, admin, minimum_order=1000)

    response = order(testapp, customer, (soup["id"], 2), status=409)

    error = assert_error(response, 409, "below_minimum_order")
    assert error["details"] == {"minimum_order": 1000, "subtotal": 900}
    assert get_item(testapp, soup["id"], staff)["stock"] == 10
    assert testapp.get(ORDERS, headers=customer).json["data"] == []


def test_an_order_at_the_minimum_is_accepted(testapp, staff, admin, customer):
    soup = make_item(testapp, staff, price=500, stock=10)
    patch_store(testapp, admin, minimum_order=1000)

    assert order(testapp, customer, (soup["id"], 2)).json["subtotal"] == 1000


def test_order_totals_use_the_saved_tax_rate_and_delivery_fee(testapp, staff, admin,
                                                              customer):
    soup = make_item(testapp, staff, price=1999, stock=10)
    delivery = {"type": "delivery", "address": "1 Main Street"}
    before = order(testapp, customer, (soup["id"], 1), fulfilment=delivery).json
    assert (before["tax"], before["delivery_fee"]) == (165, DELIVERY_FEE)  # ini defaults

    patch_store(testapp, admin, tax_rate_bps=1000, delivery_fee=250)
    after = order(testapp, customer, (soup["id"], 1), fulfilment=delivery, tip=100).json

    assert (after["subtotal"], after["tax"], after["delivery_fee"], after["tip"]) == (
        1999, 200, 250, 100)  # 199.9 rounds half-up to 200
    assert after["total"] == 1999 + 200 + 250 + 100
    earlier = testapp.get(f"{ORDERS}/{before['id']}", headers=customer).json
    assert (earlier["tax"], earlier["delivery_fee"], earlier["total"]) == (
        165, DELIVERY_FEE, 1999 + 165 + DELIVERY_FEE)


def test_a_pickup_order_pays_no_delivery_fee(testapp, staff, admin, customer):
    soup = make_item(testapp, staff, price=1000, stock=10)
    patch_store(testapp, admin, tax_rate_bps=0, delivery_fee=500)

    placed = order(testapp, customer, (soup["id"], 1)).json

    assert (placed["delivery_fee"], placed["tax"], placed["total"]) == (0, 0, 1000)


# === item pictures ===============================================================================

def test_put_a_raw_png_answers_the_item_with_its_image_url(testapp, staff):
    soup = make_item(testapp, staff)
    first_etag = testapp.get(f"{ITEMS}/{soup['id']}").headers["ETag"]

    response = put_image(testapp, soup["id"], staff, png())

    item = response.json
    assert item["id"] == soup["id"]
    image_path(item)
    assert item["image_url"].startswith("http")  # absolute, ready for a client
    assert response.headers["ETag"] != first_etag  # the item changed
    assert get_item(testapp, soup["id"], staff)["image_url"] == item["image_url"]
    listed = testapp.get(ITEMS).json["data"]
    assert [i["image_url"] for i in listed] == [item["image_url"]]


def test_put_a_multipart_upload_answers_the_item_with_its_image_url(testapp, staff):
    soup = make_item(testapp, staff)
    jpeg = encode(Image.new("RGB", (20, 10), (10, 120, 10)), "JPEG")

    item = put_image_form(testapp, soup["id"], staff, jpeg, filename="lunch.jpg").json

    assert image_path(item).endswith(".jpg")


def test_the_picture_is_served_with_long_lived_caching(testapp, staff):
    soup = make_item(testapp, staff)
    item = put_image(testapp, soup["id"], staff, png(size=(16, 12))).json

    served = testapp.get(item["image_url"], status=200)  # anonymous

    assert served.content_type == "image/png"
    picture = Image.open(io.BytesIO(served.body))
    assert (picture.format, picture.size) == ("PNG", (16, 12))
    cache = served.headers["Cache-Control"]
    assert "max-age=" in cache
    assert int(re.search(r"max-age=(\d+)", cache).group(1)) >= 86_400
    assert "immutable" in cache
    assert served.headers["ETag"]
    assert served.headers.get("X-Content-Type-Options") == "nosniff"

    again = testapp.get(item["image_url"], headers={"If-None-Match": served.headers["ETag"]},
                        status=304)
    assert again.body == b""


def test_the_served_picture_is_re_encoded_without_metadata(testapp, staff):
    soup = make_item(testapp, staff)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SpyCamMaker"
    exif[ExifTags.Base.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N",
                                   ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0)}
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "home-address-secret")
    upload = png(exif=exif, pnginfo=info)

    item = put_image(testapp, soup["id"], staff, upload).json
    served = testapp.get(item["image_url"]).body

    assert b"SpyCamMaker" not in served
    assert b"home-address-secret" not in served
    assert len(Image.open(io.BytesIO(served)).getexif()) == 0


def test_the_content_decides_the_format_not_the_declared_type_or_name(testapp, staff):
    soup = make_item(testapp, staff, name="Soup")
    stew = make_item(testapp, staff, name="Stew")

    raw = put_image(testapp, soup["id"], staff, png(), content_type="image/jpeg").json
    form = put_image_form(testapp, stew["id"], staff, png((1, 2, 3)), filename="x.svg").json

    assert image_path(raw).endswith(".png")
    assert image_path(form).endswith(".png")
    assert testapp.get(raw["image_url"]).content_type == "image/png"


@pytest.mark.parametrize(("data", "content_type"), [
    pytest.param(SVG, "image/svg+xml", id="svg"),
    pytest.param(SVG, "image/png", id="svg-declared-png"),
    pytest.param(encode(Image.new("RGB", (8, 8)), "GIF"), "image/gif", id="gif"),
    pytest.param(b"definitely not a picture", "image/png", id="text-declared-png"),
])  # a truncated PNG is a damaged picture now: test_picture_uploads.py answers it 422
def test_a_body_that_is_not_png_jpeg_or_webp_answers_415(testapp, staff, data, content_type):
    soup = make_item(testapp, staff)

    response = put_image(testapp, soup["id"], staff, data, content_type=content_type,
                         status="*")

    assert_error(response, 415, "unsupported_media_type")
    assert get_item(testapp, soup["id"], staff)["image_url"] is None


def test_an_svg_in_a_multipart_form_answers_415(testapp, staff):
    soup = make_item(testapp, staff)

    response = put_image_form(testapp, soup["id"], staff, SVG, filename="logo.svg",
                              status="*")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json",
                                          "application/x-www-form-urlencoded"])
def test_a_non_image_content_type_answers_415(testapp, staff, content_type):
    soup = make_item(testapp, staff)

    response = put_image(testapp, soup["id"], staff, png(), content_type=content_type,
                         status=415)

    assert_error(response, 415, "unsupported_media_type")
    assert get_item(testapp, soup["id"], staff)["image_url"] is None


def test_a_form_without_an_image_field_answers_422(testapp, staff):
    soup = make_item(testapp, staff)

    response = put_image_form(testapp, soup["id"], staff, png(), field="picture", status=422)

    assert "image" in assert_error(response, 422, "validation_failed")["details"]


def test_a_picture_claiming_enormous_dimensions_answers_413(testapp, staff):
    soup = make_item(testapp, staff)

    response = put_image(testapp, soup["id"], staff, png_claiming(20_000, 20_000),
                         status="*")

    assert_error(response, 413, "payload_too_large")
    assert get_item(testapp, soup["id"], staff)["image_url"] is None


class TestSizeLimit:
    """With minimart.images.max_bytes set small (the ini's knob)."""

    LIMIT = 2048

    @pytest.fixture
    def app_settings(self, app_settings: dict[str, Any]) -> dict[str, Any]:
        return {**app_settings, "minimart.images.max_bytes": str(self.LIMIT)}

    def test_a_raw_body_over_the_limit_answers_413(self, testapp, staff):
        soup = make_item(testapp, staff)
        big = noisy_png()
        assert len(big) > self.LIMIT

        response = put_image(testapp, soup["id"], staff, big, status=413)

        assert_error(response, 413, "payload_too_large")
        assert get_item(testapp, soup["id"], staff)["image_url"] is None

    def test_a_body_far_over_the_limit_answers_413(self, testapp, staff):
        soup = make_item(testapp, staff)
        huge = noisy_png(200)
        assert len(huge) > self.LIMIT + 64 * 1024

        response = put_image(testapp, soup["id"], staff, huge, status=413)

        assert_error(response, 413, "payload_too_large")

    def test_a_multipart_upload_over_the_limit_answers_413(self, testapp, staff):
        soup = make_item(testapp, staff)

        response = put_image_form(testapp, soup["id"], staff, noisy_png(), status=413)

        assert_error(response, 413, "payload_too_large")

    def test_a_picture_within_the_limit_is_accepted(self, testapp, staff):
        soup = make_item(testapp, staff)
        small = png()
        assert len(small) < self.LIMIT

        assert put_image(testapp, soup["id"], staff, small).json["image_url"]


def test_customers_may_not_change_pictures(testapp, staff, customer):
    soup = make_item(testapp, staff)

    assert_error(put_image(testapp, soup["id"], customer, png(), status=403), 403,
                 "forbidden")
    assert_error(put_image_form(testapp, soup["id"], customer, png(), status=403), 403,
                 "forbidden")
    assert_error(testapp.delete(f"{ITEMS}/{soup['id']}/image", headers=customer, status=403),
                 403, "forbidden")
    assert get_item(testapp, soup["id"], staff)["image_url"] is None


def test_anonymous_callers_may_not_change_pictures(testapp, staff):
    soup = make_item(testapp, staff)

    assert_error(put_image(testapp, soup["id"], {}, png(), status=401), 401,
                 "unauthenticated")
    assert_error(testapp.delete(f"{ITEMS}/{soup['id']}/image", status=401), 401,
                 "unauthenticated")


def test_a_picture_for_an_unknown_item_answers_404(testapp, staff):
    assert_error(put_image(testapp, "no-such-item", staff, png(), status=404), 404,
                 "not_found")
    assert_error(testapp.delete(f"{ITEMS}/no-such-item/image", headers=staff, status=404),
                 404, "not_found")


def test_delete_image_answers_204_and_the_item_has_no_image_url(testapp, staff):
    soup = make_item(testapp, staff)
    item = put_image(testapp, soup["id"], staff, png()).json

    response = testapp.delete(f"{ITEMS}/{soup['id']}/image", headers=staff, status=204)

    assert response.body == b""
    assert get_item(testapp, soup["id"], staff)["image_url"] is None
    testapp.get(item["image_url"], status=200)  # cached pages name it until a sweep
    testapp.delete(f"{ITEMS}/{soup['id']}/image", headers=staff, status=204)  # harmless


def test_replacing_a_picture_serves_the_new_one_and_keeps_the_old(testapp, staff):
    soup = make_item(testapp, staff)
    old = put_image(testapp, soup["id"], staff, png((255, 0, 0))).json["image_url"]

    new = put_image(testapp, soup["id"], staff, png((0, 0, 255))).json["image_url"]

    assert new != old
    assert Image.open(io.BytesIO(testapp.get(new).body)).convert("RGB").getpixel(
        (1, 1)) == (0, 0, 255)
    testapp.get(old, status=200)  # pages cached before the change still name it


def test_a_picture_two_items_share_stays_while_one_shows_it(testapp, staff):
    soup = make_item(testapp, staff, name="Soup")
    stew = make_item(testapp, staff, name="Stew")
    shared = put_image(testapp, soup["id"], staff, png()).json["image_url"]
    assert put_image(testapp, stew["id"], staff, png()).json["image_url"] == shared

    testapp.delete(f"{ITEMS}/{soup['id']}/image", headers=staff, status=204)

    testapp.get(shared, status=200)


@pytest.mark.parametrize("key", ["nope", "0" * 64 + ".png", "0" * 64 + ".svg"])
def test_an_unknown_image_answers_404_json(testapp, key):
    response = testapp.get(f"/images/{key}", status=404)

    assert_error(response, 404, "not_found")


def test_a_path_climbing_out_of_the_images_folder_finds_nothing(testapp):
    response = testapp.get("/images/..%2F..%2Fetc%2Fpasswd", status=404)

    assert b"root:" not in response.body
