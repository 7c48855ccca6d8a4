"""Audit events: who changed what, written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
