"""The owner's admin pages through webtest: dashboard, items, stock, orders and the audit
trail, each form validated by the API's schemas (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from minimart.domain.actors import Actor, Role
from minimart.domain.audit import AuditQuery
from minimart.domain.orders import OrderStatus, PlaceOrder, RequestedLine
from tests.functional.html_pages import (
    add_item,
    all_items,
    all_orders,
    field_error,
    form_alert,
    get_item,
    sign_in,
    text_of,
)


@pytest.fixture
def admin(make_account, testapp):
    account = make_account("admin")
    sign_in(testapp, account["email"])
    return account


@pytest.fixture
def staff(make_account, testapp):
    account = make_account("staff")
    sign_in(testapp, account["email"])
    return account


def place(in_transaction, customer_id, item_id, quantity=1, paid=True):
    return in_transaction(lambda s: s.orders.place_order(
        PlaceOrder(lines=(RequestedLine(item_id, quantity),),
                   payment_method="pm_card_visa" if paid else None),
        Actor(customer_id, Role.CUSTOMER)).order)


def audit_actions(in_transaction, entity_id):
    return [e.action for e in in_transaction(lambda s: s.audit.list_events(
        AuditQuery(entity_id=entity_id, limit=100), Actor.system()).entries)]


def table_rows(page, table_id):
    return [row.get_text(" ", strip=True) for row in page.html.select(f"#{table_id} tbody tr")]


# --- dashboard ---------------------------------------------------------------------------------
def test_the_dashboard_shows_today_a_30_day_chart_and_what_runs_low(testapp, in_transaction,
                                                                     make_account, staff):
    customer = make_account("customer")
    tea = add_item(in_transaction, "Tea", 450, 50)
    add_item(in_transaction, "Saffron", 999, 2)
    paid = place(in_transaction, customer["id"], tea.id, 2)
    place(in_transaction, customer["id"], tea.id, 1, paid=False)

    page = testapp.get("/admin", status=200)

    total = f"${paid.totals.total.amount / 100:.2f}"
    assert text_of(page, "#orders-today") == "2"
    assert text_of(page, "#revenue-today") == total
    bars = page.html.select("svg rect.bar")
    assert len(bars) == 30
    assert bars[-1].title.get_text().endswith(f": {total}")
    assert all(float(bar["height"]) == 0 for bar in bars[:-1])
    assert float(bars[-1]["height"]) > 0
    assert len(page.html.select("svg circle.dot")) == 30
    low = text_of(page, ".low-stock")
    assert "Saffron" in low and "2 left" in low and "Tea" not in low


def test_a_customer_gets_a_403_page_on_every_admin_page(testapp, make_account):
    sign_in(testapp, make_account("customer")["email"])

    for path in ("/admin", "/admin/items", "/admin/items/new", "/admin/orders",
                 "/admin/audit"):
        page = testapp.get(path, status=403)
        assert page.content_type == "text/html"
        assert "Not allowed" in page.text


def test_a_visitor_is_sent_to_sign_in_and_back(testapp, make_account):
    redirect = testapp.get("/admin/items", {"q": "tea"}, status=303)

    assert redirect.location.endswith("/login?next=%2Fadmin%2Fitems%3Fq%3Dtea")
    back = sign_in(testapp, make_account("staff")["email"],
                   path="/" + redirect.location.split("/", 3)[3])
    assert back.location.endswith("/admin/items?q=tea")


# --- items ---------------------------------------------------------------------------------
def test_the_items_table_searches_and_shows_archived_items_on_request(testapp, in_transaction,
                                                                      staff):
    add_item(in_transaction, "Green tea", sku="TEA-1")
    add_item(in_transaction, "Coffee")
    old = add_item(in_transaction, "Old tea")
    in_transaction(lambda s: s.catalog.archive_item(old.id, Actor.system()))

    found = testapp.get("/admin/items", {"q": "tea"})
    with_archived = testapp.get("/admin/items", {"q": "tea", "include_archived": "on"})

    assert [r.split(" TEA-1")[0] for r in table_rows(found, "items-table")] == ["Green tea"]
    rows = table_rows(with_archived, "items-table")
    assert len(rows) == 2 and "Archived" in rows[1] and rows[1].startswith("Old tea")


def test_the_items_table_pages_by_25(testapp, in_transaction, staff):
    for n in range(30):
        add_item(in_transaction, f"Item {n:02d}")

    first = testapp.get("/admin/items")
    second = testapp.get(first.html.select_one("a[rel=next]")["href"])

    assert len(table_rows(first, "items-table")) == 25
    assert [r.split(" ")[1] for r in table_rows(second, "items-table")] == \
        ["25", "26", "27", "28", "29"]


def test_adding_an_item_reads_the_price_in_currency_units(testapp, in_transaction, staff):
    form = testapp.get("/admin/items/new").forms["item-form"]
    form["name"] = "Green tea"
    form["description"] = "Loose leaf"
    form["price"] = "12.50"
    form["stock"] = "7"
    form["sku"] = "TEA-1"
    form["featured"] = True

    listing = form.submit(status=303).follow()

    [item] = all_items(in_transaction)
    assert (item.name, item.description, item.price.amount, item.stock, item.sku,
            item.featured, item.available) == ("Green tea", "Loose leaf", 1250, 7, "TEA-1",
                                               True, True)
    assert "Added Green tea." in text_of(listing, ".flash")
    assert audit_actions(in_transaction, item.id) == ["item.created"]


def test_an_invalid_item_form_shows_each_problem_beside_its_field(testapp, in_transaction,
                                                                  staff):
    form = testapp.get("/admin/items/new").forms["item-form"]
    form["name"] = ""
    form["description"] = "kept <b>as typed</b>"
    form["price"] = "12,50"
    form["stock"] = "-1"
    form["sku"] = "has spaces"

    page = form.submit(status=422)

    assert field_error(page, "name")
    assert field_error(page, "price") == "Enter an amount such as 12.50."
    assert field_error(page, "stock")
    assert "Letters, digits" in field_error(page, "sku")
    kept = page.forms["item-form"]
    assert (kept["price"].value, kept["stock"].value, kept["sku"].value,
            kept["description"].value) == ("12,50", "-1", "has spaces", "kept <b>as typed</b>")
    assert all_items(in_transaction) == []


def test_a_taken_sku_is_refused_beside_the_sku(testapp, in_transaction, staff):
    add_item(in_transaction, "First", sku="TEA-1")
    form = testapp.get("/admin/items/new").forms["item-form"]
    form["name"], form["price"], form["sku"] = "Second", "1", "TEA-1"

    page = form.submit(status=409)

    assert "is taken" in field_error(page, "sku")
    assert [i.name for i in all_items(in_transaction)] == ["First"]


def test_editing_an_item_changes_its_price(testapp, in_transaction, staff):
    item = add_item(in_transaction, "Tea", 450, 9)
    form = testapp.get(f"/admin/items/{item.id}/edit").forms["item-form"]
    assert form["price"].value == "4.50"
    assert form["name"].value == "Tea"

    form["price"] = "5.25"
    form.submit(status=303)

    changed = get_item(in_transaction, item.id)
    assert (changed.price.amount, changed.name, changed.stock) == (525, "Tea", 9)
    assert audit_actions(in_transaction, item.id)[0] == "item.updated"


def test_an_edit_over_someone_elses_change_is_refused_then_can_be_saved(testapp,
                                                                        in_transaction, staff):
    item = add_item(in_transaction, "Tea", 450)
    form = testapp.get(f"/admin/items/{item.id}/edit").forms["item-form"]
    in_transaction(lambda s: s.catalog.update_item(item.id, {"name": "Black tea"},
                                                   Actor.system()))
    form["price"] = "6.00"

    page = form.submit(status=412)

    assert "Someone changed this item" in form_alert(page)
    assert get_item(in_transaction, item.id).price.amount == 450
    assert page.forms["item-form"]["price"].value == "6.00"
    page.forms["item-form"].submit(status=303)
    assert get_item(in_transaction, item.id).price.amount == 600


def test_archiving_asks_first_then_hides_the_item_from_shoppers(testapp, in_transaction,
                                                                 staff):
    item = add_item(in_transaction, "Tea")

    confirm = testapp.get(f"/admin/items/{item.id}/archive", status=200)
    assert "Archive Tea?" in text_of(confirm, "h1")
    assert not get_item(in_transaction, item.id).archived

    confirm.forms["archive-form"].submit(status=303)

    assert get_item(in_transaction, item.id).archived
    assert testapp.get("/").html.select(".product") == []
    assert audit_actions(in_transaction, item.id)[0] == "item.archived"


def test_stock_is_adjusted_with_a_reason_kept_in_the_audit_trail(testapp, in_transaction,
                                                                 staff):
    item = add_item(in_transaction, "Tea", stock=3)
    form = testapp.get(f"/admin/items/{item.id}/stock").forms["stock-form"]
    form["delta"], form["reason"] = "12", "Delivery"

    form.submit(status=303)

    assert get_item(in_transaction, item.id).stock == 15
    [event] = [e for e in in_transaction(lambda s: s.audit.list_events(
        AuditQuery(entity_id=item.id), Actor.system()).entries)
        if e.action == "item.stock_adjusted"]
    assert event.changes["reason"] == [None, "Delivery"]


def test_stock_cannot_go_below_zero_and_a_reason_is_required(testapp, in_transaction, staff):
    item = add_item(in_transaction, "Tea", stock=3)
    form = testapp.get(f"/admin/items/{item.id}/stock").forms["stock-form"]

    form["delta"], form["reason"] = "-4", "Broken"
    below = form.submit(status=409)
    assert "below zero" in field_error(below, "delta")
    assert below.forms["stock-form"]["reason"].value == "Broken"

    form["delta"], form["reason"] = "-1", ""
    assert field_error(form.submit(status=422), "reason")
    assert get_item(in_transaction, item.id).stock == 3


# --- orders ------------------------------------------------------------------------------------
def test_staff_fulfil_paid_orders_but_see_no_refund_button(testapp, in_transaction,
                                                            make_account, staff):
    customer = make_account("customer")
    tea = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, customer["id"], tea.id)

    page = testapp.get("/admin/orders", status=200)
    [row] = page.html.select("#orders-table tbody tr")
    assert customer["email"] in row.get_text()
    assert row.select_one(f"form[action='/admin/orders/{order.id}/fulfil']")
    assert row.select_one("form[action$='/refund']") is None

    fulfil = page.forms[f"fulfil-{order.id}"]
    after = fulfil.submit(status=303).follow()

    assert all_orders(in_transaction)[0].status is OrderStatus.FULFILLED
    assert "is fulfilled" in text_of(after, ".flash")
    testapp.post(f"/admin/orders/{order.id}/refund",
                 {"csrf_token": fulfil["csrf_token"].value}, status=403)
    assert all_orders(in_transaction)[0].status is OrderStatus.FULFILLED


def test_an_admin_refunds_an_order_from_the_list(testapp, in_transaction, make_account, admin):
    customer = make_account("customer")
    tea = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, customer["id"], tea.id, 2)

    page = testapp.get("/admin/orders")
    page.forms[f"refund-{order.id}"].submit(status=303)

    assert all_orders(in_transaction)[0].status is OrderStatus.REFUNDED
    assert get_item(in_transaction, tea.id).stock == 10


def test_the_orders_list_filters_by_status(testapp, in_transaction, make_account, staff):
    customer = make_account("customer")
    tea = add_item(in_transaction, "Tea", 450, 10)
    paid = place(in_transaction, customer["id"], tea.id)
    pending = place(in_transaction, customer["id"], tea.id, paid=False)

    def listed(status):
        page = testapp.get("/admin/orders", {"status": status})
        return [a["href"].rsplit("/", 1)[1] for a in page.html.select("#orders-table td a")]

    assert listed("paid") == [paid.id]
    assert listed("pending_payment") == [pending.id]
    assert sorted(listed("")) == sorted([paid.id, pending.id])
    bogus = testapp.get("/admin/orders", {"status": "lost"}, status=200)
    assert field_error(bogus, "status")


def test_fulfilling_an_order_twice_answers_a_409_page(testapp, in_transaction, make_account,
                                                     staff):
    customer = make_account("customer")
    tea = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, customer["id"], tea.id)
    form = testapp.get("/admin/orders").forms[f"fulfil-{order.id}"]
    form.submit(status=303)

    page = form.submit(status=409)

    assert page.content_type == "text/html"
    assert re.search(r"fulfilled order cannot become fulfilled", page.text)


# --- audit -------------------------------------------------------------------------------------
def test_the_audit_trail_is_for_admins_only(testapp, in_transaction, make_account):
    item = add_item(in_transaction, "Tea")
    in_transaction(lambda s: s.catalog.adjust_stock(item.id, 5, "Delivery", Actor.system()))
    staff = make_account("staff")
    sign_in(testapp, staff["email"])
    testapp.get("/admin/audit", status=403)
    assert "Audit trail" not in text_of(testapp.get("/admin"), ".subnav")

    sign_in(testapp, make_account("admin")["email"])
    page = testapp.get("/admin/audit", {"entity_type": "item"}, status=200)

    rows = table_rows(page, "audit-table")
    assert [r for r in rows if "item.stock_adjusted" in r and "Delivery" in r]
    assert [r for r in rows if "item.created" in r]
    assert not [r for r in rows if "account.created" in r]
