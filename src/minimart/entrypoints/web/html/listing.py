"""Filtered, keyset-paginated listings for the pages: the same query schemas, domain queries
and opaque cursors as the API, read from a GET form."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from marshmallow import Schema, ValidationError
from pyramid.request import Request

from minimart.domain.catalog import Item, ItemQuery, ItemSort
from minimart.domain.paging import PageAfter
from minimart.entrypoints.schemas.items import ItemListQuery
from minimart.entrypoints.web.cursors import (
    datetime_value,
    decode_cursor,
    encode_cursor,
    integer_value,
    string_value,
)
from minimart.entrypoints.web.html.forms import (
    FORM,
    Converter,
    Form,
    amount,
    checkbox,
    omitted_if_blank,
    read_form,
)

T = TypeVar("T")

SORTS = [(ItemSort.NAME, "Name, A to Z"), (ItemSort.NAME_DESC, "Name, Z to A"),
         (ItemSort.PRICE, "Price, low to high"), (ItemSort.PRICE_DESC, "Price, high to low"),
         (ItemSort.CREATED_DESC, "Newest first"), (ItemSort.CREATED, "Oldest first")]
_CURSOR_VALUES = {"name": string_value, "price": integer_value, "created": datetime_value}
EXPIRED_LINK = "That page link no longer works; here is the first page."


@dataclass
class Listing(Generic[T]):
    entries: list[T]
    form: Form
    next_url: str | None
    first_url: str | None  # set on every page after the first


def read_filters(request: Request, converters: Mapping[str, Converter],
                 schema: Schema) -> tuple[dict[str, Any], Form]:
    """The listing's filters; unreadable ones are shown as errors and not applied."""
    data, form = read_form(request.GET, {**converters, "cursor": omitted_if_blank}, schema)
    return (data or {}), form


def cursor_after(form: Form, data: dict[str, Any], listing: str,
                 parse: Callable[[Any], Any]) -> PageAfter | None:
    if "cursor" not in data:
        return None
    try:
        return decode_cursor(data["cursor"], listing, parse)
    except ValidationError:
        form.add(FORM, EXPIRED_LINK)
        return None


def page_links(request: Request, form: Form, listing: str,
               next_after: PageAfter | None) -> tuple[str | None, str | None]:
    """Links to the next page and back to the first, keeping the filters."""
    kept = {name: value for name, value in form.values.items()
            if value and name != "cursor" and name not in form.errors}
    next_url = None
    if next_after is not None:
        next_url = request.current_route_path(
            _query={**kept, "cursor": encode_cursor(listing, next_after)})
    first_url = request.current_route_path(_query=kept) if form.value("cursor") else None
    return next_url, first_url


def item_listing(request: Request, page_size: int, *, staff: bool = False) -> Listing[Item]:
    """The catalog as a shopper (or, with staff=True, the owner) filters and pages it."""
    currency = request.registry.container.settings.currency
    converters: dict[str, Converter] = {
        "q": omitted_if_blank, "min_price": amount(currency, optional=True),
        "max_price": amount(currency, optional=True), "in_stock": checkbox,
        "sort": omitted_if_blank}
    if staff:
        converters["include_archived"] = checkbox
    data, form = read_filters(request, converters, ItemListQuery())
    sort: ItemSort = data.get("sort", ItemSort.NAME)
    query = ItemQuery(
        text=data.get("q"), min_price=data.get("min_price"), max_price=data.get("max_price"),
        in_stock=data.get("in_stock", False),
        include_archived=data.get("include_archived", False), sort=sort, limit=page_size,
        after=cursor_after(form, data, sort.value, _CURSOR_VALUES[sort.key]))
    page = request.services.catalog.list_items(query, request.actor)
    next_url, first_url = page_links(request, form, sort.value, page.next_after)
    return Listing(page.entries, form, next_url, first_url)

