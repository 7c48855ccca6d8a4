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
