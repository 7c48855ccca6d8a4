"""The field kinds of the API's response schemas, and the shapes every resource shares.

A response schema says what an answer holds: each field it names is always present (so
each is `required`, maybe null), and nothing else is (marshmallow's default, RAISE, which
the document states as `additionalProperties: false`). Some views dump through these
schemas; the hot paths (items, orders) write their JSON by hand, and the tests hold that
JSON to the schema declared beside it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


def ident() -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1))


def text(**options: Any) -> fields.String:
    return fields.String(required=True, **options)


def maybe_text(**options: Any) -> fields.String:
    return fields.String(required=True, allow_none=True, **options)


def whole(minimum: int = 0) -> fields.Integer:
    return fields.Integer(required=True, validate=validate.Range(min=minimum))


def amount() -> fields.Integer:
    """Money: a count of the currency's minor unit."""
    return whole(0)


def currency() -> fields.String:
    return fields.String(required=True, validate=validate.Regexp(r"^[a-z]{3}$"))


def timestamp() -> fields.DateTime:
    return fields.DateTime(required=True)


def flag(**options: Any) -> fields.Boolean:
    return fields.Boolean(required=True, **options)


def page_of(schema: type[Schema]) -> type[Schema]:
    """A keyset page of `schema`: `{data: [...], next_cursor}` (API.md, Lists)."""
    name = schema.__name__.removesuffix("Schema")
    return Schema.from_dict({"data": fields.List(fields.Nested(schema), required=True),
                             "next_cursor": maybe_text()}, name=f"{name}PageSchema")


class ErrorBodySchema(Schema):
    code = text(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$"))
    message = text()
    details = fields.Dict(required=True, metadata={
        "description": "each bad field mapped to its messages, or the conflict's "
                       "particulars"})


class ErrorSchema(Schema):
    """The one error envelope (problems.error_body writes it)."""

    error = fields.Nested(ErrorBodySchema, required=True)
