"""The PaymentGateway port on the official stripe library (PaymentIntents), and webhook
signature verification. No card data ever passes through minimart.

Every call has a timeout and a bounded number of network retries (the library retries
connection errors and 5xx with the same idempotency key); any failure to reach Stripe
becomes PaymentProviderUnavailable, so the caller answers 503 and nothing is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from minimart.domain.money import Money
from minimart.domain.payments import (
    InvalidWebhook,
    PaymentEvent,
    PaymentEventKind,
    PaymentIntent,
    PaymentMethodRefused,
    PaymentProviderUnavailable,
    PaymentStatus,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATUSES = {
    "requires_payment_method": PaymentStatus.REQUIRES_PAYMENT_METHOD,
    "requires_confirmation": PaymentStatus.REQUIRES_ACTION,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.PROCESSING,
    "requires_capture": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELED,
}


def _amount_received(data: dict[str, Any]) -> int:
    """Stripe reports amount_received; a succeeded intent without it (some fakes) received
    what its charge captured."""
    if "amount_received" in data:
        return int(data["amount_received"])
    if data.get("status") != "succeeded":
        return 0
    charge = data.get("latest_charge")
    if isinstance(charge, dict) and "amount_captured" in charge:
        return int(charge["amount_captured"])
    return int(data["amount"])


def intent_from_stripe(data: dict[str, Any], status: PaymentStatus | None = None) -> PaymentIntent:
    return PaymentIntent(
        id=data["id"], status=status or _STATUSES.get(data["status"], PaymentStatus.PROCESSING),
        client_secret=data.get("client_secret"), amount=int(data["amount"]),
        currency=data["currency"], amount_received=_amount_received(data))


class StripePaymentGateway:
    provider = "stripe"

    def __init__(self, api_key: str, *, api_base: str | None = None,
                 timeout_seconds: float = 10.0, max_network_retries: int = 2) -> None:
        base = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds))

    def _call(self, what: str, call: Callable[[], T], *, client_errors: bool = False) -> T:
        """Run a Stripe call; failing to reach Stripe, or a request it refuses, becomes
        PaymentProviderUnavailable. CardError (and, with client_errors, InvalidRequestError)
        reach the caller, which knows whether the client's input caused them."""
        try:
            return call()
        except (stripe.APIConnectionError, stripe.RateLimitError) as error:
            log.warning("stripe %s: cannot reach Stripe: %s", what, error.__class__.__name__)
            raise PaymentProviderUnavailable("the payment provider cannot be reached") from error
        except stripe.CardError:
            raise
        except stripe.InvalidRequestError as error:
            if client_errors:
                raise  # the caller tells the client's mistakes from ours
            raise self._unavailable(what, error) from error
        except stripe.StripeError as error:
            raise self._unavailable(what, error) from error

    @staticmethod
    def _unavailable(what: str, error: stripe.StripeError) -> PaymentProviderUnavailable:
        log.error("stripe %s failed: %s %s", what, error.__class__.__name__,
                  error.user_message or "")
        return PaymentProviderUnavailable("the payment provider refused the request")

    def create_customer(self, *, account_id: str, email: str, idempotency_key: str) -> str:
        customer = self._call("create customer", lambda: self._client.v1.customers.create(
            params={"email": email, "metadata": {"account_id": account_id}},
            options={"idempotency_key": idempotency_key}))
        return customer.id

    def create_ephemeral_key(self, customer_id: str, api_version: str) -> dict[str, Any]:
        key = self._call("create ephemeral key", lambda: self._client.v1.ephemeral_keys.create(
            params={"customer": customer_id}, options={"stripe_version": api_version}))
        return key.to_dict()

    def create_intent(self, *, order_id: str, amount: Money, customer_id: str | None,
                      payment_method: str | None, idempotency_key: str) -> PaymentIntent:
        params: dict[str, Any] = {"amount": amount.amount, "currency": amount.currency,
                                  "metadata": {"order_id": order_id}}
        if customer_id is not None:
            params["customer"] = customer_id
        if payment_method is not None:
            params.update(payment_method=payment_method, confirm=True)
        try:
            intent = self._call("create payment intent", client_errors=True, call=lambda: (
                self._client.v1.payment_intents.create(
                    params=params,  # type: ignore[arg-type]
                    options={"idempotency_key": idempotency_key})))
        except stripe.InvalidRequestError as error:
            if payment_method is None or error.param not in (None, "payment_method"):
                raise self._unavailable("create payment intent", error) from error
            log.info("stripe refused payment method %r: %s", payment_method, error.user_message)
            raise PaymentMethodRefused("the payment method is not valid", details={
                "payment_method": ["the payment provider does not know this payment method"]}
            ) from error
        except stripe.CardError as declined:
            body = declined.json_body if isinstance(declined.json_body, dict) else {}
            data = body.get("error", {}).get("payment_intent") or {
                "id": f"declined-{order_id}", "status": "requires_payment_method",
                "amount": amount.amount, "currency": amount.currency}
            return intent_from_stripe(data, PaymentStatus.DECLINED)
        return intent_from_stripe(intent.to_dict())

    def retrieve_intent(self, payment_intent_id: str) -> PaymentIntent:
        intent = self._call("retrieve payment intent",
                            lambda: self._client.v1.payment_intents.retrieve(payment_intent_id))
        return intent_from_stripe(intent.to_dict())

    def cancel_intent(self, payment_intent_id: str) -> None:
        self._call("cancel payment intent",
                   lambda: self._client.v1.payment_intents.cancel(payment_intent_id))

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None:
        self._call("refund", lambda: self._client.v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount.amount},
            options={"idempotency_key": idempotency_key}))


