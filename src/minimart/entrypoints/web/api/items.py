"""/api/v1/items: browse the catalog (public) and manage it (catalog.write)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from minimart.domain.actors import Permission
from minimart.domain.catalog import Item, ItemQuery, NewItem
from minimart.domain.errors import InsufficientStock, PreconditionFailed, SkuTaken
from minimart.entrypoints.schemas.items import (
    ItemCreate,
    ItemListQuery,
    ItemPatch,
    StockAdjustment,
)
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.operation import (
    IF_MATCH,
    IF_NONE_MATCH,
    NO_CONTENT,
    NOT_MODIFIED,
    Answer,
    Operations,
)
from minimart.entrypoints.web.api.shapes import (
    amount,
    currency,
    flag,
    ident,
    maybe_text,
    page_of,
    text,
    timestamp,
)
from minimart.entrypoints.web.cursors import (
    ValueParser,
    datetime_value,
    integer_value,
    paged_query,
    string_value,
)
from minimart.entrypoints.web.pictures import image_url

api = Operations(tag="catalog")
WRITE = Permission.CATALOG_WRITE


class ItemSchema(Schema):
    """An item as API.md shows it; item_json writes it."""

    id = ident()
    sku = maybe_text()
    name = text()
    description = text()
    price = amount()
    currency = currency()
    stock = amount()
    available = flag()
    featured = flag()
    archived = flag()
    category_id = maybe_text()
    image_url = maybe_text()
    created_at = timestamp()
    updated_at = timestamp()


ITEM = Answer(200, ItemSchema, "the item", ("ETag",))


def item_json(request: Request, item: Item) -> dict[str, Any]:
    """An item as API.md shows it. Written out by hand: it is on the hottest path there is,
    and a marshmallow dump of a page cost more than the database query behind it."""
    return {"id": item.id, "sku": item.sku, "name": item.name,
            "description": item.description, "price": item.price.amount,
            "currency": item.price.currency, "stock": item.stock, "available": item.available,
            "featured": item.featured, "archived": item.archived,
            "category_id": item.category_id, "image_url": image_url(request, item),
            "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat()}


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


@api.operation("GET", "/items", route="api.items.list", operation_id="listItems",
               summary="Browse the catalog",
               answers=(Answer(200, page_of(ItemSchema), "a page of items", ("ETag",)),
                        NOT_MODIFIED),
               query=ItemListQuery, headers=(IF_NONE_MATCH,))
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


@api.operation("GET", "/items/{id}", route="api.items.detail", operation_id="getItem",
               summary="One item", answers=(ITEM, NOT_MODIFIED), headers=(IF_NONE_MATCH,))
def get_item(request: Request) -> dict[str, Any]:
    item = request.services.catalog_reads.get_item(request.matchdict["id"], request.actor)
    return with_etag(request, item)


@api.operation("POST", "/items", route="api.items.list", operation_id="createItem",
               summary="Add an item",
               answers=(Answer(201, ItemSchema, "the new item", ("Location", "ETag")),),
               permission=WRITE, body=ItemCreate, errors=(SkuTaken,))
def create_item(request: Request) -> dict[str, Any]:
    data = json_body(request, ItemCreate())
    item = request.services.catalog.create_item(NewItem(**data), request.actor)
    request.response.status_int = 201
    request.response.location = request.route_url("api.items.detail", id=item.id)
    return with_etag(request, item)


@api.operation("PATCH", "/items/{id}", route="api.items.detail", operation_id="updateItem",
               summary="Change an item", answers=(ITEM,), permission=WRITE, body=ItemPatch,
               headers=(IF_MATCH,), errors=(SkuTaken, PreconditionFailed))
def update_item(request: Request) -> dict[str, Any]:
    changes = json_body(request, ItemPatch())
    item = request.services.catalog.update_item(
        request.matchdict["id"], changes, request.actor,
        expected_version=_expected_version(request))
    return with_etag(request, item)


@api.operation("POST", "/items/{id}/stock-adjustments",
               route="api.items.stock_adjustments", operation_id="adjustStock",
               summary="Add or remove stock",
               answers=(Answer(201, ItemSchema, "the item", ("ETag",)),), permission=WRITE,
               body=StockAdjustment, errors=(InsufficientStock,))
def adjust_stock(request: Request) -> dict[str, Any]:
    data = json_body(request, StockAdjustment())
    item = request.services.catalog.adjust_stock(request.matchdict["id"], data["delta"],
                                                 data["reason"], request.actor)
    request.response.status_int = 201
    return with_etag(request, item)


@api.operation("DELETE", "/items/{id}", route="api.items.detail",
               operation_id="archiveItem", summary="Archive an item (repeating it is harmless)",
               answers=(NO_CONTENT,), permission=WRITE)
def archive_item(request: Request) -> Response:
    request.services.catalog.archive_item(request.matchdict["id"], request.actor)
    return Response(status=204, content_type=None)


def includeme(config: Configurator) -> None:
    api.register(config)
