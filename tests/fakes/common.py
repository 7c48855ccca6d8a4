"""Fakes every service's tests share: a clock that stands still, plain-text passwords,
an audit log in a list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from minimart.domain.audit import AuditEvent, AuditQuery


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class PlainTextPasswordHasher:
    """Fast and obviously not secure: for unit tests only."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain$" + password

    def needs_rehash(self, password_hash: str) -> bool:
        return False

    def dummy_hash(self) -> str:
        return "plain$"


class MemoryAuditLog:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    def find(self, query: AuditQuery) -> list[AuditEvent]:
        rows = sorted((e for e in self.events
                       if query.entity_type in (None, e.entity_type)
                       and query.entity_id in (None, e.entity_id)
                       and query.actor_id in (None, e.actor_id)),
                      key=lambda e: (e.at, e.id), reverse=True)
        if query.after is not None:
            rows = [e for e in rows if (e.at, e.id) < (query.after.value, query.after.id)]
        return rows[: query.limit]
