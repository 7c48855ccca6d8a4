"""StoreService: the store's settings, read by everyone and changed by admins."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import audit_event, diff
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.store import EDITABLE, StoreSettings, check_settings


class StoreService:
    def __init__(self, uow: UnitOfWork, defaults: StoreSettings, clock: Clock) -> None:
        self._uow = uow
        self._defaults = defaults
        self._clock = clock

    def current(self) -> StoreSettings:
        """The saved settings, or the ini's defaults until an admin saves some."""
        saved = self._uow.store_settings.get()
        return replace(saved, currency=self._defaults.currency) if saved else self._defaults

    def update(self, changes: dict[str, Any], actor: Actor) -> StoreSettings:
        actor.require(Permission.STORE_MANAGE)
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        before = self.current()
        if "opening_hours" in changes:
            changes = {**changes, "opening_hours": {
                day: [(start, end) for start, end in spans]
                for day, spans in changes["opening_hours"].items()}}
        after = replace(before, **changes)
        check_settings(after)
        self._uow.store_settings.save(after, self._clock.now())
        self._uow.audit.record(audit_event(actor, self._clock.now(), "store.updated", "store",
                                       "store", diff(before.fields(), after.fields())))
        return after
