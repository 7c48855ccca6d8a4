"""One error vocabulary for every driver: each kind carries the API's error code.

Every code a service can raise is a named kind here (or, for kinds that belong to one
context, in that context's module: RateLimited, PaymentDeclined, UnsupportedImage …).
The web layer maps kinds to HTTP statuses in one table (entrypoints/web/problems.py) that
serves the API, the pages and the OpenAPI document; the CLI prints `code: message`.

Raise the named kind (`EmailTaken(...)`). The `code=` argument is older usage: it must
name one of these kinds' codes under the same general kind (a test holds it so).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    """The request contradicts the current state (a taken email, too little stock)."""

    code = "conflict"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class InvalidState(Conflict):
    code = "invalid_state"


class EmailTaken(Conflict):
    code = "email_taken"


class SkuTaken(Conflict):
    code = "sku_taken"


class NameTaken(Conflict):
    code = "name_taken"


class StoreClosed(Conflict):
    code = "store_closed"


class BelowMinimumOrder(Conflict):
    code = "below_minimum_order"


class AmountMismatch(Conflict):
    """The provider reports a payment of another amount than the order's total."""

    code = "amount_mismatch"


class TooManyPendingOrders(Conflict):
    code = "too_many_pending_orders"


class TooManyPendingUnits(Conflict):
    code = "too_many_pending_units"


class ValidationFailed(DomainError):
    """Input that is well-formed but breaks a business rule; details map field -> messages."""

    code = "validation_failed"


class IdempotencyKeyReused(ValidationFailed):
    """The same Idempotency-Key with another request body."""

    code = "idempotency_key_reused"


class PreconditionFailed(DomainError):
    """The caller edited a version of the resource that is no longer current."""

    code = "precondition_failed"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"


class Forbidden(DomainError):
    code = "forbidden"


class TotpEnrolmentRequired(Forbidden):
    """Staff must enrol a second factor before they may sign in."""

    code = "totp_enrolment_required"


class Unavailable(DomainError):
    """A dependency (database, payment provider) cannot be reached; retrying is safe."""

    code = "unavailable"
