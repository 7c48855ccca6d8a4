"""What an item's fields may hold, on creation (POST /items) and on change (PATCH), and
how the catalog is browsed and its stock adjusted (the API and the pages alike)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.domain.catalog import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_PRICE,
    MAX_STOCK,
    ItemSort,
)
from minimart.entrypoints.schemas.common import MAX_CURSOR, AtLeastOneField, JsonBoolean

SKU = validate.Regexp(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z",
                      error="letters, digits, '.', '_' or '-', at most 64")


class _ItemFields(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    description = fields.String(validate=validate.Length(max=5000))
    price = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_PRICE))
    stock = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_STOCK))
    sku = fields.String(allow_none=True, validate=SKU)
    available = fields.Boolean()
    featured = fields.Boolean()
    category_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))


class ItemCreateText(_ItemFields):
    """A new item from text (a page's form, a CSV row): booleans may be "true" or "on"."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    price = fields.Integer(strict=True, required=True,
                           validate=validate.Range(min=0, max=MAX_PRICE))


class ItemPatchText(_ItemFields, AtLeastOneField):
    """Changes to an item from text (a page's form, a CSV row)."""


class ItemCreate(ItemCreateText):
    """POST /items: a JSON body, its booleans true or false."""

    available = JsonBoolean()
    featured = JsonBoolean()


class ItemPatch(ItemPatchText):
    """PATCH /items/{id}: a JSON body, its booleans true or false."""

    available = JsonBoolean()
    featured = JsonBoolean()


class ItemListQuery(Schema):
    """GET /items and the storefront's search: filters, sort and a keyset page."""

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
