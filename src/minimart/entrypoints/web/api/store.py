"""/api/v1/store: the store's public face (name, rates, hours) and its admin settings."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.store import MAX_TAX_RATE_BPS, WEEKDAYS, StoreSettings
from minimart.entrypoints.schemas.items import JsonBoolean
from minimart.entrypoints.web.api.body import json_body

MAX_AMOUNT = 10**12
HOUR = validate.Regexp(r"\A(([01]\d|2[0-3]):[0-5]\d|24:00)\Z", error="HH:MM")


class StorePatch(Schema):
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

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("name at least one field to change", "_schema")


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


def get_store(request: Request) -> dict[str, Any]:
    return store_json(request, request.services.store.current())


def update_store(request: Request) -> dict[str, Any]:
    changes = json_body(request, StorePatch())
    return store_json(request, request.services.store.update(changes, request.actor))


def includeme(config: Configurator) -> None:
    config.add_route("api.store", "/store")
    config.add_view(get_store, route_name="api.store", request_method="GET")
    config.add_view(update_store, route_name="api.store", request_method="PATCH",
                    permission=Permission.STORE_MANAGE.value)
