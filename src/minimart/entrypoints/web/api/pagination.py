"""Opaque keyset cursors: where the previous page ended, as base64url JSON.

A cursor that does not decode, or that belongs to another sort, answers 422.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import ValidationError

from minimart.domain.paging import PageAfter


def encode_cursor(sort: str, after: PageAfter) -> str:
    value = after.value.isoformat() if isinstance(after.value, datetime) else after.value
    raw = json.dumps([sort, value, after.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, parse_value: Callable[[Any], Any]) -> PageAfter:
    """Read a cursor made for `sort`; parse_value checks the sort value's type."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, last_id = json.loads(raw)
        if cursor_sort != sort or not isinstance(last_id, str) or len(last_id) > 64:
            raise ValueError("cursor for another listing")
        return PageAfter(parse_value(value), last_id)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise ValidationError({"cursor": ["not a cursor of this listing"]}) from None


def string_value(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 1000:
        raise ValueError("bad text cursor value")
    return value


def integer_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("bad number cursor value")
    return value


def datetime_value(value: Any) -> datetime:
    moment = datetime.fromisoformat(string_value(value))
    if moment.tzinfo is None:
        raise ValueError("cursor time without zone")
    return moment
