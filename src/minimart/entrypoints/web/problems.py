"""The web's error vocabulary: the transport kinds, and ONE table that gives every kind —
domain or transport — its HTTP status.

Business failures are DomainError kinds raised by services (domain/errors.py and the
context modules); failures of the request itself (an unreadable body, a wrong media type,
a body too large) are the HttpProblem kinds below, raised by the web layer. Every kind
carries its code; KIND_STATUS gives its status; STATUSES says what each status means to
a reader of the API document and of an error page. The JSON envelope, the error pages,
the sign-in and admin forms and the OpenAPI document all read these, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from minimart.domain import errors
from minimart.domain.accounts import RateLimited
from minimart.domain.images import ImageTooLarge, UnsupportedImage
from minimart.domain.payments import InvalidWebhook, PaymentDeclined


class HttpProblem(Exception):
    """A failure of the request itself, answered in the JSON envelope on every path."""

    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(HttpProblem):
    """The request cannot be read: its URL, its query string, its form or its shape."""

    code = "bad_request"


class MalformedJson(HttpProblem):
    code = "malformed_json"


class PayloadTooLarge(HttpProblem):
    code = "payload_too_large"


class UnsupportedMediaType(HttpProblem):
    code = "unsupported_media_type"


class InvalidRequest(HttpProblem):
    """Input refused before a schema reads it (a repeated query parameter, a NUL, a bad
    header), or by the schema itself: `details` names each bad field."""

    code = "validation_failed"


class MethodNotAllowed(HttpProblem):
    code = "method_not_allowed"


class InternalError(HttpProblem):
    """A bug: logged, and answered without its particulars."""

    code = "internal_error"


Kind = type[errors.DomainError] | type[HttpProblem]

# kind -> status. A kind not named here answers its nearest named ancestor's status; the
# first kind named for a status is its general one (it answers Pyramid's own HTTP
# exceptions of that status).
KIND_STATUS: dict[Kind, int] = {
    BadRequest: 400, MalformedJson: 400, InvalidWebhook: 400,
    errors.Unauthenticated: 401,
    PaymentDeclined: 402,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    PayloadTooLarge: 413, ImageTooLarge: 413,
    UnsupportedMediaType: 415, UnsupportedImage: 415,
    errors.ValidationFailed: 422, InvalidRequest: 422,
    RateLimited: 429,
    InternalError: 500,
    errors.Unavailable: 503,
    # the bases, for a kind nothing above names: what the views always answered
    errors.DomainError: 400, HttpProblem: 400,
}


@dataclass(frozen=True, slots=True)
class Status:
    """What an error status means: its OpenAPI response's name and description, and the
    error page's heading."""

    name: str
    title: str
    description: str


UNKNOWN_TITLE = "Something went wrong"
STATUSES: dict[int, Status] = {
    400: Status("BadRequest", "That request did not make sense",
                "the body, query or URL cannot be read"),
    401: Status("Unauthenticated", UNKNOWN_TITLE,  # a page sends the visitor to sign in
                "no valid bearer token, or wrong credentials"),
    402: Status("PaymentDeclined", "Payment declined",
                "the card was declined and nothing is reserved"),
    403: Status("Forbidden", "Not allowed", "the role lacks the permission"),
    404: Status("NotFound", "Page not found",
                "no such resource, or one the caller may not see"),
    405: Status("MethodNotAllowed", "Not allowed here",
                "the path is answered, but not to this method (see Allow)"),
    409: Status("Conflict", "That cannot be done now", "conflicts with the current state"),
    412: Status("PreconditionFailed", "Changed meanwhile",
                "If-Match names a version that is no longer current, or the resource "
                "changed meanwhile"),
    413: Status("PayloadTooLarge", "Too large",
                "the body (or a picture's pixel count) is over the limit"),
    415: Status("UnsupportedMediaType", "Not a supported file",
                "the body is not of a type this operation reads"),
    422: Status("ValidationFailed", "Not valid",
                "`details` maps each bad field to its messages"),
    429: Status("RateLimited", "Too many attempts",
                "too many failed sign-ins, or registrations from one address (see "
                "Retry-After)"),
    500: Status("InternalError", "Something went wrong",
                "a fault on the server's side; nothing was changed"),
    503: Status("Unavailable", "Unavailable",
                "a dependency is down, or every password-hashing slot stayed busy; "
                "nothing was changed and retrying is safe"),
}


def status_of(kind: Kind | errors.DomainError | HttpProblem) -> int:
    """The status of an error kind (or of a raised error), from the one table."""
    klass = kind if isinstance(kind, type) else type(kind)
    return next(KIND_STATUS[k] for k in klass.__mro__ if k in KIND_STATUS)


def general_code(status: int) -> str:
    """The code of the general kind of a status ("error" for a status no kind answers)."""
    return next((kind.code for kind, known in KIND_STATUS.items() if known == status),
                "error")


def title_of(status: int) -> str:
    known = STATUSES.get(status)
    return known.title if known else UNKNOWN_TITLE


def field_messages(messages: Any, path: str = "") -> dict[str, list[str]]:
    """marshmallow's messages, nested per field, list index and dict key, as API.md's one
    shape: each dotted path (`lines.0.quantity`) to its list of messages. A nested
    `_schema` message belongs to the object that holds it. (Recursive: the messages nest
    only as deep as the schemas do.)"""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, inner in messages.items():
            name = path if key == "_schema" and path else str(key)
            inner_path = name if not path or name == path else f"{path}.{name}"
            for field, texts in field_messages(inner, inner_path).items():
                flat.setdefault(field, []).extend(texts)
    else:
        texts = messages if isinstance(messages, list) else [messages]
        flat[path or "_schema"] = [text if isinstance(text, str) else str(text)
                                   for text in texts]
    return flat


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}
