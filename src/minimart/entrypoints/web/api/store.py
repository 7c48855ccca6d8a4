"""/api/v1/store: the store's public face (name, rates, hours) and its admin settings."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.store import MAX_TAX_RATE_BPS, WEEKDAYS, StoreSettings
from minimart.entrypoints.schemas.common import MAX_AMOUNT, AtLeastOneField, JsonBoolean
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.api.operation import (
    IF_NONE_MATCH,
    NOT_MODIFIED,
    Answer,
    Operations,
)
from minimart.entrypoints.web.api.shapes import amount, currency, flag, text, whole

api = Operations(tag="store")
HOUR = validate.Regexp(r"\A(([01]\d|2[0-3]):[0-5]\d|24:00)\Z", error="HH:MM")


class StoreSchema(Schema):
    """The store as API.md shows it; store_json writes it."""

    name = text()
    currency = currency()
    tax_rate_bps = whole(0)
    delivery_fee = amount()
    minimum_order = amount()
    open = flag()
    open_now = flag(metadata={"description": "`open` and inside today's hours in the "
                                             "store's time zone"})
    opening_hours = fields.Dict(
        required=True, keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.List(fields.Tuple((fields.String(), fields.String()), metadata={
            "description": "[opening, closing] as HH:MM; a closing at or before the "
                           "opening runs past midnight; intervals never overlap"})))
    time_zone = text()


class StorePatch(AtLeastOneField):
    name = fields.String(validate=validate.Length(min=1, max=120))
    tax_rate_bps = fields.Integer(strict=True,
                                  validate=validate.Range(min=0, max=MAX_TAX_RATE_BPS))
    delivery_fee = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT))
    minimum_order = fields.Integer(strict=True,
                                   validate=validate.Range(min=0, max=MAX_AMOUNT))
    open = JsonBoolean()  # truthy={True} still took 1 and 0.0, which equal True and False
    opening_hours = fields.Dict(
        keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.List(fields.Tuple((fields.String(validate=HOUR),
                                         fields.String(validate=HOUR))),
                           validate=validate.Length(max=6)))
    time_zone = fields.String(validate=validate.Length(min=1, max=64))


def store_json(request: Request, store: StoreSettings) -> dict[str, Any]:
    """open_now: the switch and today's hours (past-midnight intervals included) in the
    store's time zone, as placing an order judges it."""
    now = request.registry.container.adapters.clock.now()
    return {"name": store.name, "currency": store.currency, "tax_rate_bps": store.tax_rate_bps,
            "delivery_fee": store.delivery_fee, "minimum_order": store.minimum_order,
            "open": store.open, "open_now": store.takes_orders_at(now),
            "time_zone": store.time_zone,
            "opening_hours": {day: [list(span) for span in spans]
                              for day, spans in store.opening_hours.items()}}


@api.operation("GET", "/store", route="api.store", operation_id="getStore",
               summary="The store's name, rates and hours",
               answers=(Answer(200, StoreSchema, "the store", ("ETag",)), NOT_MODIFIED),
               headers=(IF_NONE_MATCH,))
def get_store(request: Request) -> dict[str, Any]:
    return store_json(request, request.services.store.current())


@api.operation("PATCH", "/store", route="api.store", operation_id="updateStore",
               summary="Change the store's settings",
               answers=(Answer(200, StoreSchema, "the store"),),
               permission=Permission.STORE_MANAGE, body=StorePatch)
def update_store(request: Request) -> dict[str, Any]:
    changes = json_body(request, StorePatch())
    return store_json(request, request.services.store.update(changes, request.actor))


def includeme(config: Configurator) -> None:
    api.register(config)
