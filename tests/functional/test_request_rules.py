"""Issue 14: what a request may hold, and the one shape of a refusal (API.md, Conventions).

Patterns match the whole value (a trailing newline included), only a real NUL character is
refused, error details are dotted paths, and a stock adjustment must change something.
"""

from __future__ import annotations

from typing import Any

import pytest

from minimart.domain.money import validate_currency
from tests.functional.envelope import assert_error

ITEMS = "/api/v1/items"


@pytest.fixture
def staff(auth: Any) -> dict[str, str]:
    return auth("staff")


@pytest.mark.parametrize("sku", ["NL\n", "NL\r\n", "\nNL"])
def test_a_sku_with_a_newline_is_refused(testapp, staff, sku):
    response = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "sku": sku},
                                 headers=staff, status=422)
    assert "sku" in assert_error(response, 422, "validation_failed")["details"]


def test_a_stripe_api_version_with_a_newline_is_refused(testapp, auth):
    response = testapp.post_json("/api/v1/payments/ephemeral-keys",
                                 {"api_version": "2024-06-20\n"}, headers=auth("customer"),
                                 status=422)
    assert "api_version" in assert_error(response, 422, "validation_failed")["details"]


def test_an_idempotency_key_with_a_newline_is_refused(app):
    from webob import Request as WebObRequest

    from minimart.entrypoints.web.api.orders import _idempotency_key
    from minimart.entrypoints.web.problems import HttpProblem

    request = WebObRequest.blank("/", headers={"Idempotency-Key": "key\n"})
    with pytest.raises(HttpProblem):
        _idempotency_key(request)


def test_a_currency_with_a_newline_is_refused():
    assert validate_currency("usd") == "usd"
    with pytest.raises(ValueError, match="currency"):
        validate_currency("usd\n")


def test_the_escaped_text_backslash_u0000_is_ordinary_text(testapp, staff):
    """JSON `"\\\\u0000"` decodes to a backslash and "u0000": six characters, no NUL."""
    text = "C:\\u0000 path"
    created = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "description": text},
                                headers=staff, status=201).json
    assert testapp.get(f"{ITEMS}/{created['id']}").json["description"] == text


@pytest.mark.parametrize("body", [{"name": "Te\u0000a", "price": 1},
                                  {"name": "Tea", "price": 1, "description": "a\x00"},
                                  {"name": "Tea", "price": 1, "n\u0000": 1}])
def test_a_real_nul_character_is_refused(testapp, staff, body):
    response = testapp.post_json(ITEMS, body, headers=staff, status=422)
    assert_error(response, 422, "validation_failed")


def test_nested_field_errors_are_dotted_paths(testapp, auth):
    body = {"lines": [{"item_id": "x", "quantity": 1}, {"item_id": "y", "quantity": 0}],
            "fulfilment": {"type": "teleport"}}
    response = testapp.post_json("/api/v1/orders", body, headers=auth("customer"),
                                 status=422)
    details = assert_error(response, 422, "validation_failed")["details"]
    assert set(details) == {"lines.1.quantity", "fulfilment.type"}
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages)
               for messages in details.values())


def test_a_stock_adjustment_of_zero_is_refused_and_records_nothing(testapp, staff, app):
    from sqlalchemy import func, select

    from minimart.adapters.sqlalchemy.tables import audit_events

    item = testapp.post_json(ITEMS, {"name": "Tea", "price": 1, "stock": 4},
                             headers=staff, status=201).json

    def events() -> int:
        with app.registry.container.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(audit_events)
                                      ).scalar_one()
    before = events()
    response = testapp.post_json(f"{ITEMS}/{item['id']}/stock-adjustments",
                                 {"delta": 0, "reason": "count"}, headers=staff, status=422)
    assert "delta" in assert_error(response, 422, "validation_failed")["details"]
    assert events() == before
    assert testapp.get(f"{ITEMS}/{item['id']}").json["stock"] == 4


def test_the_catalog_service_refuses_an_adjustment_of_zero(app, in_transaction, staff):
    from minimart.domain.actors import Actor
    from minimart.domain.catalog import NewItem
    from minimart.domain.errors import ValidationFailed

    def work(services: Any) -> None:
        item = services.catalog.create_item(NewItem(name="Tea", price=1), Actor.system())
        services.catalog.adjust_stock(item.id, 0, "count", Actor.system())
    with pytest.raises(ValidationFailed):
        in_transaction(work)
