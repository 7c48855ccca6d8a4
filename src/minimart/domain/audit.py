"""Audit events: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minimart.domain.actors import Actor
from minimart.domain.ids import new_id
from minimart.domain.paging import PageAfter

Changes = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    at: datetime
    actor_id: str | None
    action: str
    entity_type: str
    entity_id: str
    changes: Changes = field(default_factory=dict)
    request_id: str | None = None


def diff(before: dict[str, Any], after: dict[str, Any]) -> Changes:
    """Field-level changes as {field: [old, new]} for the fields whose value differs."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def audit_event(actor: Actor, at: datetime, action: str, entity_type: str, entity_id: str,
                changes: Changes) -> AuditEvent:
    """An event naming who acted (the account, "system", or nobody) and their request."""
    return AuditEvent(id=new_id(), at=at, actor_id=actor.audit_id, action=action,
                      entity_type=entity_type, entity_id=entity_id, changes=changes,
                      request_id=actor.request_id)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    entity_type: str | None = None
    entity_id: str | None = None
    actor_id: str | None = None
    limit: int = 20
    after: PageAfter | None = None  # (at, id) of the last event seen
