"""Transport-level failures a view can raise (unreadable body, wrong media type, too large).

Business failures are DomainErrors raised by services; both end in the same JSON envelope.
"""

from __future__ import annotations

from typing import Any


class HttpProblem(Exception):
    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}
