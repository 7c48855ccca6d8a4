"""The shop window: browse and search items, order one, follow one's orders."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.catalog import Item
from minimart.domain.errors import DomainError, InsufficientStock, ValidationFailed
from minimart.domain.orders import (
    MAX_QUANTITY,
    OrderQuery,
    OrderStatus,
    PlaceOrder,
    RequestedLine,
)
from minimart.entrypoints.schemas.orders import OrderIn, OrderListQuery
from minimart.entrypoints.web.cursors import datetime_value
from minimart.entrypoints.web.html.forms import (
    FORM,
    Form,
    invalid,
    read_form,
    refuse,
    whole_number,
)
from minimart.entrypoints.web.html.listing import (
    SORTS,
    cursor_after,
    item_listing,
    page_links,
    read_filters,
)
from minimart.entrypoints.web.pictures import picture_urls

T = "minimart.entrypoints.web.html:templates/"
PAGE_SIZE = 12
ORDERS_PAGE_SIZE = 20
_KEY = re.compile(r"\A[0-9a-f]{32}\Z")
_REPLAY_KEY = "minimart.html_replay_idempotency_key"
ORDER_FIELDS = {"lines.0.quantity": "quantity", "lines.0.item_id": FORM, "lines": FORM}


def home(request: Request) -> dict[str, Any]:
    listing = item_listing(request, PAGE_SIZE)
    return {"listing": listing, "sorts": SORTS,
            "images": {item.id: picture_urls(request, item) for item in listing.entries}}


def _item_page(request: Request, item: Item, form: Form) -> dict[str, Any]:
    """A fresh idempotency key per rendering: a double-click places one order, not two."""
    return {"item": item, "form": form, "image": picture_urls(request, item),
            "can_order": request.has_permission(Permission.PLACE_ORDERS.value),
            "max_quantity": max(1, min(item.stock, MAX_QUANTITY)),
            "order_key": uuid.uuid4().hex}


def item_detail(request: Request) -> dict[str, Any]:
    item = request.services.catalog.get_item(request.matchdict["id"], request.actor)
    return _item_page(request, item, Form(values={"quantity": "1"}))


def _idempotency_key(request: Request) -> str:
    """The form's key; without a readable one, a key kept for pyramid_retry's replays."""
    key = str(request.POST.get("idempotency_key", ""))
    if _KEY.match(key):
        return f"html-{key}"
    return request.environ.setdefault(_REPLAY_KEY, f"replay-{uuid.uuid4().hex}")


def place_order(request: Request) -> Any:
    item_id = request.matchdict["id"]
    data, form = read_form(
        request.POST, {"quantity": whole_number}, OrderIn(), aliases=ORDER_FIELDS,
        build=lambda fields: {"lines": [{"item_id": item_id, **fields}]})
    if data is None:
        invalid(request)
        _plain_quantity_errors(form)
    else:
        try:
            placed = request.services.orders.place_order(
                PlaceOrder(lines=tuple(RequestedLine(**line) for line in data["lines"])),
                request.actor, idempotency_key=_idempotency_key(request))
        except DomainError as error:
            refuse(request, form, _in_plain_words(error), {"insufficient_stock": "quantity"})
        else:
            request.session.flash("Thank you: your order is placed.")
            return HTTPSeeOther(request.route_path("html.orders.detail", id=placed.order.id))
    item = request.services.catalog.get_item(item_id, request.actor)
    return _item_page(request, item, form)


_READABLE_QUANTITY = ("Enter a whole number.",)


def _plain_quantity_errors(form: Form) -> None:
    """The schema's range text ("Must be greater than or equal to 1 and ...") in words a
    shopper reads, beside the field."""
    messages = form.error("quantity")
    if messages and any(m not in _READABLE_QUANTITY for m in messages):
        form.errors["quantity"] = [f"Choose a quantity from 1 to {MAX_QUANTITY}."]


def _in_plain_words(error: DomainError) -> DomainError:
    """The service speaks of an order's lines; this page orders one item."""
    if isinstance(error, InsufficientStock):
        lines = error.details.get("lines") or [{}]
        available = lines[0].get("available", 0)
        message = ("Sorry, this item is sold out" if available <= 0 else
                   f"Only {available} left: choose {available} or fewer")
        return InsufficientStock(message)
    if isinstance(error, ValidationFailed) and "lines.0.item_id" in error.details:
        return ValidationFailed("This item cannot be ordered just now")
    return error


def my_orders(request: Request) -> dict[str, Any]:
    """The signed-in shopper's own orders, newest first (staff too see only their own here)."""
    data, form = read_filters(request, {}, OrderListQuery())
    page = request.services.orders.list_orders(
        OrderQuery(customer_id=request.account.id, limit=ORDERS_PAGE_SIZE,
                   after=cursor_after(form, data, "orders", datetime_value)),
        request.actor)
    next_url, first_url = page_links(request, form, "orders", page.next_after)
    return {"orders": page.entries, "form": form, "next_url": next_url, "first_url": first_url}


def order_detail(request: Request) -> dict[str, Any]:
    order = request.services.orders.get_order(request.matchdict["id"], request.actor)
    return {"order": order, "mine": order.customer_id == request.account.id,
            "can_cancel": order.status.can_become(OrderStatus.CANCELLED)}


def cancel_order(request: Request) -> HTTPSeeOther:
    order = request.services.orders.cancel(request.matchdict["id"], request.actor)
    request.session.flash("Your order is cancelled." if order.status is OrderStatus.CANCELLED
                          else f"Your order is {order.status.value.replace('_', ' ')}.")
    return HTTPSeeOther(request.route_path("html.orders.detail", id=order.id))


def includeme(config: Configurator) -> None:
    place = Permission.PLACE_ORDERS.value
    config.add_route("html.home", "/")
    config.add_route("html.items.detail", "/items/{id}")
    config.add_route("html.items.order", "/items/{id}/order")
    config.add_route("html.orders.list", "/orders")
    config.add_route("html.orders.detail", "/orders/{id}")
    config.add_route("html.orders.cancel", "/orders/{id}/cancel")
    config.add_view(home, route_name="html.home", request_method="GET",
                    renderer=T + "home.jinja2")
    config.add_view(item_detail, route_name="html.items.detail", request_method="GET",
                    renderer=T + "item.jinja2")
    config.add_view(place_order, route_name="html.items.order", request_method="POST",
                    permission=place, require_csrf=True, renderer=T + "item.jinja2")
    config.add_view(my_orders, route_name="html.orders.list", request_method="GET",
                    permission=place, renderer=T + "orders.jinja2")
    config.add_view(order_detail, route_name="html.orders.detail", request_method="GET",
                    permission=place, renderer=T + "order.jinja2")
    config.add_view(cancel_order, route_name="html.orders.cancel", request_method="POST",
                    permission=place, require_csrf=True)
