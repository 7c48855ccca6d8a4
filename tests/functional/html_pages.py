"""Helpers for driving the HTML pages in webtest the way a browser does: through the forms
the pages serve, their CSRF token included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from webtest import TestApp, TestResponse

from minimart.domain.actors import Actor
from minimart.domain.catalog import Item, ItemQuery, NewItem
from minimart.domain.orders import Order, OrderQuery
from tests.functional.conftest import PASSWORD

InTransaction = Callable[[Callable[[Any], Any]], Any]


def sign_in(testapp: TestApp, email: str, password: str = PASSWORD,
            path: str = "/login") -> TestResponse:
    """Sign in through the login form; answers the redirect."""
    form = testapp.get(path).forms["login-form"]
    form["email"] = email
    form["password"] = password
    return form.submit(status=303)


def add_item(in_transaction: InTransaction, name: str = "Tea", price: int = 450,
             stock: int = 10, **fields: Any) -> Item:
    return in_transaction(lambda s: s.catalog.create_item(
        NewItem(name=name, price=price, stock=stock, **fields), Actor.system()))


def get_item(in_transaction: InTransaction, item_id: str) -> Item:
    return in_transaction(lambda s: s.catalog.get_item(item_id, Actor.system()))


def all_items(in_transaction: InTransaction) -> list[Item]:
    return in_transaction(lambda s: s.catalog.list_items(
        ItemQuery(include_archived=True, limit=100), Actor.system()).entries)


def all_orders(in_transaction: InTransaction) -> list[Order]:
    return in_transaction(lambda s: s.orders.list_orders(OrderQuery(limit=100),
                                                         Actor.system()).entries)


def field_error(page: TestResponse, name: str) -> str:
    """The message shown beside a field, or '' when there is none."""
    found = page.html.select_one(f"#f-{name}-error")
    return found.get_text(" ", strip=True) if found else ""


def form_alert(page: TestResponse) -> str:
    found = page.html.select_one(".alert")
    return found.get_text(" ", strip=True) if found else ""


def text_of(page: TestResponse, selector: str = "main") -> str:
    return page.html.select_one(selector).get_text(" ", strip=True)


def csrf_token(testapp: TestApp, path: str = "/") -> str:
    """The session's CSRF token, as the logout form in the page header carries it."""
    return testapp.get(path).forms["logout-form"]["csrf_token"].value
