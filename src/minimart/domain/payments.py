"""Payments as the order service sees them: intents, outcomes and provider failures.

No card data ever reaches minimart: a provider (Stripe) holds it and answers with statuses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from minimart.domain.errors import DomainError, Unavailable, ValidationFailed


class PaymentStatus(enum.StrEnum):
    NOT_STARTED = "not_started"  # the order is reserved; the provider has not been asked yet
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"  # the client confirms with the secret
    REQUIRES_ACTION = "requires_action"  # e.g. 3-D Secure in the customer's app
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    CANCELED = "canceled"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    status: PaymentStatus
    client_secret: str | None
    amount: int
    currency: str
    amount_received: int = 0


class PaymentDeclined(DomainError):
    code = "payment_declined"


class PaymentMethodRefused(ValidationFailed):
    """The provider refused the payment method itself (unknown, malformed): the client's
    mistake, not an outage, so the order it made is undone and the answer is a 4xx."""

    code = "invalid_payment_method"


class PaymentProviderUnavailable(Unavailable):
    code = "payment_provider_unavailable"


class PaymentEventKind(enum.StrEnum):
    """The provider events minimart acts on; anything else is acknowledged and ignored."""

    SUCCEEDED = "payment_intent.succeeded"
    FAILED = "payment_intent.payment_failed"
    CANCELED = "payment_intent.canceled"
    REFUNDED = "charge.refunded"


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A verified notification from the provider about one payment intent."""

    id: str
    kind: PaymentEventKind | None  # None: a type minimart does not act on
    type: str
    payment_intent_id: str | None
    amount: int = 0  # received (succeeded) or refunded in total (charge.refunded)
    currency: str = ""
    order_id: str | None = None  # from the intent's metadata, when the provider echoes it


class InvalidWebhook(DomainError):
    """A webhook whose signature does not verify: nothing is changed."""

    code = "bad_request"
