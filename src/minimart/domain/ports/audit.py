"""Where audit events are written and read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from minimart.domain.audit import AuditEvent, AuditQuery


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class AuditTrail(Protocol):
    def find(self, query: AuditQuery) -> Sequence[AuditEvent]:
        """Newest first (at, id), filtered, up to query.limit, after query.after."""
        ...
