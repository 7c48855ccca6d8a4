"""How the audit trail is filtered (the API and the admin pages alike)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from minimart.entrypoints.schemas.common import MAX_CURSOR


class AuditListQuery(Schema):
    entity_type = fields.String(validate=validate.Length(min=1, max=32))
    entity_id = fields.String(validate=validate.Length(min=1, max=64))
    actor_id = fields.String(validate=validate.Length(min=1, max=32))
    limit = fields.Integer(validate=validate.Range(min=1, max=100), load_default=20)
    cursor = fields.String(validate=validate.Length(max=MAX_CURSOR))
