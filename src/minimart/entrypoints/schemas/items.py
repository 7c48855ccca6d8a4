"""What an item's fields may hold, on creation (POST /items) and on change (PATCH)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from minimart.domain.catalog import MAX_PRICE, MAX_STOCK

SKU = validate.Regexp(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z",
                      error="letters, digits, '.', '_' or '-', at most 64")


class JsonBoolean(fields.Boolean):
    """true or false and nothing else: marshmallow's Boolean also takes 0, 1.0 and "yes",
    which a JSON body must not (the forms and the CSV, which send text, keep Boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


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


class ItemPatchText(_ItemFields):
    """Changes to an item from text (a page's form, a CSV row)."""

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("name at least one field to change", "_schema")


class ItemCreate(ItemCreateText):
    """POST /items: a JSON body, its booleans true or false."""

    available = JsonBoolean()
    featured = JsonBoolean()


class ItemPatch(ItemPatchText):
    """PATCH /items/{id}: a JSON body, its booleans true or false."""

    available = JsonBoolean()
    featured = JsonBoolean()
