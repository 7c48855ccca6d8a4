"""/api/v1/items: browse the catalog (public) and manage it (catalog.write)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.domain.catalog import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_PRICE,
    MAX_STOCK,
    Item,
    ItemQuery,
    ItemSort,
    NewItem,
)
from minimart.entrypoints.schemas.items import ItemCreate, ItemPatch
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.pagination import (
    MAX_CURSOR,
    ValueParser,
    datetime_value,
    integer_value,
    paged_query,
    string_value,
)


def item_json(request: Request, item: Item) -> dict[str, Any]:
    """An item as API.md shows it. Written out by hand: it is on the hottest path there is,
    and a marshmallow dump of a page cost more than the database query behind it."""
    return {"id": item.id, "sku": item.sku, "name": item.name,
            "description": item.description, "price": item.price.amount,
            "currency": item.price.currency, "stock": item.stock, "available": item.available,
            "featured": item.featured, "archived": item.archived,
            "category_id": item.category_id, "image_url": image_url(request, item),
            "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat()}


def image_url(request: Request, item: Item) -> str | None:
    if item.image_key is None:
        return None
    return request.route_url("images.show", key=item.image_key)


class ItemListQuery(Schema):
    q = fields.String(validate=validate.Length(max=200))
    min_price = fields.Integer(validate=validate.Range(min=0, max=MAX_PRICE))
    max_price = fields.Integer(validate=validate.Range(min=0, max=MAX_PRICE))
    in_stock = fields.Boolean()
    available = fields.Boolean()
    featured = fields.Boolean()
    include_archived = fields.Boolean()
    category = fields.String(validate=validate.Length(min=1, max=64))
    sort = fields.Enum(ItemSort, by_value=True, load_default=ItemSort.NAME)
    limit = fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                           load_default=DEFAULT_PAGE_SIZE)
    cursor = fields.String(validate=validate.Length(max=MAX_CURSOR))


class StockAdjustment(Schema):
    delta = fields.Integer(strict=True, required=True, validate=[
        validate.Range(min=-MAX_STOCK, max=MAX_STOCK),
        validate.NoneOf([0], error="must not be 0: an adjustment changes the stock")])
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


LIST_QUERY = ItemListQuery()
_CURSOR_VALUES = {"name": string_value, "price": integer_value, "created": datetime_value}
_ETAG = re.compile(r'\A(?:W/)?"v(\d{1,9})"\Z')


def with_etag(request: Request, item: Item) -> dict[str, Any]:
    request.response.etag = f"v{item.version}"
    return item_json(request, item)


def _expected_version(request: Request) -> int | None:
    """The version named by If-Match; an unreadable tag can match nothing (412)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    for tag in header.split(","):
        match = _ETAG.match(tag.strip())
        if match:
            return int(match.group(1))
    return 0


def list_items(request: Request) -> dict[str, Any]:
    paged = paged_query(request, LIST_QUERY, "items", _cursor_value)
    params = paged.params
    query = ItemQuery(
        text=params.get("q") or None, min_price=params.get("min_price"),
        max_price=params.get("max_price"), in_stock=params.get("in_stock", False),
        available=params.get("available"), featured=params.get("featured"),
        category_id=params.get("category"),
        include_archived=params.get("include_archived", False), sort=params["sort"],
        limit=params["limit"], after=paged.after)
    page = request.services.catalog_reads.list_items(query, request.actor)
    return {"data": [item_json(request, item) for item in page.entries],
            "next_cursor": paged.next_cursor(page.next_after)}


def _cursor_value(params: dict[str, Any]) -> ValueParser:
    return _CURSOR_VALUES[params["sort"].key]


def get_item(request: Request) -> dict[str, Any]:
    item = request.services.catalog_reads.get_item(request.matchdict["id"], request.actor)
    return with_etag(request, item)


def create_item(request: Request) -> dict[str, Any]:
    data = json_body(request, ItemCreate())
    item = request.services.catalog.create_item(NewItem(**data), request.actor)
    request.response.status_int = 201
    request.response.location = request.route_url("api.items.detail", id=item.id)
    return with_etag(request, item)


def update_item(request: Request) -> dict[str, Any]:
    changes = json_body(request, ItemPatch())
    item = request.services.catalog.update_item(
        request.matchdict["id"], changes, request.actor,
        expected_version=_expected_version(request))
    return with_etag(request, item)


def adjust_stock(request: Request) -> dict[str, Any]:
    data = json_body(request, StockAdjustment())
    item = request.services.catalog.adjust_stock(request.matchdict["id"], data["delta"],
                                                 data["reason"], request.actor)
    request.response.status_int = 201
    return with_etag(request, item)


def archive_item(request: Request) -> Response:
    request.services.catalog.archive_item(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    config.add_route("api.items.list", "/items")
    config.add_route("api.items.detail", "/items/{id}")
    config.add_route("api.items.stock_adjustments", "/items/{id}/stock-adjustments")
    write = Permission.CATALOG_WRITE.value
    config.add_view(list_items, route_name="api.items.list", request_method="GET")
    config.add_view(create_item, route_name="api.items.list", request_method="POST",
                    permission=write)
    config.add_view(get_item, route_name="api.items.detail", request_method="GET")
    config.add_view(update_item, route_name="api.items.detail", request_method="PATCH",
                    permission=write)
    config.add_view(archive_item, route_name="api.items.detail", request_method="DELETE",
                    permission=write)
    config.add_view(adjust_stock, route_name="api.items.stock_adjustments",
                    request_method="POST", permission=write)
