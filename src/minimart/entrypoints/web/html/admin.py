"""The owner's pages: the dashboard, the catalog table and its forms, orders, the audit trail.

Each view is guarded by the permission its service call needs, so a page that would refuse
its one job is never shown (a customer gets 403, an anonymous visitor the sign-in page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.audit import AuditQuery
from minimart.domain.catalog import Item, NewItem
from minimart.domain.errors import DomainError
from minimart.domain.money import Money
from minimart.domain.orders import Order, OrderQuery, OrderStatus
from minimart.entrypoints.schemas.audit import AuditListQuery
from minimart.entrypoints.schemas.items import ItemCreateText, ItemPatchText, StockAdjustment
from minimart.entrypoints.schemas.orders import OrderListQuery
from minimart.entrypoints.web.cursors import datetime_value
from minimart.entrypoints.web.html.auth import safe_next
from minimart.entrypoints.web.html.chart import sales_chart
from minimart.entrypoints.web.html.forms import (
    FORM,
    Converter,
    Form,
    amount,
    checkbox,
    invalid,
    omitted_if_blank,
    optional_text,
    read_form,
    refuse,
    text,
    whole_number,
)
from minimart.entrypoints.web.html.listing import (
    SORTS,
    cursor_after,
    item_listing,
    page_links,
    read_filters,
)
from minimart.entrypoints.web.html.money import format_amount, input_pattern

T = "minimart.entrypoints.web.html:templates/admin/"
DASHBOARD_DAYS = 30
LOW_STOCK = 5
LOW_STOCK_SHOWN = 10
ITEMS_PAGE_SIZE = 25
ORDERS_PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
ITEM_CODES = {"sku_taken": "sku"}


# --- dashboard -----------------------------------------------------------------------------
def dashboard(request: Request) -> dict[str, Any]:
    """Today at a glance, the last 30 days as a chart, and what to restock."""
    currency = request.registry.container.settings.currency
    days = request.services.orders.daily_sales(DASHBOARD_DAYS, request.actor)
    month_revenue = sum(d.revenue.amount for d in days)
    return {"today": days[-1], "days": days, "chart": sales_chart(days, currency),
            "month_orders": sum(d.orders for d in days),
            "month_revenue": Money(month_revenue, currency),
            "low_stock": request.services.catalog.low_stock(LOW_STOCK, LOW_STOCK_SHOWN,
                                                            request.actor),
            "low_stock_threshold": LOW_STOCK}


# --- items ---------------------------------------------------------------------------------
def items(request: Request) -> dict[str, Any]:
    return {"listing": item_listing(request, ITEMS_PAGE_SIZE, staff=True), "sorts": SORTS}


def _item_fields(request: Request, *, new: bool) -> dict[str, Converter]:
    currency = request.registry.container.settings.currency
    fields: dict[str, Converter] = {
        "name": text, "sku": optional_text, "description": text,
        "price": amount(currency), "category_id": optional_text,
        "available": checkbox, "featured": checkbox}
    if new:
        fields["stock"] = whole_number
    return fields


def _item_form_page(request: Request, form: Form, item: Item | None) -> dict[str, Any]:
    currency = request.registry.container.settings.currency
    return {"form": form, "item": item, "price_pattern": input_pattern(currency),
            "categories": request.services.categories.list_categories()}


def new_item_form(request: Request) -> dict[str, Any]:
    values = dict.fromkeys(_item_fields(request, new=True), "")
    values.update(stock="0", available="on")
    return _item_form_page(request, Form(values=values), None)


def create_item(request: Request) -> Any:
    data, form = read_form(request.POST, _item_fields(request, new=True), ItemCreateText())
    if data is None:
        invalid(request)
    else:
        try:
            item = request.services.catalog.create_item(NewItem(**data), request.actor)
        except DomainError as error:
            refuse(request, form, error, ITEM_CODES)
        else:
            request.session.flash(f"Added {item.name}.")
            return HTTPSeeOther(request.route_path("html.admin.items"))
    return _item_form_page(request, form, None)


def _item_values(item: Item) -> dict[str, str]:
    return {"name": item.name, "sku": item.sku or "", "description": item.description,
            "price": format_amount(item.price.amount, item.price.currency, grouped=False),
            "category_id": item.category_id or "",
            "available": "on" if item.available else "",
            "featured": "on" if item.featured else ""}


def edit_item_form(request: Request) -> dict[str, Any]:
    item = request.services.catalog.get_item(request.matchdict["id"], request.actor)
    return _item_form_page(request, Form(values=_item_values(item)), item)


def update_item(request: Request) -> Any:
    """Saves only over the version the form was filled in from: a change made meanwhile is
    reported, never silently overwritten."""
    catalog = request.services.catalog
    item = catalog.get_item(request.matchdict["id"], request.actor)
    data, form = read_form(request.POST, _item_fields(request, new=False), ItemPatchText())
    version = str(request.POST.get("version", ""))
    if data is None:
        invalid(request)
    else:
        try:
            updated = catalog.update_item(
                item.id, data, request.actor,
                expected_version=int(version) if version.isdigit() else item.version)
        except DomainError as error:
            refuse(request, form, error, ITEM_CODES)
            if error.code == "precondition_failed":
                form.errors[FORM] = ["Someone changed this item while you edited it: check "
                                     "the values and save again to keep yours."]
        else:
            request.session.flash(f"Saved {updated.name}.")
            return HTTPSeeOther(request.route_path("html.admin.items"))
    return _item_form_page(request, form, item)


def archive_form(request: Request) -> dict[str, Any]:
    return {"item": request.services.catalog.get_item(request.matchdict["id"], request.actor)}


def archive_item(request: Request) -> HTTPSeeOther:
    catalog = request.services.catalog
    item = catalog.get_item(request.matchdict["id"], request.actor)
    catalog.archive_item(item.id, request.actor)
    request.session.flash(f"Archived {item.name}: shoppers no longer see it.")
    return HTTPSeeOther(request.route_path("html.admin.items"))


STOCK_FIELDS: dict[str, Converter] = {"delta": whole_number, "reason": text}


def stock_form(request: Request) -> dict[str, Any]:
    item = request.services.catalog.get_item(request.matchdict["id"], request.actor)
    return {"item": item, "form": Form(values=dict.fromkeys(STOCK_FIELDS, ""))}


def adjust_stock(request: Request) -> Any:
    catalog = request.services.catalog
    item = catalog.get_item(request.matchdict["id"], request.actor)
    data, form = read_form(request.POST, STOCK_FIELDS, StockAdjustment())
    if data is None:
        invalid(request)
    else:
        try:
            item = catalog.adjust_stock(item.id, data["delta"], data["reason"], request.actor)
        except DomainError as error:
            refuse(request, form, error, {"insufficient_stock": "delta"})
        else:
            request.session.flash(f"{item.name}: stock is now {item.stock}.")
            return HTTPSeeOther(request.route_path("html.admin.items"))
    return {"item": item, "form": form}


# --- orders --------------------------------------------------------------------------------
def orders(request: Request) -> dict[str, Any]:
    data, form = read_filters(request, {"status": omitted_if_blank}, OrderListQuery())
    page = request.services.orders.list_orders(
        OrderQuery(status=data.get("status"), limit=ORDERS_PAGE_SIZE,
                   after=cursor_after(form, data, "orders", datetime_value)), request.actor)
    next_url, first_url = page_links(request, form, "orders", page.next_after)
    return {"orders": page.entries, "form": form, "statuses": list(OrderStatus),
            "customers": _customers(request, page.entries), "next_url": next_url,
            "first_url": first_url, "back": request.path_qs,
            "can_fulfil": request.has_permission(Permission.ORDERS_MANAGE.value),
            "can_refund": request.has_permission(Permission.REFUNDS.value),
            "FULFILLED": OrderStatus.FULFILLED, "REFUNDED": OrderStatus.REFUNDED}


def _customers(request: Request, page: list[Order]) -> dict[str, str]:
    """Who placed each order, by email (one lookup per customer on the page)."""
    accounts = request.services.accounts
    found: dict[str, str] = {}
    for customer_id in {order.customer_id for order in page}:
        account = accounts.find_active(customer_id)
        found[customer_id] = account.email if account else customer_id
    return found


def _back_to_orders(request: Request) -> HTTPSeeOther:
    back = safe_next(str(request.POST.get("back", "")))
    return HTTPSeeOther(back or request.route_path("html.admin.orders"))


def fulfil_order(request: Request) -> HTTPSeeOther:
    order = request.services.orders.fulfil(request.matchdict["id"], request.actor)
    request.session.flash(f"Order {order.id[:8]} is fulfilled.")
    return _back_to_orders(request)


def refund_order(request: Request) -> HTTPSeeOther:
    order = request.services.orders.refund(request.matchdict["id"], request.actor)
    request.session.flash(f"Order {order.id[:8]} is refunded.")
    return _back_to_orders(request)


# --- audit ---------------------------------------------------------------------------------
def audit(request: Request) -> dict[str, Any]:
    data, form = read_filters(request, {"entity_type": omitted_if_blank,
                                        "entity_id": omitted_if_blank,
                                        "actor_id": omitted_if_blank}, AuditListQuery())
    page = request.services.audit.list_events(AuditQuery(
        entity_type=data.get("entity_type"), entity_id=data.get("entity_id"),
        actor_id=data.get("actor_id"), limit=AUDIT_PAGE_SIZE,
        after=cursor_after(form, data, "audit", datetime_value)), request.actor)
    next_url, first_url = page_links(request, form, "audit", page.next_after)
    return {"events": page.entries, "form": form, "next_url": next_url,
            "first_url": first_url}


def includeme(config: Configurator) -> None:
    write = Permission.CATALOG_WRITE.value
    manage = Permission.ORDERS_MANAGE.value
    routes = {
        "html.admin.home": "/admin",
        "html.admin.items": "/admin/items",
        "html.admin.items.new": "/admin/items/new",
        "html.admin.items.edit": "/admin/items/{id}/edit",
        "html.admin.items.archive": "/admin/items/{id}/archive",
        "html.admin.items.stock": "/admin/items/{id}/stock",
        "html.admin.orders": "/admin/orders",
        "html.admin.orders.fulfil": "/admin/orders/{id}/fulfil",
        "html.admin.orders.refund": "/admin/orders/{id}/refund",
        "html.admin.audit": "/admin/audit",
    }
    for name, pattern in routes.items():
        config.add_route(name, pattern)
    pages = [
        (dashboard, "html.admin.home", manage, "home"),
        (items, "html.admin.items", write, "items"),
        (new_item_form, "html.admin.items.new", write, "item_form"),
        (edit_item_form, "html.admin.items.edit", write, "item_form"),
        (archive_form, "html.admin.items.archive", write, "archive"),
        (stock_form, "html.admin.items.stock", write, "stock"),
        (orders, "html.admin.orders", manage, "orders"),
        (audit, "html.admin.audit", Permission.AUDIT_READ.value, "audit"),
    ]
    for view, route, permission, template in pages:
        config.add_view(view, route_name=route, request_method="GET", permission=permission,
                        renderer=f"{T}{template}.jinja2")
    forms: list[tuple[Callable[[Request], Any], str, str, str | None]] = [
        (create_item, "html.admin.items.new", write, "item_form"),
        (update_item, "html.admin.items.edit", write, "item_form"),
        (archive_item, "html.admin.items.archive", write, None),
        (adjust_stock, "html.admin.items.stock", write, "stock"),
        (fulfil_order, "html.admin.orders.fulfil", manage, None),
        (refund_order, "html.admin.orders.refund", Permission.REFUNDS.value, None),
    ]
    for action, route, permission, form_template in forms:
        config.add_view(action, route_name=route, request_method="POST", permission=permission,
                        require_csrf=True,
                        renderer=form_template and f"{T}{form_template}.jinja2")
