"""CategoryService: staff arrange the menu's sections; anyone reads them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minimart.domain.actors import Actor, Permission
from minimart.domain.audit import audit_event, diff
from minimart.domain.categories import (
    EDITABLE,
    Category,
    _check_name,
    name_key,
    name_taken,
)
from minimart.domain.errors import NotFound
from minimart.domain.ids import new_id
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.unit_of_work import UnitOfWork


class CategoryService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def list_categories(self) -> list[Category]:
        """Every category in position order, with its count of shoppable items."""
        return self._uow.categories.list_with_counts()

    def get_category(self, category_id: str) -> Category:
        category = self._uow.categories.get(category_id)
        if category is None:
            raise NotFound("no such category")
        return category

    def create_category(self, name: str, actor: Actor, description: str = "",
                        position: int | None = None) -> Category:
        actor.require(Permission.CATALOG_WRITE)
        _check_name(name)
        self._check_free(name.strip())
        now = self._clock.now()
        category = Category(
            id=new_id(), name=name.strip(), description=description,
            position=self._uow.categories.next_position() if position is None else position,
            created_at=now, updated_at=now)
        self._uow.categories.add(category)
        self._record(actor, "category.created", category.id, diff({}, category.fields()))
        return category

    def update_category(self, category_id: str, changes: dict[str, Any],
                        actor: Actor) -> Category:
        actor.require(Permission.CATALOG_WRITE)
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        if "name" in changes:
            _check_name(changes["name"])
            changes = {**changes, "name": changes["name"].strip()}
            self._check_free(changes["name"], category_id)
        category = self.get_category(category_id)
        updated = replace(category, **changes, updated_at=self._clock.now())
        self._uow.categories.update(updated)
        self._record(actor, "category.updated", category_id,
                     diff(category.fields(), updated.fields()))
        return self.get_category(category_id)

    def delete_category(self, category_id: str, actor: Actor) -> None:
        """Remove a category; its items stay, in no category."""
        actor.require(Permission.CATALOG_WRITE)
        category = self.get_category(category_id)
        emptied = self._uow.categories.delete(category_id, self._clock.now())
        self._record(actor, "category.deleted", category_id,
                     {**{k: [v, None] for k, v in category.fields().items()},
                      "items_emptied": [None, emptied]})

    def _check_free(self, name: str, except_id: str | None = None) -> None:
        """A friendly 409 before the write; the database's unique key on name_key still
        decides between two requests racing for the same name."""
        if self._uow.categories.name_taken(name_key(name), except_id):
            raise name_taken(name)

    def _record(self, actor: Actor, action: str, category_id: str,
                changes: dict[str, list[Any]]) -> None:
        self._uow.audit.record(audit_event(actor, self._clock.now(), action, "category",
                                       category_id, changes))


