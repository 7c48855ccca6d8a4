"""The storefront pages through webtest: browsing, searching, ordering, one's orders, and
signing in, up and out (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from minimart.domain.actors import Actor
from minimart.domain.orders import OrderStatus
from tests.functional.conftest import PASSWORD
from tests.functional.html_pages import (
    add_item,
    all_orders,
    field_error,
    form_alert,
    get_item,
    sign_in,
    text_of,
)


def card_names(page) -> list[str]:
    return [h.get_text(strip=True) for h in page.html.select(".product h2")]


@pytest.fixture
def shopper(make_account, testapp):
    account = make_account("customer")
    sign_in(testapp, account["email"])
    return account


# --- browsing --------------------------------------------------------------------------------
def test_the_storefront_lists_items_with_price_description_and_stock(testapp, in_transaction):
    add_item(in_transaction, "Sourdough loaf", 650, 8, description="Slow rise")
    add_item(in_transaction, "Free-range eggs", 549, 0)

    page = testapp.get("/", status=200)

    assert page.content_type == "text/html"
    cards = {c.select_one("h2").get_text(strip=True): c.get_text(" ", strip=True)
             for c in page.html.select(".product")}
    assert set(cards) == {"Sourdough loaf", "Free-range eggs"}
    assert "$6.50" in cards["Sourdough loaf"]
    assert "Slow rise" in cards["Sourdough loaf"]
    assert "8 in stock" in cards["Sourdough loaf"]
    assert "$5.49" in cards["Free-range eggs"]
    assert "Out of stock" in cards["Free-range eggs"]


def test_archived_items_are_not_on_the_storefront(testapp, in_transaction):
    add_item(in_transaction, "Kept")
    gone = add_item(in_transaction, "Gone")
    in_transaction(lambda s: s.catalog.archive_item(gone.id, Actor.system()))

    assert card_names(testapp.get("/")) == ["Kept"]
    testapp.get(f"/items/{gone.id}", status=404)


def test_the_search_box_finds_items_by_name_or_description(testapp, in_transaction):
    add_item(in_transaction, "Green tea")
    add_item(in_transaction, "Coffee", description="Goes well with tea cakes")
    add_item(in_transaction, "Bread")

    page = testapp.get("/").forms["filters"]
    page["q"] = "TEA"
    results = page.submit()

    assert sorted(card_names(results)) == ["Coffee", "Green tea"]
    assert results.forms["filters"]["q"].value == "TEA"


def test_the_price_filter_is_typed_in_currency_units(testapp, in_transaction):
    for name, price in (("Cheap", 199), ("Middle", 500), ("Dear", 1250)):
        add_item(in_transaction, name, price)

    page = testapp.get("/", {"min_price": "2", "max_price": "12.50"})

    assert sorted(card_names(page)) == ["Dear", "Middle"]


def test_sorting_by_price_descending(testapp, in_transaction):
    for name, price in (("A", 300), ("B", 100), ("C", 200)):
        add_item(in_transaction, name, price)

    assert card_names(testapp.get("/", {"sort": "-price"})) == ["A", "C", "B"]


def test_in_stock_only_hides_sold_out_items(testapp, in_transaction):
    add_item(in_transaction, "Here", stock=1)
    add_item(in_transaction, "Sold out", stock=0)

    assert card_names(testapp.get("/", {"in_stock": "on"})) == ["Here"]


def test_an_unreadable_filter_is_shown_beside_its_field_and_kept(testapp, in_transaction):
    add_item(in_transaction, "Tea")

    page = testapp.get("/", {"min_price": "cheap", "sort": "bogus"}, status=200)

    assert "Enter an amount such as 12.50" in field_error(page, "min_price")
    assert field_error(page, "sort")
    assert page.forms["filters"]["min_price"].value == "cheap"
    assert card_names(page) == ["Tea"]


def test_pages_follow_one_another_by_keyset_cursor(testapp, in_transaction):
    names = [f"Item {n:02d}" for n in range(15)]
    for name in names:
        add_item(in_transaction, name)

    first = testapp.get("/", {"q": "item"})
    next_link = first.html.select_one("a[rel=next]")["href"]
    second = testapp.get(next_link)

    assert card_names(first) == names[:12]
    assert card_names(second) == names[12:]
    assert "q=item" in next_link
    assert second.html.select_one("a[rel=next]") is None
    assert second.html.find("a", string=re.compile("First page"))


def test_a_garbled_page_link_shows_the_first_page_with_a_note(testapp, in_transaction):
    add_item(in_transaction, "Tea")

    page = testapp.get("/", {"cursor": "not-a-cursor"}, status=200)

    assert "no longer works" in form_alert(page)
    assert card_names(page) == ["Tea"]


def test_an_item_page_shows_the_item_and_asks_visitors_to_sign_in(testapp, in_transaction):
    item = add_item(in_transaction, "Tea", 450, 3, description="Loose leaf", sku="TEA-1")

    page = testapp.get(f"/items/{item.id}", status=200)

    text = text_of(page)
    assert "Tea" in text and "$4.50" in text and "3 in stock" in text and "Loose leaf" in text
    assert "order-form" not in page.forms
    sign_in_link = page.html.find("a", string=re.compile("Sign in to order"))["href"]
    assert sign_in_link == f"/login?next=%2Fitems%2F{item.id}"


def test_an_unknown_item_or_page_answers_an_html_404(testapp):
    for path in ("/items/nope", "/no/such/page"):
        page = testapp.get(path, status=404)
        assert page.content_type == "text/html"
        assert "Page not found" in page.text or "no such item" in page.text.lower()


# --- ordering ----------------------------------------------------------------------------------
def test_a_shopper_orders_from_the_item_page_and_sees_the_order(testapp, in_transaction,
                                                                  shopper):
    item = add_item(in_transaction, "Tea", 450, 5)

    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    form["quantity"] = "2"
    redirect = form.submit(status=303)
    order_page = redirect.follow(status=200)

    [order] = all_orders(in_transaction)
    assert redirect.location.endswith(f"/orders/{order.id}")
    assert order.customer_id == shopper["id"]
    assert [(line.item_id, line.quantity) for line in order.lines] == [(item.id, 2)]
    assert get_item(in_transaction, item.id).stock == 3
    assert "Pending payment" in text_of(order_page, ".status-line")
    assert "Tea $4.50 2 $9.00" in text_of(order_page, "table")
    assert "2 \u00d7 Tea" in text_of(testapp.get("/orders"), "table")
    assert "your order is placed" in text_of(order_page, ".flash")


@pytest.mark.parametrize(("quantity", "message"), [
    ("", "Enter a whole number."), ("two", "Enter a whole number."), ("0", "1"),
    ("1001", "1000"),
])
def test_an_unreadable_quantity_is_refused_beside_the_field(testapp, in_transaction, shopper,
                                                            quantity, message):
    item = add_item(in_transaction, "Tea", 450, 5)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    form["quantity"] = quantity

    page = form.submit(status=422)

    assert message in field_error(page, "quantity")
    assert page.forms["order-form"]["quantity"].value == quantity
    assert all_orders(in_transaction) == []
    assert get_item(in_transaction, item.id).stock == 5


def test_ordering_more_than_the_stock_is_refused_and_reserves_nothing(testapp, in_transaction,
                                                                      shopper):
    item = add_item(in_transaction, "Tea", 450, 2)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    form["quantity"] = "3"

    page = form.submit(status=409)

    assert "Only 2 left" in field_error(page, "quantity")
    assert all_orders(in_transaction) == []
    assert get_item(in_transaction, item.id).stock == 2


def test_submitting_the_same_order_form_twice_places_one_order(testapp, in_transaction,
                                                               shopper):
    item = add_item(in_transaction, "Tea", 450, 5)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]

    first = form.submit(status=303)
    second = form.submit(status=303)

    assert first.location == second.location
    assert len(all_orders(in_transaction)) == 1
    assert get_item(in_transaction, item.id).stock == 4


def test_my_orders_lists_only_the_shoppers_own_orders(testapp, in_transaction, make_account,
                                                      app):
    from webtest import TestApp

    item = add_item(in_transaction, "Tea", 450, 10)
    other = make_account("customer")
    other_browser = TestApp(app)
    sign_in(other_browser, other["email"])
    other_browser.get(f"/items/{item.id}").forms["order-form"].submit(status=303)
    mine = make_account("customer")
    sign_in(testapp, mine["email"])
    testapp.get(f"/items/{item.id}").forms["order-form"].submit(status=303)

    page = testapp.get("/orders", status=200)

    orders = {o.customer_id: o for o in all_orders(in_transaction)}
    links = [a["href"] for a in page.html.select("table a")]
    assert links == [f"/orders/{orders[mine['id']].id}"]
    testapp.get(f"/orders/{orders[other['id']].id}", status=404)


def test_a_shopper_cancels_a_pending_order_and_the_stock_comes_back(testapp, in_transaction,
                                                                    shopper):
    item = add_item(in_transaction, "Tea", 450, 5)
    order_page = testapp.get(f"/items/{item.id}").forms["order-form"].submit().follow()

    after = order_page.forms["cancel-form"].submit(status=303).follow()

    assert "Cancelled" in text_of(after, ".status-line")
    assert all_orders(in_transaction)[0].status is OrderStatus.CANCELLED
    assert get_item(in_transaction, item.id).stock == 5
    assert "cancel-form" not in after.forms


# --- accounts ----------------------------------------------------------------------------------
def test_signing_in_goes_back_to_the_page_asked_for(testapp, make_account):
    account = make_account("customer")
    testapp.get("/orders", status=303)

    redirect = sign_in(testapp, account["email"], path="/login?next=/orders")

    assert redirect.location.endswith("/orders")
    assert "My orders" in redirect.follow(status=200).text


def test_staff_land_on_the_dashboard_after_signing_in(testapp, make_account):
    redirect = sign_in(testapp, make_account("staff")["email"])

    assert redirect.location.endswith("/admin")


def test_a_wrong_password_is_refused_on_the_page_keeping_the_email(testapp, make_account):
    account = make_account("customer")
    form = testapp.get("/login").forms["login-form"]
    form["email"] = account["email"]
    form["password"] = "not the password"

    page = form.submit(status=401)

    assert "Wrong email or password" in form_alert(page)
    assert page.forms["login-form"]["email"].value == account["email"]
    assert page.forms["login-form"]["password"].value == ""
    testapp.get("/orders", status=303)


def test_an_empty_login_form_names_both_fields(testapp):
    page = testapp.get("/login").forms["login-form"].submit(status=422)

    assert field_error(page, "email")
    assert field_error(page, "password")


def test_too_many_failed_sign_ins_answer_429_with_the_message_on_the_page(testapp,
                                                                          make_account):
    account = make_account("customer")
    for _ in range(5):
        form = testapp.get("/login").forms["login-form"]
        form["email"], form["password"] = account["email"], "wrong password"
        form.submit(status=401)

    form = testapp.get("/login").forms["login-form"]
    form["email"], form["password"] = account["email"], PASSWORD
    page = form.submit(status=429)

    assert "Too many failed sign-ins" in form_alert(page)
    assert int(page.headers["Retry-After"]) > 0


def test_registering_signs_the_shopper_in(testapp, in_transaction):
    form = testapp.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "Eve", "Eve@Example.com", PASSWORD

    page = form.submit(status=303).follow()

    account = in_transaction(lambda s: s.accounts.find_by_email("eve@example.com"))
    assert account.name == "Eve" and account.role.value == "customer"
    assert "Eve" in text_of(page, ".nav")
    testapp.get("/orders", status=200)


def test_registration_problems_are_shown_beside_their_fields(testapp, make_account):
    taken = make_account("customer")["email"]
    form = testapp.get("/register").forms["register-form"]
    form["name"], form["email"], form["password"] = "Eve", "not-an-email", "short"

    page = form.submit(status=422)

    assert field_error(page, "email") == "Not a valid email address."
    assert page.forms["register-form"]["name"].value == "Eve"
    assert page.forms["register-form"]["email"].value == "not-an-email"

    form = page.forms["register-form"]
    form["email"], form["password"] = "eve@example.com", "short"
    assert "at least 10 characters" in field_error(form.submit(status=422), "password")

    form["email"], form["password"] = taken, PASSWORD
    assert "exists" in field_error(form.submit(status=409), "email")
