"""The payment provider, its webhooks and the events already applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from minimart.domain.money import Money
from minimart.domain.payments import PaymentEvent, PaymentIntent


class PaymentGateway(Protocol):
    """A card payment provider. Every call that creates something carries an idempotency
    key, so a retried request never makes a second one. Any failure to reach the provider
    raises PaymentProviderUnavailable."""

    provider: str

    def create_customer(self, *, account_id: str, email: str, idempotency_key: str) -> str: ...

    def create_ephemeral_key(self, customer_id: str, api_version: str) -> dict[str, Any]:
        """The provider's ephemeral key object, for the mobile SDKs."""
        ...

    def create_intent(self, *, order_id: str, amount: Money, customer_id: str | None,
                      payment_method: str | None, idempotency_key: str) -> PaymentIntent:
        """Create (and with a payment method, confirm at once) a payment for the order."""
        ...

    def retrieve_intent(self, payment_intent_id: str) -> PaymentIntent: ...

    def cancel_intent(self, payment_intent_id: str) -> None: ...

    def refund(self, payment_intent_id: str, amount: Money, idempotency_key: str) -> None: ...


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """The event, if the signature proves the provider sent this payload; else raises
        InvalidWebhook."""
        ...


class PaymentEventLog(Protocol):
    def first_delivery(self, event: PaymentEvent, at: datetime) -> bool:
        """Record the event id; False if it was recorded before. A concurrent delivery of
        the same event waits for the first to commit, so an event takes effect once."""
        ...
