"""Reading requests: the JSON body and the query string, through marshmallow schemas.

A wrong media type answers 415, an oversized body 413, unreadable JSON 400 (text that is
not Unicode included), JSON nested deeper than MAX_DEPTH 400, a query string that is not
UTF-8 400, and anything the schema refuses (unknown fields included) 422 naming the fields.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import EXCLUDE, Schema
from pyramid.request import Request

from minimart.entrypoints.web.problems import (
    BadRequest,
    InvalidRequest,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from minimart.entrypoints.web.query import query_pairs

MAX_DEPTH = 32  # no request shape nests deeper than a few levels; 32 leaves room


def json_body(request: Request, schema: Schema) -> dict[str, Any]:
    limit = request.registry.container.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.body
    if len(raw) > limit:
        raise too_large(limit)
    try:
        data = json.loads(raw)
    except RecursionError:  # deeper than the interpreter's limit, so far deeper than ours
        raise _too_deep() from None
    except ValueError:
        raise MalformedJson("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    if nesting_depth(data) > MAX_DEPTH:
        raise _too_deep()
    if not is_unicode(data):
        raise MalformedJson("the body has text that is not Unicode (an unpaired surrogate)")
    if b"\\" in raw and holds_nul(data):  # JSON has NUL in a string only as an escape
        raise InvalidRequest("text must not hold NUL characters",
                             {"_body": ["remove the NUL (\\u0000) characters"]})
    return schema.load(data)


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the body is over {limit} bytes")


def holds_nul(value: Any) -> bool:
    """Whether a parsed JSON value holds a real NUL character in a key or a string, which
    PostgreSQL text cannot store. The escaped text `\\\\u0000` (a backslash, then
    "u0000") is six ordinary characters and passes."""
    stack: list[Any] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False


def is_unicode(value: Any) -> bool:
    """False when a string holds an unpaired surrogate, which JSON's \\uD800 escapes (and
    json.loads on CESU-8 bytes) let through but no database or UTF-8 encoder accepts."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep() -> BadRequest:
    return BadRequest(f"the body nests arrays and objects more than {MAX_DEPTH} levels deep",
                      {"max_depth": MAX_DEPTH})


def nesting_depth(value: Any) -> int:
    """How many arrays and objects deep a parsed JSON value goes (a scalar: 0).

    Walked with an explicit stack rather than recursion, so no body can exhaust the
    interpreter's stack here or in marshmallow, which loads nested fields recursively.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest


def query_params(request: Request, schema: Schema) -> dict[str, Any]:
    """Unknown query parameters are ignored (cache busters); known ones must be readable."""
    return schema.load(query_pairs(request), unknown=EXCLUDE)
