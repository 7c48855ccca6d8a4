"""Each API operation is declared once (api/operation.py): the same record is the route,
the view's method and permission, and the document's operation. The JSON the hot views
write by hand is held to the response schema declared beside them, and the pages import
no API view module."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from marshmallow import Schema

import minimart.entrypoints.web.html as html
from minimart.entrypoints.web.api import RESOURCES, openapi
from minimart.entrypoints.web.api.items import ItemSchema
from minimart.entrypoints.web.api.operation import API_PREFIX
from minimart.entrypoints.web.api.orders import OrderSchema
from minimart.entrypoints.web.api.shapes import ErrorSchema, page_of
from minimart.entrypoints.web.api.store import StoreSchema
from tests.functional.test_openapi import routed_permissions

VIEW_MODULES = {module.__name__ for module in (*RESOURCES, openapi)}


def test_the_route_table_is_exactly_the_declared_operations(app):
    operations = openapi.operations()
    assert len({op.operation_id for op in operations}) == len(operations)
    assert routed_permissions(app) == {
        (op.pattern, op.method.lower()): None if op.permission is None else op.permission.value
        for op in operations}


def test_every_operation_is_in_the_document_once():
    document = openapi.openapi_document()
    for op in openapi.operations():
        described = document["paths"][op.pattern][op.method.lower()]
        assert described["operationId"] == op.operation_id


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_pages_import_no_api_view_module():
    pages = Path(html.__file__).parent.glob("*.py")
    wrong = {page.name: sorted(imported_modules(page) & VIEW_MODULES) for page in pages}
    assert {page: found for page, found in wrong.items() if found} == {}


def loads(schema: type[Schema], body: Any) -> None:
    """The JSON is exactly what the schema describes: every field, nothing else, each of
    its type (marshmallow refuses unknown and missing fields and wrong values alike)."""
    schema().load(body)


def test_hand_written_answers_are_what_their_schemas_declare(testapp, auth):
    staff, shopper = auth("staff"), auth("customer")
    item = testapp.post_json(f"{API_PREFIX}/items", {"name": "Tea", "price": 250, "stock": 5,
                                                     "sku": "TEA-1"}, headers=staff).json
    loads(ItemSchema, item)
    loads(ItemSchema, testapp.get(f"{API_PREFIX}/items/{item['id']}").json)
    loads(page_of(ItemSchema), testapp.get(f"{API_PREFIX}/items").json)
    order = testapp.post_json(f"{API_PREFIX}/orders", {
        "lines": [{"item_id": item["id"], "quantity": 1}],
        "fulfilment": {"type": "delivery", "address": "1 Main St"}}, headers=shopper).json
    loads(OrderSchema, order)
    loads(page_of(OrderSchema), testapp.get(f"{API_PREFIX}/orders", headers=shopper).json)
    loads(StoreSchema, testapp.get(f"{API_PREFIX}/store").json)
    loads(ErrorSchema, testapp.get(f"{API_PREFIX}/items/nope", status=404).json)
