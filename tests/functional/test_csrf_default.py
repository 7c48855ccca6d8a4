"""CSRF is the default for every unsafe request (web/__init__.py): a page form cannot
forget it. Only the bearer-token API and the signed Stripe webhook are exempted, by name.

This module is also a Pyramid include: it adds a page form that asks for no CSRF check of
its own, as a new page might, to show that the default protects it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from sqlalchemy import func, select
from webtest import TestApp

from minimart import make_app
from minimart.adapters.sqlalchemy.tables import metadata
from minimart.domain.actors import Permission
from tests.functional.html_pages import add_item, csrf_token, sign_in
from tests.functional.test_html_admin import place

NEW_FORM_CALLS: list[str] = []
_PLACEHOLDER = re.compile(r"\{(\w+)[^}]*\}")


def _new_page_form(request: Request) -> Response:
    NEW_FORM_CALLS.append(request.method)
    return Response("changed", content_type="text/plain")


def includeme(config: Configurator) -> None:
    config.add_route("html.test_new_form", "/test-new-form")
    config.add_view(_new_page_form, route_name="html.test_new_form", request_method="POST",
                    permission=Permission.CATALOG_WRITE.value)


@pytest.fixture
def app(app_settings: dict[str, Any]) -> Iterator[Any]:
    wsgi = make_app({**app_settings, "pyramid.includes": __name__}, environ={})
    yield wsgi
    wsgi.registry.container.engine.dispose()


def unsafe_page_routes(app: Any) -> list[tuple[str, str, str]]:
    """(route name, pattern, method) of every page view that changes something; a view
    that names no method answers POST too."""
    introspector = app.registry.introspector
    patterns = {r["introspectable"]["name"]: r["introspectable"]["pattern"]
                for r in introspector.get_category("routes")}
    found = set()
    for view in introspector.get_category("views"):
        spec = view["introspectable"]
        name = spec["route_name"]
        if not name or not name.startswith("html."):
            continue
        methods = spec["request_methods"] or ("POST",)
        for method in [methods] if isinstance(methods, str) else methods:
            if method not in ("GET", "HEAD", "OPTIONS"):
                found.add((name, patterns[name], method))
    return sorted(found)


def snapshot(app: Any) -> dict[str, int]:
    with app.registry.container.engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table)
                                                ).scalar_one()
                for table in metadata.sorted_tables if table.name != "sessions"}


def test_every_unsafe_page_route_refuses_a_request_without_the_token(app, in_transaction,
                                                                      make_account):
    testapp = TestApp(app)
    admin = make_account("admin")
    sign_in(testapp, admin["email"])
    item = add_item(in_transaction, "Tea", 450, 10)
    order = place(in_transaction, admin["id"], item.id)
    routes = unsafe_page_routes(app)
    assert ("html.test_new_form", "/test-new-form", "POST") in routes
    assert len(routes) >= 10
    before = snapshot(app)
    calls = len(NEW_FORM_CALLS)
    for name, pattern, method in routes:
        ids = {"id": order.id if "orders" in pattern else item.id}
        path = _PLACEHOLDER.sub(lambda m, ids=ids: ids.get(m.group(1), "x"), pattern)
        page = testapp.request(path if path.startswith("/") else f"/{path}", method=method,
                               body=b"name=x&quantity=1",
                               content_type="application/x-www-form-urlencoded",
                               expect_errors=True)
        assert page.status_int in (400, 403), (name, method, page.status)
        assert page.content_type == "text/html", name
        assert "did not come from this site" in page.text, name
    assert len(NEW_FORM_CALLS) == calls
    assert snapshot(app) == before
    testapp.get("/admin", status=200)  # still signed in: not even the logout happened


def test_the_new_page_form_works_with_the_token(app, make_account):
    testapp = TestApp(app)
    sign_in(testapp, make_account("admin")["email"])
    testapp.post("/test-new-form", {"csrf_token": csrf_token(testapp)}, status=200)
    assert NEW_FORM_CALLS[-1:] == ["POST"]


def test_the_api_and_the_webhook_are_exempted_by_name(app):
    from minimart.entrypoints.web import CSRF_EXEMPT_PREFIXES, CSRF_EXEMPT_ROUTES

    assert CSRF_EXEMPT_ROUTES == ("api.payments.stripe_webhook",)
    assert CSRF_EXEMPT_PREFIXES == ("api.",)
    testapp = TestApp(app)
    testapp.get("/login")  # a session with a token, which the webhook does not send
    answer = testapp.post("/api/v1/payments/stripe/webhook", b"{}",
                          content_type="application/json", expect_errors=True)
    assert answer.status_int == 400  # the signature is missing, not the CSRF token
    assert "csrf" not in answer.json["error"]["message"].lower()
