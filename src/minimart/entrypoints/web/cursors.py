"""Opaque keyset cursors: the listing a page belongs to and where it ended.

A cursor carries its listing's filters, sort and limit (API.md, Conventions), so
`?cursor=` alone continues the same listing; a parameter sent beside it that differs
answers 422, as does a cursor that does not decode or belongs to another listing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError
from pyramid.request import Request

from minimart.domain.paging import PageAfter
from minimart.entrypoints.schemas.common import MAX_CURSOR
from minimart.entrypoints.web.query import query_pairs

ValueParser = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class PagedQuery:
    """A listing's parameters as loaded, where its page starts, and its parameters as
    sent (the text the next cursor carries)."""

    listing: str
    params: dict[str, Any]
    after: PageAfter | None
    sent: dict[str, str]

    def next_cursor(self, next_after: PageAfter | None) -> str | None:
        if next_after is None:
            return None
        return encode_listing_cursor(self.listing, self.sent, next_after)


def paged_query(request: Request, schema: Schema, listing: str,
                value_parser: Callable[[dict[str, Any]], ValueParser]) -> PagedQuery:
    """Read a keyset-paged listing's query: its own parameters on page 1, the cursor's
    after it. value_parser(params) checks the type of the sort value the cursor holds."""
    known = set(schema.fields) - {"cursor"}
    pairs = query_pairs(request)
    sent = {key: value for key, value in pairs.items() if key in known}
    if "cursor" not in pairs:
        return PagedQuery(listing, schema.load(sent, unknown=EXCLUDE), None, sent)
    carried, value, last_id = _decode(pairs["cursor"], listing, known)
    try:
        params = schema.load(carried, unknown=EXCLUDE)
    except ValidationError:
        raise _bad_cursor() from None
    beside = schema.load({**carried, **sent}, unknown=EXCLUDE)
    differing = sorted(key for key in params.keys() | beside.keys()
                       if params.get(key) != beside.get(key))
    if differing:
        raise ValidationError({
            "cursor": ["continues a listing with other " + ", ".join(differing)
                       + "; send the cursor alone or with the same parameters"],
            **{key: ["differs from the listing the cursor continues"] for key in differing}})
    try:
        after = PageAfter(value_parser(params)(value), last_id)
    except (ValueError, TypeError):
        raise _bad_cursor() from None
    return PagedQuery(listing, params, after, carried)


def encode_listing_cursor(listing: str, sent: dict[str, str], after: PageAfter) -> str:
    """An API cursor: the listing's parameters as sent and where its page ended."""
    raw = json.dumps({"l": listing, "p": sent, "a": [_plain(after.value), after.id]},
                     separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, listing: str, known: set[str]) -> tuple[dict[str, str], Any, str]:
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
        if not isinstance(decoded, dict) or decoded.get("l") != listing:
            raise ValueError("cursor for another listing")
        carried, (value, last_id) = decoded["p"], decoded["a"]
        if not isinstance(carried, dict) or not all(
                key in known and isinstance(text, str) for key, text in carried.items()):
            raise ValueError("cursor with unknown parameters")
        if not isinstance(last_id, str) or len(last_id) > 64:
            raise ValueError("cursor with a bad id")
        return carried, value, last_id
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        raise _bad_cursor() from None


def encode_cursor(listing: str, after: PageAfter) -> str:
    """A page link's cursor: only where the page ended (the pages keep their filters in
    the link itself)."""
    raw = json.dumps([listing, _plain(after.value), after.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, listing: str, parse_value: ValueParser) -> PageAfter:
    """Read a page link's cursor made for `listing`; parse_value checks the value's type."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_listing, value, last_id = json.loads(raw)
        if cursor_listing != listing or not isinstance(last_id, str) or len(last_id) > 64:
            raise ValueError("cursor for another listing")
        return PageAfter(parse_value(value), last_id)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _bad_cursor() -> ValidationError:
    return ValidationError({"cursor": ["not a cursor of this listing"]})


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
