"""/api/v1/orders: place, read, list, cancel, fulfil and refund orders."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.orders import (
    MAX_LINES,
    MAX_QUANTITY,
    Fulfilment,
    FulfilmentType,
    Order,
    OrderQuery,
    OrderStatus,
    PlaceOrder,
    RequestedLine,
)
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.pagination import MAX_CURSOR, datetime_value, paged_query
from minimart.entrypoints.web.problems import HttpProblem

MAX_AMOUNT = 10**12
_IDEMPOTENCY_KEY = re.compile(r"\A[\x21-\x7e]{1,255}\Z")
_REPLAY_KEY = "minimart.replay_idempotency_key"


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


class RefundIn(Schema):
    amount = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT),
                            metadata={"description": "minor units, at most what is left to "
                                                     "refund; without it, all that is left"})


class OrderListQuery(Schema):
    status = fields.Enum(OrderStatus, by_value=True)
    customer_id = fields.String(validate=validate.Length(min=1, max=64))
    limit = fields.Integer(validate=validate.Range(min=1, max=100), load_default=20)
    cursor = fields.String(validate=validate.Length(max=MAX_CURSOR))


LIST_QUERY = OrderListQuery()


def _amounts(order: Order) -> dict[str, int]:
    t = order.totals
    return {"subtotal": t.subtotal.amount, "tax": t.tax.amount,
            "delivery_fee": t.delivery_fee.amount, "tip": t.tip.amount, "total": t.total.amount}


def order_json(order: Order, viewer_id: str | None) -> dict[str, Any]:
    """The order as API.md shows it; the payment's client secret only to its customer."""
    fulfilment: dict[str, Any] = {"type": order.fulfilment.type.value}
    if order.fulfilment.address is not None:
        fulfilment["address"] = order.fulfilment.address
    payment = order.payment
    return {
        "id": order.id, "status": order.status.value, "currency": order.currency,
        "lines": [{"item_id": line.item_id, "sku": line.sku, "name": line.name,
                   "unit_price": line.unit_price.amount, "quantity": line.quantity,
                   "line_total": line.line_total.amount} for line in order.lines],
        **_amounts(order),
        "fulfilment": fulfilment, "note": order.note, "customer_id": order.customer_id,
        "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
        "payment": {
            "provider": payment.provider, "status": payment.status.value,
            "payment_intent_id": payment.payment_intent_id,
            "client_secret": payment.client_secret if viewer_id == order.customer_id else None,
            "captured": payment.captured, "refunded": payment.refunded,
        },
    }


def _idempotency_key(request: Request) -> str:
    """The caller's Idempotency-Key, or one kept in the WSGI environ for this request.

    pyramid_retry replays a request whose transaction hit a serialization failure or a
    deadlock, possibly after the order was committed and paid: the replay then finds the
    same key and answers the same order instead of placing and charging a second one.
    """
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return request.environ.setdefault(_REPLAY_KEY, f"replay-{uuid.uuid4().hex}")
    if not _IDEMPOTENCY_KEY.match(key):
        raise HttpProblem(422, "validation_failed", "the Idempotency-Key header is not valid",
                          {"Idempotency-Key": ["1 to 255 printable ASCII characters"]})
    return key


def place_order(request: Request) -> dict[str, Any]:
    data = json_body(request, OrderIn())
    fulfilment = data.get("fulfilment", {})
    placed = request.services.orders.place_order(
        PlaceOrder(
            lines=tuple(RequestedLine(**line) for line in data["lines"]),
            fulfilment=Fulfilment(fulfilment.get("type", FulfilmentType.PICKUP),
                                  fulfilment.get("address")),
            tip=data.get("tip", 0), note=data.get("note"),
            payment_method=data.get("payment_method")),
        request.actor, idempotency_key=_idempotency_key(request))
    first_attempt = placed.created or _REPLAY_KEY in request.environ
    request.response.status_int = 201 if first_attempt else 200
    request.response.location = request.route_url("api.orders.detail", id=placed.order.id)
    return order_json(placed.order, request.actor.account_id)


def list_orders(request: Request) -> dict[str, Any]:
    paged = paged_query(request, LIST_QUERY, "orders", lambda _: datetime_value)
    params = paged.params
    page = request.services.orders.list_orders(
        OrderQuery(customer_id=params.get("customer_id"), status=params.get("status"),
                   limit=params["limit"], after=paged.after), request.actor)
    viewer = request.actor.account_id
    return {"data": [order_json(order, viewer) for order in page.entries],
            "next_cursor": paged.next_cursor(page.next_after)}


def get_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.get_order(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


def cancel_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.cancel(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


def fulfil_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.fulfil(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


def refund_order(request: Request) -> dict[str, Any]:
    """No body (or no amount) refunds all that is left of the capture."""
    amount = json_body(request, RefundIn()).get("amount") if request.body else None
    order = request.services.orders.refund(request.matchdict["id"], request.actor, amount)
    return order_json(order, request.actor.account_id)


def includeme(config: Configurator) -> None:
    config.add_route("api.orders.list", "/orders")
    config.add_route("api.orders.detail", "/orders/{id}")
    config.add_route("api.orders.cancel", "/orders/{id}/cancel")
    config.add_route("api.orders.fulfil", "/orders/{id}/fulfil")
    config.add_route("api.orders.refund", "/orders/{id}/refund")
    place = Permission.PLACE_ORDERS.value
    config.add_view(place_order, route_name="api.orders.list", request_method="POST",
                    permission=place)
    config.add_view(list_orders, route_name="api.orders.list", request_method="GET",
                    permission=place)
    config.add_view(get_order, route_name="api.orders.detail", request_method="GET",
                    permission=place)
    config.add_view(cancel_order, route_name="api.orders.cancel", request_method="POST",
                    permission=place)
    config.add_view(fulfil_order, route_name="api.orders.fulfil", request_method="POST",
                    permission=Permission.ORDERS_MANAGE.value)
    config.add_view(refund_order, route_name="api.orders.refund", request_method="POST",
                    permission=Permission.REFUNDS.value)
