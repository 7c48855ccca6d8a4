"""One error vocabulary for every driver: each kind carries the API's error code.

The web layer maps kinds to HTTP statuses in one place; the CLI prints `code: message`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
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


class ValidationFailed(DomainError):
    """Input that is well-formed but breaks a business rule; details map field -> messages."""

    code = "validation_failed"


class PreconditionFailed(DomainError):
    """The caller edited a version of the resource that is no longer current."""

    code = "precondition_failed"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"


class Forbidden(DomainError):
    code = "forbidden"


class Unavailable(DomainError):
    """A dependency (database, payment provider) cannot be reached; retrying is safe."""

    code = "unavailable"
