"""The audit trail on SQLAlchemy Core: events appended, read back newest first."""

from __future__ import annotations

from sqlalchemy import bindparam, select, tuple_

from minimart.adapters.sqlalchemy.base import Repository
from minimart.adapters.sqlalchemy.tables import audit_events
from minimart.domain.audit import AuditEvent, AuditQuery

AUDIT_INSERT = audit_events.insert()


class SqlAlchemyAuditLog(Repository):
    def record(self, event: AuditEvent) -> None:
        self._write(AUDIT_INSERT, {
            "id": event.id, "at": event.at, "actor_id": event.actor_id, "action": event.action,
            "entity_type": event.entity_type, "entity_id": event.entity_id,
            "changes": event.changes, "request_id": event.request_id})

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        statement = select(audit_events)
        for column, value in ((audit_events.c.entity_type, query.entity_type),
                              (audit_events.c.entity_id, query.entity_id),
                              (audit_events.c.actor_id, query.actor_id)):
            if value is not None:
                statement = statement.where(column == value)
        if query.after is not None:
            mark = tuple_(bindparam(None, query.after.value, type_=audit_events.c.at.type),
                          bindparam(None, query.after.id, type_=audit_events.c.id.type))
            statement = statement.where(tuple_(audit_events.c.at, audit_events.c.id) < mark)
        statement = statement.order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        return [AuditEvent(id=r.id, at=r.at, actor_id=r.actor_id, action=r.action,
                           entity_type=r.entity_type, entity_id=r.entity_id, changes=r.changes,
                           request_id=r.request_id)
                for r in self._session.execute(statement.limit(query.limit))]
