"""The item page's order form speaks plainly, beside the quantity field: no validator text,
and no talk of "every line" on a page that orders one item."""

from __future__ import annotations

import pytest

from tests.functional.html_pages import add_item, all_orders, field_error, form_alert, sign_in


@pytest.fixture
def shopper(make_account, testapp):
    account = make_account("customer")
    sign_in(testapp, account["email"])
    return account


@pytest.mark.parametrize("quantity", ["0", "-3", "1001"])
def test_a_quantity_out_of_range_is_explained_in_plain_words(testapp, in_transaction, shopper,
                                                             quantity):
    item = add_item(in_transaction, "Tea", 450, 5)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    form["quantity"] = quantity

    page = form.submit(status=422)

    assert field_error(page, "quantity") == "Choose a quantity from 1 to 1000."
    assert "greater than" not in page.text and "less than" not in page.text
    assert all_orders(in_transaction) == []


@pytest.mark.parametrize(("stock", "message"), [
    (2, "Only 2 left: choose 2 or fewer."), (0, "Sorry, this item is sold out."),
])
def test_too_little_stock_is_said_of_this_item_beside_the_quantity(testapp, in_transaction,
                                                                   shopper, stock, message):
    item = add_item(in_transaction, "Tea", 450, stock)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    form["quantity"] = "3"

    page = form.submit(status=409)

    assert field_error(page, "quantity") == message
    assert "every line" not in page.text.lower()
    assert message not in form_alert(page)
    assert all_orders(in_transaction) == []


def test_an_item_made_unavailable_meanwhile_is_said_plainly(testapp, in_transaction, shopper):
    from minimart.domain.actors import Actor

    item = add_item(in_transaction, "Tea", 450, 5)
    form = testapp.get(f"/items/{item.id}").forms["order-form"]
    in_transaction(lambda s: s.catalog.update_item(item.id, {"available": False},
                                                   Actor.system()))

    page = form.submit(status=422)

    assert "This item cannot be ordered just now." in form_alert(page)
    assert "lines" not in page.text.lower().replace("headlines", "")
