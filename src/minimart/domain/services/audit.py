"""AuditService: reading the trail (admins only, newest first); nothing edits events."""

from __future__ import annotations

from dataclasses import replace

from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import AuditEvent, AuditQuery
from minimart.domain.paging import Page, PageAfter, keyset_page
from minimart.domain.ports.unit_of_work import UnitOfWork


class AuditService:
    """Reading the trail: admins only, newest first. Nothing edits or deletes events."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def list_events(self, query: AuditQuery, actor: Actor) -> Page[AuditEvent]:
        actor.require(Permission.AUDIT_READ)
        rows = self._uow.audit_trail.find(replace(query, limit=query.limit + 1))
        return keyset_page(rows, query.limit, lambda event: PageAfter(event.at, event.id))
