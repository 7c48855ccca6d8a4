"""/api/v1/orders: place, read, list, cancel, fulfil and refund orders."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain import errors
from minimart.domain.actors import Permission
from minimart.domain.orders import (
    Fulfilment,
    FulfilmentType,
    Order,
    OrderQuery,
    OrderStatus,
    PlaceOrder,
    RequestedLine,
)
from minimart.domain.payments import (
    PaymentDeclined,
    PaymentMethodRefused,
    PaymentProviderUnavailable,
    PaymentStatus,
)
from minimart.entrypoints.schemas.common import MAX_AMOUNT
from minimart.entrypoints.schemas.orders import OrderIn, OrderListQuery
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.operation import Answer, Header, Operations
from minimart.entrypoints.web.api.shapes import (
    amount,
    currency,
    ident,
    maybe_text,
    page_of,
    text,
    timestamp,
    whole,
)
from minimart.entrypoints.web.cursors import datetime_value, paged_query
from minimart.entrypoints.web.problems import InvalidRequest

api = Operations(tag="orders")
PLACE = Permission.PLACE_ORDERS
_IDEMPOTENCY_KEY = re.compile(r"\A[\x21-\x7e]{1,255}\Z")
_REPLAY_KEY = "minimart.replay_idempotency_key"
IDEMPOTENCY_KEY = Header("Idempotency-Key", "the same key and body answer the same order",
                         {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"})


class RefundIn(Schema):
    amount = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT),
                            metadata={"description": "minor units, at most what is left to "
                                                     "refund; without it, all that is left"})


class OrderLineSchema(Schema):
    item_id = ident()
    sku = maybe_text()
    name = text()
    unit_price = amount()
    quantity = whole(1)
    line_total = amount()


class FulfilmentSchema(Schema):
    type = fields.Enum(FulfilmentType, by_value=fields.String, required=True)
    address = fields.String()


class PaymentSchema(Schema):
    provider = text()
    payment_intent_id = maybe_text()
    client_secret = maybe_text(metadata={"description": "shown only to the order's customer"})
    status = fields.Enum(PaymentStatus, by_value=fields.String, required=True)
    captured = amount()
    refunded = amount()


class OrderSchema(Schema):
    """An order as API.md shows it; order_json writes it."""

    id = ident()
    status = fields.Enum(OrderStatus, by_value=fields.String, required=True)
    lines = fields.List(fields.Nested(OrderLineSchema), required=True,
                        validate=validate.Length(min=1))
    subtotal = amount()
    tax = amount()
    delivery_fee = amount()
    tip = amount()
    total = amount()
    currency = currency()
    fulfilment = fields.Nested(FulfilmentSchema, required=True)
    note = maybe_text()
    customer_id = maybe_text()
    created_at = timestamp()
    updated_at = timestamp()
    payment = fields.Nested(PaymentSchema, required=True)


ORDER = Answer(200, OrderSchema, "the order")
# what an order's change of state may refuse: a state it cannot leave, a provider down
TRANSITION_ERRORS = (errors.InvalidState, PaymentProviderUnavailable)
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
        raise InvalidRequest("the Idempotency-Key header is not valid",
                             {"Idempotency-Key": ["1 to 255 printable ASCII characters"]})
    return key


@api.operation("POST", "/orders", route="api.orders.list", operation_id="placeOrder",
               summary="Place an order",
               answers=(Answer(201, OrderSchema, "the new order", ("Location",)),
                        Answer(200, OrderSchema,
                               "the order this Idempotency-Key placed before", ("Location",))),
               permission=PLACE, body=OrderIn, headers=(IDEMPOTENCY_KEY,),
               errors=(errors.ValidationFailed, errors.IdempotencyKeyReused,
                       PaymentMethodRefused, errors.InsufficientStock, errors.StoreClosed,
                       errors.BelowMinimumOrder, errors.TooManyPendingOrders,
                       errors.TooManyPendingUnits, errors.AmountMismatch, PaymentDeclined,
                       PaymentProviderUnavailable))
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


@api.operation("GET", "/orders", route="api.orders.list", operation_id="listOrders",
               summary="Own orders, newest first (staff and admin: all)",
               answers=(Answer(200, page_of(OrderSchema), "a page of orders"),),
               permission=PLACE, query=OrderListQuery)
def list_orders(request: Request) -> dict[str, Any]:
    paged = paged_query(request, LIST_QUERY, "orders", lambda _: datetime_value)
    params = paged.params
    page = request.services.orders.list_orders(
        OrderQuery(customer_id=params.get("customer_id"), status=params.get("status"),
                   limit=params["limit"], after=paged.after), request.actor)
    viewer = request.actor.account_id
    return {"data": [order_json(order, viewer) for order in page.entries],
            "next_cursor": paged.next_cursor(page.next_after)}


@api.operation("GET", "/orders/{id}", route="api.orders.detail", operation_id="getOrder",
               summary="One order", answers=(ORDER,), permission=PLACE)
def get_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.get_order(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


@api.operation("POST", "/orders/{id}/cancel", route="api.orders.cancel",
               operation_id="cancelOrder", summary="Cancel an order (a paid one is refunded)",
               answers=(ORDER,), permission=PLACE, errors=TRANSITION_ERRORS)
def cancel_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.cancel(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


@api.operation("POST", "/orders/{id}/fulfil", route="api.orders.fulfil",
               operation_id="fulfilOrder", summary="Mark a paid order fulfilled",
               answers=(ORDER,), permission=Permission.ORDERS_MANAGE,
               errors=(errors.InvalidState,))
def fulfil_order(request: Request) -> dict[str, Any]:
    order = request.services.orders.fulfil(request.matchdict["id"], request.actor)
    return order_json(order, request.actor.account_id)


@api.operation("POST", "/orders/{id}/refund", route="api.orders.refund",
               operation_id="refundOrder",
               summary="Refund part or the rest of a paid or fulfilled order's payment (all "
                       "of it refunds the order)",
               answers=(ORDER,), permission=Permission.REFUNDS, body=RefundIn,
               body_required=False, errors=(*TRANSITION_ERRORS, errors.ValidationFailed))
def refund_order(request: Request) -> dict[str, Any]:
    """No body (or no amount) refunds all that is left of the capture."""
    amount = json_body(request, RefundIn()).get("amount") if request.body else None
    order = request.services.orders.refund(request.matchdict["id"], request.actor, amount)
    return order_json(order, request.actor.account_id)


def includeme(config: Configurator) -> None:
    api.register(config)
