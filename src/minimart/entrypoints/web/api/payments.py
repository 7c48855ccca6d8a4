"""/api/v1/payments: ephemeral keys for the mobile SDKs, and the Stripe webhook."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.entrypoints.web.api.body import json_body
from minimart.entrypoints.web.problems import HttpProblem


class EphemeralKeyIn(Schema):
    api_version = fields.String(required=True, validate=validate.Regexp(
        r"\A\d{4}-\d{2}-\d{2}(\.[a-z]+)?\Z", error="a Stripe API version such as 2024-06-20"))


def ephemeral_key(request: Request) -> dict[str, Any]:
    data = json_body(request, EphemeralKeyIn())
    key = request.services.payments.ephemeral_key(request.actor, data["api_version"])
    request.response.status_int = 201
    request.response.cache_control = "no-store"
    return key


def stripe_webhook(request: Request) -> dict[str, Any]:
    """Stripe's notifications: the body is verified byte for byte, so it is read raw."""
    limit = request.registry.container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, "payload_too_large", f"the body is over {limit} bytes")
    event = request.services.payments.handle_webhook(
        request.body, request.headers.get("Stripe-Signature"))
    return {"received": True, "id": event.id}


def includeme(config: Configurator) -> None:
    config.add_route("api.payments.ephemeral_keys", "/payments/ephemeral-keys")
    config.add_route("api.payments.stripe_webhook", "/payments/stripe/webhook")
    config.add_view(ephemeral_key, route_name="api.payments.ephemeral_keys",
                    request_method="POST", permission=Permission.PLACE_ORDERS.value)
    config.add_view(stripe_webhook, route_name="api.payments.stripe_webhook",
                    request_method="POST")
