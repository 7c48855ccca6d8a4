"""Field kinds and rules more than one resource's schemas use."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

MAX_CURSOR = 4000  # q (200 characters) and every filter at their longest fit with room
MAX_AMOUNT = 10**12  # the most any amount in a body may name, in minor units


class JsonBoolean(fields.Boolean):
    """true or false and nothing else: marshmallow's Boolean also takes 0, 1.0 and "yes",
    which a JSON body must not (the forms and the CSV, which send text, keep Boolean)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class AtLeastOneField(Schema):
    """A change (PATCH) names at least one field. The OpenAPI document reads this base
    class as `minProperties: 1`, which a schema-level validator cannot say by itself."""

    @validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("name at least one field to change", "_schema")
