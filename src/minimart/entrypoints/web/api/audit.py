"""/api/v1/audit-events: the trail of every change, for admins; read-only."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.audit import AuditQuery
from minimart.entrypoints.web.api.pagination import MAX_CURSOR, datetime_value, paged_query


class AuditEventSchema(Schema):
    id = fields.String()
    at = fields.DateTime()
    actor_id = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    changes = fields.Dict()
    request_id = fields.String(allow_none=True)


class AuditListQuery(Schema):
    entity_type = fields.String(validate=validate.Length(min=1, max=32))
    entity_id = fields.String(validate=validate.Length(min=1, max=64))
    actor_id = fields.String(validate=validate.Length(min=1, max=32))
    limit = fields.Integer(validate=validate.Range(min=1, max=100), load_default=20)
    cursor = fields.String(validate=validate.Length(max=MAX_CURSOR))


event_schema = AuditEventSchema()
LIST_QUERY = AuditListQuery()


def list_events(request: Request) -> dict[str, Any]:
    paged = paged_query(request, LIST_QUERY, "audit", lambda _: datetime_value)
    params = paged.params
    page = request.services.audit.list_events(AuditQuery(
        entity_type=params.get("entity_type"), entity_id=params.get("entity_id"),
        actor_id=params.get("actor_id"), limit=params["limit"], after=paged.after),
        request.actor)
    return {"data": event_schema.dump(page.entries, many=True),
            "next_cursor": paged.next_cursor(page.next_after)}


def includeme(config: Configurator) -> None:
    config.add_route("api.audit_events.list", "/audit-events")
    config.add_view(list_events, route_name="api.audit_events.list", request_method="GET",
                    permission=Permission.AUDIT_READ.value)
