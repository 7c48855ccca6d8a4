"""The JSON error envelope of API.md, asserted the same way by every functional test."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The envelope `{"error": {code, message, details}}` with this status and code;
    returns the error."""
    assert response.status_int == status, response.body[:500]
    assert response.content_type == "application/json"
    body = response.json
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    return error
