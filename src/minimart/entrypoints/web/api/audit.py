"""/api/v1/audit-events: the trail of every change, for admins; read-only."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields
from pyramid.config import Configurator
from pyramid.request import Request

from minimart.domain.actors import Permission
from minimart.domain.audit import AuditQuery
from minimart.entrypoints.schemas.audit import AuditListQuery
from minimart.entrypoints.web.api.operation import Answer, Operations
from minimart.entrypoints.web.api.shapes import ident, maybe_text, page_of, text, timestamp
from minimart.entrypoints.web.cursors import datetime_value, paged_query

api = Operations(tag="audit")


class AuditEventSchema(Schema):
    id = ident()
    at = timestamp()
    actor_id = maybe_text()
    action = text()
    entity_type = text()
    entity_id = text()
    changes = fields.Dict(required=True, metadata={"additionalProperties": {
        "type": "array", "minItems": 2, "maxItems": 2, "description": "[old, new]"}})
    request_id = maybe_text()


event_schema = AuditEventSchema()
LIST_QUERY = AuditListQuery()


@api.operation("GET", "/audit-events", route="api.audit_events.list",
               operation_id="listAuditEvents", summary="Who changed what, newest first",
               answers=(Answer(200, page_of(AuditEventSchema), "a page of audit events"),),
               permission=Permission.AUDIT_READ, query=AuditListQuery)
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
    api.register(config)
