"""/api/v1/payments: ephemeral keys for the mobile SDKs, and the Stripe webhook."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.payments import InvalidWebhook, PaymentProviderUnavailable
from minimart.entrypoints.web.api.body import json_body, too_large
from minimart.entrypoints.web.api.operation import Answer, Header, Operations
from minimart.entrypoints.web.api.shapes import text

api = Operations(tag="payments")
STRIPE_SIGNATURE = Header("Stripe-Signature", "Stripe's signature of the raw body",
                          {"type": "string"}, required=True)


class EphemeralKeyIn(Schema):
    api_version = fields.String(required=True, validate=validate.Regexp(
        r"\A\d{4}-\d{2}-\d{2}(\.[a-z]+)?\Z", error="a Stripe API version such as 2024-06-20"))


class EphemeralKeySchema(Schema):
    class Meta:
        unknown = INCLUDE
        description = "Stripe's ephemeral key object, as Stripe answers it"

    id = text()
    secret = text()


class WebhookReceiptSchema(Schema):
    received = fields.Boolean(required=True, validate=validate.Equal(True))
    id = text()


@api.operation("POST", "/payments/ephemeral-keys", route="api.payments.ephemeral_keys",
               operation_id="createEphemeralKey",
               summary="A Stripe ephemeral key for the mobile SDKs",
               answers=(Answer(201, EphemeralKeySchema, "Stripe's ephemeral key object"),),
               permission=Permission.PLACE_ORDERS, body=EphemeralKeyIn,
               errors=(PaymentProviderUnavailable,))
def ephemeral_key(request: Request) -> dict[str, Any]:
    data = json_body(request, EphemeralKeyIn())
    key = request.services.payments.ephemeral_key(request.actor, data["api_version"])
    request.response.status_int = 201
    request.response.cache_control = "no-store"
    return key


@api.operation("POST", "/payments/stripe/webhook", route="api.payments.stripe_webhook",
               operation_id="stripeWebhook",
               summary="Stripe's event notifications, verified by signature",
               answers=(Answer(200, WebhookReceiptSchema, "the event was taken in"),),
               raw_body={"application/json": {"schema": {"type": "object"}}},
               headers=(STRIPE_SIGNATURE,), errors=(InvalidWebhook,))
def stripe_webhook(request: Request) -> dict[str, Any]:
    """Stripe's notifications: the body is verified byte for byte, so it is read raw."""
    limit = request.registry.container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    event = request.services.payments.handle_webhook(
        request.body, request.headers.get("Stripe-Signature"))
    return {"received": True, "id": event.id}


def includeme(config: Configurator) -> None:
    api.register(config)
