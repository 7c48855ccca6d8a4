"""What placing an order sends, and how orders are listed (the API and the pages alike)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.domain.orders import MAX_LINES, MAX_QUANTITY, FulfilmentType, OrderStatus
from minimart.entrypoints.schemas.common import MAX_AMOUNT, MAX_CURSOR


class LineIn(Schema):
    item_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(strict=True, required=True,
                              validate=validate.Range(min=1, max=MAX_QUANTITY))


class FulfilmentIn(Schema):
    type = fields.Enum(FulfilmentType, by_value=True, required=True)
    address = fields.String(validate=validate.Length(min=1, max=1000))


class OrderIn(Schema):
    lines = fields.List(fields.Nested(LineIn), required=True,
                        validate=validate.Length(min=1, max=MAX_LINES))
    fulfilment = fields.Nested(FulfilmentIn)
    tip = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT))
    note = fields.String(validate=validate.Length(max=1000))
    payment_method = fields.String(validate=validate.Length(min=1, max=255))


class OrderListQuery(Schema):
    status = fields.Enum(OrderStatus, by_value=True)
    customer_id = fields.String(validate=validate.Length(min=1, max=64))
    limit = fields.Integer(validate=validate.Range(min=1, max=100), load_default=20)
    cursor = fields.String(validate=validate.Length(max=MAX_CURSOR))