class StripeWebhookVerifier:
    """Checks `Stripe-Signature` (HMAC-SHA256 with the endpoint's secret and a timestamp
    tolerance) with the stripe library, and reads the event minimart acts on."""

    def __init__(self, secret: str, tolerance_seconds: int = 300,
                 now: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._tolerance = tolerance_seconds
        self._now = now

    def verify(self, payload: bytes, signature: str | None) -> PaymentEvent:
        try:
            event = stripe.Webhook.construct_event(payload, signature, self._secret,
                                                   tolerance=self._tolerance)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidWebhook("the webhook signature does not verify") from error
        if self._timestamp(signature or "") > self._now() + self._tolerance:
            # the library refuses only the too old: a signature dated ahead (a leaked
            # secret's, or a clock far off) would otherwise replay for as long as it likes
            raise InvalidWebhook("the webhook signature is dated in the future")
        try:
            read = self._read(event.to_dict())
            for text in (read.id, read.type, read.payment_intent_id or "", read.order_id or ""):
                if "\x00" in text:
                    raise ValueError("NUL in the event")
                text.encode("utf-8")  # an unpaired surrogate cannot be stored
            return read
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InvalidWebhook("the event cannot be read") from error

    @staticmethod
    def _timestamp(signature: str) -> int:
        """The `t=` of a header the library has already verified (so it is there)."""
        for part in signature.split(","):
            key, _, value = part.strip().partition("=")
            if key == "t":
                return int(value)
        raise InvalidWebhook("the webhook signature has no timestamp")

    @staticmethod
    def _read(data: dict[str, Any]) -> PaymentEvent:
        kind = next((k for k in PaymentEventKind if k.value == data.get("type")), None)
        obj = data["data"]["object"] if kind is not None else {}
        if kind is PaymentEventKind.REFUNDED:
            intent_id, amount = obj.get("payment_intent"), int(obj.get("amount_refunded", 0))
        elif kind is not None:
            intent_id, amount = obj["id"], _amount_received(obj)
        else:
            intent_id, amount = None, 0
        order_id = (obj.get("metadata") or {}).get("order_id")
        if not isinstance(data.get("id"), str) or not isinstance(intent_id, str | None):
            raise TypeError("an event or payment id that is not text")
        return PaymentEvent(id=str(data.get("id")), kind=kind, type=str(data.get("type")),
                            payment_intent_id=intent_id, amount=amount,
                            currency=str(obj.get("currency", "")),
                            order_id=order_id if isinstance(order_id, str) else None)
